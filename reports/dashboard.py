"""The dashboard's charts: for each, who may see it, its data as a table (what its CSV holds) and its drawing.

A chart's table is computed once from the selectors' figures and is both what the SVG draws and what
"Download CSV" returns, so the two always agree. `Figures` loads each selector at most once per request
and only for the charts the teammate may see: the page runs a fixed number of queries.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from contacts.models import Contact
from reports import charts
from reports.clock import report_zone
from reports.durations import EXACT_MEDIAN_MAX, duration_words, median_exact, median_from_buckets
from reports.models import (
    CSAT_SCORES,
    FIRST_RESPONSE_FIELDS,
    NEW_IN_HOUR_FIELDS,
    TIME_TO_CLOSE_FIELDS,
    ContactsSnapshot,
    csat_field,
)
from reports.selectors import (
    NowCounts,
    ReportFilters,
    TeammateFigures,
    contacts_snapshot_latest,
    conversation_durations,
    conversation_figures_by_day,
    conversation_figures_by_teammate,
    conversations_now,
    emails_by_day,
    page_views_by_day,
)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS = tuple(f"{h:02d}:00" for h in range(24))
MAX_TEAMMATE_ROWS = 15  # the chart's busiest teammates; the CSV has them all


@dataclass(frozen=True)
class DurationKind:
    """First responses or times to close: where the rollups keep them, exactly and in buckets, and their count."""

    field: str  # the rows' kept seconds (reports.selectors.DURATION_FIELDS)
    buckets: list[str]
    count: str
    noun: str


FIRST_RESPONSE = DurationKind("first_response_seconds", FIRST_RESPONSE_FIELDS, "first_responses", "first responses")
TIME_TO_CLOSE = DurationKind("time_to_close_seconds", TIME_TO_CLOSE_FIELDS, "closed", "closes")
DURATION_KINDS = (FIRST_RESPONSE, TIME_TO_CLOSE)


@dataclass(frozen=True)
class ExactDurations:
    """One kind's durations in the period, in whole seconds: by day, by teammate (None: unassigned), and all."""

    by_day: dict[dt.date, list[int]]
    by_teammate: dict[int | None, list[int]]
    every: list[int]


