"""Conversations: Intercom's conversation and part objects, the inputs that create, reply and manage, webhook items."""

import html
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api import selectors
from api.errors import NotFound
from api.fields import IdField, UnixTimeField, unix
from api.pagination import Page
from api.serializers.attachments import MAX_ATTACHMENT_FILES, AttachmentFileInput, part_attachments_json
from api.serializers.base import paged_json
from contacts.models import Contact
from conversations.models import Conversation, ConversationPart, ConversationRating

# Intercom's part_type for each of Parley's part types.
PART_TYPES = {
    ConversationPart.Type.COMMENT: "comment",
    ConversationPart.Type.NOTE: "note",
    ConversationPart.Type.ASSIGNMENT: "assignment",
    ConversationPart.Type.OPEN: "open",
    ConversationPart.Type.CLOSE: "close",
    ConversationPart.Type.SNOOZE: "snoozed",
}
# `display_as=plaintext` shows bodies as the plain text Parley stores (Intercom's option).
DISPLAY_AS_PLAINTEXT = "plaintext"
# Parts shown inside a conversation object (Intercom shows up to 500).
MAX_PARTS = 500


def body_html(text: str) -> str | None:
    """Parley stores plain text; Intercom's bodies are HTML paragraphs."""
    if not text:
        return None
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n") if line.strip()) or None


def contact_author(contact: Contact) -> dict[str, Any]:
    return {
        "type": "user" if contact.role == Contact.Role.USER else "lead",
        "id": str(contact.pk),
        "name": contact.name or None,
        "email": contact.email or None,
    }


def admin_author(user: Any) -> dict[str, Any] | None:
    if user is None:
        return {"type": "bot", "id": "0", "name": "Parley", "email": None}
    return {
        "type": "admin",
        "id": str(user.pk),
        "name": user.get_full_name() or user.get_username(),
        "email": user.email or None,
    }


def body_shown(text: str, *, plaintext: bool) -> str | None:
    """A body as `display_as` asks: HTML paragraphs (Intercom's default) or the plain text Parley stores."""
    return (text or None) if plaintext else body_html(text)


def conversation_rating_json(rating: ConversationRating | None) -> dict[str, Any] | None:
    """Intercom's conversation_rating: the contact's answer to the latest closure they rated (None before any).
    `created_at` is when the rating was requested (the closure), as Intercom documents it."""
    if rating is None:
        return None
    return {
        "rating": rating.rating,
        "remark": rating.remark,
        "created_at": unix(rating.requested_at),
        "updated_at": unix(rating.updated_at),
        "contact": {"type": "contact", "id": str(rating.contact_id), "external_id": rating.contact.external_id},
        "teammate": {"type": "admin", "id": str(rating.teammate_id)} if rating.teammate_id else None,
    }


def part_json(part: ConversationPart, *, plaintext: bool = False) -> dict[str, Any]:
    author = contact_author(part.author_contact) if part.author_contact_id else admin_author(part.author_teammate)
    assigned = None
    if part.part_type == ConversationPart.Type.ASSIGNMENT:
        assigned = (
            {"type": "admin", "id": str(part.assigned_to_id)}
            if part.assigned_to_id
            else (
                {"type": "team", "id": str(part.assigned_team_id)}
                if part.assigned_team_id
                else {"type": "nobody_admin", "id": None}
            )
        )
    return {
        "type": "conversation_part",
        "id": str(part.pk),
        "part_type": PART_TYPES.get(part.part_type, part.part_type),
        "body": body_shown(part.body, plaintext=plaintext),
        "created_at": unix(part.created_at),
        "updated_at": unix(part.created_at),
        "notified_at": unix(part.created_at),
        "assigned_to": assigned,
        "author": author,
        "attachments": part_attachments_json(part),
        "external_id": None,
        "redacted": False,
    }


