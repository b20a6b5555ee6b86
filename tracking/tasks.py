"""Tracking's Celery tasks (thin): write the page-view buffer to the database (see page_view_buffer),
and keep monthly partitions of page views and events ahead (see services.partitions)."""

from celery import shared_task
from django.db import DatabaseError

from tracking import page_view_buffer
from tracking.services import partitions


@shared_task(
    name="tracking.tasks.flush_page_views",
    ignore_result=True,
    # A lost run loses nothing (the entries stay in Redis); the next ping or beat sends another.
    acks_late=False,
    soft_time_limit=120,
    time_limit=150,
)
def flush_page_views() -> int:
    """Write the page views queued by pings; returns how many."""
    return page_view_buffer.page_views_flush()


@shared_task(
    name="tracking.tasks.maintain_history_partitions",
    ignore_result=True,
    # Idempotent (an existing month is skipped), so a redelivered or doubled run is harmless.
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=60,
    max_retries=3,
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
)
def maintain_history_partitions() -> list[str]:
    """Create the monthly partitions of page views and events for this month and the next ones."""
    return partitions.history_partitions_maintain()
