import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from contacts.models import Contact
from conversations.models import Conversation, ConversationPart
from retention import services
from retention.models import RetentionRun
from tests.contacts.factories import ContactFactory, LeadFactory, TagFactory, UserContactFactory
from tests.retention.history import days_ago, give_history, history_rows, orphan_rows, visitor
from tracking.models import Event, EventSummary, PageView, WebSession

pytestmark = pytest.mark.django_db

TTL = 270


def test_stale_visitor_is_deleted_with_its_whole_history():
    tag = TagFactory()
    stale = visitor(last_seen_days_ago=TTL + 1, tag=tag)
    before = history_rows(stale.pk)
    assert set(before) >= {
        "contacts.Contact", "contacts.ContactTag", "tracking.WebSession", "tracking.PageView", "tracking.Event",
        "tracking.EventSummary", "conversations.Conversation", "conversations.ConversationPart",
        "conversations.MessageDelivery",
    }  # fmt: skip

    run = services.visitors_expire()

    assert history_rows(stale.pk) == {}
    assert orphan_rows() == {}
    assert run.status == RetentionRun.Status.DONE
    assert run.contacts_deleted == 1
    assert run.counts == {
        "contacts.Contact": 1,
        "contacts.ContactTag": 1,
        "conversations.Conversation": 1,
        "conversations.ConversationPart": 2,
        "conversations.MessageDelivery": 1,
        "tracking.Event": 2,
        "tracking.EventSummary": 1,
        "tracking.PageView": 3,
        "tracking.WebSession": 2,
    }
    # The tag itself and the outbound message belong to the team, not to the visitor.
    tag.refresh_from_db()


def test_leads_users_and_recent_visitors_are_never_touched_by_the_visitor_rule():
    recent = visitor(last_seen_days_ago=TTL - 1)
    lead = give_history(LeadFactory(last_seen_at=days_ago(5000)))
    user = give_history(UserContactFactory(last_seen_at=days_ago(5000)))
    stale = visitor(last_seen_days_ago=TTL + 30)

    services.visitors_expire()

    assert set(Contact.objects.values_list("pk", flat=True)) == {recent.pk, lead.pk, user.pk}
    for kept in (recent, lead, user):
        assert PageView.objects.filter(contact=kept).count() == 3
    assert history_rows(stale.pk) == {}


def test_visitor_never_seen_falls_back_to_first_seen_then_created():
    first_seen_stale = ContactFactory(last_seen_at=None, first_seen_at=days_ago(TTL + 2))
    first_seen_recent = ContactFactory(last_seen_at=None, first_seen_at=days_ago(2))
    created_stale = ContactFactory(last_seen_at=None, first_seen_at=None)
    Contact.objects.filter(pk=created_stale.pk).update(created_at=days_ago(TTL + 5))
    created_recent = ContactFactory(last_seen_at=None, first_seen_at=None)

    services.visitors_expire()

    assert set(Contact.objects.values_list("pk", flat=True)) == {first_seen_recent.pk, created_recent.pk}
    assert not Contact.objects.filter(pk__in=[first_seen_stale.pk, created_stale.pk]).exists()


def test_policy_ttl_and_switch_are_honoured():
    services.retention_policy_update(visitor_ttl_days=30)
    month_old = visitor(last_seen_days_ago=31, history=False)
    services.retention_policy_update(visitor_expiry_enabled=False)
    assert services.visitors_expire() is None
    assert Contact.objects.filter(pk=month_old.pk).exists()
    services.retention_policy_update(visitor_expiry_enabled=True)
    services.visitors_expire()
    assert not Contact.objects.filter(pk=month_old.pk).exists()


def test_dry_run_deletes_nothing_and_reports_what_a_real_run_deletes():
    stale = [visitor(last_seen_days_ago=TTL + n) for n in range(1, 6)]
    visitor(last_seen_days_ago=1)

    dry = services.visitors_expire(dry_run=True, batch_size=2)

    assert dry.dry_run
    assert dry.status == RetentionRun.Status.DONE
    assert dry.batches == 3
    assert all(history_rows(contact.pk)["contacts.Contact"] == 1 for contact in stale)
    real = services.visitors_expire(batch_size=2)
    assert real.counts == dry.counts
    assert real.contacts_deleted == 5


