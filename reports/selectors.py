"""The dashboard's reads: each one query on the rollups (or, for the "now" counts, on an index of the
conversations), summed in SQL, so its cost depends on the days shown, never on the size of the tables."""

import datetime as dt
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Max, Q, QuerySet, Sum

from common.teammates import PROFILE, teammate_name_from
from conversations.models import Conversation, Team
from reports.models import (
    COUNTED_FIELDS,
    ContactsSnapshot,
    ConversationDay,
    EmailDay,
    PageViewDay,
    RollupDay,
)
from tracking.models import Website

UNASSIGNED = "Unassigned"  # the per-teammate row of conversations nobody was assigned
# The longest range the dashboard shows at once (a year and a day: a leap year from any day).
MAX_RANGE_DAYS = 367


@dataclass(frozen=True)
class ReportFilters:
    """What the dashboard shows: days from `start` to `end` (both included), one website and/or one team."""

    start: dt.date
    end: dt.date
    website_id: int | None = None
    team_id: int | None = None

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]


@dataclass(frozen=True)
class NowCounts:
    open: int
    waiting: int  # open, with the contact's message not answered yet
    snoozed: int


# The "now" counts are cached per filter under the current generation, which every conversation change bumps
# (reports.integration, on commit): a page shows them exact, and counts them again only after a change. The
# expiry bounds what a change outside the services (a retention run, an erase) leaves stale.
NOW_COUNTS_GENERATION_KEY = "reports:now:generation"
NOW_COUNTS_SECONDS = 60


def _now_counts_query(filters: ReportFilters) -> NowCounts:
    rows = Conversation.objects.filter(state__in=[Conversation.State.OPEN, Conversation.State.SNOOZED])
    if filters.website_id is not None:
        rows = rows.filter(website_id=filters.website_id)
    if filters.team_id is not None:
        rows = rows.filter(team_id=filters.team_id)
    counts = rows.aggregate(
        open=Count("id", filter=Q(state=Conversation.State.OPEN)),
        waiting=Count("id", filter=Q(state=Conversation.State.OPEN, waiting_since__isnull=False)),
        snoozed=Count("id", filter=Q(state=Conversation.State.SNOOZED)),
    )
    return NowCounts(**counts)


def conversations_now(*, filters: ReportFilters) -> NowCounts:
    """Open, waiting and snoozed conversations this moment: counted on the state indexes, then cached until
    a conversation changes (at most NOW_COUNTS_SECONDS)."""
    generation = cache.get(NOW_COUNTS_GENERATION_KEY, 0)
    key = f"reports:now:{generation}:{filters.website_id}:{filters.team_id}"
    cached = cache.get(key)
    if cached is not None:
        return NowCounts(*cached)
    counts = _now_counts_query(filters)
    cache.set(key, [counts.open, counts.waiting, counts.snoozed], NOW_COUNTS_SECONDS)
    return counts


def _conversation_days(filters: ReportFilters) -> QuerySet[ConversationDay]:
    rows = ConversationDay.objects.filter(day__gte=filters.start, day__lte=filters.end)
    if filters.website_id is not None:
        rows = rows.filter(website_id=filters.website_id)
    if filters.team_id is not None:
        rows = rows.filter(team_id=filters.team_id)
    return rows


def _sums(fields: list[str]) -> dict[str, Sum]:
    return {name: Sum(name) for name in fields}


def conversation_figures_by_day(*, filters: ReportFilters) -> dict[dt.date, dict[str, int]]:
    """Every counted rollup column summed per day (days without rows are absent)."""
    rows = _conversation_days(filters).values("day").annotate(**_sums(COUNTED_FIELDS)).order_by("day")
    return {row.pop("day"): {k: v or 0 for k, v in row.items()} for row in rows}


@dataclass(frozen=True)
class TeammateFigures:
    teammate_id: int | None
    name: str
    counts: dict[str, int]


def conversation_figures_by_teammate(*, filters: ReportFilters) -> list[TeammateFigures]:
    """Every counted rollup column summed per teammate (the conversations' assignee; None: unassigned),
    each by their one name (common.teammates). One query."""
    names = (f"teammate__{PROFILE}__display_name", "teammate__first_name", "teammate__last_name",
             "teammate__username")  # fmt: skip
    rows = _conversation_days(filters).values("teammate", *names).annotate(**_sums(COUNTED_FIELDS))
    figures = []
    for row in rows:
        teammate_id = row.pop("teammate")
        display, first, last, username = (row.pop(name) for name in names)
        name = (
            teammate_name_from(display_name=display, full_name=f"{first} {last}", username=username)
            if teammate_id is not None
            else UNASSIGNED
        )
        figures.append(TeammateFigures(teammate_id, name, {k: v or 0 for k, v in row.items()}))
    return sorted(figures, key=lambda one: (one.teammate_id is None, one.name.lower()))


DURATION_FIELDS = ("first_response_seconds", "time_to_close_seconds")


@dataclass(frozen=True)
class DurationRow:
    """One rollup row's kept durations (whole seconds; empty when it had none, or too many to keep)."""

    day: dt.date
    teammate_id: int | None
    seconds: dict[str, list[int]]  # by field of DURATION_FIELDS asked for


def conversation_durations(*, filters: ReportFilters, fields: tuple[str, ...]) -> list[DurationRow]:
    """The kept durations of every rollup row of the period (`fields`: some of DURATION_FIELDS). One query; the
    dashboard asks only when the period holds few enough (reports.durations.EXACT_MEDIAN_MAX) to read."""
    rows = _conversation_days(filters).order_by().values_list("day", "teammate", *fields)
    return [DurationRow(day, teammate_id, dict(zip(fields, lists, strict=True))) for day, teammate_id, *lists in rows]


def page_views_by_day(*, filters: ReportFilters) -> dict[dt.date, int]:
    rows = PageViewDay.objects.filter(day__gte=filters.start, day__lte=filters.end)
    if filters.website_id is not None:
        rows = rows.filter(website_id=filters.website_id)
    return dict(rows.values_list("day").annotate(total=Sum("page_views")).order_by("day"))


def emails_by_day(*, filters: ReportFilters) -> dict[dt.date, tuple[int, int, int]]:
    """(sent, opened, clicked) per day."""
    rows = EmailDay.objects.filter(day__gte=filters.start, day__lte=filters.end).order_by("day")
    return {row.day: (row.sent, row.opened, row.clicked) for row in rows}


def contacts_snapshot_latest() -> ContactsSnapshot | None:
    return ContactsSnapshot.objects.order_by("-day").first()


def rollups_computed_at() -> dt.datetime | None:
    """When the rollups were last computed (the newest of the days' times)."""
    return RollupDay.objects.aggregate(latest=Max("computed_at"))["latest"]


def filter_choices() -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(websites, teams) the dashboard can be filtered by, as (id, name)."""
    websites = list(Website.objects.order_by("name").values_list("pk", "name"))
    teams = list(Team.objects.order_by("name").values_list("pk", "name"))
    return websites, teams
