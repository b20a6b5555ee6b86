"""The production shape, started as an operator starts it (`make run-prod`): gunicorn, a Celery
worker and one beat on PostgreSQL and Redis; it answers, takes pings, runs scheduled work and stops."""

import json

import pytest
from django.core.cache import cache
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from prometheus_client.parser import text_string_to_metric_families

from ops.tasks import WORKER_HEARTBEAT_KEY
from tests.production_shape import ProductionShape, skip_unless_production_backends
from tests.tracking.factories import ORIGIN
from tracking.models import PageView, Website
from tracking.services import website_create

pytestmark = [pytest.mark.celery, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PINGS = 12
METRICS_TOKEN = "prometheus-scrape-token-9d2f"


@pytest.fixture
def production(tmp_path):
    skip_unless_production_backends()
    shape = ProductionShape(tmp_path, extra_env={"PARLEY_METRICS_TOKEN": METRICS_TOKEN})
    yield shape
    try:
        shape.stop()  # before the test database is dropped: the processes hold connections to it
    finally:
        shape.kill_leftovers()


def _ping(shape: ProductionShape, app_id: str, previous: dict | None, number: int, **extra):
    """One page view; `previous` is the last answer, whose anonymous id and token the widget sends back."""
    headers = extra.pop("headers", {})
    body = {"page": {"url": f"https://shop.example/products/{number}", "title": f"Product {number}"}, **extra}
    if previous:
        body.update(anonymous_id=previous["anonymous_id"], token=previous["token"])
    return shape.request(
        "POST",
        f"/widget-api/{app_id}/ping",
        body=json.dumps(body).encode(),
        headers={
            "Origin": ORIGIN,
            "Content-Type": "text/plain;charset=UTF-8",
            "User-Agent": "Mozilla/5.0 Firefox/133.0",
            **headers,
        },
    )


def test_make_run_prod_serves_pings_runs_beat_work_on_the_worker_and_stops_cleanly(production):
    website = website_create(name="Shop", allowed_origins=[ORIGIN])
    # A schedule due every second, so beat's work shows within the test (the real ones are minutes apart).
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="test: worker heartbeat", task="ops.tasks.worker_heartbeat", interval=every_second, expire_seconds=30
    )
    cache.delete(WORKER_HEARTBEAT_KEY)

    production.start()

    status, ready = production.get("/readyz")
    assert status == 200 and ready == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}
    status, _ = production.get("/static/widget/parley.js")
    assert status == 200  # whitenoise serves the collected static files
    answer = None
    for number in range(PINGS):
        status, answer = _ping(production, website.app_id, answer, number)
        assert status == 200, answer
    # Returning visitors' page views queue in Redis; the worker's flush writes every one, once.
    production.wait_until(
        lambda: PageView.objects.count() >= PINGS, timeout=60, what=f"{PINGS} page views written by the worker"
    )
    assert PageView.objects.count() == PINGS
    # Beat (its own process) sends the scheduled task; the worker (another process) runs it.
    production.wait_until(lambda: cache.get(WORKER_HEARTBEAT_KEY) is not None, timeout=60, what="a beat-run task")
    assert "beat.1" in production.log and "Sending due task test: worker heartbeat" in production.log
    production.wait_until(
        lambda: any("ops.tasks.worker_heartbeat" in line for line in production.process_lines("worker")),
        what="the worker's line about the heartbeat task",
    )
    # /metrics: closed without the token; with it, the counts of both gunicorn workers and of the
    # Celery worker's processes (one multiprocess directory), and the shared gauges.
    assert production.get("/metrics")[0] == 403
    status, text = production.get("/metrics", Authorization=f"Bearer {METRICS_TOKEN}")
    assert status == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("parley_widget_pings_total", ())] == PINGS
    assert samples[("parley_http_requests_total", (("status", "200"), ("view", "widget_ping")))] == PINGS
    assert samples[("parley_page_views_flushed_total", ())] >= 1
    heartbeat = ("parley_celery_task_duration_seconds_count", (("task", "ops.tasks.worker_heartbeat"),))
    assert samples[heartbeat] >= 1
    for source in ("broker", "page_view_buffer", "database"):
        assert samples[("parley_metrics_source_up", (("source", source),))] == 1
    assert ("parley_celery_queue_length", (("queue", "celery"),)) in samples
    assert samples[("parley_page_view_buffer_length", ())] >= 0
    assert samples[("parley_database_connections", (("state", "active"),))] >= 1
    status, page = production.get("/no-such-page")
    assert status == 404 and "URLconf" not in page  # DEBUG is off: no debug page

    python_commands = [
        process.cmdline()[1:] for process in production.processes() if process.cmdline()[0].endswith("python")
    ]
    assert sum(1 for command in python_commands if command[0].endswith("gunicorn")) == 1 + 2  # master + 2 workers
    assert sum(1 for command in python_commands if command[0].endswith("celery") and "beat" in command) == 1
    assert any(command[0].endswith("celery") and "worker" in command for command in python_commands)

    production.stop()  # fails unless make, honcho, gunicorn, the worker and beat all exited

    # gunicorn and Celery's own goodbyes: a clean shutdown, not a kill.
    assert "Shutting down: Master" in production.log
    assert "worker: Warm shutdown" in production.log or "Warm shutdown" in production.log
    assert "Traceback" not in production.log


