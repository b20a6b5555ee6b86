"""Beat tasks of the retention policy: thin, idempotent, safe to run twice at once."""

from typing import Any

from celery import shared_task
from django.db import DatabaseError

from common.outage import ServiceBehind
from retention import services
from retention.models import RetentionRun

# A big backlog takes several runs: each run stops at the time limit with its batches committed.
SOFT_TIME_LIMIT_SECONDS = 50 * 60
# Under the Redis visibility timeout (1 h, CELERY_BROKER_TRANSPORT_OPTIONS), so an acked-late
# message is not redelivered to another worker while this run still holds it.
TIME_LIMIT_SECONDS = 55 * 60
RETRY_BACKOFF_SECONDS = 60


def _summary(run: Any) -> dict[str, Any]:
    if run is None:
        return {"run_id": None, "counts": {}}
    return {"run_id": run.pk, "status": run.status, "counts": run.counts}


# Safe to run twice (batches re-check staleness on locked rows), so a lost worker re-delivers.
RETENTION_TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "soft_time_limit": SOFT_TIME_LIMIT_SECONDS,
    "time_limit": TIME_LIMIT_SECONDS,
    # A database error, or the page-view buffer too far behind for the run to see every queued sighting.
    "autoretry_for": (DatabaseError, ServiceBehind),
    "retry_backoff": RETRY_BACKOFF_SECONDS,
    "max_retries": 3,
    "ignore_result": True,
}


@shared_task(
    name="retention.tasks.expire_stale_visitors",
    **RETENTION_TASK_OPTIONS,
)
def expire_stale_visitors(
    batch_size: int = services.DEFAULT_BATCH_SIZE, dry_run: bool = False, trigger: str = "task"
) -> dict[str, Any]:
    """Delete visitors not seen for the policy's TTL, with their whole history (`trigger`: task or admin)."""
    return _summary(services.visitors_expire(batch_size=batch_size, dry_run=dry_run, trigger=_trigger(trigger)))


@shared_task(
    name="retention.tasks.apply_retention_rules",
    **RETENTION_TASK_OPTIONS,
)
def apply_retention_rules(
    batch_size: int = services.DEFAULT_BATCH_SIZE, dry_run: bool = False, trigger: str = "task"
) -> dict[str, Any]:
    """Apply the optional retention rules switched on in the policy."""
    return _summary(services.retention_rules_apply(batch_size=batch_size, dry_run=dry_run, trigger=_trigger(trigger)))


def _trigger(trigger: str) -> str:
    """Who started the run, as the run log records it: the schedule, or a teammate's button."""
    return trigger if trigger in ("task", "admin") else "task"


RECLAIM_TASK_NAME = "retention.tasks.reclaim_stalled_runs"


@shared_task(name=RECLAIM_TASK_NAME, acks_late=True, expires=240, soft_time_limit=60, time_limit=90)
def reclaim_stalled_runs() -> list[str]:
    """Beat, every few minutes: a run that stopped committing batches (its worker was killed) is
    marked failed and started again, instead of waiting for the broker to redeliver it."""
    kinds = services.retention_runs_reclaim_stalled()
    rerun = {RetentionRun.Kind.VISITORS: expire_stale_visitors, RetentionRun.Kind.RULES: apply_retention_rules}
    for kind in kinds:
        rerun[kind].delay()
    return kinds