def test_work_is_split_in_bounded_batches_each_recorded_on_the_run():
    for n in range(7):
        visitor(last_seen_days_ago=TTL + 1 + n, history=False)
    progress = []

    run = services.visitors_expire(batch_size=3, on_batch=progress.append)

    assert [p.batch_counts["contacts.Contact"] for p in progress] == [3, 3, 1]
    assert [p.rows_done for p in progress] == [3, 6, 7]
    assert progress[0].rows_estimated == 7
    assert run.batches == 3
    assert run.contacts_deleted == 7


def test_visitor_seen_again_between_batches_survives_the_run():
    stale = [visitor(last_seen_days_ago=TTL + 10, history=False) for _ in range(4)]
    returning = stale[-1]

    def visitor_pings_back(progress: services.BatchProgress) -> None:
        if progress.run.batches == 1:
            Contact.objects.filter(pk=returning.pk).update(last_seen_at=days_ago(0))

    run = services.visitors_expire(batch_size=2, on_batch=visitor_pings_back)

    assert list(Contact.objects.values_list("pk", flat=True)) == [returning.pk]
    assert run.contacts_deleted == 3


def test_run_keeps_no_personal_data():
    visitor(last_seen_days_ago=TTL + 1, history=True, name="Ada Lovelace", email="ada@example.com")
    run = services.visitors_expire()
    stored = " ".join(str(getattr(run, field.attname)) for field in RetentionRun._meta.concrete_fields)
    assert "Ada" not in stored
    assert "ada@example.com" not in stored


def test_runs_that_stopped_committing_are_marked_failed_by_the_next_run():
    abandoned = RetentionRun.objects.create(status=RetentionRun.Status.RUNNING, heartbeat_at=days_ago(1))
    fresh = RetentionRun.objects.create(status=RetentionRun.Status.RUNNING, heartbeat_at=days_ago(0))

    services.visitors_expire()

    abandoned.refresh_from_db()
    fresh.refresh_from_db()
    assert abandoned.status == RetentionRun.Status.FAILED
    assert "Interrupted" in abandoned.error
    assert fresh.status == RetentionRun.Status.RUNNING


@pytest.mark.parametrize("batch_size", [0, -5, 10_000_000])
def test_batch_size_out_of_range_is_refused(batch_size):
    with pytest.raises(ValidationError) as error:
        services.visitors_expire(batch_size=batch_size)
    assert "batch_size" in error.value.message_dict


def test_policy_update_refuses_nonsense_ttls():
    with pytest.raises(ValidationError) as error:
        services.retention_policy_update(lead_ttl_days=0)
    assert "lead_ttl_days" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.retention_policy_update(visitor_ttl_days=None)
    assert "visitor_ttl_days" in error.value.message_dict


# --- optional rules -----------------------------------------------------------------------------


def test_optional_rules_do_nothing_until_switched_on():
    LeadFactory(last_seen_at=days_ago(5000))
    assert services.retention_rules_apply() is None
    assert Contact.objects.count() == 1


def test_lead_rule_deletes_old_leads_only():
    services.retention_policy_update(lead_ttl_days=365)
    old_lead = give_history(LeadFactory(last_seen_at=days_ago(400)))
    recent_lead = LeadFactory(last_seen_at=days_ago(300))
    old_user = UserContactFactory(last_seen_at=days_ago(4000))
    old_visitor_within_visitor_ttl = visitor(last_seen_days_ago=100, history=False)

    run = services.retention_rules_apply()

    assert run.kind == RetentionRun.Kind.RULES
    assert history_rows(old_lead.pk) == {}
    assert set(Contact.objects.values_list("pk", flat=True)) == {
        recent_lead.pk,
        old_user.pk,
        old_visitor_within_visitor_ttl.pk,
    }


