"""A worker killed (SIGKILL) mid email batch or mid retention run: the reclaim tasks finish the work,
nothing is sent or deleted twice, at most one email whose send was under way is given up."""

import datetime as dt
from collections import Counter

import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from contacts.models import Contact
from conversations import services as conversation_services
from conversations.models import Message, MessageDelivery
from conversations.tasks import reclaim_stalled_messages
from retention import services as retention_services
from retention.models import RetentionRun
from retention.tasks import expire_stale_visitors, reclaim_stalled_runs
from tests.contacts.factories import ContactFactory, UserContactFactory
from tests.faults.support import SmtpServer, wait_until
from tests.retention.history import days_ago

LATER = dt.timedelta(minutes=20)  # past every reclaim threshold
INTERRUPTED = "interrupted while sending"


def _email(contacts) -> Message:
    return conversation_services.message_send(
        sender=None, channel="email", subject="News", body="Hello", contact_ids=[c.pk for c in contacts]
    )


def _deliveries(message: Message) -> Counter:
    return Counter(MessageDelivery.objects.filter(message=message).values_list("state", flat=True))


@pytest.mark.django_db
def test_reclaim_gives_up_an_interrupted_send_and_resumes_the_rest_without_resending():
    contacts = UserContactFactory.create_batch(4)
    message = _email(contacts)
    mail.outbox.clear()
    first, *rest = MessageDelivery.objects.filter(message=message).order_by("id")
    # A worker claimed the first delivery, may have handed it to the mail server, and died.
    MessageDelivery.objects.filter(pk=first.pk).update(state=MessageDelivery.State.SENDING, claimed_at=timezone.now())
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - LATER)

    assert conversation_services.messages_reclaim_stalled() == []  # the claim is fresh: it may still be sending
    assert conversation_services.messages_reclaim_stalled(now=timezone.now() + LATER) == [message.pk]
    first.refresh_from_db()
    assert (first.state, first.skip_reason) == (MessageDelivery.State.FAILED, INTERRUPTED)

    conversation_services.message_deliver_batch(message_id=message.pk)
    assert sorted(e.to[0] for e in mail.outbox) == sorted(d.contact.email for d in rest)
    message.refresh_from_db()
    assert message.state == Message.State.SENT
    assert conversation_services.messages_reclaim_stalled(now=timezone.now() + LATER) == []


@pytest.mark.django_db
def test_reclaim_fails_a_silent_retention_run_and_names_its_kind_to_run_again():
    now = timezone.now()
    silent = RetentionRun.objects.create(kind="visitors", status="running", heartbeat_at=now - LATER)
    RetentionRun.objects.create(kind="rules", status="running", heartbeat_at=now - LATER, dry_run=True)
    alive = RetentionRun.objects.create(kind="rules", status="running", heartbeat_at=now)

    assert retention_services.retention_runs_reclaim_stalled(now=now) == ["visitors"]  # a dry run is not redone
    silent.refresh_from_db()
    alive.refresh_from_db()
    assert (silent.status, alive.status) == ("failed", "running")


@pytest.mark.django_db
def test_the_reclaim_tasks_are_in_beat_with_an_expiry():
    for task in ("conversations.tasks.reclaim_stalled_messages", "retention.tasks.reclaim_stalled_runs"):
        entry = PeriodicTask.objects.get(task=task)
        assert entry.enabled and entry.interval is not None
        assert 0 < entry.expire_seconds <= entry.interval.every


@pytest.mark.faults
@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_email_batch_loses_no_email_and_sends_none_twice(celery_worker_factory):
    smtp = SmtpServer(stall_after=4)
    try:
        worker_env = {"EMAIL_URL": smtp.url, "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}
        worker = celery_worker_factory(extra_env=worker_env)
        contacts = UserContactFactory.create_batch(12)
        message = _email(contacts)
        # Four sent, the fifth handed over and unanswered: the worker dies there.
        wait_until(lambda: smtp.received() == 5, timeout=30, what="five emails at the mail server")
        worker.kill()
        assert _deliveries(message) == {"sent": 4, "sending": 1, "pending": 7}
        smtp.release()

        # Twenty minutes later (the reclaim's thresholds), beat's reclaim runs on a new worker.
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - LATER)
        MessageDelivery.objects.filter(message=message).exclude(claimed_at=None).update(
            claimed_at=timezone.now() - LATER
        )
        celery_worker_factory(extra_env=worker_env)
        reclaim_stalled_messages.delay()
        wait_until(
            lambda: Message.objects.get(pk=message.pk).state == Message.State.SENT, timeout=30, what="message sent"
        )
    finally:
        smtp.close()

    assert _deliveries(message) == {"sent": 11, "failed": 1}
    assert MessageDelivery.objects.get(message=message, state="failed").skip_reason == INTERRUPTED
    received = Counter(address for recipients in smtp.recipients for address in recipients)
    assert received == Counter(contact.email for contact in contacts)  # everyone once, nobody twice


@pytest.mark.faults
@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_retention_run_is_finished_by_the_reclaim_without_double_counting(
    celery_worker_factory,
):
    stale_count = 300
    seen = days_ago(400)
    Contact.objects.bulk_create(
        [ContactFactory.build(last_seen_at=seen, first_seen_at=seen) for _ in range(stale_count)]
    )
    fresh = ContactFactory.create_batch(3, last_seen_at=timezone.now())
    worker = celery_worker_factory()
    expire_stale_visitors.delay(batch_size=1)
    wait_until(lambda: RetentionRun.objects.filter(status="running", batches__gte=5).exists(), what="a run under way")
    worker.kill()
    killed = RetentionRun.objects.get()
    assert killed.status == "running" and 0 < killed.contacts_deleted < stale_count

    RetentionRun.objects.filter(pk=killed.pk).update(heartbeat_at=timezone.now() - LATER)  # silent since
    celery_worker_factory()
    reclaim_stalled_runs.delay()
    wait_until(lambda: RetentionRun.objects.filter(status="done").exists(), timeout=30, what="the rerun done")

    killed.refresh_from_db()
    rerun = RetentionRun.objects.get(status="done")
    assert killed.status == "failed" and "Interrupted" in killed.error
    assert killed.contacts_deleted + rerun.contacts_deleted == stale_count
    assert sorted(Contact.objects.values_list("pk", flat=True)) == sorted(c.pk for c in fresh)
