"""Deleting in the admin while another teammate deletes the same rows, or while something starts to use them.

Django's delete page reads the object and runs the model admin's guard (`get_deleted_objects`: what it takes with
it, what keeps it) before the service deletes; "Delete selected" does the same outside any transaction, and each
service call is its own. Between the read and the delete another teammate may have deleted the object (the service
then finds nothing, and the page still says "deleted successfully"), or something may have started to use it (the
service refuses, a ValidationError: a 500). `ConcurrentDeletionAdmin` makes the confirmed POST one transaction that
locks the rows first, so the guard reads what is committed and a writer that would start using them waits (segments
lock the tags they name; a foreign key to a locked row waits on it). An object gone by then is a message and the
list (a selection: what is left is deleted, and that is said); a refusal the service still raises rolls everything
back and is an error message, never a 500.

`CountedDeletionAdmin` is that, with a confirmation page (one object or a selection) that says what deleting takes
with it counted per kind ("Attached to 200,000 contacts (they stay; the tag comes off them)"), in a fixed number of
queries however many rows reference the objects (common.deletion_reach), instead of Django's list of every row.
"""

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import TO_FIELD_VAR
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst

from common.deletion_reach import Reach, Reference, deletion_reach
from common.row_locks import rows_lock


def _refusal_words(refusal: ValidationError) -> str:
    return " ".join(refusal.messages)


class ConcurrentDeletionAdmin(admin.ModelAdmin):
    """A model admin whose delete page and "Delete selected" hold when two teammates delete the same rows at once
    (module docstring). Put it first among the bases."""

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        if request.method != "POST":
            return super().delete_view(request, object_id, extra_context)
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
                if self._locked_for_deletion(request, object_id) is False:
                    self.message_user(
                        request, f"Nothing was deleted: this {self.opts.verbose_name} no longer exists (another "
                        "teammate may just have deleted it).", messages.WARNING,
                    )  # fmt: skip
                    return HttpResponseRedirect(self._after_deletion_url(request))
                return super().delete_view(request, object_id, extra_context)
        except ValidationError as refusal:  # the service's own guard, after the page's: nothing was deleted
            self.message_user(request, f"Not deleted: {_refusal_words(refusal)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def _locked_for_deletion(self, request: HttpRequest, object_id: str) -> bool | None:
        """Lock the row the POST deletes before Django's view reads it: whether it is there still; None (no lock,
        Django's view answers) for a teammate or a field it refuses."""
        if not self.has_delete_permission(request):
            return None  # Django answers 403, no lock taken
        to_field = request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))
        if to_field and not self.to_field_allowed(request, to_field):
            return None  # Django refuses the field
        obj = self.get_object(request, unquote(object_id), to_field)
        return obj is not None and bool(rows_lock(self.model, [obj.pk]))

    def _after_deletion_url(self, request: HttpRequest) -> str:
        """Where Django's own page goes after a deletion: the list, for who may see it."""
        if self.has_view_or_change_permission(request):
            return reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist", current_app=self.admin_site.name
            )
        return reverse("admin:index", current_app=self.admin_site.name)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if "delete_selected" in actions:  # offered (to who may delete): the same action, holding under a race
            # The site's own (Django's, or the admin site's wrapping of it) does the work under the lock.
            site_own, name, description = actions["delete_selected"]
            actions["delete_selected"] = (
                functools.partial(delete_selected_locked, confirm=site_own),
                name,
                description,
            )
        return actions


def rows_in_words(model: type[Model], count: int) -> str:
    """ "1 contact", "200,000 contacts"."""
    name = model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural
    return f"{count:,} {name}"


