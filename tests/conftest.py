import os
import threading
import time
import types

import pytest
from django.contrib.auth import get_user_model
from django.db.backends.postgresql.operations import DatabaseOperations as PostgreSQLOperations

_postgresql_sql_flush = PostgreSQLOperations.sql_flush


def _sql_flush_by_delete(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    """After each transactional test (live servers, real workers), its tables are emptied with DELETE, not TRUNCATE:
    a TRUNCATE of every table gives each one a new file and took 0.2 s, a fifth of a browser test; a DELETE of a
    table a test left empty costs next to nothing. Django's foreign keys are deferred to the commit, by which time
    every table is empty. Tests only: the `flush` command of an install is Django's own."""
    if reset_sequences or not tables:
        return _postgresql_sql_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    deletes = (f"DELETE FROM {self.quote_name(table)}" for table in tables)  # noqa: S608 - Django's own table names
    return ["SET CONSTRAINTS ALL DEFERRED", *deletes]


PostgreSQLOperations.sql_flush = _sql_flush_by_delete


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PARLEY_BROWSER_SHARE=k/n, or k,l/n (CI): only the k-th (and l-th) of n shares of the browser journeys run
    here. CI's two runs, on SQLite and on PostgreSQL + Redis, split them, so every journey runs once and CI stays
    within its half hour; a journey marked `postgres` goes to the PostgreSQL run. A test's share comes from its id
    alone, so both runs agree whatever else they collect. Unset (`make test`): every test runs."""
    import zlib

    from django.conf import settings

    share = os.environ.get("PARLEY_BROWSER_SHARE", "")
    if not share:
        return
    mine, _, total = share.partition("/")
    shares = {int(k) for k in mine.split(",") if k.isdigit()} if total.isdigit() else set()
    if not shares or len(shares) != len(mine.split(",")) or not all(1 <= k <= int(total) for k in shares):
        raise pytest.UsageError(f"PARLEY_BROWSER_SHARE is k/n or k,l/n with each share from 1 to n, not {share!r}.")
    on_postgres = "postgresql" in settings.DATABASES["default"]["ENGINE"]

    def runs_here(item: pytest.Item) -> bool:
        if item.get_closest_marker("browser") is None:
            return True
        if item.get_closest_marker("postgres") is not None:
            return on_postgres
        return zlib.crc32(item.nodeid.encode()) % int(total) + 1 in shares

    kept = [item for item in items if runs_here(item)]
    config.hook.pytest_deselected(items=[item for item in items if not runs_here(item)])
    items[:] = kept


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On PostgreSQL, the test database commits without waiting for its WAL to reach the disk (synchronous_commit off,
    for this database only, and the servers and workers tests start): a crash of PostgreSQL itself, which no test
    makes, could lose the last commits; nothing a test checks changes. Transactional tests commit thousands of times,
    and each waited for an fsync."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            name = connection.ops.quote_name(connection.settings_dict["NAME"])
            cursor.execute(f"ALTER DATABASE {name} SET synchronous_commit TO off")
            cursor.execute("SET synchronous_commit TO off")
    return django_db_setup


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Tests render templates without running collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _ingest_queue_as_configured(monkeypatch):
    """The ingest queue as the settings make it: on in the PostgreSQL + Redis run (the production shape),
    off in the SQLite run. What one test's pings queue is gone before the next (the cache's clear empties
    the buffer's Redis database); the buffer's process-wide backoff and flush schedule start afresh."""
    from common import redis_cache
    from tracking import page_view_buffer

    monkeypatch.setattr(page_view_buffer, "_full_until", 0.0)
    redis_cache.outages_forget()
    monkeypatch.setattr(page_view_buffer, "_flush_due_at", {})


@pytest.fixture(autouse=True)
def _readiness_checked_afresh():
    """/readyz answers from a run of its checks up to 2 seconds old in this process: each test runs them anew."""
    from ops.readiness import readiness_forget

    readiness_forget()
    yield
    readiness_forget()


# How long a live server's last requests may take to finish once a test is over.
LIVE_SERVER_SETTLE_SECONDS = 15


class _LiveServerGate:
    """Wraps the live server's WSGI application: keeps the requests in flight and, closed, answers new ones
    503 without touching the database. A request is in flight until its response is closed, which is when
    Django's request_finished runs (and may still query), or until the thread answering it has ended: a
    client that resets the connection before sending all of its body leaves its response unclosed (Django's
    ServerHandler.close reads the rest of the body first, and that read raises)."""

    def __init__(self, app):
        self.app = app
        self.is_open = True
        self.in_flight: dict[object, threading.Thread] = {}  # each request: the thread answering it
        self.changed = threading.Condition()

    def __call__(self, environ, start_response):
        request = object()
        with self.changed:
            if not self.is_open:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"The test is over."]
            self.in_flight[request] = threading.current_thread()
        try:
            return _ClosedThen(self.app(environ, start_response), lambda: self._done(request))
        except BaseException:
            self._done(request)
            raise

    def _done(self, request) -> None:
        with self.changed:
            del self.in_flight[request]
            self.changed.notify_all()

    def close_and_drain(self, timeout: float) -> bool:
        """Answer no new request; wait up to `timeout` for those in flight to end. Whether they did."""
        deadline = time.monotonic() + timeout
        with self.changed:
            self.is_open = False
            while any(thread.is_alive() for thread in self.in_flight.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.05))  # a thread's end notifies nobody
            return True


class _ClosedThen:
    """A response's iterable that calls `then` once the server has closed it."""

    def __init__(self, result, then):
        self.result, self.then = result, then

    def __iter__(self):
        return iter(self.result)

    def __len__(self) -> int:  # the server sets Content-Length from a one-block response
        return len(self.result)

    def close(self) -> None:
        try:
            if hasattr(self.result, "close"):
                self.result.close()
        finally:
            self.then()


def _live_server_gate(live_server) -> _LiveServerGate:
    httpd = live_server.thread.httpd
    app = httpd.get_app()
    if not isinstance(app, _LiveServerGate):
        app = _LiveServerGate(app)
        httpd.set_app(app)
    return app


@pytest.fixture(autouse=True)
def _live_server_settled_before_flush(request):
    """A live-server test's database is emptied (TRUNCATE) after it. A request the server still answers for a
    closed browser could take a row lock the TRUNCATE then waits on while it holds the next table's: a
    deadlock that failed CI twice (a wait for the database's sessions to be idle was not enough: a request is
    idle between its autocommit queries). So once the test is over, the server answers no new request, and the
    flush waits for those in flight to end; then (on PostgreSQL) for other clients, such as a Celery worker, to
    leave their transactions (autovacuum, which a TRUNCATE cancels, is not waited for)."""
    if "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")  # so this teardown runs before its flush
    gate = _live_server_gate(request.getfixturevalue("live_server"))
    gate.is_open = True
    yield
    gate.close_and_drain(LIVE_SERVER_SETTLE_SECONDS)
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + LIVE_SERVER_SETTLE_SECONDS
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)


