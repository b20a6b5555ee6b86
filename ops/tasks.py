"""Operational tasks."""

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

WORKER_HEARTBEAT_KEY = "ops:worker-heartbeat"


@shared_task(name="ops.tasks.worker_heartbeat", ignore_result=True, expires=60)
def worker_heartbeat() -> str:
    """Proves a worker consumes the queue; /metrics exposes the last time it ran."""
    now = timezone.now().isoformat()
    cache.set(WORKER_HEARTBEAT_KEY, now, timeout=None)
    return now
