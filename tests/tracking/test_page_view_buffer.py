"""The page-view buffer: steady-state pings queue in a Redis stream, a flush writes them exactly once."""

import os
import re
import time
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from common import redis_cache
from contacts import services as contacts_services
from contacts.models import Contact, PrivacyAuditEntry
from tests.contacts.factories import UserContactFactory
from tests.tracking.conftest import Buffer, Widget, buffer_on
from tracking import page_view_buffer
from tracking.models import PageView, PageViewBufferCursor, WebSession
from tracking.page_view_buffer import page_views_flush
from tracking.services.ingest import ingest_queue_on
from tracking.tasks import flush_page_views

UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
FLUSH_TASK = "tracking.tasks.flush_page_views"
FLUSH_DONE = re.compile(r"Task tracking\.tasks\.flush_page_views\[[^\]]+\] succeeded in [\d.]+s: (\d+)")
WORKER_FLUSH_TIMEOUT_SECONDS = 30


@pytest.fixture
def flush(django_capture_on_commit_callbacks):
    """page_views_flush() as a worker runs it: its transaction commits, so the trim after commit runs too."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return page_views_flush()

    return run


def _page_views() -> list[PageView]:
    return list(PageView.objects.order_by("created_at", "pk"))


def _first_ping(widget, flush, url: str = "https://shop.example/", **page) -> None:
    """A visitor's first ping, then its rows are written (by the flush when the ingest queue holds a new
    visitor, as with PostgreSQL + Redis; by the ping itself otherwise): its next pings are steady-state."""
    assert widget.ping(url, **page).status_code == 200
    flush()


def _visit(widget, flush, pages: int) -> list[str]:
    """One visitor viewing `pages` pages: the first ping's rows are written, the others queue."""
    urls = [f"https://shop.example/p/{page}" for page in range(pages)]
    _first_ping(widget, flush, urls[0])
    for url in urls[1:]:
        assert widget.ping(url).status_code == 200
    return urls


def _replay(buffer: Buffer, entries: list) -> None:
    """Put back flushed entries with their ids, as a stream a worker died before trimming holds them."""
    buffer.redis.delete(buffer.key)
    for entry_id, fields in entries:
        buffer.redis.xadd(buffer.key, fields, id=entry_id)


def _written_once(urls: list[str]) -> bool:
    """Each of these page views is in the database exactly once, and the session counted them."""
    session = WebSession.objects.get()
    return [view.url for view in _page_views()] == urls and session.page_views_count == len(urls)


def _buffer_env(buffer: Buffer) -> dict[str, str]:
    return {"PARLEY_PAGE_VIEW_BUFFER_URL": buffer.url, "PARLEY_PAGE_VIEW_BUFFER_KEY": buffer.key}


def _flushed_by_worker(worker) -> int:
    """Page views the worker's flush runs reported writing (the task's return value in its log)."""
    return sum(int(written) for written in FLUSH_DONE.findall(worker.log))


# --- queue and flush -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_steady_state_pings_queue_without_database_statements_and_the_flush_writes_them(widget, buffer, flush):
    pages = [
        ("https://shop.example/", "Home", "https://search.example/?q=shop"),
        ("https://shop.example/pricing", "Pricing", "https://shop.example/"),
        ("https://shop.example/signup?plan=pro", "Sign up", "https://shop.example/pricing"),
    ]
    windows = []
    for index, (url, title, referrer) in enumerate(pages):
        before = timezone.now()
        if index == 2:
            with CaptureQueriesContext(connection) as captured:
                response = widget.ping(url, title=title, referrer=referrer)
        else:
            response = widget.ping(url, title=title, referrer=referrer)
        windows.append((before, timezone.now()))
        assert response.status_code == 200
        if index == 0:
            flush()  # the first ping's rows (queued with the ingest queue on)

    touching = [q["sql"] for q in captured.captured_queries if "tracking_" in q["sql"] or "contacts_" in q["sql"]]
    assert touching == []
    visitor = Contact.objects.get()
    session = WebSession.objects.get()
    assert [view.url for view in _page_views()] == [pages[0][0]]  # only the first ping's page view is written
    assert session.page_views_count == 1
    queued = [fields for _, fields in buffer.entries()]
    assert [(f[b"s"], f[b"u"], f[b"t"], f[b"r"]) for f in queued] == [
        (str(session.pk).encode(), url.encode(), title.encode(), referrer.encode())
        for url, title, referrer in pages[1:]
    ]

    assert flush() == 2

    views = _page_views()
    assert [(v.url, v.title, v.referrer) for v in views] == pages
    assert {(v.contact_id, v.session_id) for v in views} == {(visitor.pk, session.pk)}
    for view, (before, after) in zip(views, windows, strict=True):
        assert before <= view.created_at <= after
    session.refresh_from_db()
    assert session.page_views_count == 3
    assert session.last_activity_at == views[-1].created_at
    assert Contact.objects.get().web_sessions_count == 1
    assert buffer.length() == 0


