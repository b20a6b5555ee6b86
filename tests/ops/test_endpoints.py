import logging
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.db.utils import OperationalError
from django.test.utils import CaptureQueriesContext

from ops import readiness

LEAKY_DATABASE_ERROR = (
    'connection to server at "db.internal.example" (10.1.2.3), port 5432 failed: '
    'FATAL: password authentication failed for user "parley"'
)


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_says_what_each_check_found(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_fails_when_the_cache_is_unreachable_and_names_no_host(client, settings, caplog):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    from django.core.cache import caches

    caches._settings = None  # rebuild the handler from the overridden settings
    with caplog.at_level(logging.WARNING, logger="ops.readiness"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "fail", "checks": {"database": "ok", "cache": "unavailable", "broker": "ok"}}
    assert "cache is unavailable (ConnectionError" in caplog.text  # the reason is for the operator's log


@pytest.mark.django_db
def test_readyz_keeps_a_failing_database_s_error_to_the_log(client, monkeypatch, caplog):
    def unreachable(connection):
        raise OperationalError(LEAKY_DATABASE_ERROR)

    monkeypatch.setattr(readiness, "MigrationExecutor", unreachable)
    with caplog.at_level(logging.WARNING, logger="ops.readiness"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"
    body = response.content.decode()
    for secret in ("db.internal", "10.1.2.3", "5432", "password", "parley", "OperationalError"):
        assert secret not in body
    assert "database is unavailable (OperationalError" in caplog.text


@pytest.mark.django_db
def test_readyz_is_not_ready_while_migrations_are_pending(client):
    MigrationRecorder(connection).record_unapplied("ops", "0001_reclaim_schedule")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "migrations pending"


def _counted(monkeypatch, calls: dict[str, int]) -> None:
    """Count the runs of each real check (the checks themselves still run)."""
    lock = threading.Lock()
    for name, check in list(readiness.CHECKS.items()):

        def counted(check=check, name=name):
            with lock:
                calls[name] = calls.get(name, 0) + 1
            return check()

        monkeypatch.setitem(readiness.CHECKS, name, counted)


@pytest.mark.django_db
def test_a_burst_of_readyz_runs_the_checks_once_per_interval(client, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(readiness, "_clock", lambda: now[0])
    calls: dict[str, int] = {}
    _counted(monkeypatch, calls)

    with CaptureQueriesContext(connection) as first:
        assert client.get("/readyz").status_code == 200
    assert len(first) > 0  # the database check really queried
    with CaptureQueriesContext(connection) as burst:
        for _ in range(50):
            now[0] += 0.01  # half a second of requests
            response = client.get("/readyz")
            assert response.status_code == 200
            assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}
    assert len(burst) == 0
    assert calls == {"database": 1, "cache": 1, "broker": 1}

    now[0] += readiness.READINESS_TTL_SECONDS  # the interval is over: the next request checks again
    with CaptureQueriesContext(connection) as later:
        assert client.get("/readyz").status_code == 200
    assert len(later) == len(first)
    assert calls == {"database": 2, "cache": 2, "broker": 2}


@pytest.mark.django_db
def test_a_failure_is_reported_until_the_next_run_then_recovery_is(client, monkeypatch):
    """The cached answer keeps its status code: 503 stays 503 for the interval, then 200 once healthy."""
    now = [1000.0]
    monkeypatch.setattr(readiness, "_clock", lambda: now[0])
    real_broker = readiness.CHECKS["broker"]

    def broker_down():
        raise ConnectionRefusedError(111, "Connection refused to redis://:secret@broker.internal:6379")

    monkeypatch.setitem(readiness.CHECKS, "broker", broker_down)
    assert client.get("/readyz").status_code == 503
    monkeypatch.setitem(readiness.CHECKS, "broker", real_broker)
    now[0] += readiness.READINESS_TTL_SECONDS / 2
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable"
    assert b"secret" not in response.content and b"broker.internal" not in response.content
    now[0] += readiness.READINESS_TTL_SECONDS
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_readyz_requests_to_a_threaded_server_run_the_checks_once(live_server, monkeypatch):
    calls: dict[str, int] = {}
    _counted(monkeypatch, calls)

    def get(_):
        try:
            with urllib.request.urlopen(f"{live_server.url}/readyz", timeout=10) as response:  # noqa: S310 - test server
                return response.status
        except urllib.error.HTTPError as refused:
            return refused.code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(get, range(48)))
    # Those that came while the first run went on were answered at once, "not ready yet", never held behind it.
    assert set(statuses) <= {200, 503} and 200 in statuses
    assert calls == {"database": 1, "cache": 1, "broker": 1}
    assert get(0) == 200 and calls == {"database": 1, "cache": 1, "broker": 1}  # within the interval: that run's


@pytest.mark.django_db
def test_while_one_thread_checks_the_others_answer_from_the_previous_run(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(readiness, "_clock", lambda: now[0])
    assert readiness.readiness_findings()["broker"] == "ok"
    now[0] += readiness.READINESS_TTL_SECONDS
    checking, release = threading.Event(), threading.Event()

    def slow_broker():
        checking.set()
        release.wait(10)
        raise ConnectionRefusedError("broker down")

    monkeypatch.setitem(readiness.CHECKS, "broker", slow_broker)
    monkeypatch.setitem(readiness.CHECKS, "database", lambda: "ok")  # the thread has no test database
    refresher = threading.Thread(target=readiness.readiness_findings)
    refresher.start()
    try:
        assert checking.wait(10)
        assert readiness.readiness_findings()["broker"] == "ok"  # at once, not behind the slow check
    finally:
        release.set()
        refresher.join(10)
    assert readiness.readiness_findings()["broker"] == "unavailable"
