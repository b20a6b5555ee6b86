"""Contacts: CRUD, list, search, find by external id, merge, archive, tags and notes."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import ParameterInvalid, ParameterNotFound
from api.fields import int_param
from api.pagination import per_page_clean
from api.permissions import acting_teammate_check
from api.serializers.base import SearchInput, paged_json
from api.serializers.contacts import (
    ContactArchivedOutput,
    ContactDeletedOutput,
    ContactListOutput,
    ContactMergeInput,
    ContactOutput,
    ContactWriteInput,
    NoteInput,
    NoteListOutput,
    NoteOutput,
    contact_json,
    contact_list_json,
)
from api.serializers.tags import TagAttachInput, TagListOutput, TagOutput, tag_list_json
from api.views.base import IntercomView
from contacts import services
from contacts.models import Contact

TEXT_FIELDS = ("external_id", "email", "phone", "name", "avatar", "language_override")
MAX_NOTES_PAGE = 1_000_000
# Writing a contact's custom attribute that is not defined yet defines it: only for who may.
DEFINE_ATTRIBUTES_PERMISSION = "contacts.add_dataattribute"
PER_PAGE_PARAMETERS = [
    OpenApiParameter("per_page", int, description="1 to 150, default 50"),
    OpenApiParameter("starting_after", str, description="The cursor from pages.next.starting_after"),
]


def contact_reload(contact: Contact) -> dict[str, Any]:
    return contact_json(selectors.contact_get(contact_id=contact.pk))


def contact_fields_from_input(values: dict[str, Any]) -> dict[str, Any]:
    """The service's keyword arguments for validated input; null clears a text field."""
    fields: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in values:
            value = values[name]
            fields[name] = (value or None) if name == "external_id" else (value or "")
    for name in ("signed_up_at", "unsubscribed_from_emails"):
        if name in values:
            fields[name] = values[name]
    if "owner_id" in values:
        owner_id = values["owner_id"]
        if owner_id is None:
            fields["owner"] = None
        else:
            owner = selectors.staff_user_find(user_id=owner_id)
            if owner is None:
                raise ParameterInvalid("owner_id", "owner_id must be the id of an admin.")
            fields["owner"] = owner
    return fields


class ContactsView(IntercomView):
    @extend_schema(operation_id="ListContacts", parameters=PER_PAGE_PARAMETERS, responses=ContactListOutput)
    def get(self, request: Request) -> Response:
        """List users and leads, newest first, with cursor pagination."""
        per_page, cursor = self.list_params(request)
        return Response(contact_list_json(selectors.contacts_page(per_page=per_page, cursor=cursor)))

    @extend_schema(operation_id="CreateContact", request=ContactWriteInput, responses=ContactOutput)
    def post(self, request: Request) -> Response:
        """Create a user or lead; email, external_id or role is required."""
        body = self.body(request)
        values = self.parse(ContactWriteInput, body)
        if not (values.get("email") or values.get("external_id") or values.get("role")):
            raise ParameterNotFound("email", "One of email, external_id or role is required.")
        role = values.get("role") or Contact.Role.USER
        contact = services.contact_create(
            role=role,
            custom_attributes=values.get("custom_attributes"),
            actor=request.user,
            define_attributes=request.user.has_perm(DEFINE_ATTRIBUTES_PERMISSION),
            email_verified=True,  # the API's word: mail from it joins this contact (contacts.services._email_mark)
            **contact_fields_from_input(values),
        )
        return Response(contact_reload(contact))


class ContactView(IntercomView):
    @extend_schema(operation_id="ShowContact", responses=ContactOutput)
    def get(self, request: Request, contact_id: str) -> Response:
        return Response(contact_json(selectors.contact_get(contact_id=contact_id)))

    @extend_schema(operation_id="UpdateContact", request=ContactWriteInput, responses=ContactOutput)
    def put(self, request: Request, contact_id: str) -> Response:
        """Update; a lead given role "user" is converted, a user never becomes a lead."""
        contact = selectors.contact_get(contact_id=contact_id)
        values = self.parse(ContactWriteInput, self.body(request))
        contact = services.contact_convert_and_update(
            contact=contact,
            role=values.get("role") or contact.role,
            custom_attributes=values.get("custom_attributes"),
            define_attributes=request.user.has_perm(DEFINE_ATTRIBUTES_PERMISSION),
            **contact_fields_from_input(values),
        )
        return Response(contact_reload(contact))

    @extend_schema(operation_id="DeleteContact", responses={200: ContactDeletedOutput})
    def delete(self, request: Request, contact_id: str) -> Response:
        """Erase the contact and its whole history (GDPR erase), with an audit entry."""
        contact = selectors.contact_get(contact_id=contact_id)
        answer = {"id": str(contact.pk), "external_id": contact.external_id, "type": "contact", "deleted": True}
        services.contact_erase(contact=contact, actor=request.user, source="api")
        return Response(answer)


class ContactByExternalIdView(IntercomView):
    @extend_schema(operation_id="ShowContactByExternalId", responses=ContactOutput)
    def get(self, request: Request, external_id: str) -> Response:
        return Response(contact_json(selectors.contact_get_by_external_id(external_id=external_id)))