@pytest.mark.django_db
def test_flushing_twice_writes_each_page_view_once(widget, buffer, flush):
    urls = _visit(widget, flush, 4)
    assert buffer.length() == 3

    assert flush() == 3
    assert flush() == 0

    assert _written_once(urls)


@pytest.mark.django_db
def test_flush_rolled_back_before_its_commit_is_written_by_the_next_one(widget, buffer, flush):
    urls = _visit(widget, flush, 3)

    class WorkerDied(Exception):
        pass

    with pytest.raises(WorkerDied), transaction.atomic():  # the worker dies before its commit
        assert page_views_flush() == 2
        raise WorkerDied
    assert PageView.objects.count() == 1
    assert buffer.length() == 2  # nothing trimmed: the entries wait for the next flush

    assert flush() == 2
    assert _written_once(urls)
    assert buffer.length() == 0


@pytest.mark.django_db
def test_entries_replayed_after_a_commit_are_not_written_again(widget, buffer, flush):
    """A worker died after its commit, before its trim: the stream still holds what is written."""
    urls = _visit(widget, flush, 3)
    entries = buffer.entries()
    assert flush() == 2
    _replay(buffer, entries)

    assert flush() == 0

    assert _written_once(urls)
    assert buffer.length() == 0  # written entries do not stay in Redis waiting for new traffic


