"""Office hours arithmetic, the messenger's expectations, SLA due times, the inbox's SLA view, breaches."""

import datetime as dt
import zoneinfo

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from config.beat import BEAT_ENTRIES
from conversations import services
from conversations.models import Conversation, SlaBreach, SlaPolicy, Team
from conversations.services import expectations, office_hours, sla
from tests.contacts.factories import LeadFactory
from tests.conversations.factories import TeammateFactory
from tests.tracking.factories import WebsiteFactory

pytestmark = pytest.mark.django_db
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NINE_TO_FIVE = [(d, dt.time(9), dt.time(17)) for d in range(5)]


def _paris(*args):
    return dt.datetime(*args, tzinfo=PARIS)


@pytest.fixture
def office(db):
    website = WebsiteFactory()
    services.office_schedule_save(
        website=website, timezone="Europe/Paris", intervals=NINE_TO_FIVE, holidays=[(dt.date(2026, 12, 25), "Xmas")]
    )
    return website


def test_open_closed_and_next_opening(office):
    hours = office_hours.hours_for_website(office.pk)
    assert office_hours.is_open(hours, _paris(2026, 12, 1, 10))  # Tuesday 10:00
    assert not office_hours.is_open(hours, _paris(2026, 12, 1, 17))
    assert office_hours.next_open(hours, _paris(2026, 12, 1, 18)) == _paris(2026, 12, 2, 9)
    # Friday evening: back on Monday; Thursday 24 December evening: the 25th is a holiday, then the weekend.
    assert office_hours.next_open(hours, _paris(2026, 12, 4, 18)) == _paris(2026, 12, 7, 9)
    assert office_hours.next_open(hours, _paris(2026, 12, 24, 18)) == _paris(2026, 12, 28, 9)
    assert office_hours.is_open(office_hours.ALWAYS_OPEN, _paris(2026, 12, 25, 3))


def test_office_time_is_counted_only_inside_hours(office):
    hours = office_hours.hours_for_website(office.pk)
    # Friday 16:30 + 1 hour of office time = Monday 09:30.
    assert office_hours.add_office_time(hours, _paris(2026, 12, 4, 16, 30), 3600) == _paris(2026, 12, 7, 9, 30)
    # Saturday noon + 10 minutes = Monday 09:10.
    assert office_hours.add_office_time(hours, _paris(2026, 12, 5, 12), 600) == _paris(2026, 12, 7, 9, 10)
    assert office_hours.office_time_between(hours, _paris(2026, 12, 4, 16), _paris(2026, 12, 7, 10)) == dt.timedelta(
        hours=2
    )


def test_midnight_closing_and_daylight_saving_change():
    website = WebsiteFactory()
    services.office_schedule_save(
        website=website, timezone="Europe/Paris", intervals=[(d, dt.time(20), dt.time(0)) for d in range(7)]
    )
    hours = office_hours.hours_for_website(website.pk)
    assert office_hours.is_open(hours, _paris(2026, 3, 28, 23, 59))
    assert not office_hours.is_open(hours, _paris(2026, 3, 29, 0, 1))
    # 29 March 2026: clocks go forward at 02:00, the evening span is still four hours long.
    assert office_hours.add_office_time(hours, _paris(2026, 3, 29, 20), 4 * 3600) == _paris(2026, 3, 30, 0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timezone": "Mars/Olympus", "intervals": []}, "timezone"),
        ({"timezone": "UTC\x00", "intervals": []}, "timezone"),
        ({"timezone": "UTC", "intervals": [(7, dt.time(9), dt.time(10))]}, "weekday"),
        ({"timezone": "UTC", "intervals": [(0, dt.time(10), dt.time(9))]}, "closes"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(kwargs, field):
    with pytest.raises(ValidationError) as error:
        services.office_schedule_save(website=WebsiteFactory(), **kwargs)
    assert field in error.value.message_dict


def test_expected_reply_time_is_the_median_first_response_and_cached(django_assert_num_queries):
    website = WebsiteFactory()
    agent = TeammateFactory()
    for minutes in (2, 4, 30):
        conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi", website=website)
        Conversation.objects.filter(pk=conversation.pk).update(
            created_at=timezone.now() - dt.timedelta(minutes=minutes)
        )
        services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="Hello")
    answer = expectations.website_availability(website_id=website.pk)
    assert answer["open"] is True and answer["back_at"] is None
    assert 235 <= answer["reply_seconds"] <= 245  # the median: 4 minutes
    with django_assert_num_queries(0):
        assert expectations.website_availability(website_id=website.pk) == answer


def test_outside_hours_the_answer_says_when_the_team_is_back(office):
    answer = expectations.website_availability(website_id=office.pk, now=_paris(2026, 12, 4, 18))
    assert answer == {"open": False, "reply_seconds": None, "back_at": "2026-12-07T08:00:00Z"}


# --- SLAs -------------------------------------------------------------------------------------------


def _policy(team=None, priority=Conversation.Priority.NOT_PRIORITY, **minutes):
    return SlaPolicy.objects.create(name="p", team=team, priority=priority, **minutes)


def test_first_response_next_response_and_close_due_times():
    _policy(first_response_minutes=10, next_response_minutes=30, close_minutes=240)
    agent = TeammateFactory()
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    conversation.refresh_from_db()
    start = conversation.waiting_since
    assert conversation.sla_response_due_at == start + dt.timedelta(minutes=10)
    assert conversation.sla_close_due_at == start + dt.timedelta(minutes=240)
    assert conversation.sla_due_at == conversation.sla_response_due_at
    services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="Hello")
    conversation.refresh_from_db()
    assert conversation.first_response_at is not None
    assert conversation.sla_response_due_at is None and conversation.sla_due_at == conversation.sla_close_due_at
    services.conversation_reply_as_contact(conversation=conversation, body="Thanks, and…")
    conversation.refresh_from_db()
    assert conversation.sla_response_due_at == conversation.waiting_since + dt.timedelta(minutes=30)
    services.conversation_close(conversation=conversation, teammate=agent)
    conversation.refresh_from_db()
    assert conversation.sla_due_at is None and conversation.sla_close_due_at is None