class CountedDeletionAdmin(ConcurrentDeletionAdmin):
    """A ConcurrentDeletionAdmin whose delete confirmation (one object or a selection) counts what deleting takes with
    it per kind, in the same queries whatever the objects' size (module docstring). A model admin words its links
    (`deletion_link_words`, `deletion_link_label`) and adds what keeps an object from being deleted that no foreign
    key says (`deletion_problems`: a saved filter naming a tag)."""

    @property
    def delete_confirmation_template(self) -> list[str]:  # type: ignore[override]
        """The model's own page first (a tag's says what uses it), else the counted one: its words say that the lines
        tell what goes and what stays, not Django's "All of the following related items will be deleted"."""
        return [f"admin/{self.opts.app_label}/{self.opts.model_name}/delete_confirmation.html",
                "admin/counted_delete_confirmation.html"]  # fmt: skip

    @property
    def delete_selected_confirmation_template(self) -> list[str]:  # type: ignore[override]
        return [f"admin/{self.opts.app_label}/{self.opts.model_name}/delete_selected_confirmation.html",
                "admin/counted_delete_selected_confirmation.html"]  # fmt: skip

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, Any, list[Any]]:
        objects = list(objs)
        reach = deletion_reach(self.model, [obj.pk for obj in objects])
        deleted: list[Any] = []
        totals: dict[str, int] = {str(self.opts.verbose_name_plural): len(objects)}
        permissions_needed: set[str] = set()
        protected: list[Any] = []
        for obj in objects:
            found = reach.get(obj.pk, Reach())
            if not self.has_delete_permission(request, obj):
                permissions_needed.add(str(self.opts.verbose_name))
            related = [self.deletion_link_words(link, count) for link, count in found.unlinked.items()]
            related += [f"{rows_in_words(rows.kind, count)}, deleted with it" for rows, count in found.deleted.items()]
            protected += [f"{rows_in_words(rows.kind, count)}, which keep the {self.opts.verbose_name} “{obj}”"
                          for rows, count in found.protected.items()]  # fmt: skip
            deleted += [self._object_link(obj, request), related] if related else [self._object_link(obj, request)]
            for link, count in found.unlinked.items():
                label = self.deletion_link_label(link)
                totals[label] = totals.get(label, 0) + count
            for rows, count in found.deleted.items():
                label = str(rows.kind._meta.verbose_name_plural)
                totals[label] = totals.get(label, 0) + count
                if not self._may_delete(request, rows.kind):
                    permissions_needed.add(str(rows.kind._meta.verbose_name))
        summary = {label: f"{count:,}" for label, count in totals.items()}
        return deleted, summary, permissions_needed, [*protected, *self.deletion_problems(objects)]

    def deletion_link_words(self, link: Reference, count: int) -> str:
        """How the confirmation says the links that go while the rows they link stay (one line per kind)."""
        return f"Linked to {rows_in_words(link.kind, count)} (they stay; only the links go)"

    def deletion_link_label(self, link: Reference) -> str:
        """The links' name in the confirmation's summary ("Links to contacts: 200,000")."""
        return f"links to {link.kind._meta.verbose_name_plural}"

    def deletion_problems(self, objects: list[Any]) -> list[str]:
        """What keeps these objects from being deleted beyond their protecting foreign keys (none by default)."""
        return []

    def _may_delete(self, request: HttpRequest, model: type[Model]) -> bool:
        """As Django's own confirmation asks: rows of a model the admin lists go only for who may delete them."""
        if not self.admin_site.is_registered(model):
            return True
        return self.admin_site.get_model_admin(model).has_delete_permission(request)

    def _object_link(self, obj: Any, request: HttpRequest) -> str:
        """The object as Django's confirmation names it ("Tag: VIP"): a link to its page for who may open it."""
        name = capfirst(self.opts.verbose_name)
        if not self.has_view_or_change_permission(request, obj):
            return f"{name}: {obj}"
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=[quote(obj.pk)],
            current_app=self.admin_site.name,
        )
        return format_html('{}: <a href="{}">{}</a>', name, url, obj)


def delete_selected_locked(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    confirm: Callable[..., HttpResponse | None] = delete_selected,
) -> HttpResponse | None:
    """Django's "Delete selected" on what is left of the selection: confirmed, in one transaction that locks the
    rows first; a refusal rolls it all back and says why; rows deleted meanwhile are said, never a 500."""
    items = model_admin.opts.verbose_name_plural
    if not request.POST.get("post"):  # the confirmation page
        if not queryset.exists():
            model_admin.message_user(request, f"The selected {items} no longer exist.", messages.WARNING)
            return None
        return confirm(model_admin, request, queryset)
    try:
        with transaction.atomic(using=router.db_for_write(model_admin.model)):
            remaining = rows_lock(model_admin.model, queryset.values("pk"))
            if not remaining:
                model_admin.message_user(
                    request, f"Nothing was deleted: the selected {items} no longer exist.", messages.WARNING
                )
                return None
            response = confirm(model_admin, request, queryset)  # read now: what the lock kept
    except ValidationError as refusal:
        model_admin.message_user(request, f"Nothing was deleted: {_refusal_words(refusal)}", messages.ERROR)
        return None
    gone = _selected_count(model_admin, request) - len(remaining)
    if response is None and gone > 0:
        model_admin.message_user(
            request, f"{gone} of the selected {items} had already been deleted, by someone else.", messages.WARNING
        )
    return response


def _selected_count(model_admin: admin.ModelAdmin, request: HttpRequest) -> int:
    """How many distinct rows the teammate ticked (0 with "select all": the list is read again, not the ticks)."""
    if request.POST.get("select_across", "0") != "0":
        return 0
    key = model_admin.opts.pk
    try:
        return len({key.to_python(value) for value in request.POST.getlist(ACTION_CHECKBOX_NAME)})
    except ValidationError:
        return 0
