"""Parley's Prometheus metrics, declared once; the apps count through these objects.

With several processes per machine (gunicorn workers, Celery's prefork pool), set
PROMETHEUS_MULTIPROC_DIR to an empty directory shared by web and worker processes of that
machine (`make run-prod` and the deployment files do): each process writes its counts there and
/metrics adds them up (ops/metrics.py). Without it, each process counts on its own (tests, `make run`).
Gauges that describe shared state (queue depths, the page-view buffer, database connections) are
read at scrape time instead, in ops/metrics.py.

Labels are bounded sets (view names, task names, model labels, outcomes): never an id, a URL or an
address.
"""

import time
from typing import Any

from celery import signals
from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "parley_http_requests", "HTTP requests answered, by Django view name and status code.", ["view", "status"]
)
HTTP_REQUEST_SECONDS = Histogram(
    "parley_http_request_duration_seconds",
    "Time to answer an HTTP request, by Django view name.",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WIDGET_PINGS = Counter("parley_widget_pings", "Widget pings (page views and sightings) taken.")
PAGE_VIEWS_BUFFERED = Counter(
    "parley_page_views_buffered", "Page views queued in the Redis page-view buffer instead of written by the ping."
)
PAGE_VIEWS_FLUSHED = Counter("parley_page_views_flushed", "Page views written from the buffer by flush tasks.")
CELERY_TASK_SECONDS = Histogram(
    "parley_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600),
)
CELERY_TASK_FAILURES = Counter(
    "parley_celery_task_failures", "Celery tasks that raised (retries not counted), by task name.", ["task"]
)
RETENTION_RUNS = Counter(
    "parley_retention_runs", "Retention runs finished, by kind, status and dry run.", ["kind", "status", "dry_run"]
)
RETENTION_ROWS_DELETED = Counter(
    "parley_retention_rows_deleted",
    "Rows deleted by retention runs (counted when a run finishes), by model.",
    ["model"],
)
EMAILS = Counter("parley_emails", "Emails handed to the email backend, by outcome (sent, failed).", ["outcome"])
WEBHOOK_DELIVERIES = Counter(
    "parley_webhook_deliveries",
    "Webhook delivery attempts, by outcome (delivered, retrying, failed: given up).",
    ["outcome"],
)

_task_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_start(task_id: str, **_: Any) -> None:
    _task_started[task_id] = time.monotonic()


@signals.task_postrun.connect
def _task_end(task_id: str, task: Any, **_: Any) -> None:
    started = _task_started.pop(task_id, None)
    if started is not None:
        CELERY_TASK_SECONDS.labels(task=task.name).observe(time.monotonic() - started)


@signals.task_failure.connect
def _task_failed(sender: Any = None, **_: Any) -> None:
    CELERY_TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()