def test_team_policy_wins_over_the_default_and_priority_changes_the_targets():
    team = Team.objects.create(name="VIP")
    _policy(first_response_minutes=60)
    _policy(team=team, first_response_minutes=15)
    _policy(team=team, priority=Conversation.Priority.PRIORITY, first_response_minutes=5)
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    conversation.refresh_from_db()
    waited = conversation.waiting_since
    assert conversation.sla_response_due_at == waited + dt.timedelta(minutes=60)
    services.conversation_assign(conversation=conversation, teammate=None, assignee=None, team=team)
    conversation.refresh_from_db()
    assert conversation.sla_response_due_at == waited + dt.timedelta(minutes=15)
    services.conversation_set_priority(conversation=conversation, priority=Conversation.Priority.PRIORITY)
    conversation.refresh_from_db()
    assert conversation.sla_response_due_at == waited + dt.timedelta(minutes=5)


def test_sla_is_counted_in_office_hours(office):
    _policy(first_response_minutes=60)
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi", website=office)
    conversation.refresh_from_db()
    hours = office_hours.hours_for_website(office.pk)
    assert conversation.sla_response_due_at == office_hours.add_office_time(hours, conversation.waiting_since, 3600)


def test_breaches_are_recorded_once_and_the_assignee_is_emailed():
    _policy(first_response_minutes=10, close_minutes=60)
    agent = TeammateFactory(email="sam@parley.test")
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    services.conversation_assign(conversation=conversation, teammate=None, assignee=agent)
    conversation.refresh_from_db()
    later = conversation.waiting_since + dt.timedelta(minutes=11)
    assert services.sla_breaches_record(now=later) == 1
    assert services.sla_breaches_record(now=later) == 0  # once
    breach = SlaBreach.objects.get()
    assert (breach.kind, breach.assignee, breach.due_at) == ("first_response", agent, conversation.sla_response_due_at)
    assert breach.notified_at is not None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["sam@parley.test"]
    assert "first response" in mail.outbox[0].subject
    assert services.sla_breaches_record(now=later + dt.timedelta(hours=1)) == 1  # time to close now
    assert set(SlaBreach.objects.values_list("kind", flat=True)) == {"first_response", "close"}


def test_the_email_names_the_contact_and_quotes_their_last_message_and_stale_breaches_are_not_emailed():
    _policy(first_response_minutes=10)
    agent = TeammateFactory(email="sam@parley.test")
    fresh = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Where is\nmy parcel?")
    old = services.conversation_start_by_contact(contact=LeadFactory(name="Ada"), body="Hello?")
    for conversation in (fresh, old):
        services.conversation_assign(conversation=conversation, teammate=None, assignee=agent)
    fresh.refresh_from_db()
    # Ada's target fell due two hours before the scan (the beat was down): recorded, not emailed.
    Conversation.objects.filter(pk=old.pk).update(
        sla_response_due_at=fresh.sla_response_due_at - dt.timedelta(hours=2),
        sla_due_at=fresh.sla_response_due_at - dt.timedelta(hours=2),
    )
    assert services.sla_breaches_record(now=fresh.sla_response_due_at + dt.timedelta(minutes=1)) == 2
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.subject == f"SLA missed: first response to Grace (conversation {fresh.pk})"
    assert "Grace wrote last:\n\n> Where is\n> my parcel?\n\nAnswer it: " in email.body
    assert SlaBreach.objects.get(conversation=old).notified_at is None


def test_breach_scan_walks_in_batches():
    _policy(first_response_minutes=1)
    for _ in range(5):
        services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    assert services.sla_breaches_record(now=timezone.now() + dt.timedelta(minutes=2), batch_size=2) == 5
    assert len(mail.outbox) == 0  # nobody assigned: nobody to tell


def test_sla_breach_task_is_in_the_one_beat_schedule():
    entry = next(e for e in BEAT_ENTRIES if e.task == "conversations.tasks.record_sla_breaches")
    assert entry.every_seconds == 60 and entry.expire_seconds
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.filter(task=entry.task, enabled=True).exists()  # written by migration 0009


def test_remaining_time():
    conversation = Conversation(state="open", sla_due_at=timezone.now() + dt.timedelta(minutes=5))
    assert dt.timedelta(minutes=4) < sla.sla_remaining(conversation) <= dt.timedelta(minutes=5)
    conversation.state = "closed"
    assert sla.sla_remaining(conversation) is None


def test_the_admin_says_whether_the_team_is_in_now_and_when_it_is_back():
    hours = office_hours.Hours(tz=dt.UTC, weekly={0: [(dt.time(9), dt.time(17))]}, holidays=frozenset())
    sunday_noon = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
    assert office_hours.status_words(hours, sunday_noon) == "Closed now, back Mon 09:00 (UTC)"
    assert office_hours.status_words(hours, sunday_noon + dt.timedelta(hours=22)) == "Open now"
    assert office_hours.status_words(office_hours.ALWAYS_OPEN, sunday_noon) == "Open now (no hours set: always open)"
