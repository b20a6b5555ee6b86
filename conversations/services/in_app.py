"""In-app messages in the messenger: shown as a card from the sender, seen once shown, answered into a conversation."""

import datetime as dt
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from common.parsing import int_or_none
from contacts.models import Contact
from conversations.models import Conversation, Message, MessageDelivery
from conversations.selectors import in_app_seen_unanswered, in_app_shown_to, in_app_unseen_deliveries
from conversations.services.outbound import delivery_start_conversation
from conversations.services.placeholders import placeholders_render
from conversations.services.teammates import teammate_avatar_url
from conversations.services.threads import conversation_reply_as_contact, reply_resent, teammate_display_name
from tracking.models import Website

# The messenger shows at most this many unseen messages at a time, oldest first.
IN_APP_PENDING_LIMIT = 5
# Its list keeps the messages shown and not answered for this long (newest first, at most IN_APP_PENDING_LIMIT).
IN_APP_KEPT_FOR = dt.timedelta(days=30)


def in_app_messages_pending(*, contact: Contact) -> list[dict[str, Any]]:
    """Unseen in-app messages as the messenger shows them, placeholders filled for this contact.

    In-app campaigns are the marketing purpose: none without it (checked only when some are pending)."""
    return _shapes(contact, in_app_unseen_deliveries(contact_id=contact.pk))


def in_app_messages_kept(*, contact: Contact) -> list[dict[str, Any]]:
    """The in-app messages the contact was shown in the last 30 days and has not answered, newest first, as the
    messenger lists them: one seen on a page the visitor left stays there to answer (none without the purpose)."""
    since = timezone.now() - IN_APP_KEPT_FOR
    return _shapes(contact, in_app_seen_unanswered(contact_id=contact.pk, since=since))


def _shapes(contact: Contact, deliveries: QuerySet[MessageDelivery]) -> list[dict[str, Any]]:
    listed = list(deliveries.select_related("message__sender__parley_profile")[:IN_APP_PENDING_LIMIT])
    if listed and not in_app_shown_to(contact_id=contact.pk):
        return []
    return [
        {
            "id": str(d.pk),
            "body": placeholders_render(d.message.body, contact=contact, teammate=d.message.sender),
            "author_name": teammate_display_name(d.message.sender),
            "author_avatar": teammate_avatar_url(d.message.sender) or None,
            "created_at": d.sent_at.isoformat() if d.sent_at else None,
            "test": d.message.is_test,  # a teammate's test: the messenger marks it as one
        }
        for d in listed
    ]


def _own_delivery(*, contact: Contact, delivery_id: Any) -> MessageDelivery:
    """The contact's own in-app delivery; another contact's id or a bad one looks like none."""
    pk = int_or_none(delivery_id)
    found = None
    if pk is not None:
        found = (
            MessageDelivery.objects.select_related("message__sender__parley_profile")
            .filter(pk=pk, contact=contact, message__channel=Message.Channel.IN_APP)
            .exclude(state=MessageDelivery.State.PENDING)
            .first()
        )
    if found is None or (found.seen_at is None and not in_app_shown_to(contact_id=contact.pk)):
        raise MessageDelivery.DoesNotExist  # never shown (no marketing purpose): as if there were none
    return found


def in_app_message_mark_seen(*, contact: Contact, delivery_id: Any) -> None:
    """The messenger showed the message: it is seen, and shown no more."""
    delivery = _own_delivery(contact=contact, delivery_id=delivery_id)
    MessageDelivery.objects.filter(pk=delivery.pk, seen_at__isnull=True).update(seen_at=timezone.now())


@transaction.atomic
def in_app_message_reply(
    *,
    contact: Contact,
    delivery_id: Any,
    body: Any,
    idempotency_key: uuid.UUID | None = None,
    website: Website | None = None,
) -> Conversation:
    """The contact answers an in-app message, in `website`'s messenger: a conversation of that website opens with
    the message, then the answer.
    `idempotency_key`: the answer's, as its messenger named it (sent again: the conversation it went into).

    The contact's row is locked first, as every writer of its history takes it (an erasure, a merge): two answers at
    once then run one after the other, the second reading what the first wrote."""
    Contact.objects.select_for_update(no_key=True).filter(pk=contact.pk).values_list("pk", flat=True).first()
    delivery = _own_delivery(contact=contact, delivery_id=delivery_id)
    sent = reply_resent(
        idempotency_key=idempotency_key, contact_id=contact.pk, conversation_id=delivery.conversation_id
    )
    if sent is not None:
        return sent.conversation
    opening = None
    if not delivery.conversation_id:
        if not isinstance(body, str) or not body.strip():
            raise ValidationError({"body": "Write a message."})
        # The message as the contact saw it (placeholders filled) opens the thread.
        opening = placeholders_render(delivery.message.body, contact=contact, teammate=delivery.message.sender)
    conversation = delivery_start_conversation(
        delivery=delivery, source=Conversation.Source.CHAT, opening=opening, seen=True, website=website
    )
    # The part the answer is (or, sent twice at once, the first request's): its conversation is the answer's.
    part = conversation_reply_as_contact(conversation=conversation, body=body, idempotency_key=idempotency_key)
    return part.conversation
