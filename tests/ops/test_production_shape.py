"""The production shape, started as an operator starts it (`make run-prod`): gunicorn, a Celery
worker and one beat on PostgreSQL and Redis; it answers, takes pings, runs scheduled work and stops."""

import json

import pytest
from django.core.cache import cache
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from ops.tasks import WORKER_HEARTBEAT_KEY
from tests.production_shape import ProductionShape, skip_unless_production_backends
from tests.tracking.factories import ORIGIN
from tracking.models import PageView
from tracking.services import website_create

pytestmark = [pytest.mark.celery, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PINGS = 12


@pytest.fixture
def production(tmp_path):
    skip_unless_production_backends()
    shape = ProductionShape(tmp_path)
    yield shape
    try:
        shape.stop()  # before the test database is dropped: the processes hold connections to it
    finally:
        shape.kill_leftovers()


def _ping(shape: ProductionShape, app_id: str, anonymous_id: str | None, number: int):
    body = {"page": {"url": f"https://shop.example/products/{number}", "title": f"Product {number}"}}
    if anonymous_id:
        body["anonymous_id"] = anonymous_id
    return shape.request(
        "POST",
        f"/widget-api/{app_id}/ping",
        body=json.dumps(body).encode(),
        headers={
            "Origin": ORIGIN,
            "Content-Type": "text/plain;charset=UTF-8",
            "User-Agent": "Mozilla/5.0 Firefox/133.0",
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
    assert status == 200 and ready == {"status": "ok", "checks": {"database": None, "cache": None, "broker": None}}
    status, _ = production.get("/static/widget/parley.js")
    assert status == 200  # whitenoise serves the collected static files
    anonymous_id = None
    for number in range(PINGS):
        status, answer = _ping(production, website.app_id, anonymous_id, number)
        assert status == 200, answer
        anonymous_id = answer["anonymous_id"]
    # Returning visitors' page views queue in Redis; the worker's flush writes every one, once.
    production.wait_until(
        lambda: PageView.objects.count() >= PINGS, timeout=60, what=f"{PINGS} page views written by the worker"
    )
    assert PageView.objects.count() == PINGS
    # Beat (its own process) sends the scheduled task; the worker (another process) runs it.
    production.wait_until(lambda: cache.get(WORKER_HEARTBEAT_KEY) is not None, timeout=60, what="a beat-run task")
    assert "beat.1" in production.log and "Sending due task test: worker heartbeat" in production.log
    assert any("worker.1" in line and "ops.tasks.worker_heartbeat" in line for line in production.lines)
    status, page = production.get("/no-such-page")
    assert status == 404 and "URLconf" not in page  # DEBUG is off: no debug page

    production.stop()

    production.wait_until(lambda: not production.group_alive(), timeout=30, what="every process to exit")
    # gunicorn and Celery's own goodbyes: a clean shutdown, not a kill.
    assert "Shutting down: Master" in production.log
    assert "worker: Warm shutdown" in production.log or "Warm shutdown" in production.log
    assert "Traceback" not in production.log
