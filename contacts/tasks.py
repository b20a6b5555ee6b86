"""Celery tasks: thin, idempotent, bounded; they call the services."""

from celery import shared_task

from contacts import teammate_access


@shared_task(
    name="contacts.tasks.send_password_reset", acks_late=False, expires=3600, soft_time_limit=60, time_limit=90
)  # fmt: skip
def send_password_reset(email: str) -> int:
    # acks_late off: a lost worker must not mail a second link.
    """Email a reset link to the active teammates with this address (none: nothing is sent, and nobody is told)."""
    return teammate_access.password_reset_send(email)
