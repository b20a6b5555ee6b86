"""SLAs: targets per priority and team, due times counted in the website's office hours, breaches.

The due times live on the conversation (`sla_response_due_at`, `sla_close_due_at`, and the earlier of
the two in `sla_due_at`, indexed with the state), so the inbox sorts and filters on one column. threads.py
calls `conversation_sla_refresh` whenever something that moves them changes: a contact writes (a
response is due), a teammate answers (none is), the conversation opens or closes, its team or priority
changes. The beat task `conversations.tasks.record_sla_breaches` records what fell due unmet.
"""

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from common.mail import email_header_line
from conversations.models import Conversation, ConversationPart, SlaBreach, SlaPolicy
from conversations.services.office_hours import add_office_time, hours_for_website

SLA_FIELDS = ["sla_policy", "sla_response_due_at", "sla_close_due_at", "sla_due_at"]
BREACH_BATCH = 500
# Only a breach found this soon after it fell due is emailed: one found later (beat was down, demo data, a
# policy new to old conversations) is recorded for the reports without a burst of stale emails.
BREACH_EMAIL_WITHIN = dt.timedelta(hours=1)
# How much of the contact's last message the breach email quotes.
BREACH_EMAIL_QUOTE_CHARS = 300
# The inbox's "breaching soon" view: due within this many minutes.
BREACHING_SOON_MINUTES = 30
# Past a day, the inbox says "1 d 6h" up to this many days, then whole days only.
HOURS_SHOWN_UNDER_DAYS = 3


def sla_policy_for(*, team_id: int | None, priority: str) -> SlaPolicy | None:
    """The team's policy for the priority, else the default one (team empty), else None (one query)."""
    policies = list(SlaPolicy.objects.filter(priority=priority, team_id__in=[team_id] if team_id else []))
    if not policies:
        policies = list(SlaPolicy.objects.filter(priority=priority, team__isnull=True))
    return policies[0] if policies else None


def _earliest(*moments: dt.datetime | None) -> dt.datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None


def _opened_at(conversation: Conversation) -> dt.datetime:
    """When the current open episode began: the last reopening, else the creation."""
    reopened = (
        ConversationPart.objects.filter(conversation=conversation, part_type=ConversationPart.Type.OPEN)
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)
        .first()
    )
    return reopened or conversation.created_at


def conversation_sla_refresh(*, conversation: Conversation, opened_at: dt.datetime | None = None) -> Conversation:
    """Recompute the conversation's SLA due times from its state, waiting time, team and priority; saves them.

    `opened_at`: the conversation opened (created or reopened) at that moment, so its time to close
    counts from there. Called inside the caller's transaction.
    """
    policy = None
    if conversation.state != Conversation.State.CLOSED:
        policy = sla_policy_for(team_id=conversation.team_id, priority=conversation.priority)
    if policy is None:
        response_due = close_due = None
    else:
        hours = hours_for_website(conversation.website_id)
        response_due = None
        if conversation.waiting_since is not None:
            minutes = (
                policy.first_response_minutes
                if conversation.first_response_at is None
                else policy.next_response_minutes
            )
            if minutes:
                response_due = add_office_time(hours, conversation.waiting_since, minutes * 60)
        close_due = conversation.sla_close_due_at if conversation.sla_policy_id == policy.pk else None
        if policy.close_minutes and (opened_at is not None or close_due is None):
            start = opened_at or _opened_at(conversation)
            close_due = add_office_time(hours, start, policy.close_minutes * 60)
        elif not policy.close_minutes:
            close_due = None
    conversation.sla_policy = policy
    conversation.sla_response_due_at = response_due
    conversation.sla_close_due_at = close_due
    conversation.sla_due_at = _earliest(response_due, close_due)
    Conversation.objects.filter(pk=conversation.pk).update(
        sla_policy=policy, sla_response_due_at=response_due, sla_close_due_at=close_due,
        sla_due_at=conversation.sla_due_at,
    )  # fmt: skip
    return conversation


def sla_remaining(conversation: Conversation, *, now: dt.datetime | None = None) -> dt.timedelta | None:
    """Time left until the conversation's next SLA target (negative: overdue); None without one. No query."""
    if conversation.sla_due_at is None or conversation.state == Conversation.State.CLOSED:
        return None
    return conversation.sla_due_at - (now or timezone.now())


def sla_label(conversation: Conversation, *, now: dt.datetime | None = None) -> tuple[str, bool] | None:
    """("12m left", False), ("overdue 1h 05m", True), ("overdue 1 d 6h", True) or ("overdue 113 d", True) for the
    next SLA target; None without one. No query."""
    left = sla_remaining(conversation, now=now)
    if left is None:
        return None
    overdue = left.total_seconds() < 0
    text = duration_short(abs(left))
    return (f"overdue {text}" if overdue else f"{text} left"), overdue


def sla_target(conversation: Conversation) -> str:
    """The target sla_label counts down to: "first reply", "next reply" (the contact wrote again) or "close"."""
    if conversation.sla_due_at is not None and conversation.sla_due_at == conversation.sla_response_due_at:
        return "first reply" if conversation.first_response_at is None else "next reply"
    return "close"


