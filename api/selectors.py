"""Reads for the API: lookups by Intercom-style ids and querysets with their prefetches."""

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet

from api.errors import NotFound
from contacts.models import Contact, ContactNote, DataAttribute, Tag
from contacts.selectors import contacts_with_email
from ops.parsing import int_or_none, text_problem


def pk_from_id(value: Any) -> int | None:
    """Intercom ids are strings; ours are integers inside them. Anything else finds nothing."""
    return int_or_none(value if isinstance(value, int) else str(value))


def contacts_for_output() -> QuerySet[Contact]:
    """Contacts with what ContactOutput shows, in a fixed number of queries whatever the page size."""
    return Contact.objects.prefetch_related(
        Prefetch("tags", queryset=Tag.objects.order_by("name")),
        Prefetch("notes", queryset=ContactNote.objects.only("id", "contact_id", "created_at")),
    )


def contact_get(*, contact_id: Any, field: str | None = None) -> Contact:
    pk = pk_from_id(contact_id)
    contact = contacts_for_output().filter(pk=pk).first() if pk is not None else None
    if contact is None:
        raise NotFound("User Not Found", field=field)
    return contact


def contact_get_by_external_id(*, external_id: str) -> Contact:
    # No stored external id holds a NUL or a lone surrogate (and PostgreSQL refuses to compare one).
    contact = (
        contacts_for_output().filter(external_id=external_id).first() if text_problem(external_id) is None else None
    )
    if contact is None:
        raise NotFound("User Not Found")
    return contact


def contact_get_by_reference(*, user_id: Any = None, email: Any = None, intercom_user_id: Any = None,
                             field_prefix: str = "") -> Contact | None:  # fmt: skip
    """A contact named the ways Intercom lets callers name one: its id, external id or email."""
    queryset = Contact.objects.all()
    if intercom_user_id not in (None, ""):
        pk = pk_from_id(intercom_user_id)
        return queryset.filter(pk=pk).first() if pk is not None else None
    if user_id not in (None, ""):
        external_id = str(user_id)
        return queryset.filter(external_id=external_id).first() if text_problem(external_id) is None else None
    if email not in (None, "") and text_problem(str(email)) is None:
        # Users first: an email is unique among users, and leads may share it.
        matches = contacts_with_email(email=str(email))
        return matches.filter(role=Contact.Role.USER).first() or matches.order_by("-pk").first()
    return None


def tag_get(*, tag_id: Any, field: str | None = None) -> Tag:
    pk = pk_from_id(tag_id)
    tag = Tag.objects.filter(pk=pk).first() if pk is not None else None
    if tag is None:
        raise NotFound("Tag Not Found", field=field)
    return tag


def teammates() -> QuerySet:
    return get_user_model().objects.filter(is_staff=True, is_active=True).order_by("pk")


def teammate_get(*, admin_id: Any, field: str | None = None) -> Any:
    pk = pk_from_id(admin_id)
    admin = teammates().filter(pk=pk).first() if pk is not None else None
    if admin is None:
        raise NotFound("Admin Not Found", field=field)
    return admin


def data_attribute_get(*, attribute_id: Any) -> DataAttribute:
    pk = pk_from_id(attribute_id)
    attribute = DataAttribute.objects.filter(pk=pk).first() if pk is not None else None
    if attribute is None:
        raise NotFound("Data Attribute Not Found")
    return attribute


def note_get(*, note_id: Any) -> ContactNote:
    pk = pk_from_id(note_id)
    note = ContactNote.objects.select_related("author").filter(pk=pk).first() if pk is not None else None
    if note is None:
        raise NotFound("Note Not Found")
    return note


def contact_notes(*, contact: Contact) -> QuerySet[ContactNote]:
    return ContactNote.objects.filter(contact=contact).select_related("author")
