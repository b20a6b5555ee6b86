"""Messages: the body of POST /messages and Intercom's message object it answers with."""

from typing import Any

from rest_framework import serializers

from api.fields import StrictBooleanField, unix
from api.serializers.admins import AdminOutput
from conversations.models import Message

# Intercom's message_type ↔ Parley's channel.
CHANNEL_BY_MESSAGE_TYPE = {"inapp": Message.Channel.IN_APP, "email": Message.Channel.EMAIL}
MESSAGE_TYPE_BY_CHANNEL = {channel: message_type for message_type, channel in CHANNEL_BY_MESSAGE_TYPE.items()}


class MessageSenderInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=["admin"])
    id = serializers.CharField(max_length=20)


class MessageRecipientInput(serializers.Serializer):
    """The contact: by Parley id (`id`), by the site's user id (`user_id`) or by email."""

    type = serializers.ChoiceField(choices=["user", "lead", "contact"])
    id = serializers.CharField(required=False, max_length=20)
    user_id = serializers.CharField(required=False, max_length=255)
    email = serializers.CharField(required=False, max_length=254)


class MessageCreateInput(serializers.Serializer):
    message_type = serializers.ChoiceField(choices=list(CHANNEL_BY_MESSAGE_TYPE))
    subject = serializers.CharField(required=False, allow_blank=True, help_text="Required for email.")
    body = serializers.CharField(help_text="Plain text; links are tracked in emails.")
    template = serializers.ChoiceField(
        choices=["plain", "personal"], required=False, help_text="Accepted; Parley has one email template."
    )
    from_ = MessageSenderInput(required=False, help_text="The token's own admin when absent.")
    to = MessageRecipientInput()
    created_at = serializers.IntegerField(required=False, help_text="Accepted and ignored: Parley stamps the time.")
    create_conversation_without_contact_reply = StrictBooleanField(
        required=False,
        help_text="true: the message opens a conversation with the contact at once (in the inbox, and in the "
        "messenger as that conversation), and the answer's conversation_id names it; a contact whose processing "
        "is restricted, or whom the email would skip (unsubscribed, no address), is refused. false (the "
        "default): the conversation starts when the contact replies.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class MessageOutput(serializers.Serializer):
    type = serializers.CharField(default="admin_message")
    id = serializers.CharField()
    created_at = serializers.IntegerField()
    subject = serializers.CharField(allow_null=True)
    body = serializers.CharField()
    message_type = serializers.ChoiceField(choices=list(CHANNEL_BY_MESSAGE_TYPE))
    conversation_id = serializers.CharField(
        allow_null=True,
        help_text="The conversation the message opened (create_conversation_without_contact_reply), or the "
        "contact's reply started; null until then.",
    )
    owner = AdminOutput(allow_null=True)


def message_json(message: Message, *, conversation_id: int | None) -> dict[str, Any]:
    """Intercom's message object for an outbound message a teammate sent, with the conversation it opened."""
    return {
        "type": "admin_message",
        "id": str(message.pk),
        "created_at": unix(message.created_at),
        "subject": message.subject or None,
        "body": message.body,
        "message_type": MESSAGE_TYPE_BY_CHANNEL[message.channel],
        "conversation_id": str(conversation_id) if conversation_id else None,
        "owner": AdminOutput(message.sender).data if message.sender else None,
    }
