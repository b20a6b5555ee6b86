"""Demo conversations for `seed_demo`: threads with replies, notes and states, bulk-inserted."""

import datetime as dt
import random
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from contacts.models import Contact
from contacts.permissions import AGENT_GROUP, ensure_teammate_groups
from conversations.models import (
    PREVIEW_LENGTH,
    AssignmentRule,
    Conversation,
    ConversationPart,
    ConversationRating,
    Message,
    MessageDelivery,
    SavedReply,
    SlaBreach,
    SlaPolicy,
    Team,
)
from tracking.models import Website

# Two in five leads and users have written to us (enough for a few a day on the reports' charts); visitors who
# write become leads, so none here.
SHARE_WITH_CONVERSATIONS = 0.4
BATCH_SIZE = 2000
# What the demo shop's (lamps, templates/demo/shop.html) customers ask, and what its team answers.
OPENERS = [
    "Hi! I can't find where to change my billing address.",
    "Is there a discount for non-profits?",
    "My order hasn't arrived yet, it's been a week.",
    "Does the Arc desk lamp take a warm-white bulb?",
    "The Dune floor lamp arrived with a dented shade.",
    "Can I return a lamp I haven't unpacked?",
    "I was charged twice this month.",
    "Do you ship to Switzerland?",
]
CONTACT_FOLLOW_UPS = ["Thanks!", "That worked, thank you.", "Still not working, sorry.", "Any news?", "Perfect."]
TEAMMATE_REPLIES = [
    "Thanks for reaching out! Let me check that for you.",
    "You can change it under My account → Addresses.",
    "I've refunded the duplicate charge; it shows within 5 days.",
    "Yes! We ship across Europe in two to four days.",
    "Could you send a photo of what you see?",
]
# CSAT: most closed conversations a teammate answered were rated, mostly well, as real teams see it.
SHARE_RATED = 0.8
RATING_WEIGHTS = {5: 40, 4: 28, 3: 14, 2: 10, 1: 8}
REMARKS = {
    5: ["Super fast, thank you!", "Sam was brilliant.", "Exactly what I needed."],
    4: ["Helpful, took a little while.", "Good answer, thanks."],
    3: ["OK, but I had to ask twice.", "Fine."],
    2: ["Slow to answer.", "Didn't really solve it."],
    1: ["Still broken.", "Nobody read my message properly."],
}
SHARE_WITH_REMARK = 0.35
# SLA targets in minutes per priority: first response, next response, time to close (no office hours in the demo).
SLA_TARGETS = {"not_priority": (60, 240, 3 * 24 * 60), "priority": (15, 60, 24 * 60)}
NOTES = ["Customer since 2021, be generous.", "Looks like the bug from last week.", "Asked engineering."]
SAVED_REPLIES = [
    ("Greeting", "Hi {{contact.first_name}}, thanks for writing! {{teammate.name}} here, happy to help."),
    ("Closing", "Glad we could help! Write any time."),
    ("Need details", "Could you tell me a bit more? A photo helps a lot."),
]


# Colleagues of the demo's teammate, so the reports compare teammates; without a password, nobody signs in as them.
DEMO_COLLEAGUES = (("dana", "Dana"), ("priya", "Priya"), ("leo", "Leo"))
# Teammates answer within minutes (mean), contacts write back within hours: most first responses meet the SLA.
TEAMMATE_REPLY_MEAN_MINUTES = 25
# Email campaigns of the demo: days ago, subject, recipients, share opened, share of the openers who clicked.
DEMO_EMAILS = (
    (26, "What's new in March", 150, 0.48, 0.30),
    (19, "Tips: invite your team", 120, 0.42, 0.22),
    (12, "Your monthly summary", 160, 0.55, 0.18),
    (6, "Webinar: support at scale", 100, 0.38, 0.35),
    (2, "Product update", 140, 0.5, 0.25),
)


def _teammates() -> list:
    user_model = get_user_model()
    ensure_teammate_groups()
    agents = Group.objects.get(name=AGENT_GROUP)
    for username, first_name in DEMO_COLLEAGUES:
        if not user_model.objects.filter(username=username).exists():
            colleague = user_model.objects.create_user(username, f"{username}@parley.localhost", None,
                                                       first_name=first_name, is_staff=True)  # fmt: skip
            # Agents, like the teammates a lead invites: they may work the conversations they are given.
            colleague.groups.add(agents)
    return list(user_model.objects.filter(is_staff=True, is_active=True).order_by("pk")[:5])