@pytest.mark.django_db
def test_an_entry_the_database_refuses_is_skipped_and_the_rest_of_its_batch_written(widget, buffer, flush, caplog):
    """A value PostgreSQL cannot store (a NUL in text) that got past the ping's checks failed its whole batch on
    every flush: the cursor never moved and no page view of any visitor was written again."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores a NUL in text")
    urls = _visit(widget, flush, 3)
    [*_, (_, fields)] = buffer.entries()
    poisoned = {**{name: value for name, value in fields.items() if name != b"i"}, b"t": b"A\x00B"}
    buffer.redis.xadd(buffer.key, poisoned)
    assert widget.ping("https://shop.example/after").status_code == 200

    assert flush() == 3  # the two queued before it and the one after
    assert [view.url for view in _page_views()] == [*urls, "https://shop.example/after"]
    assert WebSession.objects.get().page_views_count == 4
    assert buffer.length() == 0 and "Skipped a page-view buffer entry the database refused" in caplog.text


@pytest.mark.django_db
def test_replayed_entries_are_skipped_and_trimmed_when_new_page_views_arrive(widget, buffer, flush):
    urls = _visit(widget, flush, 3)
    entries = buffer.entries()
    assert flush() == 2
    _replay(buffer, entries)
    widget.ping("https://shop.example/p/3")

    assert flush() == 1

    assert _written_once([*urls, "https://shop.example/p/3"])
    assert buffer.length() == 0


# --- attribution at flush time -------------------------------------------------------------------


@pytest.mark.django_db
def test_page_view_queued_before_a_merge_belongs_to_the_user_it_merged_into(widget, buffer, flush):
    user = UserContactFactory()
    _first_ping(widget, flush)
    widget.ping("https://shop.example/login")
    visitor = Contact.objects.get(role=Contact.Role.VISITOR)
    assert buffer.urls() == ["https://shop.example/login"]

    response = widget.ping("https://shop.example/account", user={"user_id": user.external_id})
    assert response.status_code == 200
    assert not Contact.objects.filter(pk=visitor.pk).exists()  # merged into the user

    # The queued /login only: the merge moved the visitor's session, so /account was written with it.
    assert flush() == 1

    views = _page_views()
    assert [(v.url, v.contact_id) for v in views] == [
        ("https://shop.example/", user.pk),
        ("https://shop.example/login", user.pk),
        ("https://shop.example/account", user.pk),
    ]
    session = WebSession.objects.get()
    assert session.contact_id == user.pk
    assert session.page_views_count == 3
    assert {view.session_id for view in views} == {session.pk}
    assert buffer.length() == 0


@pytest.mark.django_db
def test_page_view_queued_before_an_erase_is_dropped_and_leaves_nothing_in_redis(
    client, website, widget, buffer, flush, django_capture_on_commit_callbacks
):
    private_url = f"https://shop.example/health/{uuid.uuid4().hex}"
    _first_ping(widget, flush)
    erased = Contact.objects.get()
    other = Widget(client, website)  # another visitor, whose queued page view must survive the erase
    _first_ping(other, flush)
    widget.ping(private_url)
    other.ping("https://shop.example/other")
    assert buffer.urls() == [private_url, "https://shop.example/other"]

    with django_capture_on_commit_callbacks(execute=True):
        contacts_services.contact_erase(contact=erased, actor=None, source=PrivacyAuditEntry.Source.API)

    assert flush() == 1

    assert not PageView.objects.filter(contact_id=erased.pk).exists()
    assert not PageView.objects.filter(url=private_url).exists()
    assert [view.url for view in _page_views()] == ["https://shop.example/", "https://shop.example/other"]
    assert WebSession.objects.get().page_views_count == 2
    assert buffer.length() == 0
    assert buffer.keys_mentioning(private_url) == []


# --- backpressure and failure --------------------------------------------------------------------


@pytest.mark.django_db
def test_full_buffer_sends_pings_to_the_synchronous_path(widget, buffer, flush, settings, monkeypatch):
    settings.PARLEY_PAGE_VIEW_BUFFER_MAX_LENGTH = 2
    monkeypatch.setattr(page_view_buffer, "FULL_BACKOFF_SECONDS", 3600)  # the backoff outlasts the test
    # Flushes due at once: no ping may rely on one due later, so every ping checks the length.
    monkeypatch.setattr(page_view_buffer, "FLUSH_DELAY_SECONDS", 0)
    urls = [f"https://shop.example/p/{page}" for page in range(5)]
    _first_ping(widget, flush, urls[0])
    for url in urls[1:]:
        assert widget.ping(url).status_code == 200

    assert buffer.urls() == urls[1:3]  # queued until the stream held the maximum
    assert [view.url for view in _page_views()] == [urls[0], urls[3], urls[4]]  # written by their requests
    assert WebSession.objects.get().page_views_count == 3

    assert flush() == 2
    assert sorted(view.url for view in _page_views()) == urls
    assert WebSession.objects.get().page_views_count == 5
    assert buffer.length() == 0

    monkeypatch.setattr(page_view_buffer, "_full_until", 0.0)  # the backoff is over
    widget.ping("https://shop.example/again")
    assert buffer.urls() == ["https://shop.example/again"]


@pytest.mark.django_db
def test_unreachable_redis_writes_page_views_synchronously(widget, settings, monkeypatch, caplog):
    buffer_on(settings, monkeypatch, UNREACHABLE_REDIS_URL)
    # Pings 2-4 try the buffer, and the first one too where the ingest queue would queue the new visitor.
    tried = 4 if ingest_queue_on() else 3
    urls = [f"https://shop.example/p/{page}" for page in range(4)]
    for url in urls:
        redis_cache.outages_forget()  # every ping tries Redis again
        assert widget.ping(url).status_code == 200

    assert [view.url for view in _page_views()] == urls
    assert WebSession.objects.get().page_views_count == 4
    assert caplog.text.count("The page-view buffer is unreachable") == tried


@pytest.mark.django_db
def test_gdpr_export_with_the_buffer_unreachable_exports_what_the_database_holds(
    widget, settings, monkeypatch, ingest_flush
):
    _first_ping(widget, ingest_flush, title="Home")
    buffer_on(settings, monkeypatch, UNREACHABLE_REDIS_URL)
    contact = Contact.objects.get()
    document = contacts_services.contact_export(contact=contact, actor=None, source=PrivacyAuditEntry.Source.API)
    assert [view["url"] for view in document["page_views"]] == ["https://shop.example/"]


@pytest.mark.django_db
def test_gdpr_export_includes_a_page_view_still_queued(widget, buffer, flush, django_capture_on_commit_callbacks):
    _first_ping(widget, flush, title="Home")
    widget.ping("https://shop.example/pricing", title="Pricing")
    assert buffer.urls() == ["https://shop.example/pricing"]
    contact = Contact.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        document = contacts_services.contact_export(contact=contact, actor=None, source=PrivacyAuditEntry.Source.API)

    assert [(row["url"], row["title"]) for row in document["page_views"]] == [
        ("https://shop.example/", "Home"),
        ("https://shop.example/pricing", "Pricing"),
    ]
    assert document["web_sessions"][0]["page_views_count"] == 2
    assert buffer.length() == 0


# --- the Celery side -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_migration_registers_the_flush_as_a_beat_entry_every_minute():
    entry = PeriodicTask.objects.get(task=FLUSH_TASK)
    assert entry.enabled
    assert (entry.interval.every, entry.interval.period) == (60, IntervalSchedule.SECONDS)
    assert entry.crontab is None
    assert 0 < entry.expire_seconds <= 60


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_pings_alone_get_their_page_views_written_by_a_real_worker(celery_worker_factory, buffer, widget):
    worker = celery_worker_factory(extra_env=_buffer_env(buffer))
    urls = [f"https://shop.example/p/{page}" for page in range(5)]
    for url in urls:
        assert widget.ping(url).status_code == 200
    queued = len(urls) if ingest_queue_on() else len(urls) - 1  # the first ping too, with the ingest queue

    # No flush from the test: the first queued ping scheduled one.
    worker.wait_until(
        lambda: PageView.objects.count() == len(urls) and _flushed_by_worker(worker) == queued,
        timeout=WORKER_FLUSH_TIMEOUT_SECONDS,
        what="the worker's flush to write the queued page views",
    )
    assert [view.url for view in _page_views()] == urls
    assert WebSession.objects.get().page_views_count == len(urls)
    worker.wait_until(lambda: buffer.length() == 0, timeout=10, what="the stream trimmed")


def _blocked_flush_backend() -> int | None:
    """The pid of another backend waiting on a row lock in the flush's statement (sessions UPDATE + INSERT).

    Matched by its opening: the values are bound client-side, so pg_stat_activity's copy of a
    batch's statement (1 kB by default) is cut off before the UPDATE's column names.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees its first reading forever
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND wait_event_type = 'Lock' AND query LIKE '%WITH batch AS (%'"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _backend_gone(pid: int, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone() is None:
                return True
        time.sleep(0.2)
    return False


