"""`{{ user|teammate_name }}`: a teammate by their one name in any admin template (common.teammates); and
`{% view_only_note %}`: why a list or a record's page offers this teammate no way to change it."""

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from common.read_only_admin import ReadOnlyAdmin
from common.teammates import teammate_name as name_of
from contacts.permissions import agent_may

register = template.Library()


@register.filter
def teammate_name(teammate: Any) -> str:
    """The teammate's display name, else full name, else username; empty for none."""
    return name_of(teammate) if teammate is not None else ""


WRITES = ("add", "change", "delete")


@register.simple_tag(takes_context=True)
def view_only_note(context: dict[str, Any], read: str = "", change: str = "") -> SafeString | str:
    """The quiet box (`<p id="view-only">`) saying why a list, or an object's page, changes nothing for this teammate,
    when their role grants them none of its model's add, change and delete permissions (a viewer's list has no
    checkboxes, actions or Add button, and a walk found nothing saying why); else empty. Never for a model nobody changes (ReadOnlyAdmin: page views, audit
    entries), where no one could help. A page of Parley's own names what is read and what may not be done:
    `{% view_only_note read="this conversation" change="reply or change it" %}`."""
    request, opts = context.get("request"), context.get("opts")
    if request is None or opts is None or request.user.is_superuser:
        return ""
    if not read:
        changelist, form = context.get("cl"), context.get("adminform")
        if changelist is not None:
            model_admin, read, change = changelist.model_admin, f"{opts.verbose_name_plural} here", "change them"
        elif form is not None and context.get("change") and not context.get("has_change_permission"):
            model_admin, read, change = form.model_admin, f"this {opts.verbose_name}", "change it"
        else:
            return ""
        if isinstance(model_admin, ReadOnlyAdmin):
            return ""
    if any(request.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}") for action in WRITES):
        return ""
    if any(agent_may(opts.app_label, f"{action}_{opts.model_name}") for action in WRITES):
        sentence = (
            f"You can read {read} but not {change}: your role does not allow it. A superuser can give you the Agent "
            "role under Teammates."
        )
    else:
        sentence = f"You can read {read}; only a superuser can {change}."
    return format_html('<p class="parley-view-only" id="view-only">{}</p>', sentence)
