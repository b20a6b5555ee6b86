"""Celery tasks: the rollups the dashboard reads (beat entries in config/beat.py)."""

from celery import shared_task

from reports import services

REFRESH_TASK_NAME = "reports.tasks.refresh_reports"
SETTLE_TASK_NAME = "reports.tasks.settle_reports"
REFRESH_EVERY_SECONDS = 600


@shared_task(name=REFRESH_TASK_NAME, acks_late=True, expires=REFRESH_EVERY_SECONDS, soft_time_limit=540, time_limit=590)
def refresh_reports() -> int:
    """Beat, every ten minutes: today's and yesterday's rollups, days never computed, the contacts snapshot."""
    return len(services.reports_refresh().days)


@shared_task(name=SETTLE_TASK_NAME, acks_late=True, expires=12 * 3600, soft_time_limit=1800, time_limit=1900)
def settle_reports() -> int:
    """Beat, nightly: recompute the last week's rollups (email opens and clicks arrive for days)."""
    return len(services.reports_settle())
