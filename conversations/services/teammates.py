"""Teammates as contacts see them (display name, avatar) and the email that reaches an away assignee."""

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import ngettext

from common.mail import email_header_line
from conversations.models import DEFAULT_EMAIL_WHEN_AWAY_MINUTES, Conversation, ConversationPart, TeammateProfile

# Activity is written at most once per this many seconds per teammate (the inbox polls every 5).
ACTIVITY_WRITE_SECONDS = 60
PROFILE_FIELDS = (
    "display_name",
    "avatar_url",
    "email_when_away_minutes",
    "away_mode_enabled",
    "away_reason",
    "away_mode_reassign",
    "max_open_conversations",
)


def teammate_profile(teammate: Any) -> TeammateProfile | None:
    """The teammate's profile row, None when never saved (reads what select_related brought)."""
    try:
        return teammate.parley_profile
    except TeammateProfile.DoesNotExist:
        return None


def teammate_avatar_url(teammate: Any) -> str:
    """The avatar URL contacts see for a teammate (empty when none is set)."""
    profile = teammate_profile(teammate) if teammate is not None else None
    return profile.avatar_url if profile else ""


@transaction.atomic
def teammate_profile_update(*, teammate: Any, **fields: Any) -> TeammateProfile:
    """Save a teammate's own profile; only the fields given change."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "Not a profile field."})
    avatar = fields.get("avatar_url")
    if avatar and not str(avatar).startswith("https://"):
        raise ValidationError({"avatar_url": "Use an https:// address, so the messenger can show it on any site."})
    profile, _ = TeammateProfile.objects.select_for_update().get_or_create(teammate=teammate)
    for name, value in fields.items():
        setattr(profile, name, value.strip() if isinstance(value, str) else value)
    profile.full_clean()
    profile.save()
    return profile


def teammate_profiles_ensure() -> int:
    """Give every active teammate without a profile one with the defaults (what no profile already meant), so a
    lead can set away mode or a cap for someone who has never opened Parley; returns how many were made."""
    missing = get_user_model().objects.filter(is_active=True, is_staff=True, parley_profile__isnull=True)
    rows = [TeammateProfile(teammate_id=pk) for pk in missing.values_list("pk", flat=True)]
    return len(TeammateProfile.objects.bulk_create(rows, ignore_conflicts=True)) if rows else 0


def teammate_mark_active(*, teammate: Any, at: dt.datetime | None = None) -> None:
    """Record that the teammate is in the admin now (at most one write a minute)."""
    at = at or timezone.now()
    if not cache.add(f"parley:teammate-active:{teammate.pk}", 1, ACTIVITY_WRITE_SECONDS):
        return
    if not TeammateProfile.objects.filter(teammate=teammate).update(last_active_at=at):
        TeammateProfile.objects.get_or_create(teammate=teammate, defaults={"last_active_at": at})


def assignee_email_schedule(*, conversation: Conversation, part: ConversationPart) -> None:
    """After a contact's message: email the assignee later if they stay away (scheduled on commit)."""
    if conversation.assignee_id is None:
        return
    profile = TeammateProfile.objects.filter(teammate_id=conversation.assignee_id).first()
    minutes = profile.email_when_away_minutes if profile else DEFAULT_EMAIL_WHEN_AWAY_MINUTES
    if minutes is None:
        return
    from conversations.tasks import email_away_assignee

    transaction.on_commit(lambda: email_away_assignee.apply_async((part.pk,), countdown=minutes * 60))


def assignee_email_if_away(*, part_id: int, now: dt.datetime | None = None) -> bool:
    """Email the assignee a contact's message they have not seen; once per waiting episode."""
    now = now or timezone.now()
    part = (
        ConversationPart.objects.select_related("conversation__assignee", "author_contact").filter(pk=part_id).first()
    )
    if part is None or part.author_contact_id is None:
        return False
    if part.conversation.assignee is None or not part.conversation.assignee.email:
        return False
    conversation, assignee = part.conversation, part.conversation.assignee
    profile = TeammateProfile.objects.filter(teammate=assignee).first()
    minutes = profile.email_when_away_minutes if profile else DEFAULT_EMAIL_WHEN_AWAY_MINUTES
    seen = (conversation.teammate_last_read_at and conversation.teammate_last_read_at >= part.created_at) or (
        profile and profile.last_active_at and profile.last_active_at >= part.created_at
    )
    if minutes is None or seen or conversation.waiting_since is None or not assignee.is_active:
        return False
    # Claim, then send: a rerun of the task finds the claim and sends nothing.
    claimed = (
        Conversation.objects.filter(pk=conversation.pk)
        .filter(Q(assignee_emailed_at__isnull=True) | Q(assignee_emailed_at__lt=F("waiting_since")))
        .update(assignee_emailed_at=now)
    )
    if not claimed:
        return False
    link = settings.PUBLIC_URL + reverse("admin:conversations_conversation_change", args=[conversation.pk])
    who = str(part.author_contact)
    away = ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    send_mail(
        subject=email_header_line(f"New message from {who}"),
        message=f"{who} wrote in a conversation assigned to you:\n\n{part.body}\n\nAnswer it: {link}\n\n"
        f"You get this because you were away from Parley for {away}; change it in your profile.",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[assignee.email],
    )
    return True