class Figures:
    """The selectors' results for one filter, each loaded on first use."""

    def __init__(self, filters: ReportFilters) -> None:
        self.filters = filters

    @cached_property
    def now(self) -> NowCounts:
        return conversations_now(filters=self.filters)

    @cached_property
    def by_day(self) -> dict[dt.date, dict[str, int]]:
        return conversation_figures_by_day(filters=self.filters)

    @cached_property
    def by_teammate(self) -> list[TeammateFigures]:
        return conversation_figures_by_teammate(filters=self.filters)

    @cached_property
    def weekday_hours(self) -> list[list[int]]:
        """New conversations per weekday (Monday first) and local hour, summed from the per-day figures."""
        grid = [[0] * len(NEW_IN_HOUR_FIELDS) for _ in WEEKDAYS]
        for day, counts in self.by_day.items():
            row = grid[day.weekday()]
            for hour, name in enumerate(NEW_IN_HOUR_FIELDS):
                row[hour] += counts.get(name, 0)
        return grid

    @cached_property
    def page_views(self) -> dict[dt.date, int]:
        return page_views_by_day(filters=self.filters)

    @cached_property
    def emails(self) -> dict[dt.date, tuple[int, int, int]]:
        return emails_by_day(filters=self.filters)

    @cached_property
    def snapshot(self) -> ContactsSnapshot | None:
        return contacts_snapshot_latest()

    def day_counts(self, day: dt.date) -> dict[str, int]:
        return self.by_day.get(day, {})

    def total(self, name: str) -> int:
        return sum(counts.get(name, 0) for counts in self.by_day.values())

    @cached_property
    def exact(self) -> dict[str, ExactDurations]:
        """Per kind (its field): the period's durations themselves, when it holds at most EXACT_MEDIAN_MAX of that
        kind and every rollup row kept its own (rows computed before they were kept did not). One query, none when
        no kind qualifies; a kind missing here has its medians estimated from the buckets."""
        wanted = {kind.field: self.total(kind.count) for kind in DURATION_KINDS}
        wanted = {field: total for field, total in wanted.items() if 0 < total <= EXACT_MEDIAN_MAX}
        if not wanted:
            return {}
        rows = conversation_durations(filters=self.filters, fields=tuple(wanted))
        exact = {}
        for kept, total in wanted.items():
            by_day: dict[dt.date, list[int]] = defaultdict(list)
            by_teammate: dict[int | None, list[int]] = defaultdict(list)
            for row in rows:
                by_day[row.day] += row.seconds[kept]
                by_teammate[row.teammate_id] += row.seconds[kept]
            every = [seconds for durations in by_day.values() for seconds in durations]
            if len(every) == total:
                exact[kept] = ExactDurations(dict(by_day), dict(by_teammate), every)
        return exact

    def median_exactness(self, kind: DurationKind) -> str:
        """ "" when the kind's medians are exact (or there is nothing to tell); else why they are estimates."""
        total = self.total(kind.count)
        if not total or kind.field in self.exact:
            return ""
        if total > EXACT_MEDIAN_MAX:
            return f"more than {EXACT_MEDIAN_MAX:,} {kind.noun} in this period"
        return f"{kind.noun} counted before exact durations were kept (manage.py rebuild_reports recounts them)"

    def day_median(self, kind: DurationKind, day: dt.date) -> float | None:
        exact = self.exact.get(kind.field)
        if exact is not None:
            return median_exact(exact.by_day.get(day, []))
        return _median(self.day_counts(day), kind.buckets)

    def teammate_median(self, kind: DurationKind, one: TeammateFigures) -> float | None:
        exact = self.exact.get(kind.field)
        if exact is not None:
            return median_exact(exact.by_teammate.get(one.teammate_id, []))
        return _median(one.counts, kind.buckets)

    def period_median(self, kind: DurationKind) -> float | None:
        exact = self.exact.get(kind.field)
        if exact is not None:
            return median_exact(exact.every)
        return _median({name: self.total(name) for name in kind.buckets}, kind.buckets)

    def median_words(self, kind: DurationKind, seconds: float | None) -> str:
        """A median as the dashboard writes every duration; an estimate (a busy period) marked with ≈."""
        words = duration_words(seconds)
        return f"≈{words}" if seconds is not None and self.median_exactness(kind) else words


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class RenderedChart:
    key: str
    title: str
    svg: SafeString
    summary: str
    note: str
    legend: list[str] = field(default_factory=list)


def _buckets(counts: dict[str, int], fields: list[str]) -> list[int]:
    return [counts.get(name, 0) for name in fields]


def _median(counts: dict[str, int], fields: list[str]) -> float | None:
    return median_from_buckets(_buckets(counts, fields))


def _seconds(value: float | None) -> int | str:
    return "" if value is None else round(value)


def _day_label(day: dt.date) -> str:
    return f"{day:%b} {day.day}"


