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
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import kombu.exceptions
import redis
from django.conf import settings
from django.core.cache import cache, caches
from django.db import DataError, connections, models, router, transaction
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from redis.backoff import NoBackoff
from redis.retry import Retry

from common.metrics import PAGE_VIEWS_BUFFERED, PAGE_VIEWS_FLUSHED
from common.outage import ServiceBehind
from common.rate_limit import (
    COUNT_AND_READ_LUA,
    COUNT_WINDOWS_LUA,
    DeferredCount,
    Limit,
    ScriptWindows,
    cached_values,
    script_windows,
)
from common.redis_cache import REDIS_UNAVAILABLE, Outage, Script, outage, pool_options, thread_client
from companies import services as companies_services
from contacts.models import Contact, PrivacyAuditEntry
from tracking import id_blocks
from tracking.models import MergedContact, PageView, PageViewBufferCursor, WebSession, Website
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
# A merged contact's queued rows follow it into the user for this long (a flush is seconds behind).
MERGED_MARK_SECONDS = 24 * 3600
MERGED_PRUNE_SECONDS = 600
_merged_pruned_at: float | None = None  # when this process last deleted marks past their day (monotonic)


@dataclass(frozen=True)
class QueuedContact:
    """A new visitor decided by a ping: its row is written by the flush, under this id.

    The consent its first ping stated (the visitor's own choice, never a page's default) is written
    with the row, as `contact_consent_apply` would have stored it on a row written at once."""

    contact_id: int
    anonymous_id: uuid.UUID
    analytics_consent: bool | None = None
    marketing_consent: bool | None = None
    consent_source: str = ""

    @property
    def consent_stated(self) -> bool:
        return self.analytics_consent is not None or self.marketing_consent is not None


@dataclass(frozen=True)
class QueuedSession:
    """A new web session decided by a ping (its contact queued with it, or existing)."""

    contact_id: int
    website_id: int
    # landing_url, referrer, utm_*, os, browser, browser_version, browser_language, city, country,
    # country_name: derived in the request, never the IP itself.
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QueuedRow:
    """One stream entry decoded: a page view, with the contact and the session it opens, if any."""

    session_id: int
    url: str
    title: str
    referrer: str
    at: dt.datetime
    contact: QueuedContact | None = None
    session: QueuedSession | None = None
    # Decided by the ping (tracking.id_blocks), shared with the direct write that stands in for this entry when its
    # queueing seemed to fail: the second of the two finds it written ("Exactly once" in docs/architecture.md).
    page_view_id: int | None = None


def merged_mark(*, source_id: int, into_id: int) -> None:
    """Remember, in the merge's transaction, that `source_id` goes into `into_id`: rows queued for the source
    follow. Nothing is queued without the buffer: no mark then."""
    if settings.PARLEY_PAGE_VIEW_BUFFER_URL:
        _merged_marks_prune()
        MergedContact.objects.create(contact_id=source_id, into_id=into_id, merged_at=timezone.now())


def _merged_marks_prune() -> None:
    """Marks past their day go: on a merge, and from the flush at most every MERGED_PRUNE_SECONDS per process (on a
    site without merges for a while, a mark must not outlive its day: it names who that visitor became)."""
    global _merged_pruned_at
    _merged_pruned_at = time.monotonic()
    MergedContact.objects.filter(merged_at__lt=timezone.now() - dt.timedelta(seconds=MERGED_MARK_SECONDS)).delete()


def _merged_marks_prune_due() -> bool:
    return _merged_pruned_at is None or time.monotonic() - _merged_pruned_at >= MERGED_PRUNE_SECONDS


# Per URL: the pool, or None when that Redis cannot hold the buffer (older than 7).
_pools: dict[str, redis.ConnectionPool | None] = {}
_pools_lock = threading.Lock()
# A Redis that stops answering must not hold a ping: past these the ping writes synchronously.
SOCKET_TIMEOUT_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 1.0
REDIS_MIN_VERSION = (7, 0)
# A command that queues a page view does nothing when Redis runs it this long after it was sent (LATE_LUA): by then
# its sender may have given up on the reply (after SOCKET_TIMEOUT_SECONDS) and written the page view itself, and a
# Redis that stalled (a paused VM, a stopped process) runs what it had received once it resumes. The other
# half of the timeout is the margin for the two machines' clocks.
LATE_AFTER_SECONDS = SOCKET_TIMEOUT_SECONDS / 2
_full_until = 0.0  # a stream too long (no worker flushing it): write directly until this monotonic time
_flush_due_at: dict[str, float] = {}  # per stream: when the flush this process knows of runs (Unix time)


def _outage(url: str) -> Outage:
    """Whether the buffer's Redis failed to answer lately (then pings write directly: no waiting on a hung Redis)."""
    return outage("page-view buffer " + url)


