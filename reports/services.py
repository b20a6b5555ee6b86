"""The rollups' writes: each day recomputed from the raw rows, the contacts snapshot, the refresh schedule.

A day's rollups are computed from scratch (never incremented), in one transaction that locks the day's
`RollupDay` row, so a rerun or two runs at once give the same rows. The refresh task recomputes today and
yesterday every ten minutes (late assignments, closes after midnight, ratings changed within 24 hours),
fills days never computed (newest first, a bounded number per run: history appears after an upgrade
without a long first run), and takes the contacts snapshot; the nightly settle recomputes the last week
(email opens and clicks arrive for days). Days older than that stay as computed: the figures of a past day
do not change when retention later deletes the conversations or visitors they counted.

Each query reads one day through an index on the time it filters on (conversations: created_at,
first_response_at; close parts: the partial index on created_at; page views: created_at; messages:
created_at), so a day costs what that day holds, whatever the size of the tables.
"""

import datetime as dt
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.models import Contact
from conversations.models import Conversation, ConversationPart, Message, MessageDelivery, SlaBreach, SlaPolicy
from reports import csat
from reports.clock import day_bounds, local_day, report_today, report_zone
from reports.durations import EXACT_MEDIAN_MAX, duration_bucket, whole_seconds
from reports.models import (
    CSAT_SCORES,
    ContactsSnapshot,
    ConversationDay,
    EmailDay,
    PageViewDay,
    RollupDay,
    csat_field,
    first_response_field,
    new_in_hour_field,
    time_to_close_field,
)
from reports.selectors import NOW_COUNTS_GENERATION_KEY
from retention.selectors import retention_policy_get
from retention.services import contacts_stale
from tracking.models import PageView

# Days recomputed on every refresh (today, yesterday) and by the nightly settle (the last week).
RECENT_DAYS = 2
SETTLE_DAYS = 7
# How far back the refresh fills days never computed, and how many it fills per run.
BACKFILL_DAYS = 400
BACKFILL_PER_RUN = 30
EXPIRY_FORECAST_DAYS = 30

DimensionKey = tuple[int | None, int | None, int | None]  # website, team, teammate
Durations = dict[DimensionKey, dict[str, list[int]]]  # per row: "first_response_seconds", "time_to_close_seconds"


@dataclass(frozen=True)
class RefreshResult:
    days: list[dt.date]
    snapshot: ContactsSnapshot


def _count_conversations(
    rows: dict[DimensionKey, dict[str, int]], durations: Durations, start: dt.datetime, end: dt.datetime
) -> None:
    """New conversations of the day, by local hour; first responses sent that day, by bucket and in seconds."""
    zone = report_zone()
    created = Conversation.objects.filter(created_at__gte=start, created_at__lt=end).values_list(
        "website_id", "team_id", "assignee_id", "created_at"
    )
    for website_id, team_id, assignee_id, created_at in created.iterator():
        row = rows[website_id, team_id, assignee_id]
        row["conversations_new"] += 1
        row[new_in_hour_field(created_at.astimezone(zone).hour)] += 1
    # A conversation a teammate started was answered by its own first message: not a response time.
    answered = (
        Conversation.objects.filter(first_response_at__gte=start, first_response_at__lt=end)
        .exclude(source=Conversation.Source.ADMIN)
        .values_list("website_id", "team_id", "assignee_id", "created_at", "first_response_at")
    )
    for website_id, team_id, assignee_id, created_at, first_response_at in answered.iterator():
        row = rows[website_id, team_id, assignee_id]
        seconds = (first_response_at - created_at).total_seconds()
        row["first_responses"] += 1
        row[first_response_field(duration_bucket(seconds))] += 1
        durations[website_id, team_id, assignee_id]["first_response_seconds"].append(whole_seconds(seconds))


def _sla_covered() -> set[tuple[int | None, str]]:
    """(team id or None for "any team", priority) of the SLA policies that set at least one target."""
    policies = SlaPolicy.objects.filter(
        Q(first_response_minutes__isnull=False)
        | Q(next_response_minutes__isnull=False)
        | Q(close_minutes__isnull=False)
    )
    return set(policies.values_list("team_id", "priority"))