def _rate(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


# --- the tables --------------------------------------------------------------------------------


def now_table(figures: Figures) -> Table:
    now = figures.now
    return Table(["state", "conversations"], [["Open", now.open], ["Waiting for a reply", now.waiting],
                                              ["Snoozed", now.snoozed]])  # fmt: skip


def new_conversations_table(figures: Figures) -> Table:
    return Table(
        ["day", "new conversations"],
        [[day.isoformat(), figures.day_counts(day).get("conversations_new", 0)] for day in figures.filters.days],
    )


def response_times_table(figures: Figures) -> Table:
    rows = []
    for day in figures.filters.days:
        counts = figures.day_counts(day)
        rows.append([
            day.isoformat(), _seconds(figures.day_median(FIRST_RESPONSE, day)), counts.get("first_responses", 0),
            _seconds(figures.day_median(TIME_TO_CLOSE, day)), counts.get("closed", 0),
        ])  # fmt: skip
    return Table(
        ["day", "median first response (seconds)", "first responses", "median time to close (seconds)", "closed"], rows
    )


def teammates_table(figures: Figures) -> Table:
    rows = [
        [
            one.name, _seconds(figures.teammate_median(FIRST_RESPONSE, one)), one.counts.get("first_responses", 0),
            _seconds(figures.teammate_median(TIME_TO_CLOSE, one)), one.counts.get("closed", 0),
            one.counts.get("conversations_new", 0),
        ]
        for one in figures.by_teammate
    ]  # fmt: skip
    return Table(
        ["teammate", "median first response (seconds)", "first responses", "median time to close (seconds)",
         "closed", "new conversations"],
        rows,
    )  # fmt: skip


def sla_table(figures: Figures) -> Table:
    rows = []
    for day in figures.filters.days:
        counts = figures.day_counts(day)
        measured, met = counts.get("sla_measured", 0), counts.get("sla_met", 0)
        rate = _rate(met, measured)
        rows.append([day.isoformat(), measured, met, "" if rate is None else round(rate, 1)])
    return Table(["day", "closed under an SLA", "met every target", "hit rate (%)"], rows)


def csat_table(figures: Figures) -> Table:
    return Table(["score", "ratings"], [[score, figures.total(csat_field(score))] for score in CSAT_SCORES])


def busiest_hours_table(figures: Figures) -> Table:
    grid = figures.weekday_hours
    return Table(
        ["weekday", "hour", "new conversations"],
        [[WEEKDAYS[d], HOURS[h], grid[d][h]] for d in range(7) for h in range(24)],
    )


def contacts_by_role_table(figures: Figures) -> Table:
    snapshot = figures.snapshot
    counts = (snapshot.visitors, snapshot.leads, snapshot.users) if snapshot else (0, 0, 0)
    labels = [Contact.Role.VISITOR.label, Contact.Role.LEAD.label, Contact.Role.USER.label]
    return Table(["role", "contacts"], [[label, count] for label, count in zip(labels, counts, strict=True)])


def expiring_visitors_table(figures: Figures) -> Table:
    snapshot = figures.snapshot
    rows = [[day, count] for day, count in (snapshot.expiring_visitors if snapshot else [])]
    return Table(["day", "visitors expiring"], rows)


def page_views_table(figures: Figures) -> Table:
    return Table(
        ["day", "page views"], [[day.isoformat(), figures.page_views.get(day, 0)] for day in figures.filters.days]
    )


def emails_table(figures: Figures) -> Table:
    rows = [[day.isoformat(), *figures.emails.get(day, (0, 0, 0))] for day in figures.filters.days]
    return Table(["day", "sent", "opened", "clicked"], rows)


# --- the drawings ------------------------------------------------------------------------------


def _day_labels(figures: Figures) -> list[str]:
    return [_day_label(day) for day in figures.filters.days]


def _column(
    table: Table, figures: Figures, *, title: str, description: str, name: str, noun: tuple[str, str]
) -> SafeString:
    return charts.column_chart(
        title=title, description=description, labels=_day_labels(figures),
        series=[charts.Series(name, [row[1] for row in table.rows], noun)],
    )  # fmt: skip


def now_chart(table: Table, figures: Figures) -> tuple[SafeString, str]:
    svg = charts.bar_list(
        title="Conversations now", description="Open, waiting for a reply and snoozed conversations at this moment.",
        rows=[(row[0], [row[1]]) for row in table.rows], series_names=["conversations"],
        empty="No open or snoozed conversations",
    )  # fmt: skip
    return svg, f"{figures.now.open:,} open · {figures.now.waiting:,} waiting · {figures.now.snoozed:,} snoozed"


def counted(count: int, singular: str, plural: str) -> str:
    """A count and its noun, the noun singular for 1: "1 new conversation", "1,204 page views"."""
    return f"{count:,} {ngettext(singular, plural, count)}"


def _daily_count_chart(
    table: Table, figures: Figures, *, title: str, name: str, noun: tuple[str, str]
) -> tuple[SafeString, int]:
    """A column per day of one count (the table's second column) and its total over the period."""
    total = sum(row[1] for row in table.rows)
    period = f"from {figures.filters.start} to {figures.filters.end}"
    svg = _column(table, figures, title=title, name=name, noun=noun, description=f"{counted(total, *noun)} {period}.")
    return svg, total


def new_conversations_chart(table: Table, figures: Figures) -> tuple[SafeString, str]:
    svg, total = _daily_count_chart(
        table, figures, title="New conversations per day", name="New conversations",
        noun=("new conversation", "new conversations"),
    )  # fmt: skip
    return svg, f"{total:,} in {counted(len(table.rows), 'day', 'days')}"


def response_times_chart(table: Table, figures: Figures) -> tuple[SafeString, str]:
    first = [None if row[1] == "" else row[1] for row in table.rows]
    close = [None if row[3] == "" else row[3] for row in table.rows]
    first_all = figures.median_words(FIRST_RESPONSE, figures.period_median(FIRST_RESPONSE))
    close_all = figures.median_words(TIME_TO_CLOSE, figures.period_median(TIME_TO_CLOSE))
    svg = charts.line_chart(
        title="Median first response and time to close per day",
        description=f"Median first response {first_all}, median time to close {close_all} over the period.",
        labels=_day_labels(figures), durations=True, fmt=duration_words,
        series=[charts.Series("First response", first), charts.Series("Time to close", close)],
        empty="No answered or closed conversations in this period",
    )  # fmt: skip
    return svg, f"first response {first_all} · time to close {close_all}"


def teammates_chart(table: Table, figures: Figures) -> tuple[SafeString, str]:
    # The table's rows are figures.by_teammate's, in its order: each row knows whether it is a teammate.
    answered = [
        (row, one.teammate_id is not None) for row, one in zip(table.rows, figures.by_teammate, strict=True)
        if row[2] or row[4]
    ]  # fmt: skip
    busiest = sorted(answered, key=lambda pair: (-(pair[0][2] + pair[0][4]), pair[0][0]))[:MAX_TEAMMATE_ROWS]
    shown = sorted(busiest, key=lambda pair: pair[0][0].lower())
    rows = [(row[0], [None if row[1] == "" else row[1], None if row[3] == "" else row[3]]) for row, _ in shown]
    svg = charts.bar_list(
        title="Median first response and time to close per teammate",
        description="Per teammate (the conversations' assignee) over the period.",
        rows=rows, series_names=["first response", "time to close"], fmt=duration_words, durations=True,
        empty="No answered or closed conversations in this period",
    )  # fmt: skip
    # "Unassigned" is a row of the chart, not a teammate: it is not counted as one.
    people = sum(1 for _, is_teammate in shown if is_teammate)
    unassigned = len(shown) - people
    summary = ngettext("%(count)d teammate", "%(count)d teammates", people) % {"count": people}
    summary += " · unassigned" if unassigned else ""
    # The CSV has every row, those with new conversations only (nothing answered or closed) and beyond the busiest too.
    rest = len(table.rows) - len(shown)
    if rest:
        summary += " · " + ngettext("%(count)d more in the CSV", "%(count)d more in the CSV", rest) % {"count": rest}
    return svg, summary


def sla_chart(table: Table, figures: Figures) -> tuple[SafeString, str]:
    measured, met = sum(row[1] for row in table.rows), sum(row[2] for row in table.rows)
    overall = _rate(met, measured)
    svg = charts.line_chart(
        title="SLA hit rate per day",
        description="Share of the conversations closed each day under an SLA policy that met every target.",
        labels=_day_labels(figures), fmt=charts.percent, top=100,
        series=[charts.Series("Hit rate", [None if row[3] == "" else row[3] for row in table.rows])],
        empty="No conversation under an SLA was closed in this period",
    )  # fmt: skip
    summary = f"{overall:.0f}% of {measured:,} met every target" if overall is not None else "nothing measured"
    return svg, summary


def csat_chart(table: Table, figures: Figures) -> tuple[SafeString, str]:
    total = sum(row[1] for row in table.rows)
    if not total:
        return charts.bar_list(title="Customer satisfaction", description="No ratings yet.", rows=[],
                               series_names=["ratings"], empty="No ratings yet"), "No ratings yet"  # fmt: skip
    average = sum(row[0] * row[1] for row in table.rows) / total
    ratings = counted(total, "rating", "ratings")
    svg = charts.bar_list(
        title="Customer satisfaction", description=f"Average {average:.1f} of 5 from {ratings}.",
        rows=[(f"{'★' * row[0]} {row[0]}", [row[1]]) for row in reversed(table.rows)], series_names=["ratings"],
    )  # fmt: skip
    return svg, f"average {average:.1f} of 5 · {ratings}"


def busiest_hours_chart(table: Table, figures: Figures) -> tuple[SafeString, str]:
    grid = figures.weekday_hours
    peak = max(((d, h) for d in range(7) for h in range(24)), key=lambda dh: grid[dh[0]][dh[1]])
    svg = charts.heat_map(
        title="Busiest hours",
        description=f"New conversations by day of the week and hour ({report_zone().key}).",
        row_labels=WEEKDAYS, column_labels=HOURS, values=grid,
    )  # fmt: skip
    busy = grid[peak[0]][peak[1]]
    return svg, (f"busiest: {WEEKDAYS[peak[0]]} {HOURS[peak[1]]}" if busy else "no new conversations")


def contacts_by_role_chart(table: Table, figures: Figures) -> tuple[SafeString, str]:
    svg = charts.bar_list(
        title="Contacts by role", description="Visitors, leads and users in the contact base.",
        rows=[(row[0], [row[1]]) for row in table.rows], series_names=["contacts"],
        empty="No contacts counted yet",
    )  # fmt: skip
    return svg, counted(sum(row[1] for row in table.rows), "contact", "contacts")


def expiring_visitors_chart(table: Table, figures: Figures) -> tuple[SafeString, str]:
    snapshot = figures.snapshot
    if snapshot is not None and snapshot.visitor_ttl_days is None:
        return charts.column_chart(title="Visitors due to expire", description="Visitor expiry is off.", labels=[],
                                   series=[], empty="Visitor expiry is off"), "visitor expiry is off"  # fmt: skip
    total = sum(row[1] for row in table.rows)
    labels = [_day_label(dt.date.fromisoformat(row[0])) for row in table.rows]
    ttl = f" ({counted(snapshot.visitor_ttl_days, 'day', 'days')} unseen)" if snapshot else ""
    expiring = charts.Series(
        "Visitors expiring", [row[1] for row in table.rows], ("visitor expiring", "visitors expiring")
    )
    svg = charts.column_chart(
        title="Visitors due to expire in the next 30 days",
        description=f"{counted(total, 'anonymous visitor reaches', 'anonymous visitors reach')} the retention "
        f"policy's limit{ttl}.",
        labels=labels, series=[expiring], empty="No visitor expires in the next 30 days",
    )  # fmt: skip
    return svg, f"{counted(total, 'visitor', 'visitors')}{ttl}"


def page_views_chart(table: Table, figures: Figures) -> tuple[SafeString, str]:
    svg, total = _daily_count_chart(
        table, figures, title="Page views per day", name="Page views", noun=("page view", "page views")
    )
    return svg, counted(total, "page view", "page views")


def emails_chart(table: Table, figures: Figures) -> tuple[SafeString, str]:
    sent, opened, clicked = (sum(row[i] for row in table.rows) for i in (1, 2, 3))
    svg = charts.column_chart(
        title="Emails sent, opened and clicked per day",
        description=f"{sent} sent, {opened} opened, {clicked} clicked (by the day the message was written).",
        labels=_day_labels(figures),
        series=[charts.Series(name, [row[i] for row in table.rows]) for i, name in
                ((1, "Sent"), (2, "Opened"), (3, "Clicked"))],
        empty="No emails sent in this period",
    )  # fmt: skip
    opened_rate, clicked_rate = _rate(opened, sent), _rate(clicked, sent)
    rates = f" ({opened_rate:.0f}% opened, {clicked_rate:.0f}% clicked)" if sent else ""
    return svg, f"{sent:,} sent · {opened:,} opened · {clicked:,} clicked{rates}"


# --- the catalogue -----------------------------------------------------------------------------

BY_WEBSITE_AND_TEAM = "website and team"
BY_WEBSITE = "website"
NOT_FILTERED = ""


@dataclass(frozen=True)
class ChartSpec:
    key: str  # in the CSV's URL
    title: str
    permission: str  # the teammate needs it to see the chart and download its CSV
    filtered_by: str
    table: Callable[[Figures], Table]
    draw: Callable[[Table, Figures], tuple[SafeString, str]]
    legend: tuple[str, ...] = ()


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec("now", "Conversations now", "conversations.view_conversation", BY_WEBSITE_AND_TEAM, now_table, now_chart),
    ChartSpec("new-conversations", "New conversations per day", "conversations.view_conversation",
              BY_WEBSITE_AND_TEAM, new_conversations_table, new_conversations_chart),
    ChartSpec("response-times", "Median first response and time to close", "conversations.view_conversation",
              BY_WEBSITE_AND_TEAM, response_times_table, response_times_chart, ("First response", "Time to close")),
    ChartSpec("teammates", "Per teammate", "conversations.view_conversation", BY_WEBSITE_AND_TEAM, teammates_table,
              teammates_chart, ("First response", "Time to close")),
    ChartSpec("sla", "SLA hit rate", "conversations.view_slabreach", BY_WEBSITE_AND_TEAM, sla_table, sla_chart),
    ChartSpec("csat", "Customer satisfaction (CSAT)", "conversations.view_conversationrating", BY_WEBSITE_AND_TEAM,
              csat_table, csat_chart),
    ChartSpec("busiest-hours", "Busiest hours", "conversations.view_conversation", BY_WEBSITE_AND_TEAM,
              busiest_hours_table, busiest_hours_chart),
    ChartSpec("page-views", "Page views per day", "tracking.view_pageview", BY_WEBSITE, page_views_table,
              page_views_chart),
    ChartSpec("emails", "Emails sent, opened and clicked", "conversations.view_message", NOT_FILTERED, emails_table,
              emails_chart, ("Sent", "Opened", "Clicked")),
    ChartSpec("contacts-by-role", "Contacts by role", "contacts.view_contact", NOT_FILTERED, contacts_by_role_table,
              contacts_by_role_chart),
    ChartSpec("expiring-visitors", "Visitors due to expire", "contacts.view_contact", NOT_FILTERED,
              expiring_visitors_table, expiring_visitors_chart),
)  # fmt: skip
CHARTS_BY_KEY = {spec.key: spec for spec in CHARTS}
MEDIAN_CHARTS = ("response-times", "teammates")  # their card says when its medians are estimates
DASHBOARD_PERMISSION = "reports.view_dashboard"