def _answered(url: str, cache_backend: Any = None) -> None:
    """The buffer's Redis answered; given the cache's backend (a script that made the cache's writes or counted its
    limits: the same Redis), neither skips it now. The caller passes the backend it holds: looking it up again
    (`caches["default"]`) cost a steady ping ~1% of its CPU."""
    _outage(url).answered()
    cache_outage = getattr(cache_backend, "outage", None)
    if cache_outage is not None:
        cache_outage.answered()


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
    # A connection Redis closed (it restarted) is retried once on a new one, at once, as the cache's
    # (common.redis_cache): else each thread's first command after a restart fails. A Redis that is down
    # refuses that one too, in well under a millisecond.
    pool = redis.ConnectionPool.from_url(
        url,
        **pool_options(url, timeout=SOCKET_TIMEOUT_SECONDS),
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        # Not a timeout: the command was sent and may have run (a second XADD would queue the page view twice).
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        retry_on_error=[redis.ConnectionError],
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


@dataclass(frozen=True)
class CacheWrite:
    """A cache entry a queued ping writes with its entry (its hot-path state, a mark)."""

    key: str
    value: Any
    seconds: int
    only_if_absent: bool = False
    # Stored as given, not serialized by the cache: read by a Redis script only (a fast-path ticket).
    raw: bool = False


def _cache_writes_fit(url: str, backend: Any = cache) -> bool:
    """The cache (`backend`, the default one) is this very Redis, so its writes can share the entry's round trip."""
    same_redis = getattr(backend, "same_redis", None)
    return same_redis is not None and same_redis(url)


def cache_writes_apply(writes: tuple[CacheWrite, ...]) -> None:
    for write in writes:
        if write.raw:
            continue  # read by a script on the buffer's Redis only: worth nothing through another cache
        if write.only_if_absent:
            cache.add(write.key, write.value, write.seconds)
        else:
            cache.set(write.key, write.value, write.seconds)


def page_view_buffer_on() -> bool:
    """Whether pings may queue now (configured, and not backing off from a full or unreachable buffer). A check: the
    call that queues is the one that probes a Redis whose backoff ended."""
    url = settings.PARLEY_PAGE_VIEW_BUFFER_URL
    return bool(url) and time.monotonic() >= _full_until and not _outage(url).backing_off()


def page_view_buffer_add(
    *,
    session_id: int,
    page: PageInput,
    at: dt.datetime,
    contact: QueuedContact | None = None,
    session: QueuedSession | None = None,
    cache_writes: tuple[CacheWrite, ...] = (),
    count: DeferredCount | None = None,
    page_view_id: int | None = None,
) -> bool:
    """Queue one page view, with the new contact and the new session it needs, if any (one stream
    entry: the flush writes them together). False (nothing queued, as far as this ping knows): write it now
    instead, under the same `page_view_id` (a reply lost after Redis ran the command queued it after all).

    `cache_writes` are made once the entry is queued: in the same round trip when the buffer is the
    cache's own Redis (the default), else through the cache afterwards. `count`: the request's rate
    limits, counted first, in that same round trip where it can be (raises their refusal, queueing nothing)."""
    entry = _entry(session_id=session_id, page=page, at=at, contact=contact, session=session, page_view_id=page_view_id)
    return _queue(entry, cache_writes=cache_writes, count=count) is not None


class LateCommand(redis.RedisError):
    """Redis ran a command that queues a page view past its moment (LATE_AFTER_SECONDS) and did nothing."""


# Whether Redis runs this command past `moment` (Unix milliseconds, by the sender's clock: `_late_after`).
LATE_LUA = """
local function late(moment)
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000 > tonumber(moment)
end
"""


def _late_after() -> int:
    """The moment after which a command sent now does nothing (LATE_LUA)."""
    return int((time.time() + LATE_AFTER_SECONDS) * 1000)


# A page view alone, when a flush is known to be on its way. KEYS: the stream. ARGV: the moment it is late after,
# the entry's name/value pairs. Answers the entry's id, or nil when late.
_XADD_SCRIPT = Script(
    LATE_LUA
    + """
if late(ARGV[1]) then return false end
return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
"""
)


# The cache writes that go with an entry, from KEYS[first] on: per key, from ARGV[at] on, its value, seconds and
# "1" when only if absent (`_cache_write_arguments`). Past the XADD an error must not abort the script.
CACHE_WRITES_LUA = """
local function cache_writes(first, at)
  for k = first, #KEYS do
    if ARGV[at + 2] == '1' then
      redis.pcall('SET', KEYS[k], ARGV[at], 'EX', ARGV[at + 1], 'NX')
    else
      redis.pcall('SET', KEYS[k], ARGV[at], 'EX', ARGV[at + 1])
    end
    at = at + 3
  end
end
"""


# No rate limit to count in a queueing script (the request's were counted already, or it has none).
NO_WINDOWS = ScriptWindows(now=0.0, keys=[], arguments=[])

# A known contact's new session is claimed for this long: pings of other tabs that found no current
# session either (their state was read before this one's was saved) join it instead of opening another.
SESSION_CLAIM_SECONDS = 10
# After an entry's XADD: the stream's length and the flush flag's previous due time (set to `due` when none),
# ("" when none; -1 and "error" when unreadable). Past the XADD an error must not abort the script (the caller
# would write the page view a second time): the bookkeeping's errors are answered, not raised.
QUEUED_BOOKKEEPING_LUA = """
local function queued_bookkeeping(stream, flag, due, flag_seconds)
  local length = redis.pcall('XLEN', stream)
  if type(length) == 'table' then length = -1 end
  local previous = redis.pcall('SET', flag, due, 'NX', 'GET', 'EX', flag_seconds)
  if type(previous) == 'table' then previous = 'error' elseif not previous then previous = '' end
  return length, previous
end
"""


# A first page view with its request's rate limits (common.rate_limit.DeferredCount): count them, and queue
# only when none is over, with the flush bookkeeping and the cache writes: the request's one round trip.
# KEYS: the limits' windows, the stream, the flush flag, the cache entries. ARGV: the number of windows and
# their expiry/cost/limit triples; the moment it is late after; the flush's due time and flag seconds; the number
# of entry arguments and the entry's name/value pairs; per cache entry its value, seconds and "1" when only if
# absent. Late, it counts nothing either: {-1}.
_COUNTED_QUEUE_SCRIPT = Script(
    LATE_LUA
    + COUNT_WINDOWS_LUA
    + QUEUED_BOOKKEEPING_LUA
    + CACHE_WRITES_LUA
    + """
local windows = tonumber(ARGV[1])
local at = 2 + windows * 3
if late(ARGV[at]) then return {-1} end
local counts, over = count_windows(windows, 2)
if over then return {0, counts} end
local due, flag_seconds, entry_args = ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3])
at = at + 4
local entry = {}
for i = 1, entry_args do entry[i] = ARGV[at + i - 1] end
at = at + entry_args
local stream, flag = KEYS[windows + 1], KEYS[windows + 2]
local added = redis.call('XADD', stream, '*', unpack(entry))
local length, previous = queued_bookkeeping(stream, flag, due, flag_seconds)
cache_writes(windows + 3, at)
return {1, counts, added, length, previous}
"""
)


# One command, so that the entry that opens the session always precedes those that join it. The cache writes
# (the contact's state naming the new session, its fast-path ticket) are made only by the entry that opened it:
# one that joined another tab's session must not name its own for a moment (its caller saves the joined one).
# KEYS: the claim, the stream, the flush flag, the cache entries. ARGV: the new session's id, the claim's seconds,
# the flush's due time and flag seconds, the moment it is late after, the number of page view and of session
# arguments, those arguments, per cache entry its value, seconds and "1" when only if absent. Answers {the session
# the page view went into, the stream's length, the flag's previous due time} (as _COUNTED_QUEUE_SCRIPT's
# bookkeeping), nil when late.
_OPEN_SESSION_SCRIPT = Script(
    LATE_LUA
    + QUEUED_BOOKKEEPING_LUA
    + CACHE_WRITES_LUA
    + """
if late(ARGV[5]) then return false end
local claimed = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'GET', 'EX', ARGV[2])
local page_args, session_args = tonumber(ARGV[6]), tonumber(ARGV[7])
local entry = {'s', claimed or ARGV[1]}
for i = 8, 7 + page_args do entry[#entry + 1] = ARGV[i] end
if not claimed then
  for i = 8 + page_args, 7 + page_args + session_args do entry[#entry + 1] = ARGV[i] end
end
redis.call('XADD', KEYS[2], '*', unpack(entry))
local length, previous = queued_bookkeeping(KEYS[2], KEYS[3], ARGV[3], ARGV[4])
if not claimed then cache_writes(4, 8 + page_args + session_args) end
return {claimed or ARGV[1], length, previous}
"""
)


def session_claim_key(*, contact_id: int, website_id: int) -> str:
    return f"{_stream_key()}:opening:{contact_id}:{website_id}"


def page_view_buffer_open_session(
    *,
    session_id: int,
    page: PageInput,
    at: dt.datetime,
    session: QueuedSession,
    cache_writes: tuple[CacheWrite, ...] = (),
    page_view_id: int | None = None,
) -> int | None:
    """Queue a known contact's new session with its first page view, unless another ping of the same
    contact and website opened one in the last seconds: then the page view joins that session.
    `cache_writes` as for page_view_buffer_add (made after the entry, whichever session it went into).

    Returns the session the page view went into; None (nothing queued): write it now instead."""
    entry = _entry(session_id=session_id, page=page, at=at, session=session, page_view_id=page_view_id)
    claim = session_claim_key(contact_id=session.contact_id, website_id=session.website_id)
    return _queue(entry, cache_writes=cache_writes, claim=claim)


def session_claim_forget(*, contact_id: int, website_id: int) -> None:
    """The site logged the user out: the next page view opens a new session, even within seconds."""
    client = _client()
    if client is not None:
        try:
            client.delete(session_claim_key(contact_id=contact_id, website_id=website_id))
        except redis.RedisError:
            logger.warning("The page-view buffer is unreachable: a session claim stays until it expires.")


def _entry(
    *,
    session_id: int,
    page: PageInput,
    at: dt.datetime,
    contact: QueuedContact | None = None,
    session: QueuedSession | None = None,
    page_view_id: int | None = None,
) -> dict[str, Any]:
    """The stream entry: the page view's fields first ("s" is its session, "i" its id where the ping took one), then
    the new contact's and the new session's, if any."""
    micros = (at - _EPOCH) // dt.timedelta(microseconds=1)
    entry: dict[str, Any] = {"s": session_id, "u": page.url, "t": page.title, "r": page.referrer, "at": micros}
    if page_view_id is not None:
        entry["i"] = page_view_id
    if contact is not None:
        entry["c"], entry["a"] = contact.contact_id, contact.anonymous_id.hex
        if contact.consent_stated:  # "1", "0" or "" (not stated) per purpose, and its source
            entry["ca"] = _consent_code(contact.analytics_consent)
            entry["cm"] = _consent_code(contact.marketing_consent)
            entry["cs"] = contact.consent_source
    if session is not None:
        entry["k"], entry["w"] = session.contact_id, session.website_id
        entry["d"] = json.dumps(session.fields, separators=(",", ":"))
    return entry


_PAGE_VIEW_FIELDS = ("u", "t", "r", "at", "i")


def _queue(
    entry: dict[str, Any],
    *,
    cache_writes: tuple[CacheWrite, ...] = (),
    claim: str | None = None,
    count: DeferredCount | None = None,
) -> int | None:
    """XADD the entry (through the session-claim script when `claim` names one) with the flush
    bookkeeping, in one round trip; the session id its page view went into, None when not queued.

    `count` is counted first: in the same script when the cache writes go in it, else on its own."""
    url = settings.PARLEY_PAGE_VIEW_BUFFER_URL
    if not url or time.monotonic() < _full_until or _outage(url).skip():
        return None
    now, key = time.time(), _stream_key()
    session_id = int(entry["s"])
    backend = caches["default"]  # once: the `cache` proxy looks its backend up again on each attribute read
    in_script = bool(cache_writes) and _cache_writes_fit(url, backend)
    windows = count.script_windows() if count is not None and in_script and claim is None else None
    if count is not None and windows is None:
        count.count()  # raises the refusal before anything is queued
    counts: list[int] = []
    try:
        client = _client_for(url)
        if client is None:
            return None
        if claim is None and not in_script and now < _flush_due_at.get(key, 0.0) - FLUSH_DUE_MARGIN_SECONDS:
            # A flush known to be scheduled runs after this moment, so it will read this entry. (The
            # length is checked on the other path, at least once per flush per process.)
            if _XADD_SCRIPT.run(client, [key], [_late_after(), *itertools.chain.from_iterable(entry.items())]) is None:
                raise LateCommand("the page view's queueing")
            _outage(url).answered()
            cache_writes_apply(cache_writes)
            PAGE_VIEWS_BUFFERED.inc()
            return session_id
        due = now + FLUSH_DELAY_SECONDS
        # One script over this thread's connection (a pipeline took a connection from the pool and polled it).
        writes = cache_writes if in_script else ()
        if claim is None:
            counts, _, length, scheduled_due = _queue_counted(client, entry, windows or NO_WINDOWS, writes, due)
        else:
            joined, length, scheduled_due = _queue_opening(client, entry, claim, writes, due)
            session_id = int(joined)
        if not in_script and session_id == int(entry["s"]):  # (having joined a session, the caller saves its own)
            cache_writes_apply(cache_writes)
    except Exception as error:
        # Whatever went wrong (down, refused, misconfigured), the page view is written synchronously, under the ids the
        # entry carries (a lost reply: whichever write comes second writes nothing).
        if count is not None and windows is not None and not isinstance(error, LateCommand):
            count.sent_in_script()  # (run late, it counted nothing: counted on its own then)
        if isinstance(error, LateCommand):
            logger.warning(
                "The page-view buffer's Redis ran %s over %s s after it was sent (overloaded, or its clock is ahead of "
                "this server's); writing page views synchronously.", error, LATE_AFTER_SECONDS
            )  # fmt: skip
        elif isinstance(error, REDIS_UNAVAILABLE):  # an outage: one line a second, not a traceback per ping
            logger.warning(
                "The page-view buffer is unreachable (%s); writing page views synchronously.", error.__class__.__name__
            )
        else:
            logger.exception("The page-view buffer is unreachable; writing page views synchronously.")
        _outage(url).failed(error)
        return None
    _answered(url, backend if in_script else None)
    if count is not None and windows is not None:
        count.counted_in_script(windows, counts)  # over a limit: raises its refusal (nothing was queued)
    _queued_bookkeeping(key, due, length, scheduled_due)
    return session_id


def _queued_bookkeeping(key: str, due: float, length: Any, scheduled_due: Any) -> None:
    """After an entry went in: a flush scheduled unless one is (the flag's previous due time), a backoff
    when the stream is too long."""
    global _full_until
    if scheduled_due is None:
        _schedule_flush()
        _flush_due_at[key] = due
    elif not isinstance(scheduled_due, Exception):
        _flush_due_at[key] = float(scheduled_due)
    if isinstance(length, int) and length >= settings.PARLEY_PAGE_VIEW_BUFFER_MAX_LENGTH:
        logger.warning("The page-view buffer holds %s entries; is a Celery worker running?", length)
        _full_until = time.monotonic() + FULL_BACKOFF_SECONDS
    PAGE_VIEWS_BUFFERED.inc()


def _queue_opening(
    client: redis.Redis, entry: dict[str, Any], claim: str, cache_writes: tuple[CacheWrite, ...], due: float
) -> tuple[Any, Any, Any]:
    """The session-claim script (_OPEN_SESSION_SCRIPT) with the flush bookkeeping and the cache writes: (the
    session the page view went into, the stream's length, the flag's previous due time)."""
    written = [_stored(write) for write in cache_writes]
    # The script's arguments: the page view's name/value pairs, then the new session's, then the cache writes.
    page_args = [arg for name in _PAGE_VIEW_FIELDS if name in entry for arg in (name, entry[name])]
    session_names = [name for name in entry if name != "s" and name not in _PAGE_VIEW_FIELDS]
    rest = [arg for name in session_names for arg in (name, entry[name])]
    keys = [claim, _stream_key(), _flag_key(), *(redis_key for redis_key, _ in written)]
    arguments = [
        entry["s"], SESSION_CLAIM_SECONDS, due, FLUSH_FLAG_SECONDS, _late_after(), len(page_args), len(rest),
        *page_args, *rest, *_cache_write_arguments(written, cache_writes),
    ]  # fmt: skip
    reply = _OPEN_SESSION_SCRIPT.run(client, keys, arguments)
    if reply is None:
        raise LateCommand("the session's opening")
    session, length, previous = reply
    return session, length, _previous_due(previous)


def _stored(write: CacheWrite) -> tuple[str, Any]:
    """(the Redis key, the stored value) of a cache write made in the buffer's own round trip."""
    if write.raw:
        return cache.make_key(write.key), write.value
    return cache.raw_entry(write.key, write.value)  # type: ignore[attr-defined]


def _cache_write_arguments(stored: list[tuple[str, Any]], writes: tuple[CacheWrite, ...]) -> list[Any]:
    """A script's arguments for these cache writes (CACHE_WRITES_LUA): per write its stored value, seconds and
    "1" when only if absent."""
    return [
        arg
        for (_, value), write in zip(stored, writes, strict=True)
        for arg in (value, write.seconds, "1" if write.only_if_absent else "0")
    ]


def _queue_counted(
    client: redis.Redis, entry: dict[str, Any], windows: ScriptWindows, cache_writes: tuple[CacheWrite, ...], due: float
) -> tuple[list[int], Any, Any, Any]:
    """The counted script (_COUNTED_QUEUE_SCRIPT): (the limits' counts; then, unless one refused the request
    and nothing was queued, the entry's id, the stream's length and the flag's previous due time)."""
    written = [_stored(write) for write in cache_writes]
    keys = [*windows.keys, _stream_key(), _flag_key(), *(redis_key for redis_key, _ in written)]
    entry_args = [arg for pair in entry.items() for arg in pair]
    arguments = [
        len(windows.keys), *windows.arguments, _late_after(), due, FLUSH_FLAG_SECONDS, len(entry_args), *entry_args,
        *_cache_write_arguments(written, cache_writes),
    ]  # fmt: skip
    reply = _COUNTED_QUEUE_SCRIPT.run(client, keys, arguments)
    if int(reply[0]) < 0:
        raise LateCommand("the page view's queueing")
    counts = [int(count) for count in reply[1]]
    if not int(reply[0]):
        return counts, None, None, None
    return counts, reply[2], reply[3], _previous_due(reply[4])


def _previous_due(previous: bytes) -> Any:
    """The flush flag's previous due time as a script answers it: None when there was none, an error when
    unreadable (then nothing is scheduled, `_queued_bookkeeping`)."""
    if previous == b"error":
        return redis.ResponseError("the flush flag")
    return previous or None


# --- a returning visitor's page view queued in the request's first round trip ------------------------
#
# A contact's fast-path ticket says: "while its hot-path entry is byte for byte what it was when this was
# written, a ping with this fingerprint (website, token and consent, all the request-side inputs of the
# steady-state decision) queues its page view in session S". The ping's first round trip (the rate limits
# counted, the hot-path entries read) checks it and queues the page view there: one round trip instead of
# two. Any change to the entry (a privacy change, a new session, a refreshed snapshot) invalidates it
# unread; the gone mark and a revocation are checked on their own; it expires before the snapshot, the
# session or the entry's refresh is due (docs/architecture.md, "The ingest buffer").


@dataclass
class FastTicket:
    """What a ping offers its first round trip (`preflight_queue`), and what that round trip found."""

    contact_id: int
    # The contact's hot-path entry, gone mark and revocation mark: the first keys its round trip reads.
    hot_path_keys: tuple[str, str, str]
    fingerprint: str
    # A revocation (a later verified sign-in) applies to this token: its mark must be absent.
    revocation_matters: bool
    entry: dict[str, Any]  # the page view's fields, without its session, with its id ("i")
    now: float  # the request's moment, the clock its ping decides with: a ticket holds until a moment before it
    queued_session: int | None = None  # the session the round trip queued the page view in
    state_sha: str | None = None  # SHA-1 of the hot-path entry as stored (a ticket written now names it)
    consumed: bool = False  # the ping took the page view queued for it as its own
    checked: bool = False  # the first round trip ran (the cache is the buffer's Redis): tickets are read here

    def write(self, *, session_id: int, until: float, state_sha: str | None = None) -> CacheWrite | None:
        """The ticket for the steady state this ping found (or, given `state_sha`, the state it writes with the
        ticket), holding for requests whose moment is before `until` (the first of its ends); None when that is
        too close to bother."""
        seconds = int(until - self.now)
        if seconds < 1:
            return None
        value = f"{session_id}:{int(until * 1000)}:{self.fingerprint}:{state_sha or self.state_sha}"
        # Redis drops it a little after its end: which requests it serves is the script's check of their moment.
        return CacheWrite(fast_ticket_key(self.contact_id), value, seconds + 5, raw=True)


def fast_ticket_key(contact_id: int) -> str:
    return f"tracking:fast:{contact_id}"


def page_view_fields(*, page: PageInput, at: dt.datetime, page_view_id: int) -> dict[str, Any]:
    """A page view's fields in a stream entry, without its session, with its id (queued again by its ping when the
    first round trip's reply was lost: the flush writes one of the two)."""
    entry = _entry(session_id=0, page=page, at=at, page_view_id=page_view_id)
    del entry["s"]
    return entry


# KEYS: the limits' windows, the read keys (the hot-path entry, its gone mark and its revocation first), the
# ticket, the stream, the flush flag. ARGV: the number of windows and of read keys, the windows' triples, the
# fingerprint, "1" when a revocation matters, the flush's due time and flag seconds, the request's moment (ms),
# the moment it is late after, the page view's fields. Late, it counts nothing either: nil.
_PREFLIGHT_QUEUE_SCRIPT = Script(
    LATE_LUA
    + COUNT_WINDOWS_LUA
    + COUNT_AND_READ_LUA
    + QUEUED_BOOKKEEPING_LUA
    + """
local windows, reads = tonumber(ARGV[1]), tonumber(ARGV[2])
if late(ARGV[3 + windows * 3 + 5]) then return false end
-- The ticket comes in the same read as the others (it follows them in KEYS): one call less.
local counts, values, over = count_and_read(windows, reads + 1, 3)
local ticket = table.remove(values)
local state_sha = false
if values[1] then state_sha = redis.sha1hex(values[1]) end
if over or not state_sha or values[2] then return {counts, values, state_sha} end
local at = 3 + windows * 3
if ARGV[at + 1] == '1' and values[3] then return {counts, values, state_sha} end
if not ticket then return {counts, values, state_sha} end
local session, deadline, stamp = string.match(ticket, '^(%d+):(%d+):(.*)$')
if not session or tonumber(ARGV[at + 4]) >= tonumber(deadline) or stamp ~= ARGV[at] .. ':' .. state_sha then
  return {counts, values, state_sha}
end
local entry = {'s', session}
for i = at + 6, #ARGV do entry[#entry + 1] = ARGV[i] end
local stream = KEYS[windows + reads + 2]
redis.call('XADD', stream, '*', unpack(entry))
local length, previous = queued_bookkeeping(stream, KEYS[windows + reads + 3], ARGV[at + 2], ARGV[at + 3])
return {counts, values, state_sha, session, length, previous}
"""
)


def preflight_queue(
    limits: Sequence[Limit], read_keys: Sequence[str], ticket: FastTicket
) -> tuple[float, list[int], Mapping[str, Any]] | None:
    """Count `limits`, read `read_keys` (the contact's hot-path entries first, as hot_path_read_keys lists
    them) and, when the ticket holds, queue its page view: one round trip. (when, the counts, the values read);
    the ticket learns what happened. None when it cannot run here (another Redis, the buffer backing off,
    Redis unreachable): then count and read as every other request does."""
    url = settings.PARLEY_PAGE_VIEW_BUFFER_URL
    backend = caches["default"]  # once: the `cache` proxy looks its backend up again on each attribute read
    if not url or time.monotonic() < _full_until or not _cache_writes_fit(url, backend) or _outage(url).skip():
        return None
    if tuple(read_keys[:3]) != ticket.hot_path_keys:  # the script reads them by position
        return None
    windows = script_windows(limits, backend)
    if windows is None:
        return None
    key = _stream_key()
    due = time.time() + FLUSH_DELAY_SECONDS
    make_key = backend.make_key
    keys = [
        *windows.keys, *map(make_key, read_keys), make_key(fast_ticket_key(ticket.contact_id)), key,
        _flag_key(),
    ]  # fmt: skip
    arguments = [
        len(windows.keys), len(read_keys), *windows.arguments, ticket.fingerprint,
        "1" if ticket.revocation_matters else "0", due, FLUSH_FLAG_SECONDS, int(ticket.now * 1000), _late_after(),
        *itertools.chain.from_iterable(ticket.entry.items()),
    ]  # fmt: skip
    try:
        client = _client_for(url)
        if client is None:
            return None
        reply = _PREFLIGHT_QUEUE_SCRIPT.run(client, keys, arguments)
    except redis.RedisError:
        # Not a backoff: the script may have queued the page view, and the ping queues it again, or writes it, under
        # the same id (the flush writes one of them). The caller counts and reads without it.
        return None
    if reply is None:  # run late (LATE_LUA): it did nothing, and the caller counts and reads without it
        return None
    _answered(url, backend)
    counts = [int(count) for count in reply[0]]
    values = cached_values(backend, read_keys, reply[1])
    ticket.checked = True
    ticket.state_sha = reply[2].decode() if reply[2] else None
    if len(reply) > 3:
        ticket.queued_session = int(reply[3])
        previous = reply[5]
        scheduled = redis.ResponseError("the flush flag") if previous == b"error" else (previous or None)
        _queued_bookkeeping(key, due, reply[4], scheduled)
    return windows.now, counts, values


def page_view_buffer_forget() -> int:
    """Drop every queued entry, the flush flag and the session claims (after a restore: they describe rows
    the restored database does not hold, under ids its sequences hand out again). Returns the keys deleted."""
    client = _client()
    if client is None:
        return 0
    key = _stream_key()
    keys = [key, _flag_key(), *client.scan_iter(match=f"{key}:opening:*", count=1000)]
    return int(client.delete(*keys))


def page_views_flush_soon() -> None:
    """Ask a worker for a flush now (e.g. after an erase: its queued page views leave Redis)."""
    if settings.PARLEY_PAGE_VIEW_BUFFER_URL:
        _schedule_flush(delay=0)


def _schedule_flush(delay: float = FLUSH_DELAY_SECONDS) -> None:
    from tracking.tasks import flush_page_views

    try:
        # No publish retries: a ping must not stall on a down broker; beat's run catches up.
        flush_page_views.apply_async(countdown=delay, expires=FLUSH_FLAG_SECONDS * 2, retry=False)
    except kombu.exceptions.OperationalError as error:  # the broker unreachable, or restarted under a connection
        logger.warning("Could not schedule a page-view flush (%s); the periodic one will write them.", error)
    except Exception:  # kombu raises several unrelated types for an unreachable broker
        logger.exception("Could not schedule a page-view flush; the periodic one will write them.")


def page_views_flush(*, max_batches: int = FLUSH_MAX_BATCHES) -> int:
    """Write queued page views to the database; returns how many were written."""
    client = _client()
    if client is None:
        return 0
    if _merged_marks_prune_due():
        _merged_marks_prune()
    if _clock_check_due():
        _clock_check(client)
    written, drained = _flush_batches(client, max_batches=max_batches)
    if not drained:
        _schedule_flush()  # a backlog: carry on in a new task run
    return written


# How often a flushing process compares Redis's clock with its own, and how far apart they may be: a command that
# queues a page view is late by Redis's clock (LATE_AFTER_SECONDS), so a Redis clock behind would let a stalled
# command that its ping gave up on run anyway (a page view written twice), one ahead would send pings to the direct
# path (said by each ping's warning).
CLOCK_CHECK_SECONDS = 60
CLOCK_SKEW_WARNING_SECONDS = LATE_AFTER_SECONDS / 4
_clock_checked_at: float | None = None  # when this process last compared the clocks (monotonic)


def _clock_check_due() -> bool:
    return _clock_checked_at is None or time.monotonic() - _clock_checked_at >= CLOCK_CHECK_SECONDS


def _clock_check(client: redis.Redis) -> None:
    """Warn when Redis's clock and this machine's are CLOCK_SKEW_WARNING_SECONDS apart or more (the web servers' are
    taken to be set as the workers' are)."""
    global _clock_checked_at
    _clock_checked_at = time.monotonic()
    before = time.time()
    seconds, microseconds = client.time()
    after = time.time()
    skew = seconds + microseconds / 1e6 - (before + after) / 2
    if abs(skew) - (after - before) / 2 >= CLOCK_SKEW_WARNING_SECONDS:
        logger.warning(
            "The page-view buffer's Redis clock is %.2f s %s this machine's: keep them in step (NTP), or a stalled "
            "Redis may queue a page view its ping also wrote (behind), or pings write directly (ahead).",
            abs(skew), "ahead of" if skew > 0 else "behind",
        )  # fmt: skip


def _flush_batches(
    client: redis.Redis, *, max_batches: int | None = None, through: str | None = None
) -> tuple[int, bool]:
    """Batches until the stream is drained, or its entry `through` is written, or `max_batches` ran.
    (page views written, whether the stream is drained)."""
    # From here on, a new entry schedules the next flush (entries added meanwhile are also read now).
    client.delete(_flag_key())
    PageViewBufferCursor.objects.get_or_create(stream=_stream_key())
    written = batches = 0
    try:
        while True:
            batch_written, last_id, drained = _flush_batch(client)
            written += batch_written
            batches += 1
            if drained or (through is not None and _entry_order(last_id) >= _entry_order(through)):
                return written, drained
            if max_batches is not None and batches >= max_batches:
                return written, False
    finally:
        PAGE_VIEWS_FLUSHED.inc(written)


def _entry_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id ("milliseconds-sequence") as what orders it."""
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def _flush_batch(client: redis.Redis) -> tuple[int, str, bool]:
    """One batch in one transaction; (page views written, the cursor's last id after it, whether the stream is
    drained)."""
    key = _stream_key()
    cursor = PageViewBufferCursor.objects.filter(stream=key)
    with transaction.atomic():
        cursor.update(flushed_at=timezone.now())  # the row lock: concurrent flushes take turns here
        last_id = cursor.values_list("last_id", flat=True).get()
        entries = client.xrange(key, min=f"({last_id}" if last_id else "-", count=FLUSH_BATCH_SIZE)
        if not entries:
            if last_id:  # entries a flush wrote but could not trim (it died, or Redis failed, after commit)
                transaction.on_commit(lambda: _trim_through(client, key, last_id), robust=True)
            return 0, last_id, True
        written = _write_batch(_decode(entries))
        newest = entries[-1][0].decode()
        cursor.update(last_id=newest)
        # After the outermost commit only: trimmed entries must already be in the database. Robust:
        # a failed trim is logged and redone by the next flush, never an error for what committed.
        transaction.on_commit(lambda: _trim_through(client, key, newest), robust=True)
    return written, newest, len(entries) < FLUSH_BATCH_SIZE


def _write_batch(rows: list[QueuedRow]) -> int:
    """The batch's rows in one go; when the database refuses a value in them (DataError), each row on its own, in
    order, the refused ones logged and skipped. A value PostgreSQL cannot store that got past the ping's checks must
    not stop the stream: the batch would fail on every flush, and no page view of any visitor be written again."""
    try:
        with transaction.atomic():  # a savepoint: the cursor row's lock is kept
            return _write(rows)
    except DataError:
        logger.exception("The database refused a value in a page-view buffer batch; writing its rows one by one.")
    written = 0
    for row in rows:
        try:
            with transaction.atomic():
                written += _write([row])
        except DataError:
            logger.error("Skipped a page-view buffer entry the database refused (session %s).", row.session_id)
    return written


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
    added_ms, _ = _entry_order(oldest[0][0].decode())  # a stream id starts with its Unix time in ms
    return length, max(time.time() - added_ms / 1000, 0.0)


# A read that needs queued rows (a contact whose first ping is queued, an export) writes everything queued
# before it, up to this many entries (about a second of one worker's flushing, docs/scaling.md); with more
# queued (the workers far behind) it answers 503 (PageViewBufferBehind) at once. Decided before it flushes
# anything: a flush inside the caller's transaction holds the cursor row, and the workers with it, until that
# transaction ends, and a rollback would undo it all.
READ_FLUSH_MAX_ENTRIES = 20_000


class PageViewBufferBehind(ServiceBehind):
    """More is queued than a read may write first (READ_FLUSH_MAX_ENTRIES): what it looks for may still be queued."""


def page_views_flush_before_reading() -> bool:
    """Write every entry queued before this call, so that a read (a GDPR export, a contact whose first ping is
    queued) sees those rows too; PageViewBufferBehind when more than READ_FLUSH_MAX_ENTRIES are queued: a row
    not found then may still be queued, and must not be taken for gone. True when the read should look again:
    a flush ran (this one, or another request's or a worker's that it waited for on the cursor row: either may
    have written what the read looks for). False with the buffer off or Redis down: the read goes on with what
    the database holds."""
    url = settings.PARLEY_PAGE_VIEW_BUFFER_URL
    if not url or _outage(url).skip():  # a ping must not wait on a Redis that failed to answer lately
        return False
    try:
        client = _client()
        if client is None:
            return False
        key, pipeline = _stream_key(), client.pipeline(transaction=False)
        pipeline.xlen(key)
        pipeline.xrevrange(key, count=1)
        queued, newest = pipeline.execute()
        if queued > READ_FLUSH_MAX_ENTRIES:
            raise PageViewBufferBehind(
                f"{queued} page views queued: a read writes at most {READ_FLUSH_MAX_ENTRIES} first"
            )
        _flush_batches(client, through=newest[0][0].decode() if newest else None)
    except redis.RedisError as error:
        logger.warning("The page-view buffer is unreachable: reading without its queued page views.")
        _outage(url).failed(error)
        return False
    _outage(url).answered()
    return True


def _trim_through(client: redis.Redis, key: str, entry_id: str) -> None:
    """Drop the entries up to and including entry_id (XTRIM MINID keeps its argument)."""
    milliseconds, sequence = _entry_order(entry_id)
    client.xtrim(key, minid=f"{milliseconds}-{sequence + 1}", approximate=False)


def _decode(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[QueuedRow]:
    rows = []
    for entry_id, fields in entries:
        # A ping whose queueing's reply was lost may queue its page view again, in the same batch or a later one (in
        # a new session, when the first was its first round trip's): the insert keeps one (ON CONFLICT), and the
        # session the second entry opens is written all the same, as the hot-path state Redis saved with it names it.
        page_view_id = fields.get(b"i")
        try:
            contact = session = None
            if b"c" in fields:
                contact = QueuedContact(
                    int(fields[b"c"]), uuid.UUID(hex=fields[b"a"].decode()),
                    analytics_consent=_consent_decode(fields.get(b"ca", b"")),
                    marketing_consent=_consent_decode(fields.get(b"cm", b"")),
                    consent_source=fields.get(b"cs", b"").decode(),
                )  # fmt: skip
            if b"k" in fields:
                values = json.loads(fields[b"d"])
                if not isinstance(values, dict):
                    raise ValueError("session fields")
                session = QueuedSession(int(fields[b"k"]), int(fields[b"w"]), {k: str(v) for k, v in values.items()})
            rows.append(QueuedRow(
                session_id=int(fields[b"s"]),
                url=fields[b"u"].decode(),
                title=fields[b"t"].decode(),
                referrer=fields[b"r"].decode(),
                at=_EPOCH + dt.timedelta(microseconds=int(fields[b"at"])),
                contact=contact,
                session=session,
                page_view_id=None if page_view_id is None else int(page_view_id),
            ))  # fmt: skip
        except (KeyError, ValueError, OverflowError):
            # Not ours (written by hand or another version): skipping it beats blocking every flush.
            logger.error("Skipped a malformed page-view buffer entry %s.", entry_id.decode())
    return rows


def _consent_code(value: bool | None) -> str:
    return "" if value is None else str(int(value))


def _consent_decode(code: bytes) -> bool | None:
    if code not in (b"", b"0", b"1"):
        raise ValueError("consent")
    return None if code == b"" else code == b"1"


def page_view_write_now(
    *,
    session_id: int,
    page: PageInput,
    at: dt.datetime,
    contact: QueuedContact | None = None,
    session: QueuedSession | None = None,
    page_view_id: int | None = None,
) -> int:
    """Write what page_view_buffer_add did not queue (as far as its ping knows) now, as the flush writes an entry:
    Redis may hold the entry after all (its reply was lost), and whichever of the two writes comes second finds
    its rows written, under the same ids, and writes nothing. Returns the page views written."""
    row = QueuedRow(
        session_id=session_id, url=page.url, title=page.title, referrer=page.referrer, at=at, contact=contact,
        session=session, page_view_id=page_view_id,
    )  # fmt: skip
    with transaction.atomic():
        return _write([row])


def _write(rows: list[QueuedRow]) -> int:
    if not rows:
        return 0
    if connections[router.db_for_write(PageView)].vendor == "postgresql":
        return _write_postgresql(rows)
    return _write_portable(rows)


# Contact fields a new session describes (the latest session's known values win; an unknown value
# does not erase a known one), as in the direct path.
_ENRICHED = ("os", "browser", "browser_version", "browser_language", "city", "country", "country_name")
_SESSION_FIELDS = frozenset((
    "landing_url", "referrer", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", *_ENRICHED,
))  # fmt: skip
_SESSION_COLUMNS = tuple(sorted(_SESSION_FIELDS))  # each blank ("") when the ping did not say


def _write_postgresql(rows: list[QueuedRow]) -> int:
    """One batch, in the lock order every writer of a contact's history follows: contacts, then
    sessions, then page views (docs/architecture.md, "The ingest buffer").

    1. New visitors' rows, under the ids their pings handed out.
    2. Lock every contact the batch touches (id order); a contact gone since (erased, expired) drops
       its rows, and so does one restricted or that refused analytics since (frozen: nothing new is
       recorded for it); one merged meanwhile has them credited to the user it went into.
    3. New sessions, then the page views with their sessions' counters in one statement (a session
       gone since drops its page views; one moved by a merge credits its new contact).
    4. Each contact's last_seen_at, first_seen_at, web_sessions_count and latest device and place.

    Rows already written are skipped, their counters too: a ping that lost Redis's reply writes its page view, and
    the contact and session it opens, directly under the ids of the entry Redis may hold after all.
    """
    # A new contact's entry opens its first session: the website of that session created it.
    new_contacts = {
        row.contact.contact_id: (row.contact, row.at, row.session.website_id if row.session else None)
        for row in rows
        if row.contact is not None
    }
    for contact_id in _erased_or_merged(set(new_contacts)):
        del new_contacts[contact_id]  # its rows are dropped, or follow it into the user it was merged into (below)
    _insert_rows(
        Contact,
        [
            {"id": contact_id, "role": Contact.Role.VISITOR, "anonymous_id": queued.anonymous_id,
             "first_website_id": website_id, "first_seen_at": at, "last_seen_at": at,
             "analytics_consent": queued.analytics_consent, "marketing_consent": queued.marketing_consent,
             "consent_source": queued.consent_source, "consent_updated_at": at if queued.consent_stated else None}
            for contact_id, (queued, at, website_id) in new_contacts.items()
        ],
    )  # fmt: skip
    new_sessions = {row.session_id: row.session for row in rows if row.session is not None}
    existing_sessions = {row.session_id for row in rows} - set(new_sessions)
    contact_of: dict[int, int] = dict(
        WebSession.objects.filter(pk__in=existing_sessions).values_list("pk", "contact_id")
    )
    wanted = {s.contact_id for s in new_sessions.values()} | set(contact_of.values())
    present, frozen = _contacts_lock(wanted)
    moved = _merged_into(wanted - present)
    if moved:
        more_present, more_frozen = _contacts_lock(set(moved.values()))
        present, frozen = present | more_present, frozen | more_frozen
    present -= frozen  # restricted, or refused analytics, by now: nothing new is recorded for them
    websites = set(
        Website.objects.filter(pk__in={s.website_id for s in new_sessions.values()}).values_list("pk", flat=True)
    )
    sessions_to_create: list[dict[str, Any]] = []
    first_at: dict[int, dt.datetime] = {}
    for row in rows:
        first_at.setdefault(row.session_id, row.at)
    for session_id, queued in new_sessions.items():
        contact_id = moved.get(queued.contact_id, queued.contact_id)
        if contact_id not in present:
            continue  # erased or expired before its first page view was written
        started = first_at[session_id]
        sessions_to_create.append({
            "id": session_id, "contact_id": contact_id,
            "website_id": queued.website_id if queued.website_id in websites else None,
            "started_at": started, "last_activity_at": started,
            **{name: queued.fields.get(name, "") for name in _SESSION_COLUMNS},
        })  # fmt: skip
    opened = _insert_rows(WebSession, sessions_to_create)
    written, seen = _page_views_insert(rows)
    _contacts_touch(seen, [session for session in sessions_to_create if session["id"] in opened])
    return written


def _erased_or_merged(contact_ids: set[int]) -> set[int]:
    """New contacts of the batch that are gone already: written directly by their first ping (its Redis reply lost,
    docs/architecture.md), then erased or merged away before this flush. Their entry must not bring them back."""
    if not contact_ids:
        return set()
    audit, marks = PrivacyAuditEntry._meta.db_table, MergedContact._meta.db_table
    sql = f"""
        SELECT contact_id FROM {audit} WHERE action = %s AND contact_id = ANY(%s)
        UNION SELECT contact_id FROM {marks} WHERE contact_id = ANY(%s)
    """  # noqa: S608 - table names come from the models, values are parameters
    ids = sorted(contact_ids)
    with connections[router.db_for_write(Contact)].cursor() as cursor:
        cursor.execute(sql, [PrivacyAuditEntry.Action.ERASE, ids, ids])
        return {pk for (pk,) in cursor.fetchall()}


def _contacts_lock(contact_ids: set[int]) -> tuple[set[int], set[int]]:
    """Lock these contacts in id order; (those that exist, those of them no page view may reach now:
    processing restricted or analytics refused, the rules the ping applies, held at the time of writing)."""
    with connections[router.db_for_write(Contact)].cursor() as cursor:
        cursor.execute(
            f"SELECT id, processing_restricted OR analytics_consent IS FALSE FROM {Contact._meta.db_table} "  # noqa: S608
            "WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            [sorted(contact_ids)],
        )
        found = cursor.fetchall()
    return {pk for pk, _ in found}, {pk for pk, is_frozen in found if is_frozen}


def _insert_rows(model: type[models.Model], rows: list[dict[str, Any]]) -> set[int]:
    """INSERT rows of `model` in one statement: the columns the rows give as arrays (unnest), every
    other column its field's default (the time of the flush for auto_now ones); a row whose id is
    taken already is skipped (written by its ping directly, or a replayed batch). Returns the ids inserted.

    Plain SQL rather than bulk_create: building model instances of 40-odd fields cost the flush more
    than the statement itself."""
    if not rows:
        return set()
    connection = connections[router.db_for_write(model)]
    given = list(rows[0])
    now = timezone.now()
    columns, selects, params = [], [], []
    fields = {field.attname: field for field in model._meta.concrete_fields}
    for name in given:
        field = fields[name]
        columns.append(field.column)
        selects.append(f"b.{field.column}")
    for name, field in fields.items():
        if name in given or field.primary_key:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.has_default() or not field.null:
            value = field.get_default()
        else:
            continue  # NULL
        columns.append(field.column)
        selects.append(f"%s::{field.db_type(connection)}")
        params.append(field.get_db_prep_save(value, connection))
    arrays = ", ".join(
        f"%b::{fields[name].rel_db_type(connection) if fields[name].is_relation else fields[name].db_type(connection)}[]"
        for name in given
    )
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "  # noqa: S608 - names from the model
        f"SELECT {', '.join(selects)} FROM unnest({arrays}) AS b({', '.join(fields[n].column for n in given)}) "
        "ON CONFLICT DO NOTHING RETURNING id"
    )
    # The constants come first in the statement's text (SELECT list), then the arrays (FROM).
    constants = params
    arrays_params = [_column_values(fields[name], [row[name] for row in rows], connection) for name in given]
    with _arrays_cursor(connection) as cursor:
        cursor.execute(sql, [*constants, *arrays_params])
        return {pk for (pk,) in cursor.fetchall()}


# Field types whose values, as the flush builds them (int, str, bool, None, aware datetimes, UUIDs), psycopg takes as
# they are: Django's preparation of each value (get_db_prep_save) cost a new visitor's flush a third of its CPU.
_TAKEN_AS_GIVEN = frozenset((
    "AutoField", "BigAutoField", "BigIntegerField", "IntegerField", "PositiveIntegerField", "PositiveSmallIntegerField",
    "SmallIntegerField", "BooleanField", "CharField", "TextField", "DateTimeField", "UUIDField", "ForeignKey",
))  # fmt: skip


def _column_values(field: models.Field, values: list[Any], connection: Any) -> list[Any]:
    if field.get_internal_type() in _TAKEN_AS_GIVEN:
        return values
    return [field.get_db_prep_save(value, connection) for value in values]


class _ArraysCursor(ServerBindingCursor):
    """The flush's statements send their columns as arrays apart from the SQL (server-side binding), in binary
    where the SQL says %b: Django's cursors bind on the client, where each array became a quoted, escaped literal
    (that text cost a new visitor's flush a third of its CPU). Never prepared, so that a pooler in transaction
    mode (PgBouncer) sees plain statements."""

    def execute(self, query, params=None, *, prepare=False, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)


def _arrays_cursor(connection: Any) -> Any:
    """A cursor of `connection` (PostgreSQL) for a statement with %b arrays, as Django's own cursors are wrapped
    (its queries logged and counted, its errors Django's)."""
    connection.ensure_connection()
    return connection._prepare_cursor(_ArraysCursor(connection.connection))


def _merged_into(contact_ids: set[int]) -> dict[int, int]:
    """Contacts merged away (and not erased since: the mark goes with the user it names): the user each went into."""
    if not contact_ids:
        return {}
    since = timezone.now() - dt.timedelta(seconds=MERGED_MARK_SECONDS)
    marks = MergedContact.objects.filter(contact_id__in=contact_ids, merged_at__gte=since)
    return dict(marks.values_list("contact_id", "into_id"))


def _page_views_insert(rows: list[QueuedRow]) -> tuple[int, dict[int, tuple[dt.datetime, dt.datetime]]]:
    """The page views and their sessions' counters in one statement; sessions gone since are skipped, and
    so are those of a contact restricted or that refused analytics since the ping (its contact is frozen), and
    page views written already under their ids (by their pings, directly: they count once).

    Returns the page views written and, per contact credited, (earliest, latest) page view: of the batch's page views
    of its live sessions, those written before too (a ping's direct write moves no last_seen_at while the queue is on).

    The session rows stay locked until the commit. Page views have no database foreign key, and
    this lock stands in for its check (contacts.deletion): an erase, expiry or merge locks the sessions
    before it touches their page views, so it waits for this commit and then deletes (or moves) these
    page views too; one that came first has deleted the sessions, which this statement then skips.
    """
    sessions, page_views, contacts = WebSession._meta.db_table, PageView._meta.db_table, Contact._meta.db_table
    sql = f"""
        WITH batch AS (
            SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::text[], %b::text[], %b::text[], %b::timestamptz[])
                AS b(id, session_id, url, title, referrer, created_at)
        ), live AS (
            SELECT s.id, s.contact_id FROM {sessions} s JOIN {contacts} c ON c.id = s.contact_id
            WHERE s.id IN (SELECT session_id FROM batch)
                AND NOT c.processing_restricted AND c.analytics_consent IS NOT FALSE
            FOR UPDATE OF s
        ), inserted AS (
            INSERT INTO {page_views} (id, contact_id, session_id, url, title, referrer, created_at)
            SELECT batch.id, live.contact_id, batch.session_id, batch.url, batch.title, batch.referrer, batch.created_at
            FROM batch JOIN live ON live.id = batch.session_id
            ON CONFLICT DO NOTHING
            RETURNING contact_id, session_id, created_at
        ), touched AS (
            UPDATE {sessions} s SET page_views_count = s.page_views_count + totals.added,
                last_activity_at = GREATEST(s.last_activity_at, totals.latest)
            FROM (SELECT session_id, count(*) AS added, max(created_at) AS latest FROM inserted GROUP BY session_id)
                AS totals
            WHERE s.id = totals.session_id
        )
        SELECT live.contact_id, min(batch.created_at), max(batch.created_at), (SELECT count(*) FROM inserted)
        FROM batch JOIN live ON live.id = batch.session_id GROUP BY live.contact_id
    """  # noqa: S608 - table names come from the models, values are parameters
    columns = [
        # An entry queued without an id (before pings took them) takes one now.
        [row.page_view_id or id_blocks.next_id(PageView) for row in rows],
        [row.session_id for row in rows], [row.url for row in rows], [row.title for row in rows],
        [row.referrer for row in rows], [row.at for row in rows],
    ]  # fmt: skip
    with _arrays_cursor(connections[router.db_for_write(PageView)]) as cursor:
        cursor.execute(sql, columns)
        found = cursor.fetchall()
    return (found[0][3] if found else 0), {pk: (first, last) for pk, first, last, _ in found}


def _contacts_touch(seen: dict[int, tuple[dt.datetime, dt.datetime]], sessions: list[dict[str, Any]]) -> None:
    """last_seen_at (never backwards), first_seen_at (once), web_sessions_count and the latest
    session's device and place, for every contact the batch credited (`sessions`: the new sessions' rows):
    one statement."""
    opened: dict[int, list[dict[str, Any]]] = {}
    for session in sessions:
        opened.setdefault(session["contact_id"], []).append(session)
    ids = sorted(seen)
    if not ids:
        return
    latest = {pk: max(opened[pk], key=lambda s: s["started_at"]) for pk in opened}
    enriched = {name: [latest[pk][name] if pk in latest else "" for pk in ids] for name in _ENRICHED}
    table = Contact._meta.db_table
    sets = ", ".join(f"{name} = COALESCE(NULLIF(b.{name}, ''), c.{name})" for name in _ENRICHED)
    sql = f"""
        UPDATE {table} c SET
            last_seen_at = GREATEST(COALESCE(c.last_seen_at, b.last_at), b.last_at),
            first_seen_at = COALESCE(c.first_seen_at, b.first_at),
            web_sessions_count = c.web_sessions_count + b.opened,
            {sets}
        FROM unnest(%b::bigint[], %b::timestamptz[], %b::timestamptz[], %b::int[],
                    {", ".join(["%b::text[]"] * len(_ENRICHED))})
            AS b(id, first_at, last_at, opened, {", ".join(_ENRICHED)})
        WHERE c.id = b.id
    """  # noqa: S608 - table and column names come from the model, values are parameters
    params = [
        ids, [seen[pk][0] for pk in ids], [seen[pk][1] for pk in ids], [len(opened.get(pk, ())) for pk in ids],
        *(enriched[name] for name in _ENRICHED),
    ]  # fmt: skip
    with _arrays_cursor(connections[router.db_for_write(Contact)]) as cursor:
        cursor.execute(sql + " RETURNING c.id, c.role", params)
        people = [pk for pk, role in cursor.fetchall() if role != Contact.Role.VISITOR]
    # Their companies' session_count and last_request_at follow (visitors belong to no company), after
    # the contacts: the lock order of a contact deletion too.
    for pk in sorted(people):
        for _ in range(len(opened.get(pk, ()))):
            companies_services.companies_activity_record(contact_id=pk, now=seen[pk][1], new_session=True)
        if pk not in opened:
            companies_services.companies_activity_record(contact_id=pk, now=seen[pk][1], new_session=False)


def _write_portable(rows: list[QueuedRow]) -> int:
    """The same for other databases (SQLite in tests): one UPDATE per session, one bulk INSERT.

    Only page views of existing sessions reach it: new contacts and sessions are queued only where
    their ids can be taken ahead (PostgreSQL, tracking.id_blocks).
    """
    totals: dict[int, list[Any]] = {}
    for row in rows:
        total = totals.setdefault(row.session_id, [0, row.at])
        total[0] += 1
        total[1] = max(total[1], row.at)
    contact_of = dict(
        WebSession.objects.filter(pk__in=totals)
        .exclude(contact__processing_restricted=True)
        .exclude(contact__analytics_consent=False)
        .values_list("pk", "contact_id")
    )  # a frozen contact's page views are dropped, as on PostgreSQL
    for session_id, (added, latest) in totals.items():
        if session_id in contact_of:
            WebSession.objects.filter(pk=session_id).update(
                page_views_count=F("page_views_count") + added,
                last_activity_at=Greatest("last_activity_at", Value(latest)),
            )
    page_view_rows = [
        PageView(
            contact_id=contact_of[row.session_id], session_id=row.session_id, url=row.url, title=row.title,
            referrer=row.referrer, created_at=row.at,
        )
        for row in rows
        if row.session_id in contact_of
    ]  # fmt: skip
    PageView.objects.bulk_create(page_view_rows, batch_size=500)
    seen: dict[int, list[dt.datetime]] = {}
    for view in page_view_rows:
        span = seen.setdefault(view.contact_id, [view.created_at, view.created_at])
        span[0], span[1] = min(span[0], view.created_at), max(span[1], view.created_at)
    for contact_id, (_first, last) in sorted(seen.items()):
        Contact.objects.filter(pk=contact_id).update(
            last_seen_at=Greatest(Coalesce("last_seen_at", Value(last)), Value(last))
        )
    return len(page_view_rows)