def _count_closes(
    rows: dict[DimensionKey, dict[str, int]], durations: Durations, start: dt.datetime, end: dt.datetime
) -> None:
    """Conversations closed that day (the day's last close of each): time to close from creation, SLA met or not.

    A conversation is measured for SLAs when a policy with a target covers its team and priority (or it
    has a breach recorded); it met them when no breach was recorded for it before that close.
    """
    covered = _sla_covered()
    breached = SlaBreach.objects.filter(conversation_id=OuterRef("conversation_id"), due_at__lte=OuterRef("created_at"))
    closes = (
        ConversationPart.objects.filter(part_type=ConversationPart.Type.CLOSE, created_at__gte=start, created_at__lt=end)
        .annotate(breached=Exists(breached))
        .values_list(
            "conversation_id", "created_at", "breached", "conversation__website_id", "conversation__team_id",
            "conversation__assignee_id", "conversation__created_at", "conversation__priority",
        )
    )  # fmt: skip
    last_close: dict[int, tuple] = {}
    for close in closes.iterator():
        if close[0] not in last_close or close[1] >= last_close[close[0]][1]:
            last_close[close[0]] = close
    for _, closed_at, was_breached, website_id, team_id, assignee_id, created_at, priority in last_close.values():
        row = rows[website_id, team_id, assignee_id]
        seconds = (closed_at - created_at).total_seconds()
        row["closed"] += 1
        row[time_to_close_field(duration_bucket(seconds))] += 1
        durations[website_id, team_id, assignee_id]["time_to_close_seconds"].append(whole_seconds(seconds))
        if was_breached or (team_id, priority) in covered or (None, priority) in covered:
            row["sla_measured"] += 1
            row["sla_met"] += 0 if was_breached else 1


def _count_ratings(rows: dict[DimensionKey, dict[str, int]], start: dt.datetime, end: dt.datetime) -> None:
    for rating in csat.csat_ratings_between(start=start, end=end):
        if rating.score in CSAT_SCORES:
            rows[rating.website_id, rating.team_id, rating.teammate_id][csat_field(rating.score)] += 1


def _kept(durations: list[int]) -> list[int]:
    """A row's durations as it keeps them: ascending, none when there are too many to read for an exact median."""
    return sorted(durations) if len(durations) <= EXACT_MEDIAN_MAX else []


