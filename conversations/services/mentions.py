"""Mentions in internal notes: `@username` names a teammate, who is told (live in the inbox, by email when away).

A teammate is named by their username: unique, stable, and what the note box's autocomplete inserts
(it finds teammates by display name, first or last name too). Only teammates who may read the
conversation are recorded; a handle naming nobody, or someone who may not see the conversation, stays
plain text and tells the writer nothing either way (the note is saved the same).
"""

import datetime as dt
import re
from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from common.mail import email_header_line
from conversations.models import (
    DEFAULT_EMAIL_WHEN_AWAY_MINUTES,
    ConversationMention,
    ConversationPart,
    TeammateProfile,
)

# `@` at the start or after a space or punctuation (never inside an email address: "sam@example.com"),
# then the characters Django allows in a username but `@` (dots and dashes that end a sentence are cut).
MENTION_RE = re.compile(r"(?<![\w@.+-])@([\w.+-]{1,150})")
# A note names at most this many teammates (the rest stay text): one bounded lookup per note.
MAX_MENTIONS_PER_NOTE = 20
# The permission that lets a teammate read conversations (the viewer and agent groups have it).
VIEW_CONVERSATION = ("conversations", "view_conversation")


def _handle(match: re.Match[str]) -> str:
    return match.group(1).rstrip(".-")


def mention_handles(text: str) -> list[str]:
    """The usernames `text` mentions, in order, each once (case as written)."""
    seen: dict[str, str] = {}
    for match in MENTION_RE.finditer(text):
        handle = _handle(match)
        if handle and handle.lower() not in seen:
            seen[handle.lower()] = handle
    return list(seen.values())[:MAX_MENTIONS_PER_NOTE]


def mention_pieces(text: str, *, told: Collection[str]) -> list[tuple[str, bool]]:
    """(text, is_mention) pieces of a note, for the page to highlight its `@handles` (both escaped when shown):
    only those naming a teammate the note told (`told`: their usernames, the note's ConversationMention rows);
    `@nobodyhere` stays text."""
    told_lower = {username.lower() for username in told}
    pieces: list[tuple[str, bool]] = []
    last = 0
    for match in MENTION_RE.finditer(text):
        handle = _handle(match)
        end = match.start() + 1 + len(handle)
        if end == match.start() + 1 or handle.lower() not in told_lower:
            continue
        if match.start() > last:
            pieces.append((text[last : match.start()], False))
        pieces.append((text[match.start() : end], True))
        last = end
    if last < len(text):
        pieces.append((text[last:], False))
    return pieces


def teammates_who_may_read_conversations() -> QuerySet[Any]:
    """Active staff users holding the view permission on conversations (directly, by group or as superuser)."""
    permission = Permission.objects.filter(content_type__app_label=VIEW_CONVERSATION[0], codename=VIEW_CONVERSATION[1])
    return (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(Q(is_superuser=True) | Q(user_permissions__in=permission) | Q(groups__permissions__in=permission))
        .distinct()
    )


def _mentioned_teammates(handles: list[str], *, author: AbstractBaseUser | None) -> list[Any]:
    """The teammates the handles name (exact username first, else the only one matching in any case); one query."""
    if not handles:
        return []
    found = list(
        teammates_who_may_read_conversations()
        .annotate(handle=Lower("username"))
        .filter(handle__in=[h.lower() for h in handles])
    )
    chosen = []
    for handle in handles:
        exact = [user for user in found if user.username == handle]
        loose = [user for user in found if user.username.lower() == handle.lower()]
        user = exact[0] if exact else (loose[0] if len(loose) == 1 else None)
        if user is not None and (author is None or user.pk != author.pk) and user not in chosen:
            chosen.append(user)
    return chosen


def note_mentions_record(*, part: ConversationPart, author: AbstractBaseUser | None) -> list[ConversationMention]:
    """Record the teammates an internal note mentions and schedule their emails; called inside the note's transaction."""
    teammates = _mentioned_teammates(mention_handles(part.body), author=author)
    if not teammates:
        return []
    rows = [
        ConversationMention(
            part=part, conversation_id=part.conversation_id, teammate=teammate, created_at=part.created_at
        )
        for teammate in teammates
    ]
    mentions = ConversationMention.objects.bulk_create(rows, ignore_conflicts=True)
    _emails_schedule(teammate_ids=[teammate.pk for teammate in teammates], part=part)
    return mentions


def _emails_schedule(*, teammate_ids: list[int], part: ConversationPart) -> None:
    """Each mentioned teammate's email is looked at once they could have seen the mention: at once when
    they are away, after their "email me after" minutes otherwise (never when they chose never)."""
    profiles = {p.teammate_id: p for p in TeammateProfile.objects.filter(teammate_id__in=teammate_ids)}
    from conversations.tasks import email_mentioned_teammate

    for teammate_id in teammate_ids:
        profile = profiles.get(teammate_id)
        minutes = profile.email_when_away_minutes if profile else DEFAULT_EMAIL_WHEN_AWAY_MINUTES
        if minutes is None:
            continue
        delay = 0 if profile and profile.away_mode_enabled else minutes * 60
        args = (part.pk, teammate_id)
        transaction.on_commit(
            lambda args=args, delay=delay: email_mentioned_teammate.apply_async(args, countdown=delay)
        )


def mention_email_if_away(*, part_id: int, teammate_id: int, now: dt.datetime | None = None) -> bool:
    """Email a teammate the note that mentions them when they have not read it and are away (away mode on,
    or not in the admin since the note); claimed first, so a rerun sends nothing."""
    now = now or timezone.now()
    mention = (
        ConversationMention.objects.select_related("teammate", "part__author_teammate", "conversation__contact")
        .filter(part_id=part_id, teammate_id=teammate_id)
        .first()
    )
    if mention is None or mention.read_at or mention.emailed_at:
        return False
    teammate = mention.teammate
    if not (teammate.is_active and teammate.is_staff and teammate.email):
        return False
    profile = TeammateProfile.objects.filter(teammate=teammate).first()
    if profile and profile.email_when_away_minutes is None:
        return False
    away = bool(profile and profile.away_mode_enabled)
    seen_since = bool(profile and profile.last_active_at and profile.last_active_at >= mention.created_at)
    if seen_since and not away:
        return False
    claimed = ConversationMention.objects.filter(pk=mention.pk, emailed_at__isnull=True, read_at__isnull=True).update(
        emailed_at=now
    )
    if not claimed:
        return False
    from conversations.services.threads import contact_display_name, teammate_display_name

    author = teammate_display_name(mention.part.author_teammate) if mention.part.author_teammate_id else "A teammate"
    contact = contact_display_name(mention.conversation.contact)
    link = settings.PUBLIC_URL + reverse("admin:conversations_conversation_change", args=[mention.conversation_id])
    why = "you are away" if away else "you were not in Parley when it was written"
    send_mail(
        subject=email_header_line(f"{author} mentioned you in a conversation with {contact}"),
        message=f"{author} wrote an internal note:\n\n{mention.part.body}\n\nOpen the conversation: {link}\n\n"
        f"You get this because {why}; change when Parley emails you in your profile.",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[teammate.email],
    )
    return True


def mentions_mark_read(*, teammate: AbstractBaseUser, conversation_id: int) -> int:
    """The teammate opened the conversation: its mentions of them are read (one UPDATE)."""
    return ConversationMention.objects.filter(
        teammate_id=teammate.pk, conversation_id=conversation_id, read_at__isnull=True
    ).update(read_at=timezone.now())
