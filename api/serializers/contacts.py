"""Contacts and their notes: Intercom's contact object, the write inputs, webhook items."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import IdField, UnixTimeField, unix
from api.pagination import Page
from api.serializers.admins import AdminOutput
from api.serializers.base import WORKSPACE_ID, PagesOutput, blank_to_none, paged_json
from api.serializers.tags import TagOutput
from contacts.models import Contact, ContactNote, ContactTag

MAX_NOTE_LENGTH = 65_536
# The two roles of Intercom's contacts (the OpenAPI enum "ContactRoleEnum").
CONTACT_ROLE_CHOICES = [("user", "User"), ("lead", "Lead")]


class AddressableOutput(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()
    url = serializers.CharField()


class AddressableListOutput(serializers.Serializer):
    type = serializers.CharField(default="list")
    data = AddressableOutput(many=True)
    url = serializers.CharField()
    total_count = serializers.IntegerField()
    has_more = serializers.BooleanField()


class LocationOutput(serializers.Serializer):
    type = serializers.CharField(default="location")
    country = serializers.CharField(allow_null=True)
    region = serializers.CharField(allow_null=True)
    city = serializers.CharField(allow_null=True)
    country_code = serializers.CharField(allow_null=True)
    continent_code = serializers.CharField(allow_null=True)


# Notes shown inline on a contact, as Intercom does (the full list is at /contacts/{id}/notes).
INLINE_NOTES = 10


def _addressable_list(kind: str, items: list[Any], url: str) -> dict[str, Any]:
    return {
        "type": "list",
        "data": [{"type": kind, "id": str(item.pk), "url": f"/{kind}s/{item.pk}"} for item in items[:INLINE_NOTES]],
        "url": url,
        "total_count": len(items),
        "has_more": len(items) > INLINE_NOTES,
    }


class ContactOutput(serializers.Serializer):
    """Intercom's contact object; expects `tags` and `notes` prefetched (see api.selectors)."""

    type = serializers.SerializerMethodField()
    id = IdField(source="pk")
    workspace_id = serializers.SerializerMethodField()
    external_id = serializers.CharField(allow_null=True)
    role = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()
    email_domain = serializers.SerializerMethodField()
    phone = serializers.SerializerMethodField()
    name = serializers.SerializerMethodField()
    avatar = serializers.SerializerMethodField()
    owner_id = serializers.IntegerField(allow_null=True)
    social_profiles = serializers.SerializerMethodField()
    has_hard_bounced = serializers.SerializerMethodField()
    marked_email_as_spam = serializers.SerializerMethodField()
    unsubscribed_from_emails = serializers.BooleanField()
    created_at = UnixTimeField()
    updated_at = UnixTimeField()
    signed_up_at = UnixTimeField(allow_null=True)
    last_seen_at = UnixTimeField(allow_null=True)
    last_replied_at = UnixTimeField(allow_null=True)
    last_contacted_at = UnixTimeField(allow_null=True)
    last_email_opened_at = UnixTimeField(allow_null=True)
    last_email_clicked_at = UnixTimeField(allow_null=True)
    language_override = serializers.SerializerMethodField()
    browser = serializers.SerializerMethodField()
    browser_version = serializers.SerializerMethodField()
    browser_language = serializers.SerializerMethodField()
    os = serializers.SerializerMethodField()
    location = serializers.SerializerMethodField()
    custom_attributes = serializers.DictField(child=serializers.JSONField())
    tags = serializers.SerializerMethodField()
    notes = serializers.SerializerMethodField()
    companies = serializers.SerializerMethodField()
    archived = serializers.BooleanField(source="is_archived")

    def get_type(self, contact: Contact) -> str:
        return "contact"

    def get_workspace_id(self, contact: Contact) -> str:
        return WORKSPACE_ID

    def get_role(self, contact: Contact) -> str:
        # Intercom has two roles; an anonymous visitor is shown as a lead (Intercom's visitors
        # are a separate object that Parley folds into contacts).
        return Contact.Role.USER if contact.role == Contact.Role.USER else Contact.Role.LEAD

    def get_email(self, contact: Contact) -> str | None:
        return blank_to_none(contact.email)

    def get_email_domain(self, contact: Contact) -> str | None:
        return contact.email.rpartition("@")[2] or None if contact.email else None

    def get_phone(self, contact: Contact) -> str | None:
        return blank_to_none(contact.phone)

    def get_name(self, contact: Contact) -> str | None:
        return blank_to_none(contact.name)

    def get_avatar(self, contact: Contact) -> str | None:
        return blank_to_none(contact.avatar)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_social_profiles(self, contact: Contact) -> dict[str, Any]:
        return {"type": "list", "data": []}

    def get_has_hard_bounced(self, contact: Contact) -> bool:
        return False

    def get_marked_email_as_spam(self, contact: Contact) -> bool:
        return False

    def get_language_override(self, contact: Contact) -> str | None:
        return blank_to_none(contact.language_override)

    def get_browser(self, contact: Contact) -> str | None:
        return blank_to_none(contact.browser)

    def get_browser_version(self, contact: Contact) -> str | None:
        return blank_to_none(contact.browser_version)

    def get_browser_language(self, contact: Contact) -> str | None:
        return blank_to_none(contact.browser_language)

    def get_os(self, contact: Contact) -> str | None:
        return blank_to_none(contact.os)

    @extend_schema_field(LocationOutput)
    def get_location(self, contact: Contact) -> dict[str, Any]:
        return {
            "type": "location",
            "country": blank_to_none(contact.country_name),
            "region": None,
            "city": blank_to_none(contact.city),
            "country_code": blank_to_none(contact.country),
            "continent_code": None,
        }

    @extend_schema_field(AddressableListOutput)
    def get_tags(self, contact: Contact) -> dict[str, Any]:
        return _addressable_list("tag", list(contact.tags.all()), f"/contacts/{contact.pk}/tags")

    @extend_schema_field(AddressableListOutput)
    def get_notes(self, contact: Contact) -> dict[str, Any]:
        return _addressable_list("note", list(contact.notes.all()), f"/contacts/{contact.pk}/notes")

    @extend_schema_field(AddressableListOutput)
    def get_companies(self, contact: Contact) -> dict[str, Any]:
        memberships = list(contact.company_memberships.all())  # prefetched, newest first
        return {
            "type": "list",
            "data": [
                {"type": "company", "id": str(m.company_id), "url": f"/companies/{m.company_id}"}
                for m in memberships[:INLINE_NOTES]
            ],
            "url": f"/contacts/{contact.pk}/companies",
            "total_count": len(memberships),
            "has_more": len(memberships) > INLINE_NOTES,
        }


