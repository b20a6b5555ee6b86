"""Celery tasks: the segment member counts (the admin and the API show these, never a COUNT per view)."""

from celery import shared_task

from segments import services

REFRESH_COUNTS_TASK_NAME = "segments.tasks.refresh_segment_counts"
REFRESH_COUNTS_EVERY_SECONDS = 900


@shared_task(
    name=REFRESH_COUNTS_TASK_NAME, acks_late=True, expires=REFRESH_COUNTS_EVERY_SECONDS,
    soft_time_limit=600, time_limit=660,
)  # fmt: skip
def refresh_segment_counts() -> int:
    """Beat, every 15 minutes: recount every segment's members."""
    return services.segment_counts_refresh()


@shared_task(
    name="segments.tasks.refresh_segment_count", acks_late=True, expires=3600, soft_time_limit=120, time_limit=150
)
def refresh_segment_count(segment_id: int) -> int | None:
    """Count one segment's members (after it was saved or its filter changed)."""
    return services.segment_count_refresh(segment_id=segment_id)