def seed_for_contacts(*, contact_ids: list[int], rng: random.Random) -> int:
    """Conversations with 2-8 parts for about a fifth of the leads and users; returns how many."""
    for name, body in SAVED_REPLIES:
        SavedReply.objects.get_or_create(name=name, defaults={"body": body})
    for name in ("Support", "Billing"):
        Team.objects.get_or_create(name=name)
    _macros_setup()
    teams = list(Team.objects.order_by("name"))
    teammates = _teammates()
    _routing_setup(teammates)
    writers = list(
        Contact.objects.filter(pk__in=contact_ids)
        .exclude(role=Contact.Role.VISITOR)
        .values_list("pk", "name", "last_seen_at")
    )
    chosen = [w for w in writers if rng.random() < SHARE_WITH_CONVERSATIONS]
    now = timezone.now()
    website = Website.objects.order_by("pk").first()
    made = 0
    for start in range(0, len(chosen), BATCH_SIZE):
        batch = chosen[start : start + BATCH_SIZE]
        conversations, threads, breaches = [], [], []
        for contact_id, name, last_seen in batch:
            conversation, parts = _thread(contact_id, name or "Lead", last_seen or now, now, rng, teammates, teams)
            conversation.website = website
            conversations.append(conversation)
            threads.append(parts)
            breaches.append(_sla_breaches(conversation, parts, now))
        started = [conversation.created_at for conversation in conversations]
        Conversation.objects.bulk_create(conversations)
        # bulk_create fills primary keys on PostgreSQL and on SQLite >= 3.35 alike; it also stamps created_at
        # (auto_now_add): the history is in the past, so the start times are written back.
        for conversation, created_at in zip(conversations, started, strict=True):
            conversation.created_at = created_at
        Conversation.objects.bulk_update(conversations, ["created_at"], batch_size=BATCH_SIZE)
        parts_rows, breach_rows = [], []
        for conversation, parts, missed in zip(conversations, threads, breaches, strict=True):
            for part in parts:
                part.conversation_id = conversation.pk
                parts_rows.append(part)
            for breach in missed:
                breach.conversation_id = conversation.pk
                breach_rows.append(breach)
        ConversationPart.objects.bulk_create(parts_rows, batch_size=BATCH_SIZE)
        SlaBreach.objects.bulk_create(breach_rows, batch_size=BATCH_SIZE)
        ConversationRating.objects.bulk_create(_ratings(conversations, parts_rows, rng), batch_size=BATCH_SIZE)
        _contacts_messaging_dates(contact_ids=[contact_id for contact_id, _, _ in batch])
        made += len(conversations)
    _email_history(contact_ids=[w[0] for w in writers], rng=rng, sender=teammates[0], now=now)
    return made


def _contacts_messaging_dates(*, contact_ids: list[int]) -> None:
    """The contact page's "Last heard from" and "Last contacted" from the seeded threads (one statement a batch),
    as the services keep them for real messages."""

    def latest(**author: Any) -> Subquery:
        parts = ConversationPart.objects.filter(
            conversation__contact=OuterRef("pk"), part_type=ConversationPart.Type.COMMENT, **author
        )
        return Subquery(parts.order_by("-created_at").values("created_at")[:1])

    Contact.objects.filter(pk__in=contact_ids).update(
        last_replied_at=latest(author_contact__isnull=False), last_contacted_at=latest(author_teammate__isnull=False)
    )


def _sla_breaches(conversation: Conversation, parts: list[ConversationPart], now: dt.datetime) -> list[SlaBreach]:
    """The targets the demo thread missed (first response, time to close), as the beat task records them."""
    first, _, close = SLA_TARGETS[conversation.priority]
    opened = conversation.created_at
    closed_at = next((p.created_at for p in parts if p.part_type == "close"), None)
    stopped_at = closed_at or now  # closing stops the clocks
    missed = []
    first_due = opened + dt.timedelta(minutes=first)
    if (conversation.first_response_at or stopped_at) > first_due and first_due < now:
        missed.append((SlaBreach.Kind.FIRST_RESPONSE, first_due))
    close_due = opened + dt.timedelta(minutes=close)
    if stopped_at > close_due and close_due < now:
        missed.append((SlaBreach.Kind.CLOSE, close_due))
    return [
        SlaBreach(kind=kind, due_at=due_at, recorded_at=min(due_at + dt.timedelta(minutes=1), now),
                  team=conversation.team, priority=conversation.priority, assignee=conversation.assignee)
        for kind, due_at in missed
    ]  # fmt: skip