class ConversationOutput(serializers.Serializer):
    """Intercom's conversation; expects conversations_for_output() prefetches."""

    type = serializers.SerializerMethodField()
    id = IdField(source="pk")
    title = serializers.SerializerMethodField()
    created_at = UnixTimeField()
    updated_at = UnixTimeField()
    waiting_since = UnixTimeField(allow_null=True)
    snoozed_until = UnixTimeField(allow_null=True)
    open = serializers.SerializerMethodField()
    state = serializers.CharField()
    read = serializers.SerializerMethodField()
    priority = serializers.CharField()
    admin_assignee_id = serializers.IntegerField(source="assignee_id", allow_null=True)
    team_assignee_id = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    conversation_rating = serializers.SerializerMethodField()
    source = serializers.SerializerMethodField()
    contacts = serializers.SerializerMethodField()
    teammates = serializers.SerializerMethodField()
    custom_attributes = serializers.SerializerMethodField()
    conversation_parts = serializers.SerializerMethodField()

    def get_type(self, conversation: Conversation) -> str:
        return "conversation"

    def get_title(self, conversation: Conversation) -> str | None:
        return conversation.title or None

    def get_open(self, conversation: Conversation) -> bool:
        return conversation.state != Conversation.State.CLOSED

    def get_read(self, conversation: Conversation) -> bool:
        return conversation.teammate_unread_count == 0

    def get_team_assignee_id(self, conversation: Conversation) -> str | None:
        return str(conversation.team_id) if conversation.team_id else None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_tags(self, conversation: Conversation) -> dict[str, Any]:
        return {
            "type": "tag.list",
            "tags": [{"type": "tag", "id": str(tag.pk), "name": tag.name} for tag in conversation.tags.all()],
        }

    @extend_schema_field({"type": "object", "nullable": True, "properties": {
        "rating": {"type": "integer", "minimum": 1, "maximum": 5}, "remark": {"type": "string"},
        "created_at": {"type": "integer"}, "updated_at": {"type": "integer"},
        "contact": {"type": "object"}, "teammate": {"type": "object", "nullable": True}}})  # fmt: skip
    def get_conversation_rating(self, conversation: Conversation) -> dict[str, Any] | None:
        given = getattr(conversation, "ratings_given", None)  # conversation_ratings_given_prefetch, latest first
        return conversation_rating_json(given[0] if given else None)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_source(self, conversation: Conversation) -> dict[str, Any]:
        parts = self._parts(conversation)
        first = next((p for p in parts if p.part_type == ConversationPart.Type.COMMENT), None)
        by_contact = conversation.source != Conversation.Source.ADMIN
        author = (
            contact_author(conversation.contact)
            if by_contact
            else admin_author(first.author_teammate if first else None)
        )
        return {
            "type": "email" if conversation.source == Conversation.Source.EMAIL else "conversation",
            "id": str(first.pk) if first else str(conversation.pk),
            "delivered_as": "customer_initiated" if by_contact else "admin_initiated",
            "subject": "",
            "body": body_shown(first.body if first else conversation.preview, plaintext=self._plaintext()),
            "author": author,
            "attachments": part_attachments_json(first) if first else [],
            "url": None,
            "redacted": False,
        }

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_contacts(self, conversation: Conversation) -> dict[str, Any]:
        contact = conversation.contact
        return {
            "type": "contact.list",
            "contacts": [{"type": "contact", "id": str(contact.pk), "external_id": contact.external_id}],
        }

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_teammates(self, conversation: Conversation) -> dict[str, Any]:
        admins = [{"type": "admin", "id": str(conversation.assignee_id)}] if conversation.assignee_id else []
        return {"type": "admin.list", "teammates": admins}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_custom_attributes(self, conversation: Conversation) -> dict[str, Any]:
        return conversation.custom_attributes or {}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_conversation_parts(self, conversation: Conversation) -> dict[str, Any] | None:
        if not self.context.get("with_parts"):
            return None
        parts = self._parts(conversation)[:MAX_PARTS]
        return {
            "type": "conversation_part.list",
            "conversation_parts": [part_json(p, plaintext=self._plaintext()) for p in parts],
            "total_count": len(parts),
        }

    def _plaintext(self) -> bool:
        return self.context.get("display_as") == DISPLAY_AS_PLAINTEXT

    def _parts(self, conversation: Conversation) -> list[ConversationPart]:
        cache = getattr(conversation, "_prefetched_objects_cache", {})
        return list(cache["parts"]) if "parts" in cache else []

    def to_representation(self, instance: Conversation) -> dict[str, Any]:
        data = super().to_representation(instance)
        if data["conversation_parts"] is None:
            data.pop("conversation_parts")
        return data