def charts_allowed(user: Any) -> list[ChartSpec]:
    """The charts `user` may see: the dashboard's permission and each chart's own."""
    if not user.has_perm(DASHBOARD_PERMISSION):
        return []
    return [spec for spec in CHARTS if user.has_perm(spec.permission)]


def _note(spec: ChartSpec, figures: Figures) -> str:
    if spec.key in ("contacts-by-role", "expiring-visitors"):
        snapshot = figures.snapshot
        taken = (
            f"counted {timezone.localtime(snapshot.taken_at, report_zone()):%b %d, %H:%M}"
            if snapshot
            else "not counted yet"
        )
        return f"All websites · {taken}"
    if spec.key == "now":
        return "Live"
    if spec.key in MEDIAN_CHARTS:
        estimated = [why for kind in DURATION_KINDS if (why := figures.median_exactness(kind))]
        if estimated:
            return f"Medians estimated from duration ranges (≈): {'; '.join(estimated)}."
    if spec.filtered_by == NOT_FILTERED:
        return "All websites and teams"
    if spec.filtered_by == BY_WEBSITE and figures.filters.team_id is not None:
        return "All teams (page views have no team)"
    return ""


def chart_render(spec: ChartSpec, figures: Figures) -> RenderedChart:
    table = spec.table(figures)
    svg, summary = spec.draw(table, figures)
    return RenderedChart(spec.key, spec.title, svg, summary, _note(spec, figures), list(spec.legend))