def _email_history(*, contact_ids: list[int], rng: random.Random, sender, now: dt.datetime) -> None:
    """A few email campaigns to the leads and users over the past weeks, some opened and clicked."""
    reachable = list(
        Contact.objects.filter(pk__in=contact_ids).exclude(email="").values_list("pk", flat=True).order_by("pk")
    )
    if not reachable:
        return
    for days_ago, subject, audience, opened_share, clicked_share in DEMO_EMAILS:
        written = now - dt.timedelta(days=days_ago, hours=rng.uniform(0, 8))
        recipients = rng.sample(reachable, min(audience, len(reachable)))
        message = Message.objects.create(
            channel=Message.Channel.EMAIL, subject=subject, body="Hello {{contact.first_name | fallback: \"there\"}}!",
            sender=sender, audience="Leads and users (demo)", state=Message.State.SENT,
            recipients_count=len(recipients), sent_at=written,
        )  # fmt: skip
        Message.objects.filter(pk=message.pk).update(created_at=written)
        deliveries = []
        for contact_id in recipients:
            opened = rng.random() < opened_share
            opened_at = written + dt.timedelta(hours=rng.expovariate(1 / 10)) if opened else None
            clicked_at = (
                opened_at + dt.timedelta(minutes=rng.uniform(1, 30))
                if opened and rng.random() < clicked_share
                else None
            )
            deliveries.append(
                MessageDelivery(message=message, contact_id=contact_id, state=MessageDelivery.State.SENT,
                                sent_at=written, tracked=True, opened_at=opened_at and min(opened_at, now),
                                clicked_at=clicked_at and min(clicked_at, now))
            )  # fmt: skip
        MessageDelivery.objects.bulk_create(deliveries, batch_size=BATCH_SIZE)


def _ratings(conversations: list[Conversation], parts: list[ConversationPart], rng: random.Random) -> list:
    """A rating request for each closure of a conversation a teammate answered; most of them answered."""
    by_id = {conversation.pk: conversation for conversation in conversations}
    ratings = []
    for closure in (p for p in parts if p.part_type == "close"):
        conversation = by_id[closure.conversation_id]
        if conversation.first_response_at is None:
            continue
        rating = ConversationRating(
            conversation_id=conversation.pk, closure_id=closure.pk, contact_id=conversation.contact_id,
            teammate=conversation.assignee or closure.author_teammate, team_id=conversation.team_id,
            website_id=conversation.website_id,
            requested_at=closure.created_at,
        )  # fmt: skip
        if rng.random() < SHARE_RATED:
            score = rng.choices(list(RATING_WEIGHTS), weights=list(RATING_WEIGHTS.values()))[0]
            rating.rating = score
            rating.remark = rng.choice(REMARKS[score]) if rng.random() < SHARE_WITH_REMARK else ""
            rating.rated_at = rating.updated_at = closure.created_at + dt.timedelta(minutes=rng.randint(2, 600))
        ratings.append(rating)
    return ratings


def _macros_setup() -> None:
    """Two macros (saved replies with actions), made once: one replies and closes, one hands over to Billing."""
    from conversations.services.saved_replies import MacroActions, saved_reply_create

    macros = {
        "Resolved: reply and close": (
            "Glad that's sorted! I'm closing this; write any time if it comes back.",
            MacroActions(close=True),
        ),
        "Escalate to Billing": (
            "Hi {{contact.first_name}}, thanks for the details: I'm passing this to our billing team, they'll be in touch shortly.",
            MacroActions(assign=SavedReply.Assign.NOBODY, team=Team.objects.get(name="Billing"), priority="priority"),
        ),
    }
    for name, (body, actions) in macros.items():
        if not SavedReply.objects.filter(name=name).exists():
            saved_reply_create(name=name, body=body, actions=actions)


def _routing_setup(teammates: list) -> None:
    """A rule sending billing questions to the Billing team (round robin among its members) and SLA targets."""
    billing = Team.objects.get(name="Billing")
    billing.members.add(*teammates)
    if not AssignmentRule.objects.filter(name="Billing questions").exists():
        AssignmentRule.objects.create(
            name="Billing questions", position=10, message_contains="billing, charged, invoice, refund",
            assign_team=billing,
        )  # fmt: skip
    for priority, (first, following, close) in SLA_TARGETS.items():
        label = "Priority" if priority == "priority" else "Normal"
        SlaPolicy.objects.get_or_create(
            team=None, priority=priority,
            defaults={"name": label, "first_response_minutes": first, "next_response_minutes": following,
                      "close_minutes": close},
        )  # fmt: skip


# How likely a conversation starts in each hour of the day (people write during working hours).
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 6, 10, 14, 16, 15, 12, 14, 15, 14, 12, 9, 6, 4, 3, 2, 2, 1)
WEEKEND_SHARE = 0.3  # of the conversations that would fall on a weekend, the share that stays there


def _working_hours(at: dt.datetime, now: dt.datetime, rng: random.Random) -> dt.datetime:
    """`at` moved to a likely hour of its day (UTC, the demo's report time zone), mostly off weekends."""
    day = at
    if at.weekday() >= 5 and rng.random() > WEEKEND_SHARE:
        # To the Friday before or the Monday after.
        day += dt.timedelta(days=7 - at.weekday()) if rng.random() < 0.5 else -dt.timedelta(days=at.weekday() - 4)
    moved = day.replace(hour=rng.choices(range(24), weights=HOUR_WEIGHTS)[0], minute=rng.randrange(60))
    return moved if moved < now - dt.timedelta(minutes=30) else at


