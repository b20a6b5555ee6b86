"""The contact list: its columns, search, filters and bulk actions (tag, export, erase)."""

from collections.abc import Iterator
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import ngettext

from common.admin_display import breakable
from common.admin_forms import action_choice
from common.pagination import EstimatedCountPaginator
from common.read_replica import ReplicaListAdmin, replica_safe_action
from contacts import selectors, services
from contacts.admin.csv_export import contacts_csv_response
from contacts.admin.filters import CountryFilter, LastSeenFilter, custom_attribute_filters
from contacts.admin.forms import TagActionForm
from contacts.models import Contact, PrivacyAuditEntry, Tag
from contacts.panels import NotTaggedFilter, TagFilter, contact_actions, contact_list_filters, contacts_search

# Contact search: words this long match anywhere in a name or an email (trigram indexes), shorter
# ones as prefixes (the lower(name)/lower(email) indexes); at most this many words are used.


class ContactChangeList(ChangeList):
    """The list shows every row's tags: one prefetch query for the page (the profile page needs none)."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Contact]:
        return super().get_queryset(request, exclude_parameters).prefetch_related("tags")


class ContactListAdmin(ReplicaListAdmin):
    """The list half of ContactAdmin (contact_page.py adds the contact's own page); the list and the
    exports read from the read replica when there is one."""

    list_display = ["display_name", "role", "last_seen", "location", "tag_list", "web_sessions_count"]
    list_filter = [
        "role",
        TagFilter,
        NotTaggedFilter,
        CountryFilter,
        "unsubscribed_from_emails",
        LastSeenFilter,
    ]  # between what other apps put first (segments) and after (contacts/panels.py); then custom attributes
    list_select_related = []
    list_per_page = 50
    show_full_result_count = False
    # Facet counts would run one COUNT per filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    search_help_text = (
        "Every word must match the name, email or company: “Rivera” finds Jamie Rivera, “acme.example” finds"
        " jo@acme.example, “stark” the people of Stark Industries (words of one or two letters match the"
        " start). Or an exact user id or contact id."
    )
    search_fields = ["name", "email", "external_id"]  # handled by get_search_results below
    ordering = ["-last_seen_at", "-id"]
    action_form = TagActionForm
    own_actions = ["tag_selected", "untag_selected", "export_csv", "export_gdpr", "erase_selected"]

    @property
    def actions(self) -> list[Any]:  # type: ignore[override]
        """The contacts app's actions, then those other apps register (contacts/panels.py)."""
        return [*self.own_actions, *(registered.function for registered in contact_actions())]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ContactChangeList

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        return [
            *contact_list_filters(first=True),
            *self.list_filter,
            *contact_list_filters(),
            *custom_attribute_filters(selectors.contact_attribute_definitions()),
        ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Contact], search_term: str
    ) -> tuple[QuerySet[Contact], bool]:
        """contacts.panels.contacts_search: the name, the email, the company, the user id or the contact id."""
        if not search_term.strip():
            return queryset, False
        return contacts_search(queryset, search_term), False

    @admin.display(description="Name / email", ordering="name")
    def display_name(self, contact: Contact) -> str:
        if contact.name and contact.email:
            return breakable(f"{contact.name} <{contact.email}>")
        return breakable(str(contact))

    @admin.display(description="Last seen", ordering="last_seen_at")
    def last_seen(self, contact: Contact) -> Any:
        return contact.last_seen_at

    @admin.display(description="Location")
    def location(self, contact: Contact) -> str:
        return ", ".join(part for part in (contact.city, contact.country_name or contact.country) if part)

    @admin.display(description="Tags")
    def tag_list(self, contact: Contact) -> str:
        return ", ".join(tag.name for tag in contact.tags.all())

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Erase (GDPR)" replaces it, with its own confirmation
        for registered in contact_actions():  # each offered only with the permission it was registered with
            if not request.user.has_perm(registered.permission):
                actions.pop(registered.function.__name__, None)
        return actions

    def has_export_permission(self, request: HttpRequest) -> bool:
        """The bulk exports' right (contacts.export_contact): a viewer reads contacts one at a time, and takes none out
        in bulk."""
        return request.user.has_perm("contacts.export_contact")

    # --- actions --------------------------------------------------------------------------------

    def _chosen_tag(self, request: HttpRequest) -> Tag | None:
        return action_choice(self, request, Tag.objects.all(), "tag")

    @admin.action(description="Add the chosen tag to selected contacts", permissions=["change"])
    def tag_selected(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        if tag := self._chosen_tag(request):
            try:
                added = services.contacts_tag_bulk(contact_ids=_ids(queryset), tag=tag, actor=request.user)
            except ValidationError as refusal:  # the tag was deleted meanwhile
                self.message_user(request, " ".join(refusal.messages), messages.ERROR)
                return
            self.message_user(request, f"Tagged {_contacts_words(added)} with “{tag.name}”.", messages.SUCCESS)

    @admin.action(description="Remove the chosen tag from selected contacts", permissions=["change"])
    def untag_selected(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        if tag := self._chosen_tag(request):
            removed = services.contacts_untag_bulk(contact_ids=_ids(queryset), tag=tag)
            self.message_user(request, f"Removed “{tag.name}” from {_contacts_words(removed)}.", messages.SUCCESS)

    @admin.action(description="Export selected contacts as CSV", permissions=["export"])
    @replica_safe_action
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Contact]) -> StreamingHttpResponse:
        return contacts_csv_response(queryset)

    @admin.action(description="Export selected contacts' data (GDPR, JSON)", permissions=["export"])
    @replica_safe_action
    def export_gdpr(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse:
        documents = services.contacts_export(
            contacts=queryset[:100], actor=request.user, source=PrivacyAuditEntry.Source.ADMIN
        )
        response = JsonResponse({"contacts": documents}, json_dumps_params={"indent": 2})
        response["Content-Disposition"] = 'attachment; filename="contacts-export.json"'
        return response

    @admin.action(description="Erase selected contacts and all their history (GDPR)", permissions=["delete"])
    def erase_selected(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse | None:
        if request.POST.get("confirmed") == "yes":
            erased = 0
            for contact in queryset.iterator(chunk_size=500):
                counts = services.contact_erase(
                    contact=contact, actor=request.user, source=PrivacyAuditEntry.Source.ADMIN
                )
                erased += bool(counts)  # none: a teammate erased it meanwhile
            self.message_user(request, f"Erased {_contacts_words(erased)} and their history.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Erase contacts and all their history?",
            "opts": self.model._meta,
            "contacts": queryset[:50],
            "count": queryset.count(),
            "selected_ids": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/contacts/contact/erase_confirmation.html", context)


def _contacts_words(count: int) -> str:
    return ngettext("%(count)d contact", "%(count)d contacts", count) % {"count": count}


def _ids(queryset: QuerySet[Contact]) -> Iterator[int]:
    return queryset.order_by().values_list("pk", flat=True).iterator(chunk_size=5000)
