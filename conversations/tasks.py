"""Celery tasks: thin, idempotent, bounded; they call the services."""

from celery import shared_task

from conversations import services
from conversations.services.attachments import attachment_orphans_delete

SNOOZE_TASK_NAME = "conversations.tasks.reopen_due_snoozes"
RECLAIM_TASK_NAME = "conversations.tasks.reclaim_stalled_messages"


@shared_task(
    name="conversations.tasks.send_message", acks_late=True, expires=24 * 3600, soft_time_limit=540, time_limit=600
)
def send_message(message_id: int) -> int:
    """Deliver an outbound message in batches; each delivery is claimed first, so reruns never resend."""
    total = 0
    remaining = True
    while remaining:
        sent, remaining = services.message_deliver_batch(message_id=message_id)
        total += sent
    return total


@shared_task(
    name="conversations.tasks.email_conversation_reply", acks_late=False, expires=24 * 3600,
    soft_time_limit=60, time_limit=90,
)  # fmt: skip
def email_conversation_reply(part_id: int) -> bool:
    # acks_late off: a lost worker must not email the same reply twice.
    """Email a teammate's reply the contact has not read in the messenger (skipped once read)."""
    return services.conversation_reply_email_send(part_id=part_id)


@shared_task(name=SNOOZE_TASK_NAME, acks_late=True, expires=50, soft_time_limit=50, time_limit=58)
def reopen_due_snoozes() -> int:
    """Beat, every minute: reopen snoozed conversations whose time has come."""
    return services.conversations_reopen_due_snoozes()


@shared_task(
    name="conversations.tasks.email_away_assignee", acks_late=False, expires=24 * 3600,
    soft_time_limit=60, time_limit=90,
)  # fmt: skip
def email_away_assignee(part_id: int) -> bool:
    """Email the assignee a contact's message if they have been away since; claimed before sending."""
    return services.assignee_email_if_away(part_id=part_id)


@shared_task(name=RECLAIM_TASK_NAME, acks_late=True, expires=240, soft_time_limit=60, time_limit=90)
def reclaim_stalled_messages() -> list[int]:
    """Beat, every few minutes: give up interrupted sends and queue messages whose task was lost
    (a worker killed mid-batch); a queued message never resends a delivery (each is claimed)."""
    message_ids = services.messages_reclaim_stalled()
    for message_id in message_ids:
        send_message.delay(message_id)
    return message_ids


@shared_task(
    name="conversations.tasks.email_unread_reply", acks_late=False, expires=24 * 3600,
    soft_time_limit=60, time_limit=90,
)  # fmt: skip
def email_unread_reply(part_id: int) -> bool:
    """Email a messenger reply the contact has not read by now; claimed, so never sent twice."""
    return services.conversation_reply_email_if_unread(part_id=part_id)


@shared_task(
    name="conversations.tasks.record_sla_breaches", acks_late=True, expires=60, soft_time_limit=50, time_limit=58
)
def record_sla_breaches() -> int:
    """Beat, every minute: record SLA targets that fell due unmet and email their assignees (each once)."""
    return services.sla_breaches_record()


@shared_task(
    name="conversations.tasks.sweep_attachment_files", acks_late=True, expires=12 * 3600,
    soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60,
)  # fmt: skip
def sweep_attachment_files() -> int:
    """Beat, daily: delete stored attachment files no row names (as `manage.py attachments_sweep`)."""
    return attachment_orphans_delete()


@shared_task(
    name="conversations.tasks.email_rating_request", acks_late=False, expires=24 * 3600,
    soft_time_limit=60, time_limit=90,
)  # fmt: skip
def email_rating_request(rating_id: int) -> bool:
    # acks_late off: a lost worker must not email the same request twice (the service claims it too).
    """Email a closure's rating request the contact has not answered or read in the messenger by now."""
    return services.conversation_rating_email_send(rating_id=rating_id)


# acks_late off: a lost worker must not email the same mention twice (the claim guards reruns too).
@shared_task(
    name="conversations.tasks.email_mentioned_teammate", acks_late=False, expires=24 * 3600,
    soft_time_limit=60, time_limit=90,
)  # fmt: skip
def email_mentioned_teammate(part_id: int, teammate_id: int) -> bool:
    """Email a teammate an internal note that mentions them, when they are away and have not read it."""
    return services.mention_email_if_away(part_id=part_id, teammate_id=teammate_id)