def _conversation_day_rows(day: dt.date, start: dt.datetime, end: dt.datetime) -> list[ConversationDay]:
    rows: dict[DimensionKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    durations: Durations = defaultdict(lambda: defaultdict(list))
    _count_conversations(rows, durations, start, end)
    _count_closes(rows, durations, start, end)
    _count_ratings(rows, start, end)
    return [
        ConversationDay(
            day=day,
            website_id=key[0],
            team_id=key[1],
            teammate_id=key[2],
            **counts,
            first_response_seconds=_kept(durations[key]["first_response_seconds"]),
            time_to_close_seconds=_kept(durations[key]["time_to_close_seconds"]),
        )
        for key, counts in rows.items()
    ]


def _page_view_day_rows(day: dt.date, start: dt.datetime, end: dt.datetime) -> list[PageViewDay]:
    counts = (
        PageView.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("session__website_id")
        .annotate(page_views=Count("id"))
        .order_by()
    )
    return [PageViewDay(day=day, website_id=c["session__website_id"], page_views=c["page_views"]) for c in counts]


def _email_day_row(day: dt.date, start: dt.datetime, end: dt.datetime) -> EmailDay:
    counts = MessageDelivery.objects.filter(
        message__channel=Message.Channel.EMAIL,
        message__is_test=False,
        message__created_at__gte=start,
        message__created_at__lt=end,
    ).aggregate(
        sent=Count("id", filter=Q(state=MessageDelivery.State.SENT)),
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        clicked=Count("id", filter=Q(clicked_at__isnull=False)),
    )
    return EmailDay(day=day, **counts)


@transaction.atomic
def report_day_refresh(*, day: dt.date, now: dt.datetime | None = None) -> None:
    """Recompute every rollup of `day` (a report day, reports.clock) from the raw rows; reruns are safe."""
    now = now or timezone.now()
    RollupDay.objects.get_or_create(day=day, defaults={"computed_at": now})
    RollupDay.objects.select_for_update().get(day=day)  # one refresh of a day at a time
    start, end = day_bounds(day)
    conversation_rows = _conversation_day_rows(day, start, end)
    page_view_rows = _page_view_day_rows(day, start, end)
    ConversationDay.objects.filter(day=day).delete()
    ConversationDay.objects.bulk_create(conversation_rows)
    PageViewDay.objects.filter(day=day).delete()
    PageViewDay.objects.bulk_create(page_view_rows)
    email = _email_day_row(day, start, end)
    EmailDay.objects.update_or_create(
        day=day, defaults={"sent": email.sent, "opened": email.opened, "clicked": email.clicked}
    )
    RollupDay.objects.filter(day=day).update(computed_at=now)


def report_days_refresh(*, days: Iterable[dt.date], now: dt.datetime | None = None) -> list[dt.date]:
    """Recompute each of `days`, each in its own transaction (newest first); returns them."""
    done = []
    for day in sorted(set(days), reverse=True):
        report_day_refresh(day=day, now=now)
        done.append(day)
    return done


def _days_never_computed(*, today: dt.date, limit: int) -> list[dt.date]:
    oldest = today - dt.timedelta(days=BACKFILL_DAYS)
    computed = set(RollupDay.objects.filter(day__gte=oldest, day__lte=today).values_list("day", flat=True))
    missing = []
    day = today
    while day >= oldest and len(missing) < limit:
        if day not in computed:
            missing.append(day)
        day -= dt.timedelta(days=1)
    return missing


def reports_refresh(*, now: dt.datetime | None = None, backfill: int = BACKFILL_PER_RUN) -> RefreshResult:
    """The refresh task: today and yesterday, up to `backfill` days never computed, the contacts snapshot."""
    now = now or timezone.now()
    today = report_today(now)
    recent = [today - dt.timedelta(days=n) for n in range(RECENT_DAYS)]
    missing = _days_never_computed(today=today, limit=backfill + RECENT_DAYS)
    days = report_days_refresh(days=[*recent, *[d for d in missing if d not in recent][:backfill]], now=now)
    return RefreshResult(days=days, snapshot=contacts_snapshot_take(now=now))


def reports_settle(*, now: dt.datetime | None = None) -> list[dt.date]:
    """The nightly settle: recompute the last SETTLE_DAYS days (late opens, clicks, breaches, ratings)."""
    now = now or timezone.now()
    today = report_today(now)
    return report_days_refresh(days=[today - dt.timedelta(days=n) for n in range(SETTLE_DAYS)], now=now)


def reports_rebuild(*, days: int, now: dt.datetime | None = None) -> list[dt.date]:
    """Recompute the last `days` days (after an upgrade, or a change of PARLEY_REPORTS_TIME_ZONE)."""
    now = now or timezone.now()
    today = report_today(now)
    done = report_days_refresh(days=[today - dt.timedelta(days=n) for n in range(days)], now=now)
    contacts_snapshot_take(now=now)
    return done


def now_counts_changed() -> None:
    """A conversation changed (its state, waiting, website or team may have): the cached "now" counts of
    every filter are stale. Called on commit of the change (reports.integration)."""
    try:
        cache.incr(NOW_COUNTS_GENERATION_KEY)
    except ValueError:  # not in the cache yet (or evicted): any new value makes the old entries unreachable
        cache.set(NOW_COUNTS_GENERATION_KEY, secrets.randbelow(2**31), None)


def visitors_expiring_by_day(*, now: dt.datetime, days: int = EXPIRY_FORECAST_DAYS) -> list[tuple[dt.date, int]] | None:
    """How many visitors the retention policy expires on each of the next `days` report days (today first);
    None when visitor expiry is off. Visitors already past their TTL go with the next run: counted today.

    The rule is retention's own (`contacts_stale`): a visitor expires `visitor_ttl_days` after their last
    activity (last seen, else first seen, else created; a message they wrote counts as activity).
    """
    policy = retention_policy_get()
    if not policy.visitor_expiry_enabled:
        return None
    ttl = dt.timedelta(days=policy.visitor_ttl_days)
    today = report_today(now)
    horizon_end = day_bounds(today + dt.timedelta(days=days - 1))[1]
    due = contacts_stale(role=Contact.Role.VISITOR, cutoff=horizon_end - ttl).annotate(
        active_at=Coalesce("last_seen_at", "first_seen_at", "created_at")
    )
    counts: dict[dt.date, int] = defaultdict(int)
    for active_at, replied_at in due.values_list("active_at", "last_replied_at").iterator():
        expires_at = max(active_at, replied_at) + ttl if replied_at else active_at + ttl
        counts[max(local_day(expires_at), today)] += 1
    return [(today + dt.timedelta(days=n), counts[today + dt.timedelta(days=n)]) for n in range(days)]


def contacts_snapshot_take(*, now: dt.datetime | None = None) -> ContactsSnapshot:
    """Count contacts by role and forecast visitor expiry; one snapshot per report day, replaced."""
    now = now or timezone.now()
    by_role = dict(Contact.objects.values_list("role").annotate(count=Count("id")).order_by())
    expiring = visitors_expiring_by_day(now=now)
    policy_ttl = retention_policy_get().visitor_ttl_days if expiring is not None else None
    snapshot, _ = ContactsSnapshot.objects.update_or_create(
        day=report_today(now),
        defaults={
            "taken_at": now,
            "visitors": by_role.get(Contact.Role.VISITOR, 0),
            "leads": by_role.get(Contact.Role.LEAD, 0),
            "users": by_role.get(Contact.Role.USER, 0),
            "visitor_ttl_days": policy_ttl,
            "expiring_visitors": [[day.isoformat(), count] for day, count in expiring or []],
        },
    )
    return snapshot
