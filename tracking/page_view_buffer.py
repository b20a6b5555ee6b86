"""The page-view buffer: steady-state page views queue in a Redis stream and reach the database in batches.

Why: a ping that only extends the visitor's current session then needs no database statement at
all; one flush writes hundreds of page views and their sessions' counters in one statement.

Exactly once: a flush locks its cursor row, reads the stream after the cursor's last id, writes
the page views and moves the cursor in one transaction, and trims the stream only after commit.
A worker that dies before the commit leaves the cursor where it was (the entries are read again);
one that dies after it leaves entries at or before the cursor (skipped, then trimmed).

Attribution: an entry names its session, never its contact. The flush takes the contact from the
session row, so a merge in between (sessions move) credits the surviving contact and an erase or
expiry in between (sessions deleted) drops the entry. Entries hold no IP address.

Flushes are scheduled by the pings themselves (the first entry after a flush sends one flush task,
FLUSH_DELAY_SECONDS later), and beat runs the same task every minute as a safety net.

Redis holds the queued page views until they are flushed, a second or so: give it an append-only
file if they must survive a Redis restart.
"""

import datetime as dt
import logging
import threading
import time
from typing import Any

import redis
from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from common.metrics import PAGE_VIEWS_BUFFERED, PAGE_VIEWS_FLUSHED
from common.redis_cache import REDIS_UNAVAILABLE, thread_client
from tracking.models import PageView, PageViewBufferCursor, WebSession
from tracking.payloads import PageInput

logger = logging.getLogger(__name__)

FLUSH_DELAY_SECONDS = 1
# While set, a flush is on its way (the flag holds the time it is due): pings do not send another,
# and until shortly before that time they skip the flag check altogether (a lone XADD). It expires
# in case that task is lost.
FLUSH_FLAG_SECONDS = 30
FLUSH_DUE_MARGIN_SECONDS = 0.25
FLUSH_BATCH_SIZE = 2000
# One task run writes at most this many batches, then leaves the rest to the next run.
FLUSH_MAX_BATCHES = 50
# A full buffer sends this process's pings to the synchronous path for this long before re-checking.
FULL_BACKOFF_SECONDS = 1.0
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# Per URL: the pool, or None when that Redis cannot hold the buffer (older than 7).
_pools: dict[str, redis.ConnectionPool | None] = {}
_pools_lock = threading.Lock()
# A Redis that stops answering must not hold a ping: past these the ping writes synchronously.
SOCKET_TIMEOUT_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 1.0
REDIS_MIN_VERSION = (7, 0)
_full_until = 0.0
_flush_due_at: dict[str, float] = {}  # per stream: when the flush this process knows of runs (Unix time)


def _client() -> redis.Redis | None:
    url = settings.PARLEY_PAGE_VIEW_BUFFER_URL
    return _client_for(url) if url else None


def _client_for(url: str) -> redis.Redis | None:
    """This thread's client (common.redis_cache.thread_client); None if that Redis is too old."""
    if url not in _pools:
        with _pools_lock:
            if url not in _pools:
                _pools[url] = _pool_if_supported(url)
    pool = _pools[url]
    return None if pool is None else thread_client(pool)


def _pool_if_supported(url: str) -> redis.ConnectionPool | None:
    """The buffer needs Redis 7 (SET … NX GET; XTRIM MINID). Raises RedisError if unreachable."""
    pool = redis.ConnectionPool.from_url(
        url, socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS
    )
    version = str(redis.Redis(connection_pool=pool).info("server").get("redis_version", "0"))
    if tuple(int(part) for part in version.split(".")[:2] if part.isdigit()) < REDIS_MIN_VERSION:
        logger.error(
            "The page-view buffer needs Redis 7 or newer (found %s): page views are written directly.", version
        )
        return None
    return pool


def _stream_key() -> str:
    return settings.PARLEY_PAGE_VIEW_BUFFER_KEY


def _flag_key() -> str:
    return f"{_stream_key()}:flush-scheduled"