# What Python and Celery print straight to the terminal, outside logging (warnings, shutdown notices).
NOT_LOG_LINES = (
    "worker: Warm shutdown",
    "worker: Hitting Ctrl+C again",
    "SecurityWarning: You're running the worker with superuser privileges",  # CI runs as root
    "absolutely not recommended!",
    "Please specify a different user using the --uid option.",
    "User information: uid=0",
    "warnings.warn(SecurityWarning(",
)
USER = {"user_id": "u-4711", "email": "ada.lovelace@example.org", "name": "Ada Lovelace"}
VISITOR_IP = "81.2.69.142"
REQUEST_ID = "0f8e5a2bd4c94b1e9d7c3a6b5e4f2000"  # as a proxy would send it (X-Request-ID)


def test_production_logs_json_lines_with_the_request_id_carried_into_its_tasks_and_no_personal_data(production):
    website = website_create(
        name="Shop", allowed_origins=[ORIGIN], identity_verification=Website.IdentityVerification.OFF
    )
    production.start()
    forwarded = {"X-Forwarded-For": VISITOR_IP}
    # Page views (a sign-in's after its commit, a visitor's first ping's with its contact and session)
    # queue in Redis, and the request that finds the buffer empty schedules the flush task: its line
    # must carry that request's id.
    request_ids = [f"{REQUEST_ID[:-2]}{number:02d}" for number in range(8)]
    signed_in = {**forwarded, "X-Request-ID": request_ids[7]}
    status, answer = _ping(production, website.app_id, None, 0, user=USER, headers=signed_in)
    assert status == 200, answer
    user_anonymous_id = answer["anonymous_id"]
    status, visitor = _ping(production, website.app_id, None, 1, headers={**forwarded, "X-Request-ID": request_ids[6]})
    assert status == 200, visitor
    anonymous_id = visitor["anonymous_id"]
    for number, request_id in enumerate(request_ids[:6], start=2):
        status, _ = _ping(
            production, website.app_id, visitor, number, headers={**forwarded, "X-Request-ID": request_id}
        )
        assert status == 200 and production.last_headers["X-Request-ID"] == request_id

    def flush_line_of_a_request() -> dict | None:
        return next(
            (
                entry
                for entry in _json_lines(production.process_lines("worker"))
                if entry["request_id"] in request_ids and entry["logger"] == "celery.app.trace"
            ),
            None,
        )

    production.wait_until(flush_line_of_a_request, timeout=60, what="the flush task's line with a ping's request id")
    flush = flush_line_of_a_request()
    production.stop()

    lines = production.process_lines("web", "worker", "beat")
    logged = [line for line in lines if line.strip() and not any(text in line for text in NOT_LOG_LINES)]
    not_json = [line for line in logged if not line.startswith("{")]
    assert not not_json, "\n".join(lines)  # every logged line is one JSON object
    entries = [json.loads(line) for line in logged]
    assert len(entries) > 10
    for entry in entries:
        assert {"time", "level", "logger", "process", "message", "request_id", "task_id"} <= set(entry)
        assert "data" not in entry  # Celery's task arguments and results stay out
    access = [entry for entry in entries if entry["logger"] == "gunicorn.access"]
    assert access and all(entry["request_id"] for entry in access)  # each request line has its id
    assert set(request_ids) <= {entry["request_id"] for entry in access if "/ping" in entry["message"]}
    assert "tracking.tasks.flush_page_views" in flush["message"] and "succeeded" in flush["message"]
    received = [e for e in entries if e["logger"] == "celery.worker.strategy" and e["task_id"] == flush["task_id"]]
    assert received  # the task's "received" line joins it through the task id
    assert any(entry["logger"].startswith("celery.beat") for entry in entries)

    output = production.log
    for private in (*USER.values(), VISITOR_IP, user_anonymous_id, anonymous_id):
        assert private not in output, private


def _json_lines(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.startswith("{")]
