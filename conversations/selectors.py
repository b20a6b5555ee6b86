"""Reads reused by the admin inbox, the widget and the ping."""

import datetime as dt
from typing import Any

from django.db.models import Prefetch, QuerySet, Sum

from contacts.models import Contact
from conversations.models import Conversation, ConversationPart, SavedReply, Team

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
    """Parts the contact may see: everything but internal notes."""
    return (
        conversation.parts.exclude(part_type=ConversationPart.Type.NOTE)
        .select_related("author_teammate", "author_contact")
        .order_by("created_at", "id")
    )


def contact_unread_count(*, contact_id: int) -> int:
    total = Conversation.objects.filter(contact_id=contact_id).aggregate(n=Sum("contact_unread_count"))["n"]
    return total or 0


def contact_poll(*, contact_id: int, since: dt.datetime | None) -> tuple[int, list[str], dt.datetime | None]:
    """(unread count, ids changed after `since`, new cursor) in one small query."""
    rows = list(
        Conversation.objects.filter(contact_id=contact_id).values_list(
            "public_id", "updated_at", "contact_unread_count"
        )
    )
    unread = sum(row[2] for row in rows)
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
