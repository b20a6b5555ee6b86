"""How the dashboard writes a duration (axis ticks, tooltips, medians): exact to the second, in its units; a
median is the durations' own, told exactly, or in a period too busy to read them an estimate that says so."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from reports import services
from reports.durations import duration_words
from tests.conversations.factories import TeammateFactory
from tests.reports.history import conversation_at


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, "—"),
        (0, "0s"),
        (0.4, "0s"),
        (1, "1s"),
        (45, "45s"),
        (59.6, "1m"),
        (60, "1m"),
        (90, "1m 30s"),
        (119, "1m 59s"),
        (15 * 60, "15m"),
        (45 * 60 + 15, "45m 15s"),
        (3600, "1h"),
        (3600 + 5 * 60, "1h 5m"),
        (3600 + 1, "1h 1s"),
        (90 * 60, "1h 30m"),
        (23 * 3600 + 59 * 60 + 59, "23h 59m 59s"),
        (86400, "1d"),
        (36 * 3600, "1d 12h"),
        (86400 + 3600 + 60 + 1, "1d 1h 1m 1s"),
        (2 * 86400 + 30, "2d 30s"),
        (120 * 86400, "120d"),
    ],
)
def test_a_duration_reads_exactly_in_its_units(seconds, words):
    assert duration_words(seconds) == words


def _axis_ticks(page: str, chart: str) -> list[str]:
    svg = page.split(f'id="chart-{chart}"', 1)[1].split("</svg>", 1)[0]
    return re.findall(r'<text class="axis"[^>]*text-anchor="end"[^>]*>([^<]*)</text>', svg)


def _card(page: str, chart: str) -> str:
    return page.split(f'id="chart-{chart}"', 1)[1].split("</article>", 1)[0]


@pytest.mark.django_db
def test_the_response_time_axis_reads_90_seconds_as_1m_30s_and_the_median_is_the_durations_own(admin_client):
    """A first response of 100 s: the axis steps by 30 s up to 2 min, and the median is 1m 40s, not the middle of
    its 1-2 minute bucket (1m 30s, as the rollups' buckets alone would say)."""
    conversation_at(
        created_at=timezone.now() - dt.timedelta(hours=1), teammate=TeammateFactory(),
        first_response_after=dt.timedelta(seconds=100),
    )  # fmt: skip
    services.reports_rebuild(days=2)
    page = admin_client.get("/admin/").content.decode()
    assert _axis_ticks(page, "response-times") == ["0s", "30s", "1m", "1m 30s", "2m"]
    assert "Median first response 1m 40s" in page and "1m 30s," not in page
    assert "first response 1m 40s · time to close —" in _card(page, "response-times")
    assert "Medians estimated" not in page


def _three_answered_and_closed(teammate) -> None:
    """First responses of 65 s, 70 s and 3m 10s; closes 20m 5s, 1h 2m 3s and 2h after the start."""
    now = timezone.now()
    for hours, response, close in ((1, 65, 20 * 60 + 5), (2, 70, 3723), (3, 190, 7200)):
        conversation_at(
            created_at=now - dt.timedelta(hours=hours), teammate=teammate,
            first_response_after=dt.timedelta(seconds=response), closed_after=dt.timedelta(seconds=close),
        )  # fmt: skip
    services.reports_rebuild(days=2)


@pytest.mark.django_db
def test_medians_are_told_exactly_on_the_charts_and_in_the_csv(admin_client):
    _three_answered_and_closed(TeammateFactory(first_name="Mia"))
    page = admin_client.get("/admin/").content.decode()
    card = _card(page, "response-times")
    assert "first response 1m 10s · time to close 1h 2m 3s" in card  # the middle ones, not a bucket's middle
    assert f"{timezone.localdate():%b} {timezone.localdate().day}: First response 1m 10s</title>" in card
    teammates = _card(page, "teammates")
    assert "first response 1m 10s</title>" in teammates and "time to close 1h 2m 3s</title>" in teammates
    rows = admin_client.get("/admin/reports/response-times.csv").content.decode().splitlines()
    assert f"{timezone.localdate().isoformat()},70,3,3723,3" in rows


@pytest.mark.django_db
def test_a_period_holding_too_many_durations_to_read_says_its_medians_are_estimates(admin_client, monkeypatch):
    from reports import dashboard

    _three_answered_and_closed(TeammateFactory())
    monkeypatch.setattr(dashboard, "EXACT_MEDIAN_MAX", 2)  # three of each: more than the page reads
    page = admin_client.get("/admin/").content.decode()
    card = _card(page, "response-times")
    assert "first response ≈" in card and "time to close ≈" in card
    assert (
        "Medians estimated from duration ranges (≈): more than 2 first responses in this period; "
        "more than 2 closes in this period." in card
    )
    assert "Medians estimated from duration ranges" in _card(page, "teammates")


@pytest.mark.django_db
def test_rollups_counted_before_durations_were_kept_give_estimates_that_say_why(admin_client):
    from reports.models import ConversationDay

    _three_answered_and_closed(TeammateFactory())
    ConversationDay.objects.update(first_response_seconds=[])  # as a row from before the upgrade
    page = admin_client.get("/admin/").content.decode()
    card = _card(page, "response-times")
    assert "first response ≈" in card and "time to close 1h 2m 3s" in card
    assert "first responses counted before exact durations were kept (manage.py rebuild_reports" in card


@pytest.mark.django_db
def test_a_row_keeps_its_durations_only_while_they_are_few_enough_to_read(monkeypatch):
    from reports.models import ConversationDay

    monkeypatch.setattr(services, "EXACT_MEDIAN_MAX", 2)
    _three_answered_and_closed(TeammateFactory())
    row = ConversationDay.objects.get(first_responses=3)
    assert (row.first_response_seconds, row.time_to_close_seconds) == ([], [])
    monkeypatch.setattr(services, "EXACT_MEDIAN_MAX", 3)
    services.reports_rebuild(days=2)
    row = ConversationDay.objects.get(first_responses=3)
    assert row.first_response_seconds == [65, 70, 190] and row.time_to_close_seconds == [1205, 3723, 7200]
