"""The daily rollups against a direct computation from the raw rows: days in the report time zone (a DST
day included), medians from the buckets, SLA hit rate, page views, emails, the contacts snapshot."""

import datetime as dt
import io
import random
import statistics
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

import pytest

from contacts.models import Contact
from conversations.models import Conversation, ConversationPart, SlaBreach, SlaPolicy, Team
from reports import services
from reports.clock import day_bounds
from reports.dashboard import (
    FIRST_RESPONSE,
    TIME_TO_CLOSE,
    Figures,
    busiest_hours_table,
    new_conversations_table,
    response_times_table,
)
from reports.durations import DURATION_BUCKET_BOUNDS, duration_bucket, median_from_buckets
from reports.models import FIRST_RESPONSE_FIELDS, TIME_TO_CLOSE_FIELDS, ConversationDay, EmailDay, RollupDay
from reports.selectors import (
    ReportFilters,
    conversation_figures_by_day,
    conversation_figures_by_teammate,
    emails_by_day,
    page_views_by_day,
)
from retention.services import retention_policy_update
from tests.contacts.factories import ContactFactory
from tests.conversations.factories import TeammateFactory
from tests.reports.history import breach, conversation_at, email_at, page_view_at
from tests.tracking.factories import WebsiteFactory

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
# 2025-03-09 is a 23-hour day in New York: the clocks went forward at 02:00.
DST_DAY = dt.date(2025, 3, 9)
DAYS = [DST_DAY - dt.timedelta(days=1), DST_DAY, DST_DAY + dt.timedelta(days=1)]


@pytest.fixture
def new_york(settings):
    settings.PARLEY_REPORTS_TIME_ZONE = "America/New_York"


def _local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)


