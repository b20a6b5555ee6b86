"""`{{ user|teammate_name }}`: a teammate by their one name in any admin template (common.teammates); and
`{% view_only_note %}`: why a list offers this teammate no way to change what it lists."""

from typing import Any

from django import template
from django.contrib.admin import ModelAdmin

from common.teammates import teammate_name as name_of

register = template.Library()


@register.filter
def teammate_name(teammate: Any) -> str:
    """The teammate's display name, else full name, else username; empty for none."""
    return name_of(teammate) if teammate is not None else ""


@register.simple_tag(takes_context=True)
def view_only_note(context: dict[str, Any]) -> str:
    """Why the list changes nothing for this teammate, when their role lets them read its rows but neither add nor
    change one (a viewer's list has no checkboxes, actions or Add button, and a walk found nothing saying why); else
    empty. Never for a list read-only for everyone (its admin has rules of its own: page views, deliveries), where
    another role would change nothing."""
    changelist, request = context.get("cl"), context.get("request")
    if changelist is None or request is None or request.user.is_superuser:
        return ""
    model_admin = changelist.model_admin
    own_rules = any(
        getattr(type(model_admin), name) is not getattr(ModelAdmin, name)
        for name in ("has_add_permission", "has_change_permission")
    )
    if own_rules or model_admin.has_add_permission(request) or model_admin.has_change_permission(request):
        return ""
    return (
        f"You can read {changelist.opts.verbose_name_plural} here but not change them: your role does not allow it. "
        "A superuser can give you another role under Teammates."
    )