def conversation_json(
    conversation: Conversation, *, with_parts: bool = True, display_as: str | None = None
) -> dict[str, Any]:
    return ConversationOutput(conversation, context={"with_parts": with_parts, "display_as": display_as}).data


class ConversationUpdateInput(serializers.Serializer):
    read = serializers.BooleanField(required=False, help_text="false marks it unread for the teammates.")
    title = serializers.CharField(required=False, allow_blank=True, max_length=255, help_text="Empty clears it.")
    custom_attributes = serializers.JSONField(
        required=False, help_text="Data attributes with model=conversation; null removes one."
    )


class ContactReference(serializers.Serializer):
    type = serializers.ChoiceField(choices=["user", "lead", "contact"])
    id = serializers.CharField(max_length=20)


class ConversationCreateInput(serializers.Serializer):
    from_ = ContactReference()
    body = serializers.CharField()
    created_at = UnixTimeField(required=False, help_text="Accepted and ignored: Parley stamps the time.")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class ConversationMessageOutput(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()
    created_at = serializers.IntegerField()
    body = serializers.CharField()
    message_type = serializers.CharField()
    conversation_id = serializers.CharField()


class ReplyInput(serializers.Serializer):
    message_type = serializers.ChoiceField(choices=["comment", "note"])
    type = serializers.ChoiceField(choices=["admin", "user"])
    # May be empty when the reply carries files.
    body = serializers.CharField(required=False, allow_blank=True, default="")
    attachment_files = AttachmentFileInput(
        many=True, required=False, max_length=MAX_ATTACHMENT_FILES,
        help_text="Files, base64-encoded; checked against the conversation's website limits (size, types read "
        "from the bytes).",
    )  # fmt: skip
    attachment_urls = serializers.ListField(
        child=serializers.CharField(max_length=2000), required=False,
        help_text="Not supported (Parley fetches no URLs); send attachment_files instead.",
    )  # fmt: skip
    admin_id = serializers.CharField(required=False, max_length=20)
    intercom_user_id = serializers.CharField(required=False, max_length=20)
    user_id = serializers.CharField(required=False, max_length=255)
    email = serializers.CharField(required=False, max_length=254)


class ManageInput(serializers.Serializer):
    message_type = serializers.ChoiceField(choices=["close", "open", "snoozed", "assignment"])
    admin_id = serializers.CharField(max_length=20, required=False)
    body = serializers.CharField(required=False, allow_blank=True)
    snoozed_until = UnixTimeField(required=False)
    type = serializers.ChoiceField(choices=["admin", "team"], required=False)
    assignee_id = serializers.CharField(required=False, max_length=20)


class ConversationListOutput(serializers.Serializer):
    type = serializers.CharField(default="conversation.list")
    conversations = ConversationOutput(many=True)
    total_count = serializers.IntegerField()
    pages = serializers.DictField()


class ConversationDeletedOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="conversation")
    deleted = serializers.BooleanField()


def conversation_list_json(page: Page) -> dict[str, Any]:
    """A page of conversations, without their parts."""
    items = ConversationOutput(page.rows, many=True, context={"with_parts": False}).data
    return paged_json(page, items=items, list_type="conversation.list", key="conversations")


def conversation_message_json(
    *, conversation: Conversation, part: ConversationPart | None, body: str
) -> dict[str, Any]:
    """The answer to POST /conversations: the contact's message, not the conversation."""
    return {
        "type": "user_message",
        "id": str(part.pk if part else conversation.pk),
        "created_at": unix(conversation.created_at),
        "body": body,
        "message_type": "inapp",
        "conversation_id": str(conversation.pk),
    }


def conversation_item(conversation: Conversation) -> dict[str, Any]:
    """The `data.item` of a conversation webhook: the conversation as it is now, with its parts."""
    try:
        fresh = selectors.conversation_get(conversation_id=conversation.pk)
    except NotFound:  # deleted in the same transaction: shaped from what the caller holds
        fresh = conversation
    return conversation_json(fresh)