class ContactListOutput(serializers.Serializer):
    type = serializers.CharField(default="list")
    data = ContactOutput(many=True)
    total_count = serializers.IntegerField()
    pages = PagesOutput()


class ContactDeletedOutput(serializers.Serializer):
    id = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    type = serializers.CharField(default="contact")
    deleted = serializers.BooleanField()


class ContactArchivedOutput(serializers.Serializer):
    id = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    type = serializers.CharField(default="contact")
    archived = serializers.BooleanField()


class ContactWriteInput(serializers.Serializer):
    """Writable contact fields; anything else in the body is ignored, never written."""

    role = serializers.ChoiceField(choices=CONTACT_ROLE_CHOICES, required=False)
    external_id = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_null=True, allow_blank=True)
    phone = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)
    name = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    avatar = serializers.CharField(max_length=500, required=False, allow_null=True, allow_blank=True)
    signed_up_at = UnixTimeField(required=False, allow_null=True)
    last_seen_at = UnixTimeField(required=False, allow_null=True, help_text="Accepted and ignored: tracked by Parley.")
    owner_id = serializers.IntegerField(required=False, allow_null=True)
    unsubscribed_from_emails = serializers.BooleanField(required=False)
    language_override = serializers.CharField(max_length=35, required=False, allow_null=True, allow_blank=True)
    custom_attributes = serializers.DictField(required=False, allow_null=True)


class ContactMergeInput(serializers.Serializer):
    from_ = serializers.CharField(max_length=20)
    into = serializers.CharField(max_length=20)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class NoteInput(serializers.Serializer):
    body = serializers.CharField(max_length=MAX_NOTE_LENGTH)
    admin_id = serializers.CharField(required=False, max_length=20)
    contact_id = serializers.CharField(required=False, max_length=20)


class NoteOutput(serializers.Serializer):
    type = serializers.SerializerMethodField()
    id = IdField(source="pk")
    created_at = UnixTimeField()
    contact = serializers.SerializerMethodField()
    author = serializers.SerializerMethodField()
    body = serializers.CharField()

    def get_type(self, note: ContactNote) -> str:
        return "note"

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_contact(self, note: ContactNote) -> dict[str, Any]:
        return {"type": "contact", "id": str(note.contact_id)}

    @extend_schema_field(AdminOutput)
    def get_author(self, note: ContactNote) -> dict[str, Any] | None:
        return AdminOutput(note.author).data if note.author else None


class NoteListOutput(serializers.Serializer):
    type = serializers.CharField(default="list")
    data = NoteOutput(many=True)
    total_count = serializers.IntegerField()
    pages = PagesOutput()


def contact_json(contact: Contact) -> dict[str, Any]:
    """A contact as Intercom shows it; expects api.selectors.contacts_for_output() prefetches."""
    return ContactOutput(contact).data


def contact_list_json(page: Page) -> dict[str, Any]:
    """A page of contacts; one serializer for the page: DRF builds the fields once, not once per contact."""
    return paged_json(page, items=ContactOutput(page.rows, many=True).data)


def contact_tag_item(link: ContactTag) -> dict[str, Any]:
    """The `data.item` of a contact tag webhook."""
    return {
        "type": "contact_tag",
        "created_at": unix(link.tagged_at),
        "contact": ContactOutput(link.contact).data,
        "tag": TagOutput(link.tag).data,
    }