def test_a_report_day_is_a_local_calendar_day_even_when_the_clocks_change(new_york):
    start, end = day_bounds(DST_DAY)
    assert start == dt.datetime(2025, 3, 9, 5, 0, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(hours=23)


def test_conversations_are_counted_on_their_local_day_not_the_utc_one(new_york):
    late = conversation_at(created_at=_local(DST_DAY, 23, 30))  # 03:30 UTC on the 10th
    early = conversation_at(created_at=_local(DST_DAY + dt.timedelta(days=1), 0, 30))  # 04:30 UTC on the 10th
    assert late.created_at.astimezone(dt.UTC).date() == early.created_at.astimezone(dt.UTC).date()

    services.report_days_refresh(days=DAYS)

    by_day = conversation_figures_by_day(filters=ReportFilters(start=DAYS[0], end=DAYS[-1]))
    assert by_day[DST_DAY]["conversations_new"] == 1
    assert by_day[DST_DAY]["new_h23"] == 1
    assert by_day[DAYS[2]]["conversations_new"] == 1
    assert by_day[DAYS[2]]["new_h00"] == 1


def _expected_from_raw_rows(zone: ZoneInfo, days: list[dt.date]) -> dict:
    """Every figure the rollups hold, computed straight from conversations, parts and breaches."""
    policies = set(SlaPolicy.objects.values_list("team_id", "priority"))
    new, hours = Counter(), Counter()
    first_responses, closes = defaultdict(list), defaultdict(list)
    per_teammate_first = defaultdict(list)
    sla = defaultdict(lambda: [0, 0])
    for conversation in Conversation.objects.all():
        created_day = conversation.created_at.astimezone(zone).date()
        new[created_day] += 1
        weekday, hour = created_day.weekday(), conversation.created_at.astimezone(zone).hour
        hours[weekday, hour] += 1
        if conversation.first_response_at and conversation.source != Conversation.Source.ADMIN:
            seconds = (conversation.first_response_at - conversation.created_at).total_seconds()
            answered_day = conversation.first_response_at.astimezone(zone).date()
            first_responses[answered_day].append(seconds)
            if answered_day in days:
                per_teammate_first[conversation.assignee_id].append(seconds)
        last_close_by_day = {}
        for part in ConversationPart.objects.filter(conversation=conversation, part_type="close"):
            day = part.created_at.astimezone(zone).date()
            last_close_by_day[day] = max(last_close_by_day.get(day, part.created_at), part.created_at)
        for day, closed_at in last_close_by_day.items():
            closes[day].append((closed_at - conversation.created_at).total_seconds())
            breached = SlaBreach.objects.filter(conversation=conversation, due_at__lte=closed_at).exists()
            covered = (conversation.team_id, conversation.priority) in policies or (
                None,
                conversation.priority,
            ) in policies
            if breached or covered:
                sla[day][0] += 1
                sla[day][1] += 0 if breached else 1
    return {
        "new": {d: new[d] for d in days},
        "hours": hours,
        "first_responses": {d: sorted(first_responses[d]) for d in days},
        "closes": {d: sorted(closes[d]) for d in days},
        "per_teammate_first": per_teammate_first,
        "sla": {d: tuple(sla[d]) for d in days},
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _assert_median_close(estimate: float | None, exact_values: list[float]) -> None:
    """The bucketed median lies in the buckets of the middle values (exact at their bounds)."""
    if not exact_values:
        assert estimate is None
        return
    exact = statistics.median(exact_values)
    middle = sorted(exact_values)[(len(exact_values) - 1) // 2 : len(exact_values) // 2 + 1]
    low = DURATION_BUCKET_BOUNDS[duration_bucket(min(middle))]
    high_bucket = duration_bucket(max(middle)) + 1
    high = DURATION_BUCKET_BOUNDS[high_bucket] if high_bucket < len(DURATION_BUCKET_BOUNDS) else float("inf")
    assert low <= estimate <= high, (estimate, exact, low, high)


def test_rollups_match_a_direct_computation_from_the_raw_rows(new_york):
    rng = random.Random(15)
    websites = [WebsiteFactory(name="Shop"), WebsiteFactory(name="Docs")]
    teams = [Team.objects.create(name="Billing"), Team.objects.create(name="Support")]
    teammates = [TeammateFactory(username=f"agent{n}") for n in range(3)]
    SlaPolicy.objects.create(name="Normal", priority="not_priority", first_response_minutes=30)
    SlaPolicy.objects.create(name="Billing priority", team=teams[0], priority="priority", close_minutes=240)
    for _ in range(60):
        day = rng.choice(DAYS)
        created_at = _local(day, rng.randrange(24), rng.randrange(60))
        answered = rng.random() < 0.8
        closed = rng.random() < 0.6
        teammate = rng.choice(teammates)
        conversation = conversation_at(
            created_at=created_at, website=rng.choice([*websites, None]), team=rng.choice([*teams, None]),
            teammate=teammate if answered or rng.random() < 0.5 else None,
            priority=rng.choice(["priority", "not_priority"]),
            first_response_after=dt.timedelta(seconds=rng.randrange(10, 6 * 3600)) if answered else None,
            closed_after=dt.timedelta(minutes=rng.randrange(5, 3000)) if closed else None, responder=teammate,
        )  # fmt: skip
        if rng.random() < 0.3:
            breach(conversation, due_at=created_at + dt.timedelta(minutes=30))
    # Around the days: not counted in them.
    conversation_at(created_at=_local(DAYS[0], 0, 0) - dt.timedelta(seconds=1))
    conversation_at(created_at=_local(DAYS[-1] + dt.timedelta(days=1), 0, 0))

    services.report_days_refresh(days=DAYS)
    expected = _expected_from_raw_rows(NEW_YORK, DAYS)

    filters = ReportFilters(start=DAYS[0], end=DAYS[-1])
    by_day = conversation_figures_by_day(filters=filters)
    for day in DAYS:
        counts = by_day.get(day, {})
        assert counts.get("conversations_new", 0) == expected["new"][day]
        assert counts.get("first_responses", 0) == len(expected["first_responses"][day])
        assert counts.get("closed", 0) == len(expected["closes"][day])
        assert (counts.get("sla_measured", 0), counts.get("sla_met", 0)) == expected["sla"][day]
        _assert_median_close(
            median_from_buckets([counts.get(f, 0) for f in FIRST_RESPONSE_FIELDS]), expected["first_responses"][day]
        )
        _assert_median_close(
            median_from_buckets([counts.get(f, 0) for f in TIME_TO_CLOSE_FIELDS]), expected["closes"][day]
        )
    assert sum(expected["new"].values()) == 60
    assert any(measured != met for measured, met in expected["sla"].values())  # some targets were missed

    # The heat map: weekday and local hour (the two conversations outside the days fall on other weekdays).
    grid = Figures(filters).weekday_hours
    weekdays = {d.weekday() for d in DAYS}
    assert {(d, h): grid[d][h] for d in range(7) for h in range(24) if grid[d][h]} == {
        key: count for key, count in expected["hours"].items() if key[0] in weekdays
    }

    # Per teammate (the assignee): first responses and their median.
    for one in conversation_figures_by_teammate(filters=filters):
        exact = expected["per_teammate_first"].get(one.teammate_id, [])
        assert one.counts["first_responses"] == len(exact)
        _assert_median_close(median_from_buckets([one.counts[f] for f in FIRST_RESPONSE_FIELDS]), exact)

    # The dashboard's medians: the rows keep the durations themselves, so a period this size is told exactly.
    figures = Figures(filters)
    assert set(figures.exact) == {FIRST_RESPONSE.field, TIME_TO_CLOSE.field}
    for day in DAYS:
        assert figures.day_median(FIRST_RESPONSE, day) == _median(expected["first_responses"][day])
        assert figures.day_median(TIME_TO_CLOSE, day) == _median(expected["closes"][day])
    every_first = [seconds for day in DAYS for seconds in expected["first_responses"][day]]
    assert figures.period_median(FIRST_RESPONSE) == _median(every_first)
    assert figures.period_median(TIME_TO_CLOSE) == _median([s for day in DAYS for s in expected["closes"][day]])
    for one in figures.by_teammate:
        assert figures.teammate_median(FIRST_RESPONSE, one) == _median(
            expected["per_teammate_first"].get(one.teammate_id, [])
        )


def test_filters_by_website_and_team_split_the_same_rows(new_york):
    shop, docs = WebsiteFactory(name="Shop"), WebsiteFactory(name="Docs")
    billing = Team.objects.create(name="Billing")
    for website, team in [(shop, billing), (shop, None), (docs, billing), (None, None)]:
        conversation_at(created_at=_local(DST_DAY, 12), website=website, team=team)
    services.report_day_refresh(day=DST_DAY)

    def new(**filters) -> int:
        return conversation_figures_by_day(filters=ReportFilters(DST_DAY, DST_DAY, **filters))[DST_DAY][
            "conversations_new"
        ]

    assert new() == 4
    assert new(website_id=shop.pk) == 2
    assert new(team_id=billing.pk) == 2
    assert new(website_id=docs.pk, team_id=billing.pk) == 1


def test_a_refresh_twice_gives_the_same_rows_and_later_changes_are_picked_up(new_york):
    teammate = TeammateFactory()
    conversation = conversation_at(created_at=_local(DST_DAY, 9), teammate=teammate)
    services.report_day_refresh(day=DST_DAY)
    services.report_day_refresh(day=DST_DAY)
    assert ConversationDay.objects.filter(day=DST_DAY).count() == 1
    assert RollupDay.objects.filter(day=DST_DAY).count() == 1

    Conversation.objects.filter(pk=conversation.pk).update(assignee=None)
    services.report_day_refresh(day=DST_DAY)
    assert list(ConversationDay.objects.filter(day=DST_DAY).values_list("teammate", "conversations_new")) == [(None, 1)]


def test_the_first_response_of_a_conversation_a_teammate_started_is_not_a_response_time(new_york, teammate):
    from conversations import services as conversation_services

    started = conversation_services.conversation_start_by_teammate(contact=ContactFactory(), teammate=teammate,
                                                                   body="Hi from us")  # fmt: skip
    day = started.created_at.astimezone(NEW_YORK).date()
    services.report_day_refresh(day=day)
    counts = conversation_figures_by_day(filters=ReportFilters(day, day))[day]
    assert (counts["conversations_new"], counts["first_responses"]) == (1, 0)


def test_page_views_are_counted_per_website_on_their_local_day(new_york):
    shop = WebsiteFactory(name="Shop")
    page_view_at(created_at=_local(DST_DAY, 23, 59), website=shop)
    page_view_at(created_at=_local(DST_DAY, 0, 0), website=shop)
    page_view_at(created_at=_local(DST_DAY, 10), website=None)
    page_view_at(created_at=_local(DST_DAY + dt.timedelta(days=1), 0, 0), website=shop)
    services.report_days_refresh(days=DAYS)
    assert page_views_by_day(filters=ReportFilters(DAYS[0], DAYS[-1])) == {DST_DAY: 3, DAYS[2]: 1}
    assert page_views_by_day(filters=ReportFilters(DAYS[0], DAYS[-1], website_id=shop.pk)) == {DST_DAY: 2, DAYS[2]: 1}


def test_emails_count_sends_opens_and_clicks_of_the_day_the_message_was_written_without_test_sends(new_york):
    email_at(created_at=_local(DST_DAY, 8), recipients=4, opened=3, clicked=1)
    email_at(created_at=_local(DST_DAY, 9), recipients=2, opened=2, clicked=2, is_test=True)
    email_at(created_at=_local(DAYS[2], 0, 5), recipients=1, opened=0, clicked=0)
    services.report_days_refresh(days=DAYS)
    assert emails_by_day(filters=ReportFilters(DAYS[0], DAYS[-1])) == {
        DAYS[0]: (0, 0, 0), DST_DAY: (4, 3, 1), DAYS[2]: (1, 0, 0),
    }  # fmt: skip
    assert EmailDay.objects.count() == 3


def test_the_snapshot_counts_contacts_by_role_and_forecasts_expiry_from_the_policy(settings):
    settings.PARLEY_REPORTS_TIME_ZONE = "UTC"
    now = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
    retention_policy_update(visitor_ttl_days=100)
    ttl = dt.timedelta(days=100)
    ContactFactory(last_seen_at=now - ttl - dt.timedelta(days=1))  # past due: goes with the next run, today
    ContactFactory(last_seen_at=now - ttl + dt.timedelta(days=3, hours=1))  # June 4
    ContactFactory(last_seen_at=now - ttl + dt.timedelta(days=29, hours=11))  # June 30: the last day shown
    ContactFactory(last_seen_at=now - ttl + dt.timedelta(days=31))  # beyond 30 days
    ContactFactory(last_seen_at=now)
    ContactFactory(role=Contact.Role.LEAD, last_seen_at=now - ttl - dt.timedelta(days=5))  # leads never expire here
    ContactFactory(role=Contact.Role.USER)

    snapshot = services.contacts_snapshot_take(now=now)

    assert (snapshot.visitors, snapshot.leads, snapshot.users) == (5, 1, 1)
    assert snapshot.visitor_ttl_days == 100
    expiring = dict(snapshot.expiring_visitors)
    assert len(expiring) == 30
    assert (expiring["2025-06-01"], expiring["2025-06-04"], expiring["2025-06-30"]) == (1, 1, 1)
    assert sum(expiring.values()) == 3

    retention_policy_update(visitor_expiry_enabled=False)
    snapshot = services.contacts_snapshot_take(now=now)
    assert (snapshot.visitor_ttl_days, snapshot.expiring_visitors) == (None, [])


def test_the_refresh_computes_today_yesterday_and_fills_days_never_computed(settings):
    settings.PARLEY_REPORTS_TIME_ZONE = "UTC"
    now = dt.datetime(2025, 6, 10, 12, 0, tzinfo=dt.UTC)
    result = services.reports_refresh(now=now, backfill=3)
    assert result.days == [dt.date(2025, 6, d) for d in (10, 9, 8, 7, 6)]
    result = services.reports_refresh(now=now, backfill=3)
    assert result.days == [dt.date(2025, 6, d) for d in (10, 9, 5, 4, 3)]
    assert services.reports_settle(now=now) == [dt.date(2025, 6, d) for d in range(10, 3, -1)]


def test_the_tables_the_charts_draw_are_the_rollups(new_york):
    conversation_at(created_at=_local(DST_DAY, 14), first_response_after=dt.timedelta(minutes=4),
                    teammate=TeammateFactory())  # fmt: skip
    services.report_day_refresh(day=DST_DAY)
    figures = Figures(ReportFilters(DST_DAY, DST_DAY))
    assert new_conversations_table(figures).rows == [["2025-03-09", 1]]
    assert response_times_table(figures).rows == [["2025-03-09", 240, 1, "", 0]]
    assert ["Sun", "14:00", 1] in busiest_hours_table(figures).rows


def test_the_rebuild_command_recomputes_the_days_asked_and_refuses_a_bad_count(settings):
    from django.core.management import CommandError, call_command

    settings.PARLEY_REPORTS_TIME_ZONE = "UTC"
    out = io.StringIO()
    call_command("rebuild_reports", days=3, stdout=out)
    assert out.getvalue().startswith("Recomputed 3 days")
    call_command("rebuild_reports", days=1, stdout=out)
    assert "Recomputed 1 day (" in out.getvalue()
    assert RollupDay.objects.count() == 3
    for bad in (0, -1, 100_000):
        with pytest.raises(CommandError, match="--days must be"):
            call_command("rebuild_reports", days=bad)


def test_csat_ratings_are_counted_per_score_on_the_local_day_they_were_given(new_york):
    from conversations import services as conversation_services
    from conversations.models import ConversationRating
    from reports.dashboard import csat_chart, csat_table

    shop, docs, teammate = (WebsiteFactory(name="Shop", conversation_ratings_enabled=True),
                            WebsiteFactory(name="Docs", conversation_ratings_enabled=True), TeammateFactory())  # fmt: skip
    given = [(shop, _local(DST_DAY, 23, 50), 5), (shop, _local(DST_DAY, 10), 4), (docs, _local(DST_DAY, 11), 1),
             (docs, _local(DAYS[2], 0, 10), 2)]  # fmt: skip
    for website, rated_at, score in given:
        # Closed right after the answer (a rating is asked only then), both moved back to `created_at` after.
        conversation = conversation_at(created_at=rated_at - dt.timedelta(hours=1), website=website, teammate=teammate,
                                       first_response_after=dt.timedelta(minutes=2),
                                       closed_after=dt.timedelta(minutes=30))  # fmt: skip
        request = ConversationRating.objects.get(conversation=conversation)
        conversation_services.conversation_rating_give(request=request, rating=score)
        ConversationRating.objects.filter(pk=request.pk).update(rated_at=rated_at)
    ConversationRating.objects.create(  # asked, never answered: not a rating
        conversation=conversation, closure=ConversationPart.objects.create(conversation=conversation, part_type="close"),
        contact=conversation.contact, website=docs, requested_at=_local(DST_DAY, 9),
    )  # fmt: skip

    services.report_days_refresh(days=DAYS)

    def scores(*, start: dt.date, end: dt.date, **filters) -> list[int]:
        return [row[1] for row in csat_table(Figures(ReportFilters(start, end, **filters))).rows]

    # Straight from the rows: each answered rating on the local day of its rated_at.
    for day in DAYS:
        start, end = day_bounds(day)
        expected = Counter(
            ConversationRating.objects.filter(rated_at__gte=start, rated_at__lt=end).values_list("rating", flat=True)
        )
        assert scores(start=day, end=day) == [expected[score] for score in range(1, 6)]
    assert scores(start=DST_DAY, end=DST_DAY) == [1, 0, 0, 1, 1]
    assert scores(start=DAYS[0], end=DAYS[-1], website_id=shop.pk) == [0, 0, 0, 1, 1]
    figures = Figures(ReportFilters(DAYS[0], DAYS[-1]))
    assert csat_chart(csat_table(figures), figures)[1] == "average 3.0 of 5 · 4 ratings"