def _sla_fields(*, state: str, priority: str, opened: dt.datetime, waiting_since, first_response_at) -> dict:
    if state == "closed":
        return {}
    first, following, close = SLA_TARGETS[priority]
    response_due = None
    if waiting_since is not None:
        response_due = waiting_since + dt.timedelta(minutes=first if first_response_at is None else following)
    close_due = opened + dt.timedelta(minutes=close)
    return {
        "sla_response_due_at": response_due,
        "sla_close_due_at": close_due,
        "sla_due_at": min(d for d in (response_due, close_due) if d is not None),
    }


def _thread(
    contact_id: int, name: str, last_seen: dt.datetime, now: dt.datetime, rng: random.Random, teammates: list,
    teams: list,
) -> tuple[Conversation, list[ConversationPart]]:  # fmt: skip
    at = _working_hours(min(last_seen, now) - dt.timedelta(minutes=rng.randint(30, 60 * 24 * 30)), now, rng)
    opened = at
    teammate = rng.choice(teammates)
    parts = [
        ConversationPart(part_type="comment", author_contact_id=contact_id, body=rng.choice(OPENERS), created_at=at)
    ]
    waiting_since: dt.datetime | None = at
    contact_unread, teammate_unread = 0, 1
    for step in range(rng.randint(1, 7)):
        # Most threads start with a teammate's answer; a teammate's note or reply comes within minutes, the
        # contact's answer within hours.
        roll = rng.uniform(0.15, 0.6) if step == 0 and rng.random() < 0.8 else rng.random()
        minutes = rng.expovariate(1 / TEAMMATE_REPLY_MEAN_MINUTES) if roll < 0.6 else rng.randint(1, 300)
        at = min(at + dt.timedelta(minutes=1 + minutes), now - dt.timedelta(minutes=2))
        if roll < 0.15:
            parts.append(
                ConversationPart(part_type="note", author_teammate=teammate, body=rng.choice(NOTES), created_at=at)
            )
        elif roll < 0.6:
            parts.append(ConversationPart(part_type="comment", author_teammate=teammate,
                                          body=rng.choice(TEAMMATE_REPLIES), created_at=at))  # fmt: skip
            waiting_since, contact_unread, teammate_unread = None, contact_unread + 1, 0
        else:
            parts.append(ConversationPart(part_type="comment", author_contact_id=contact_id,
                                          body=rng.choice(CONTACT_FOLLOW_UPS), created_at=at))  # fmt: skip
            waiting_since, contact_unread, teammate_unread = waiting_since or at, 0, teammate_unread + 1
    last_comment = next(p for p in reversed(parts) if p.part_type == "comment")
    roll = rng.random()
    state = "closed" if roll < 0.5 else "snoozed" if roll < 0.6 else "open"
    snoozed_until = now + dt.timedelta(hours=rng.randint(1, 72)) if state == "snoozed" else None
    if state == "closed":
        at = min(at + dt.timedelta(minutes=5), now - dt.timedelta(minutes=1))
        parts.append(ConversationPart(part_type="close", author_teammate=teammate, created_at=at))
        waiting_since = None
    elif state == "snoozed":
        parts.append(ConversationPart(part_type="snooze", author_teammate=teammate, snoozed_until=snoozed_until,
                                      created_at=at + dt.timedelta(minutes=1)))  # fmt: skip
    assigned = rng.random() < 0.7
    first_response_at = next(
        (p.created_at for p in parts if p.part_type == "comment" and p.author_teammate is not None), None
    )
    priority = "priority" if rng.random() < 0.1 else "not_priority"
    sla = _sla_fields(
        state=state, priority=priority, opened=opened, waiting_since=waiting_since, first_response_at=first_response_at
    )
    conversation = Conversation(
        public_id=secrets.token_urlsafe(16), contact_id=contact_id, state=state, snoozed_until=snoozed_until,
        created_at=opened,
        assignee=teammate if assigned else None, team=rng.choice(teams) if rng.random() < 0.5 else None,
        priority=priority, waiting_since=waiting_since, first_response_at=first_response_at, **sla,
        contact_unread_count=contact_unread, teammate_unread_count=teammate_unread,
        last_part_at=last_comment.created_at, preview=last_comment.body[:PREVIEW_LENGTH],
        preview_author_type="contact" if last_comment.author_contact_id else "teammate",
        preview_author_name=name if last_comment.author_contact_id else (teammate.first_name or "Support"),
    )  # fmt: skip
    return conversation, parts
