"""Reads reused by the admin inbox, the widget and the ping."""

import datetime as dt
from typing import Any

from django.db.models import Max, OuterRef, Prefetch, QuerySet, Subquery, Sum

from contacts.models import Contact
from conversations.models import Conversation, ConversationPart, Message, MessageDelivery, SavedReply, Team

THREAD_MAX_PARTS = 500
WIDGET_LIST_LIMIT = 20


def conversation_list_for_contact(*, contact_id: int) -> QuerySet[Conversation]:
    """A contact's conversations, newest activity first (widget list, ping)."""
    return Conversation.objects.filter(contact_id=contact_id).order_by("-updated_at", "-id")


def conversation_get_for_contact(*, contact_id: int, public_id: Any) -> Conversation | None:
    """The conversation only when it belongs to this contact: foreign and unknown ids look the same."""
    # No query for what cannot be a public id (PostgreSQL raises on a NUL in a compared string).
    if not isinstance(public_id, str) or len(public_id) > 32 or "\x00" in public_id:
        return None
    return Conversation.objects.filter(contact_id=contact_id, public_id=public_id).first()


def conversation_visible_parts(*, conversation: Conversation) -> QuerySet[ConversationPart]:
    """Parts the contact sees: the messages (notes are internal; assignments, snoozes, closes and
    reopens are the team's events, told by the conversation's state, never as empty bubbles)."""
    return (
        conversation.parts.filter(part_type=ConversationPart.Type.COMMENT)
        .select_related("author_teammate__parley_profile", "author_contact")
        .order_by("created_at", "id")
    )


def in_app_unseen_count(*, contact_id: int) -> int:
    """In-app messages sent to the contact and not shown yet (they count as unread in the messenger)."""
    return MessageDelivery.objects.filter(
        contact_id=contact_id, state=MessageDelivery.State.SENT, seen_at__isnull=True,
        message__channel=Message.Channel.IN_APP,
    ).count()  # fmt: skip


def contact_unread_count(*, contact_id: int) -> int:
    """Unread teammate replies across the contact's conversations, plus unseen in-app messages."""
    total = Conversation.objects.filter(contact_id=contact_id).aggregate(n=Sum("contact_unread_count"))["n"]
    return (total or 0) + in_app_unseen_count(contact_id=contact_id)


def contact_poll(*, contact_id: int, since: dt.datetime | None) -> tuple[int, list[str], dt.datetime | None]:
    """(unread count, ids changed after `since`, new cursor) in two small queries."""
    rows = list(
        Conversation.objects.filter(contact_id=contact_id).values_list(
            "public_id", "updated_at", "contact_unread_count"
        )
    )
    unread = sum(row[2] for row in rows) + in_app_unseen_count(contact_id=contact_id)
    changed = [row[0] for row in rows if since is None or row[1] > since]
    cursor = max((row[1] for row in rows), default=since)
    return unread, changed, cursor


def conversation_thread(*, conversation: Conversation) -> list[ConversationPart]:
    """The whole thread in reading order for the inbox (the last THREAD_MAX_PARTS parts)."""
    parts = list(
        conversation.parts.select_related("author_teammate", "author_contact", "assigned_to", "assigned_team").order_by(
            "-created_at", "-id"
        )[:THREAD_MAX_PARTS]
    )
    parts.reverse()
    return parts


def conversations_for_contact_panel(contact: Contact) -> list[Conversation]:
    return list(
        Conversation.objects.filter(contact=contact).select_related("assignee").order_by("-updated_at", "-id")[:10]
    )


def saved_reply_list() -> QuerySet[SavedReply]:
    return SavedReply.objects.order_by("name")


def team_list() -> QuerySet[Team]:
    return Team.objects.order_by("name")


def conversation_with_tags() -> Prefetch:
    return Prefetch("tags")


# The inbox counts unread conversations up to this many ("99+" past it): a bounded count.
INBOX_UNREAD_CAP = 99
INBOX_EVENTS_LIMIT = 20


def inbox_state() -> dict[str, Any]:
    """The newest part id (the page refreshes its list when it moves) and the unread count, capped."""
    latest = ConversationPart.objects.aggregate(latest=Max("id"))["latest"] or 0
    unread = (
        Conversation.objects.filter(state=Conversation.State.OPEN, teammate_unread_count__gt=0)
        .values("id")[: INBOX_UNREAD_CAP + 1]
        .count()
    )
    return {"latest_part_id": latest, "unread_conversations": min(unread, INBOX_UNREAD_CAP),
            "unread_capped": unread > INBOX_UNREAD_CAP}  # fmt: skip


def inbox_new_messages(*, teammate_id: int, after_part_id: int) -> list[dict[str, Any]]:
    """Contacts' messages after part `after_part_id`, oldest first, for notifications: each says
    whether it opened its conversation and whether the conversation is assigned to this teammate."""
    opening_part = ConversationPart.objects.filter(conversation=OuterRef("conversation")).order_by("created_at", "id")
    new_parts = (
        ConversationPart.objects.filter(
            pk__gt=after_part_id, part_type=ConversationPart.Type.COMMENT, author_contact__isnull=False
        )
        .select_related("conversation", "author_contact")
        .annotate(opening_part_id=Subquery(opening_part.values("id")[:1]))
        .order_by("id")[:INBOX_EVENTS_LIMIT]
    )
    return [
        {
            "part_id": part.pk,
            "conversation_id": part.conversation_id,
            "contact": str(part.author_contact),
            "body": part.body[:140],
            "new_conversation": part.pk == part.opening_part_id,
            "assigned_to_me": part.conversation.assignee_id == teammate_id,
        }
        for part in new_parts
    ]
