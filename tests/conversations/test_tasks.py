import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from conversations import services
from conversations.models import Conversation, ConversationPart, Message, MessageDelivery
from conversations.tasks import SNOOZE_TASK_NAME, send_message
from tests.contacts.factories import LeadFactory, UserContactFactory

SNOOZE_ENTRY_NAME = "Reopen snoozed conversations"


@pytest.mark.django_db
def test_migration_registers_the_snooze_beat_entry_every_minute_with_expiry():
    entry = PeriodicTask.objects.get(name=SNOOZE_ENTRY_NAME)
    assert entry.task == SNOOZE_TASK_NAME
    assert entry.enabled
    assert entry.crontab.minute == "*" and entry.crontab.hour == "*"
    assert 0 < entry.expire_seconds <= 60


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_beat_reopens_a_due_snooze_with_a_real_worker(celery_worker_factory):
    due = services.conversation_start_by_contact(contact=LeadFactory(), body="Ping me later")
    later = services.conversation_start_by_contact(contact=LeadFactory(), body="Much later")
    services.conversation_snooze(conversation=due, teammate=None, until=timezone.now() + dt.timedelta(seconds=2))
    services.conversation_snooze(conversation=later, teammate=None, until=timezone.now() + dt.timedelta(days=1))
    # The entry the migration registered (recreated: transactional tests flush the tables), switched by
    # an agent in the admin from every minute to every second so the test does not wait for a minute.
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(
        name=SNOOZE_ENTRY_NAME,
        defaults={"task": SNOOZE_TASK_NAME, "interval": every_second, "crontab": None, "expire_seconds": 50},
    )
    worker = celery_worker_factory(beat=True)
    worker.wait_until(
        lambda: Conversation.objects.get(pk=due.pk).state == Conversation.State.OPEN,
        timeout=90,
        what="the snoozed conversation to be reopened by the beat task",
    )
    assert SNOOZE_TASK_NAME in worker.log
    assert Conversation.objects.get(pk=later.pk).state == Conversation.State.SNOOZED
    reopen = ConversationPart.objects.get(conversation=due, part_type=ConversationPart.Type.OPEN)
    assert reopen.author_teammate is None and reopen.author_contact is None


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_a_message_queued_on_commit(celery_worker_factory):
    recipients = UserContactFactory.create_batch(3)
    worker = celery_worker_factory(extra_env={"EMAIL_URL": "consolemail://"})
    message = services.message_send(sender=None, channel="email", subject="Hello", body="News at https://x.example",
                                    contact_ids=[c.pk for c in recipients])  # fmt: skip
    worker.wait_until(
        lambda: Message.objects.get(pk=message.pk).state == Message.State.SENT, timeout=60, what="the message sent"
    )
    assert MessageDelivery.objects.filter(state=MessageDelivery.State.SENT).count() == 3
    assert "Subject: Hello" in worker.log  # the console backend printed the emails


@pytest.mark.django_db
def test_send_task_rerun_after_completion_sends_nothing():
    user = UserContactFactory()
    message = services.message_send(sender=None, channel="email", subject="S", body="B", contact_ids=[user.pk])
    assert send_message.run(message.pk) == 1
    assert send_message.run(message.pk) == 0
    assert len(mail.outbox) == 1