@pytest.mark.celery
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_killed_in_the_middle_of_a_flush_loses_and_duplicates_nothing(celery_worker_factory, buffer, widget):
    if connection.vendor != "postgresql":
        pytest.skip("blocks the flush on a PostgreSQL row lock and watches pg_stat_activity")
    urls = [f"https://shop.example/p/{page}" for page in range(5)]
    _first_ping(widget, page_views_flush, urls[0])
    for url in urls[1:]:
        widget.ping(url)
    session = WebSession.objects.get()
    assert buffer.length() == len(urls) - 1

    with transaction.atomic():
        # The session row stays locked, so the worker's flush stops inside its transaction.
        WebSession.objects.select_for_update().filter(pk=session.pk).values_list("pk", flat=True).get()
        worker = celery_worker_factory(extra_env=_buffer_env(buffer))
        flush_page_views.delay()
        worker.wait_until(
            lambda: _blocked_flush_backend() is not None, timeout=30, what="the flush waiting on the session row"
        )
        flushing_backend = _blocked_flush_backend()
        worker.kill()
    # The lock is gone: the dead worker's backend finds its client gone and rolls back.
    assert _backend_gone(flushing_backend, timeout=30)

    assert [view.url for view in _page_views()] == urls[:1]
    assert WebSession.objects.get().page_views_count == 1
    if not ingest_queue_on():  # (else the first ping's flush moved it)
        assert PageViewBufferCursor.objects.get(stream=buffer.key).last_id == ""
    assert buffer.length() == len(urls) - 1

    next_worker = celery_worker_factory(extra_env=_buffer_env(buffer))
    flush_page_views.delay()
    next_worker.wait_until(
        lambda: _flushed_by_worker(next_worker) == len(urls) - 1,
        timeout=WORKER_FLUSH_TIMEOUT_SECONDS,
        what="the next worker's flush",
    )
    assert [view.url for view in _page_views()] == urls
    assert WebSession.objects.get().page_views_count == len(urls)
    next_worker.wait_until(lambda: buffer.length() == 0, timeout=10, what="the stream trimmed")


