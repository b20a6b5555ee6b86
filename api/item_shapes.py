"""How each model appears as `data.item` in webhook notifications (Intercom's objects)."""

from typing import Any

from api.fields import unix
from api.serializers import ContactOutput, TagOutput
from contacts.models import Contact, ContactTag
from conversations.models import Conversation


def contact_item(contact: Contact) -> dict[str, Any]:
    return ContactOutput(contact).data


def contact_tag_item(link: ContactTag) -> dict[str, Any]:
    return {
        "type": "contact_tag",
        "created_at": unix(link.tagged_at),
        "contact": ContactOutput(link.contact).data,
        "tag": TagOutput(link.tag).data,
    }


def conversation_item(conversation: Conversation) -> dict[str, Any]:
    from api.conversation_shapes import conversation_json, conversations_for_output

    fresh = conversations_for_output(with_parts=True).filter(pk=conversation.pk).first()
    return conversation_json(fresh or conversation)