def test_lead_rule_keeps_a_lead_who_wrote_recently_without_being_seen():
    services.retention_policy_update(lead_ttl_days=365)
    emailing_lead = LeadFactory(last_seen_at=days_ago(400), last_replied_at=days_ago(1))

    services.retention_rules_apply()

    assert Contact.objects.filter(pk=emailing_lead.pk).exists()


def test_closed_conversation_rule_deletes_old_closed_conversations_and_keeps_the_contact():
    services.retention_policy_update(closed_conversation_ttl_days=90)
    user = UserContactFactory()
    old_closed = Conversation.objects.create(contact=user, state=Conversation.State.CLOSED)
    ConversationPart.objects.create(conversation=old_closed, author_contact=user, body="old")
    old_open = Conversation.objects.create(contact=user, state=Conversation.State.OPEN)
    recent_closed = Conversation.objects.create(contact=user, state=Conversation.State.CLOSED)
    Conversation.objects.filter(pk__in=[old_closed.pk, old_open.pk]).update(updated_at=days_ago(91))

    run = services.retention_rules_apply()

    assert set(Conversation.objects.values_list("pk", flat=True)) == {old_open.pk, recent_closed.pk}
    assert not ConversationPart.objects.filter(conversation_id=old_closed.pk).exists()
    assert run.counts == {"conversations.Conversation": 1, "conversations.ConversationPart": 1}
    assert Contact.objects.filter(pk=user.pk).exists()


def test_tracking_rule_deletes_old_page_views_and_events_but_keeps_contacts_sessions_and_counters():
    services.retention_policy_update(tracking_ttl_days=30)
    user = UserContactFactory(web_sessions_count=2)
    give_history(user, at=days_ago(31))
    session = WebSession.objects.filter(contact=user).first()
    fresh_view = PageView.objects.create(
        contact=user, session=session, url="https://example.com/new", created_at=days_ago(1)
    )

    run = services.retention_rules_apply()

    assert list(PageView.objects.values_list("pk", flat=True)) == [fresh_view.pk]
    assert not Event.objects.exists()
    assert EventSummary.objects.get(contact=user).count == 2
    assert WebSession.objects.filter(contact=user).count() == 2
    user.refresh_from_db()
    assert user.web_sessions_count == 2
    assert run.counts == {"tracking.Event": 2, "tracking.PageView": 3}


def test_rules_dry_run_deletes_nothing():
    services.retention_policy_update(lead_ttl_days=10, tracking_ttl_days=10, closed_conversation_ttl_days=10)
    lead = give_history(LeadFactory(last_seen_at=days_ago(11)), at=days_ago(11))
    Conversation.objects.update(updated_at=days_ago(11))
    before = history_rows(lead.pk)

    run = services.retention_rules_apply(dry_run=True)

    assert run.dry_run
    assert run.counts["contacts.Contact"] == 1
    assert history_rows(lead.pk) == before


def test_cutoff_uses_the_given_clock():
    contact = visitor(last_seen_days_ago=10, history=False)
    services.visitors_expire(now=contact.last_seen_at + dt.timedelta(days=TTL - 1))
    assert Contact.objects.filter(pk=contact.pk).exists()
    services.visitors_expire(now=contact.last_seen_at + dt.timedelta(days=TTL, seconds=1))
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_failure_mid_run_keeps_committed_batches_and_records_the_error():
    for n in range(5):
        visitor(last_seen_days_ago=TTL + 1 + n, history=False)

    def worker_time_limit(progress: services.BatchProgress) -> None:
        if progress.run.batches == 2:
            raise TimeoutError("soft time limit")

    with pytest.raises(TimeoutError):
        services.visitors_expire(batch_size=2, on_batch=worker_time_limit)

    run = RetentionRun.objects.get()
    assert run.status == RetentionRun.Status.FAILED
    assert run.error == "TimeoutError: soft time limit"
    assert run.finished_at is not None
    assert run.contacts_deleted == 4
    assert Contact.objects.count() == 1
    assert services.visitors_expire().contacts_deleted == 1