@pytest.fixture
def mid_window_clock(monkeypatch):
    """Limits count in fixed minutes: pin the limiter's clock mid-window so requests never straddle two."""
    from common import rate_limit

    monkeypatch.setattr(rate_limit, "time", types.SimpleNamespace(time=lambda: 1_800_000_030.0))


@pytest.fixture
def ingest_flush(django_capture_on_commit_callbacks):
    """Write what the pings queued, as the worker's flush does a second later (a no-op without the
    buffer): a test that reads the rows a ping made calls it first. Returns the page views written."""
    from tracking.page_view_buffer import page_views_flush

    def flush() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return page_views_flush()

    return flush


@pytest.fixture
def ingest_queue_off(settings):
    """The fallback path: first pings and new sessions write in their own request, as in the embedded mode."""
    settings.PARLEY_INGEST_QUEUE = False


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import caches

    for cache in caches.all(initialized_only=False):  # the rate limits' counters too, in their own cache when embedded
        cache.clear()
    yield
    for cache in caches.all(initialized_only=True):
        cache.clear()


@pytest.fixture
def website(db):
    """The website most tests embed the widget on: "Shop" at ORIGIN, whose owner switched identity
    verification off (new websites enforce it), so tests can identify users by a bare user_id or email."""
    from tests.tracking.factories import WebsiteFactory
    from tracking.models import Website

    return WebsiteFactory(name="Shop", identity_verification=Website.IdentityVerification.OFF)


@pytest.fixture
def teammate(db):
    return get_user_model().objects.create_user(
        "agent", "agent@parley.test", "correct-horse-battery", is_staff=True, first_name="Alex"
    )


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("boss", "boss@parley.test", "correct-horse-battery")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


pytest_plugins = ["tests.celery_support"]


@pytest.fixture
def eager_celery():
    """Tasks run in the caller, at once (the namespaced name: Celery 5.6 reads a setting Django's settings define
    under that name first). For what a task does; journeys use a real worker (tests/celery_support.py)."""
    from config.celery import app as celery_app

    previous = celery_app.conf.CELERY_TASK_ALWAYS_EAGER
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = True
    yield
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = previous