@pytest.mark.parametrize(
    ("cache_url", "buffer_url"),
    [
        ("redis://127.0.0.1:6379/7?timeout=300&key_prefix=p", "redis://127.0.0.1:6379/7"),
        # A Unix socket's database is a cache option to django-environ: the buffer must not fall back to database 0.
        ("redis:///run/redis/redis.sock?db=7&timeout=300", "unix:///run/redis/redis.sock?db=7"),
        ("redis:///run/redis/redis.sock", "unix:///run/redis/redis.sock"),
    ],
)
def test_buffer_url_defaults_to_the_cache_redis_without_its_cache_options(cache_url, buffer_url):
    """django-environ strips ?timeout=… for the cache; a copy of the raw URL would break redis-py."""
    import subprocess
    import sys

    env = {**os.environ, "CACHE_URL": cache_url}
    env.pop("PARLEY_PAGE_VIEW_BUFFER_URL", None)
    code = "from django.conf import settings; print(settings.PARLEY_PAGE_VIEW_BUFFER_URL)"
    result = subprocess.run(  # noqa: S603 - fixed command line
        [sys.executable, "-c", code], env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == buffer_url


@pytest.mark.django_db
def test_an_error_after_the_xadd_does_not_write_the_page_view_twice(widget, buffer, flush):
    """A later reply of the pipeline failing (here: a flag key holding a list) must not hide that
    the page view was queued: it stays queued only, not also written directly."""
    buffer.redis.rpush(buffer.flag_key, "not a string")
    urls = _visit(widget, flush, 3)
    flush()
    assert _written_once(urls)


@pytest.mark.django_db
def test_queued_page_views_hold_no_ip_address(client, website, buffer):
    ip = "81.2.69.160"
    visitor = Widget(client, website, ip=ip)
    for page in range(3):
        visitor.ping(f"https://shop.example/p/{page}")
    assert buffer.length() == (3 if ingest_queue_on() else 2)  # with the ingest queue, the new visitor's too
    assert buffer.keys_mentioning(ip) == []


@pytest.mark.django_db
@pytest.mark.parametrize(("offset", "said"), [(0.0, None), (-5.0, "ahead of"), (5.0, "behind")])
def test_a_flush_warns_once_a_minute_when_redis_clock_and_this_machines_are_apart(
    buffer: Buffer, monkeypatch, caplog, offset, said
):
    """A command that queues a page view is late by Redis's clock: a Redis clock behind would let a stalled command its
    ping gave up on run anyway, one ahead sends pings to the direct path. The workers compare the clocks."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + offset)  # this machine's clock set `offset` seconds off
    monkeypatch.setattr(page_view_buffer, "_clock_checked_at", None)
    page_views_flush()
    page_views_flush()  # (checked once a minute, not on every flush)
    warnings = [record.getMessage() for record in caplog.records if "clock is" in record.getMessage()]
    assert warnings == ([] if said is None else [warnings[0]])
    if said is not None:
        # About 5 s: the round trip to Redis counts in it (4.99 s and 5.01 s on a busy machine).
        seconds = re.search(rf"Redis clock is (\d+\.\d\d) s {said} this machine's", warnings[0])
        assert seconds and abs(float(seconds[1]) - 5) <= 0.1, warnings[0]
