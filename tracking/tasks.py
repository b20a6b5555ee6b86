"""Tracking's Celery task: write the page-view buffer to the database (thin; see page_view_buffer)."""

from celery import shared_task

from tracking import page_view_buffer


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