def page_view_buffer_add(*, session_id: int, page: PageInput, at: dt.datetime) -> bool:
    """Queue one page view of an existing session. False (nothing queued): write it now instead."""
    global _full_until
    url = settings.PARLEY_PAGE_VIEW_BUFFER_URL
    if not url or time.monotonic() < _full_until:
        return False
    micros = (at - _EPOCH) // dt.timedelta(microseconds=1)
    entry = {"s": session_id, "u": page.url, "t": page.title, "r": page.referrer, "at": micros}
    now, key = time.time(), _stream_key()
    try:
        client = _client_for(url)
        if client is None:
            return False
        if now < _flush_due_at.get(key, 0.0) - FLUSH_DUE_MARGIN_SECONDS:
            # A flush known to be scheduled runs after this moment, so it will read this entry. (The
            # length is checked on the other path, at least once per flush per process.)
            client.xadd(key, entry)  # type: ignore[arg-type]
            PAGE_VIEWS_BUFFERED.inc()
            return True
        due = now + FLUSH_DELAY_SECONDS
        pipeline = client.pipeline(transaction=False)
        pipeline.xadd(key, entry)  # type: ignore[arg-type]
        pipeline.xlen(key)
        pipeline.set(_flag_key(), due, nx=True, get=True, ex=FLUSH_FLAG_SECONDS)
        # An error in a later reply must not hide that the XADD went in (else it is written twice).
        added, length, scheduled_due = pipeline.execute(raise_on_error=False)
        if isinstance(added, Exception):
            raise added
    except Exception as error:
        # Whatever went wrong (down, refused, misconfigured), the page view is written synchronously:
        # a lost XADD reply may count it twice, never zero times.
        if isinstance(error, REDIS_UNAVAILABLE):  # an outage: one line a second, not a traceback per ping
            logger.warning(
                "The page-view buffer is unreachable (%s); writing page views synchronously.", error.__class__.__name__
            )
        else:
            logger.exception("The page-view buffer is unreachable; writing page views synchronously.")
        _full_until = time.monotonic() + FULL_BACKOFF_SECONDS
        return False
    if scheduled_due is None:
        _schedule_flush()
        _flush_due_at[key] = due
    elif not isinstance(scheduled_due, Exception):
        _flush_due_at[key] = float(scheduled_due)
    if isinstance(length, int) and length >= settings.PARLEY_PAGE_VIEW_BUFFER_MAX_LENGTH:
        logger.warning("The page-view buffer holds %s entries; is a Celery worker running?", length)
        _full_until = time.monotonic() + FULL_BACKOFF_SECONDS
    PAGE_VIEWS_BUFFERED.inc()
    return True


def page_views_flush_soon() -> None:
    """Ask a worker for a flush now (e.g. after an erase: its queued page views leave Redis)."""
    if settings.PARLEY_PAGE_VIEW_BUFFER_URL:
        _schedule_flush(delay=0)


def _schedule_flush(delay: float = FLUSH_DELAY_SECONDS) -> None:
    from tracking.tasks import flush_page_views

    try:
        # No publish retries: a ping must not stall on a down broker; beat's run catches up.
        flush_page_views.apply_async(countdown=delay, expires=FLUSH_FLAG_SECONDS * 2, retry=False)
    except Exception:  # kombu raises several unrelated types for an unreachable broker
        logger.exception("Could not schedule a page-view flush; the periodic one will write them.")


def page_views_flush(*, max_batches: int = FLUSH_MAX_BATCHES) -> int:
    """Write queued page views to the database; returns how many were written."""
    client = _client()
    if client is None:
        return 0
    # From here on, a new entry schedules the next flush (entries added meanwhile are also read now).
    client.delete(_flag_key())
    PageViewBufferCursor.objects.get_or_create(stream=_stream_key())
    written = 0
    for _ in range(max_batches):
        batch_written, drained = _flush_batch(client)
        written += batch_written
        if drained:
            break
    else:
        _schedule_flush()  # a backlog: carry on in a new task run
    PAGE_VIEWS_FLUSHED.inc(written)
    return written


def _flush_batch(client: redis.Redis) -> tuple[int, bool]:
    """One batch in one transaction; (page views written, whether the stream is drained)."""
    key = _stream_key()
    cursor = PageViewBufferCursor.objects.filter(stream=key)
    with transaction.atomic():
        cursor.update(flushed_at=timezone.now())  # the row lock: concurrent flushes take turns here
        last_id = cursor.values_list("last_id", flat=True).get()
        entries = client.xrange(key, min=f"({last_id}" if last_id else "-", count=FLUSH_BATCH_SIZE)
        if not entries:
            if last_id:  # entries a flush wrote but could not trim (it died, or Redis failed, after commit)
                transaction.on_commit(lambda: _trim_through(client, key, last_id), robust=True)
            return 0, True
        written = _write(_decode(entries))
        newest = entries[-1][0].decode()
        cursor.update(last_id=newest)
        # After the outermost commit only: trimmed entries must already be in the database. Robust:
        # a failed trim is logged and redone by the next flush, never an error for what committed.
        transaction.on_commit(lambda: _trim_through(client, key, newest), robust=True)
    return written, len(entries) < FLUSH_BATCH_SIZE


def page_view_buffer_backlog() -> tuple[int, float | None] | None:
    """(entries in the stream, age in seconds of the oldest one not yet written), None when the buffer is off.

    Raises redis.RedisError when the buffer's Redis does not answer.
    """
    client = _client()
    if client is None:
        return None
    key = _stream_key()
    last_id = PageViewBufferCursor.objects.filter(stream=key).values_list("last_id", flat=True).first() or ""
    length = client.xlen(key)
    oldest = client.xrange(key, min=f"({last_id}" if last_id else "-", count=1)
    if not oldest:
        return length, None
    added_ms = int(oldest[0][0].decode().split("-", 1)[0])  # a stream id starts with its Unix time in ms
    return length, max(time.time() - added_ms / 1000, 0.0)