# Search sorts only on indexed columns (contacts.models.Contact.Meta.indexes), so a sorted page of
# 1M contacts reads an index, never sorts the table.
CONTACT_SORT_FIELDS: dict[str, tuple[str, str]] = {
    "id": ("pk", "integer"),
    "created_at": ("created_at", "date"),
    "updated_at": ("updated_at", "date"),
    "signed_up_at": ("signed_up_at", "date"),
    "last_seen_at": ("last_seen_at", "date"),
    "external_id": ("external_id", "string"),
}


class ContactSearchView(IntercomView):
    @extend_schema(operation_id="SearchContacts", request=SearchInput, responses=ContactListOutput)
    def post(self, request: Request) -> Response:
        """Search with Intercom's query DSL; `pages.next` is absent on the last page."""
        query, per_page, cursor = self.search_body(request)
        page = selectors.contacts_search_page(
            query=query, per_page=per_page, cursor=cursor, sort=self.search_sort(request, CONTACT_SORT_FIELDS)
        )
        return Response(contact_list_json(page))


class ContactMergeView(IntercomView):
    @extend_schema(operation_id="MergeContact", request=ContactMergeInput, responses=ContactOutput)
    def post(self, request: Request) -> Response:
        """Merge a lead (`from`) into a user (`into`); the lead is deleted."""
        values = self.parse(ContactMergeInput, self.body(request))
        source = selectors.contact_get(contact_id=values["from"], field="from")
        into = selectors.contact_get(contact_id=values["into"], field="into")
        merged = services.contact_merge(source=source, into=into)
        return Response(contact_reload(merged))


class ContactArchiveView(IntercomView):
    archive = True

    @extend_schema(operation_id="ArchiveContact", request=None, responses=ContactArchivedOutput)
    def post(self, request: Request, contact_id: str) -> Response:
        contact = selectors.contact_get(contact_id=contact_id)
        services.contact_update(contact=contact, is_archived=self.archive)
        return Response(
            {"id": str(contact.pk), "external_id": contact.external_id, "type": "contact", "archived": self.archive}
        )


class ContactUnarchiveView(ContactArchiveView):
    archive = False

    @extend_schema(operation_id="UnarchiveContact", request=None, responses=ContactArchivedOutput)
    def post(self, request: Request, contact_id: str) -> Response:
        return super().post(request, contact_id)


class ContactTagsView(IntercomView):
    @extend_schema(operation_id="ListTagsForAContact", responses=TagListOutput)
    def get(self, request: Request, contact_id: str) -> Response:
        contact = selectors.contact_get(contact_id=contact_id)
        return Response(tag_list_json(contact.tags.all()))

    @extend_schema(operation_id="AttachTagToContact", request=TagAttachInput, responses=TagOutput)
    def post(self, request: Request, contact_id: str) -> Response:
        contact = selectors.contact_get(contact_id=contact_id)
        values = self.parse(TagAttachInput, self.body(request))
        tag = selectors.tag_get(tag_id=values["id"], field="id")
        services.contact_tag(contact=contact, tag=tag, actor=request.user)
        return Response(TagOutput(tag).data)


class ContactTagView(IntercomView):
    @extend_schema(operation_id="DetachTagFromContact", responses={200: TagOutput})
    def delete(self, request: Request, contact_id: str, tag_id: str) -> Response:
        contact = selectors.contact_get(contact_id=contact_id)
        tag = selectors.tag_get(tag_id=tag_id)
        services.contact_untag(contact=contact, tag=tag)
        return Response(TagOutput(tag).data)


class ContactNotesView(IntercomView):
    @extend_schema(
        operation_id="ListNotes",
        parameters=[OpenApiParameter("page", int), OpenApiParameter("per_page", int)],
        responses=NoteListOutput,
    )
    def get(self, request: Request, contact_id: str) -> Response:
        """Notes newest first, with page numbers (as Intercom pages notes)."""
        contact = selectors.contact_get(contact_id=contact_id)
        per_page = per_page_clean(request.query_params.get("per_page"))
        # Bounded so that the offset stays a number the database can take.
        page = int_param(request.query_params.get("page"), field="page", maximum=MAX_NOTES_PAGE, default=1)
        page_of_notes = selectors.contact_notes_page(contact=contact, per_page=per_page, page=page)
        return Response(paged_json(page_of_notes, items=NoteOutput(page_of_notes.rows, many=True).data))

    @extend_schema(operation_id="CreateNote", request=NoteInput, responses=NoteOutput)
    def post(self, request: Request, contact_id: str) -> Response:
        contact = selectors.contact_get(contact_id=contact_id)
        values = self.parse(NoteInput, self.body(request))
        author = (
            acting_teammate_check(
                request, selectors.teammate_get(admin_id=values["admin_id"], field="admin_id"), field="admin_id"
            )
            if values.get("admin_id")
            else request.user
        )
        note = services.contact_note_create(contact=contact, author=author, body=values["body"])
        return Response(NoteOutput(selectors.note_get(note_id=note.pk)).data)


class NoteView(IntercomView):
    @extend_schema(operation_id="RetrieveNote", responses=NoteOutput)
    def get(self, request: Request, note_id: str) -> Response:
        return Response(NoteOutput(selectors.note_get(note_id=note_id)).data)