def duration_short(span: dt.timedelta) -> str:
    """A span as the inbox's narrow column shows it: "12m", "3h 05m", "1 d 6h" (hours while they still
    matter), then whole days ("113 d", never "2712h")."""
    minutes = int(span.total_seconds() // 60)
    hours, days = minutes // 60, minutes // (24 * 60)
    if minutes < 60:
        return f"{minutes}m"
    if hours < 24:
        return f"{hours}h {minutes % 60:02d}m"
    if days < HOURS_SHOWN_UNDER_DAYS:
        return f"{days} d {hours % 24}h" if hours % 24 else f"{days} d"
    return f"{days} d"


def _breaches_due(conversation: Conversation, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
    found = []
    if conversation.sla_response_due_at and conversation.sla_response_due_at <= now:
        kind = SlaBreach.Kind.FIRST_RESPONSE if conversation.first_response_at is None else SlaBreach.Kind.NEXT_RESPONSE
        found.append((kind, conversation.sla_response_due_at))
    if conversation.sla_close_due_at and conversation.sla_close_due_at <= now:
        found.append((SlaBreach.Kind.CLOSE, conversation.sla_close_due_at))
    return found


def sla_breaches_record(*, now: dt.datetime | None = None, batch_size: int = BREACH_BATCH) -> int:
    """Record every SLA target that fell due unmet (once each) and email the assignee; returns how many.

    Walks open conversations by `sla_due_at` (the index), newest breaches skipped once recorded; safe to
    run twice at once (a unique constraint records each breach once, and only its recorder notifies).
    """
    now = now or timezone.now()
    recorded = 0
    after: tuple[dt.datetime, int] | None = None
    while True:
        candidates = Conversation.objects.filter(
            state__in=[Conversation.State.OPEN, Conversation.State.SNOOZED], sla_due_at__lte=now
        ).select_related("assignee", "contact")
        if after is not None:
            candidates = candidates.filter(sla_due_at__gte=after[0]).exclude(sla_due_at=after[0], pk__lte=after[1])
        page = list(candidates.order_by("sla_due_at", "id")[:batch_size])
        if not page:
            return recorded
        known = set(
            SlaBreach.objects.filter(conversation_id__in=[c.pk for c in page]).values_list(
                "conversation_id", "kind", "due_at"
            )
        )
        for conversation in page:
            for kind, due_at in _breaches_due(conversation, now):
                if (conversation.pk, kind, due_at) in known:
                    continue
                breach = _breach_record(conversation=conversation, kind=kind, due_at=due_at, now=now)
                if breach is not None:
                    recorded += 1
                    if now - due_at <= BREACH_EMAIL_WITHIN:
                        _breach_notify(breach=breach, conversation=conversation)
        after = (page[-1].sla_due_at, page[-1].pk)
        if len(page) < batch_size:
            return recorded


def _breach_record(*, conversation: Conversation, kind: str, due_at: dt.datetime, now: dt.datetime) -> Any:
    try:
        with transaction.atomic():
            return SlaBreach.objects.create(
                conversation=conversation, kind=kind, due_at=due_at, recorded_at=now, team_id=conversation.team_id,
                priority=conversation.priority, assignee_id=conversation.assignee_id,
            )  # fmt: skip
    except IntegrityError:  # another run recorded it first: it notifies
        return None


def _breach_notify(*, breach: SlaBreach, conversation: Conversation) -> None:
    """Email the assignee that a target was missed (the same path as the away assignee's email): who is
    waiting and what they last wrote, so the email says which conversation without opening it."""
    assignee = conversation.assignee
    if assignee is None or not assignee.email or not assignee.is_active:
        return
    link = settings.PUBLIC_URL + reverse("admin:conversations_conversation_change", args=[conversation.pk])
    kind = breach.get_kind_display().lower()
    last = (
        ConversationPart.objects.filter(
            conversation=conversation, part_type=ConversationPart.Type.COMMENT, author_contact__isnull=False
        )
        .order_by("-created_at", "-pk")
        .values_list("body", flat=True)
        .first()
    )
    said = "\n\n"
    if last:
        text = last if len(last) <= BREACH_EMAIL_QUOTE_CHARS else last[:BREACH_EMAIL_QUOTE_CHARS] + "…"
        quoted = "\n".join(f"> {line}" for line in text.splitlines())
        said = f" {conversation.contact} wrote last:\n\n{quoted}\n\n"
    send_mail(
        subject=email_header_line(f"SLA missed: {kind} to {conversation.contact} (conversation {conversation.pk})"),
        message=f"The {kind} target of a conversation assigned to you was due at "
        f"{timezone.localtime(breach.due_at):%Y-%m-%d %H:%M %Z}.{said}Answer it: {link}\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[assignee.email],
    )
    SlaBreach.objects.filter(pk=breach.pk).update(notified_at=timezone.now())