# A read that flushes first writes at most this many batches itself (a backlog is the worker's job).
READ_FLUSH_MAX_BATCHES = 3


def page_views_flush_before_reading() -> None:
    """Flush so that a read (a GDPR export) sees queued page views too; with Redis down, the read
    goes on with what the database holds (the queued ones are at most seconds old)."""
    try:
        page_views_flush(max_batches=READ_FLUSH_MAX_BATCHES)
    except redis.RedisError:
        logger.warning("The page-view buffer is unreachable: reading without its queued page views.")


def _trim_through(client: redis.Redis, key: str, entry_id: str) -> None:
    """Drop the entries up to and including entry_id (XTRIM MINID keeps its argument)."""
    milliseconds, sequence = entry_id.split("-")
    client.xtrim(key, minid=f"{milliseconds}-{int(sequence) + 1}", approximate=False)


def _decode(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[tuple[int, str, str, str, dt.datetime]]:
    rows = []
    for entry_id, fields in entries:
        try:
            rows.append((
                int(fields[b"s"]),
                fields[b"u"].decode(),
                fields[b"t"].decode(),
                fields[b"r"].decode(),
                _EPOCH + dt.timedelta(microseconds=int(fields[b"at"])),
            ))  # fmt: skip
        except (KeyError, ValueError):
            # Not ours (written by hand or another version): skipping it beats blocking every flush.
            logger.error("Skipped a malformed page-view buffer entry %s.", entry_id.decode())
    return rows


def _write(rows: list[tuple[int, str, str, str, dt.datetime]]) -> int:
    if not rows:
        return 0
    if connections[router.db_for_write(PageView)].vendor == "postgresql":
        return _write_postgresql(rows)
    return _write_portable(rows)


def _write_postgresql(rows: list[tuple[int, str, str, str, dt.datetime]]) -> int:
    """Sessions' counters and the page views in one statement; sessions gone since are skipped.

    The UPDATE locks the session rows until the commit. Page views have no database foreign key, and
    this lock stands in for its check (contacts.deletion): an erase, expiry or merge locks the sessions
    before it touches their page views, so it waits for this commit and then deletes (or moves) these
    page views too; one that came first has deleted the sessions, which this UPDATE then skips.
    """
    sessions, page_views = WebSession._meta.db_table, PageView._meta.db_table
    sql = f"""
        WITH batch AS (
            SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])
                AS b(session_id, url, title, referrer, created_at)
        ), totals AS (
            SELECT session_id, count(*) AS added, max(created_at) AS latest FROM batch GROUP BY session_id
        ), touched AS (
            UPDATE {sessions} s SET page_views_count = s.page_views_count + totals.added,
                last_activity_at = GREATEST(s.last_activity_at, totals.latest)
            FROM totals WHERE s.id = totals.session_id
            RETURNING s.id, s.contact_id
        )
        INSERT INTO {page_views} (contact_id, session_id, url, title, referrer, created_at)
        SELECT touched.contact_id, batch.session_id, batch.url, batch.title, batch.referrer, batch.created_at
        FROM batch JOIN touched ON touched.id = batch.session_id
    """  # noqa: S608 - table names come from the models, values are parameters
    columns = [list(column) for column in zip(*rows, strict=True)]
    with connections[router.db_for_write(PageView)].cursor() as cursor:
        cursor.execute(sql, columns)
        return cursor.rowcount


def _write_portable(rows: list[tuple[int, str, str, str, dt.datetime]]) -> int:
    """The same for other databases (SQLite in tests): one UPDATE per session, one bulk INSERT."""
    totals: dict[int, list[Any]] = {}
    for session_id, *_, created_at in rows:
        total = totals.setdefault(session_id, [0, created_at])
        total[0] += 1
        total[1] = max(total[1], created_at)
    contact_of = dict(WebSession.objects.filter(pk__in=totals).values_list("pk", "contact_id"))
    for session_id, (added, latest) in totals.items():
        if session_id in contact_of:
            WebSession.objects.filter(pk=session_id).update(
                page_views_count=F("page_views_count") + added,
                last_activity_at=Greatest("last_activity_at", Value(latest)),
            )
    page_view_rows = [
        PageView(
            contact_id=contact_of[session_id], session_id=session_id, url=url, title=title, referrer=referrer,
            created_at=created_at,
        )
        for session_id, url, title, referrer, created_at in rows
        if session_id in contact_of
    ]  # fmt: skip
    PageView.objects.bulk_create(page_view_rows, batch_size=500)
    return len(page_view_rows)
