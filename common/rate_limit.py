"""The one rate limiter: fixed windows in the shared cache, counted together with the cache entries a
request reads, in one round trip. The widget (`widget.http`) and the REST API (`api.auth`) both count here;
each turns an exceeded limit into its own protocol's 429.

On Redis one Lua command counts every window (setting its expiry when it opens) and reads the other
keys, atomically: the widget's hot path pays for one command instead of six. On the embedded file cache
counting runs under a lock file shared by every worker process; local memory counts atomically already.
While Redis does not answer, limits fail open (docs/deployment.md): nothing is counted, so nothing is over
a limit, and every entry reads as missing.
"""

import contextlib
import fcntl
import functools
import hashlib
import hmac
import os
import pickle
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache, RedisSerializer

from common.redis_cache import REDIS_UNAVAILABLE, Script

PICKLE_PROTO = pickle.PROTO  # the first byte of every pickle of protocol 2 or later
# A window's key outlives the window by this much, so a count is never lost at its edge.
WINDOW_GRACE_SECONDS = 5


def ip_hash(ip: str) -> str:
    """A keyed hash of a client's address, for a limit's subject: the cache never holds the address itself."""
    return subject_hash(ip)


def subject_hash(subject: str) -> str:
    """A keyed hash of what a limit counts (an address, a login name): the cache holds neither."""
    keyed = _keyed_sha256(settings.SECRET_KEY).copy()
    keyed.update(subject.encode("utf-8", "surrogatepass"))
    return keyed.hexdigest()[:24]


@functools.lru_cache(maxsize=2)
def _keyed_sha256(key: str) -> hmac.HMAC:
    """An HMAC-SHA256 holding only `key`, to copy: keying a new one (OpenSSL fetching its digest) for every request
    cost a widget ping about 2% of its CPU."""
    return hmac.new(key.encode(), digestmod=hashlib.sha256)


@dataclass(frozen=True)
class Limit:
    """At most `per` requests of one subject in each fixed window of `window` seconds; or, with `cost`, at most
    `per` units (files, bytes) of which this request adds `cost`."""

    scope: str
    subject: str
    per: int
    window: int = 60
    # What the refusal says instead of the default "try again in N seconds" (the caller's protocol decides).
    message: str = ""
    cost: int = 1

    def __post_init__(self) -> None:
        if self.cost < 1:  # a window's first count sets its expiry: it must move the counter
            raise ValueError(f"A limit's cost is at least 1, not {self.cost}.")

    def key(self, now: float) -> str:
        return f"ratelimit:{self.scope}:{self.subject}:{int(now // self.window)}"

    def reset(self, now: float) -> int:
        """When the window holding `now` ends (Unix time)."""
        return (int(now // self.window) + 1) * self.window

    def retry_after(self, now: float) -> int:
        """Whole seconds until the next window, at least one."""
        return max(1, int(self.window - now % self.window) + 1)


class RateLimited(Exception):
    """A request over `limit` (the first one it exceeded), counted at `now`."""

    def __init__(self, limit: Limit, now: float) -> None:
        super().__init__(f"over the {limit.scope} limit")
        self.limit, self.now = limit, now


class CacheReads:
    """Cache entries a request read ahead, in its rate-limit round trip; other keys are read on demand."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values = values or {}

    def get(self, key: str) -> Any:
        if key in self._values:
            return self._values[key]
        return caches["default"].get(key)


@dataclass(frozen=True)
class Counted:
    """What one count gave: the requests seen in each limit's window (this one included), and the reads."""

    now: float
    counts: list[int]
    reads: CacheReads


def rate_limit_count(limits: Sequence[Limit], *, read_keys: Sequence[str] = ()) -> Counted:
    """Count the request in each limit's window and read `read_keys`, in one round trip; refuses nothing."""
    now = time.time()
    windows = _windows(limits, now)
    counts, values = _count_and_read(windows, read_keys)
    return Counted(now=now, counts=counts, reads=CacheReads(values))


class DeferredCount:
    """A request's limits, not counted yet: counted inside the one Redis script that does the request's work
    (a first page view queued with them: one round trip instead of two), or on their own with `count` before
    anything else is done for the request. Made by the caller, who turns a refusal into its protocol's 429.

    Whichever comes first counts; the other does nothing (`count` and `counted_in_script` are idempotent)."""

    def __init__(self, limits: Sequence[Limit], *, refuse: Callable[[RateLimited], Exception]) -> None:
        self.limits = list(limits)
        self.refuse = refuse
        self.counted = not self.limits

    def count(self) -> None:
        """Count now, on its own (raises the caller's refusal when a limit is exceeded)."""
        if not self.counted:
            self.counted = True
            try:
                rate_limit(self.limits)
            except RateLimited as over:
                raise self.refuse(over) from None

    def script_windows(self) -> "ScriptWindows | None":
        """The windows to count inside a script on the cache's own Redis; None when counted already, or when
        the cache is not Redis or is unreachable (then `count` counts them, failing open as ever)."""
        return None if self.counted else script_windows(self.limits)

    def sent_in_script(self) -> None:
        """A script that counts them ran or may have run, its answer lost: never counted a second time (the request
        goes on unrefused, as when Redis is down)."""
        self.counted = True

    def counted_in_script(self, windows: "ScriptWindows", counts: Sequence[int]) -> None:
        """The script counted them (`counts`, one per limit): raises the caller's refusal when one is over."""
        self.counted = True
        try:
            refuse_over(self.limits, counts, now=windows.now)
        except RateLimited as over:
            raise self.refuse(over) from None


def script_windows(limits: Sequence[Limit], backend: Any = None) -> "ScriptWindows | None":
    """`limits` as a script on the cache's own Redis counts them (COUNT_WINDOWS_LUA); None when the cache is
    not Redis or is unreachable (then count them with `rate_limit`, which fails open). `backend`: the default
    cache, when the caller has it already."""
    backend = caches["default"] if backend is None else backend
    if not isinstance(backend, RedisCache) or not backend.available():
        return None
    now = time.time()
    windows = _windows(limits, now)
    # make_key, not make_and_validate_key: these keys are ours (as _count_and_read_redis counts them).
    keys = [backend.make_key(key) for key, *_ in windows]
    arguments = [number for _, *numbers in windows for number in numbers]
    return ScriptWindows(now=now, keys=keys, arguments=arguments)


def refuse_over(limits: Sequence[Limit], counts: Sequence[int], *, now: float) -> None:
    """RateLimited for the first limit its count (this request included) exceeds."""
    for limit, count in zip(limits, counts, strict=True):
        if int(count) > limit.per:
            raise RateLimited(limit, now)


@dataclass(frozen=True)
class ScriptWindows:
    """Limits as a Redis script counts them (COUNT_WINDOWS_LUA): their keys, and per key its expiry, cost and limit."""

    now: float
    keys: list[str]
    arguments: list[int]


# Counts KEYS[1..windows] (ARGV from `first`: expiry, cost and limit per window), setting each window's expiry
# when it opens; `over` says whether one is past its limit. A script that does a request's work includes it
# and stops before any write when `over` (DeferredCount.script_windows).
COUNT_WINDOWS_LUA = """
local function count_windows(windows, first)
  local counts, over = {}, false
  for i = 1, windows do
    local at = first + (i - 1) * 3
    local cost = tonumber(ARGV[at + 1])
    counts[i] = redis.call('INCRBY', KEYS[i], cost)
    if counts[i] == cost then redis.call('EXPIRE', KEYS[i], ARGV[at]) end
    if counts[i] > tonumber(ARGV[at + 2]) then over = true end
  end
  return counts, over
end
"""


def _counters(backend: Any) -> Any:
    """Where the counters live on a cache other than Redis: their own cache when configured (the embedded file cache's
    culling would throw them away: config/settings.py), else the default cache itself."""
    if isinstance(backend, RedisCache) or "rate_limits" not in settings.CACHES:
        return backend
    return caches["rate_limits"]


def rate_limit_uncount(limits: Sequence[Limit]) -> None:
    """Take back one count from each limit's current window: an attempt counted before it was tried (so that parallel
    attempts cannot all pass the check first) that turned out to be no failure."""
    backend = _counters(caches["default"])
    now = time.time()
    keys = [limit.key(now) for limit in limits]
    with _embedded_count_lock(backend):
        for key in keys:
            with contextlib.suppress(ValueError):  # its window ended in between: nothing left to take back
                backend.decr(key)


def rate_limit_forget(limits: Sequence[Limit]) -> None:
    """Start each limit's current window again from nothing (what it counted is forgiven)."""
    now = time.time()
    _counters(caches["default"]).delete_many([limit.key(now) for limit in limits])


def rate_limit(limits: Sequence[Limit], *, read_keys: Sequence[str] = ()) -> CacheReads:
    """Count the request against each limit (RateLimited over one) and read the cache entries the
    request will need, all in one round trip."""
    now = time.time()  # the widget's hot path: no Counted to build
    windows = _windows(limits, now)
    counts, values = _count_and_read(windows, read_keys)
    refuse_over(limits, counts, now=now)
    return CacheReads(values)


# Counts KEYS[1..windows] (count_windows, ARGV from `first`) and reads the next `reads` keys: (counts, values,
# whether a limit is over). A script that goes on to do the request's work includes it (COUNT_WINDOWS_LUA first).
# One MGET, not a GET per key: each redis.call costs a script more than the read itself (a ping reads seven).
COUNT_AND_READ_LUA = """
local function count_and_read(windows, reads, first)
  local counts, over = count_windows(windows, first)
  local values = {}
  if reads > 0 then values = redis.call('MGET', unpack(KEYS, windows + 1, windows + reads)) end
  return counts, values, over
end
"""
# The limiter's own, as one command: the hot path pays for one command's packing and parsing instead of six.
# ARGV: the number of windows and of reads, then each window's expiry, cost and limit.
_COUNT_AND_READ = Script(
    COUNT_WINDOWS_LUA
    + COUNT_AND_READ_LUA
    + """
local counts, values = count_and_read(tonumber(ARGV[1]), tonumber(ARGV[2]), 3)
return {counts, values}
"""
)


# Not a cache entry (those end in .djcache), so neither culling nor cache.clear() removes it.
RATE_LIMIT_LOCK_FILE = "rate-limit.lock"


Window = tuple[str, int, int, int]  # key, expiry (seconds), cost, limit


def _windows(limits: Sequence[Limit], now: float) -> list[Window]:
    """Each limit's current window: its key, its expiry (a grace past the window's end), this request's cost
    and the limit."""
    return [(limit.key(now), limit.window + WINDOW_GRACE_SECONDS, limit.cost, limit.per) for limit in limits]


def _count_and_read(windows: list[Window], read_keys: Sequence[str]) -> tuple[list[int], Mapping[str, Any]]:
    """Count one request in each window and read the given cache entries: one command on Redis."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        if not backend.available():
            return _fail_open(windows, read_keys)
        try:
            counted = _count_and_read_redis(backend, windows, read_keys)
        except REDIS_UNAVAILABLE as error:
            # Rate limits fail open (docs/deployment.md): the request goes on without the cache.
            backend.mark_unavailable(error)
            return _fail_open(windows, read_keys)
        backend.outage.answered()
        return counted
    values = backend.get_many(read_keys) if read_keys else {}
    counters = _counters(backend)
    with _embedded_count_lock(counters):
        counts = [_hit_elsewhere(counters, key, expiry, cost) for key, expiry, cost, _ in windows]
    return counts, {key: values.get(key) for key in read_keys}


@contextlib.contextmanager
def _embedded_count_lock(backend: Any) -> Iterator[None]:
    """Counting on the file cache (the embedded mode) under one lock file, shared by gunicorn's worker
    processes and their threads: its add and incr read, then write, so parallel requests would each
    count from the same number and get past the limit. Local memory counts atomically already."""
    directory = getattr(backend, "_dir", None)
    if directory is None:
        yield
        return
    os.makedirs(directory, exist_ok=True)
    # flock() locks the open file: each call opens its own, so threads exclude each other as processes do.
    with open(os.path.join(directory, RATE_LIMIT_LOCK_FILE), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _fail_open(windows: list[Window], read_keys: Sequence[str]) -> tuple[list[int], Mapping[str, Any]]:
    """No count (nothing is over a limit) and every entry missing: what an unreachable cache gives."""
    return [0] * len(windows), dict.fromkeys(read_keys)


def _count_and_read_redis(
    backend: RedisCache, windows: list[Window], read_keys: Sequence[str]
) -> tuple[list[int], Mapping[str, Any]]:
    """The count-and-read script on Redis (raises what an unreachable Redis raises)."""
    client = backend._cache.get_client(None, write=True)
    # make_key, not make_and_validate_key: these keys are ours, and the check walks every character.
    keys = [backend.make_key(key) for key in (*(key for key, *_ in windows), *read_keys)]
    arguments = [len(windows), len(read_keys), *(number for _, *numbers in windows for number in numbers)]
    counts, raw = _COUNT_AND_READ.run(client, keys, arguments)
    return [int(count) for count in counts], cached_values(backend, read_keys, raw)


def cached_values(backend: RedisCache, keys: Sequence[str], raw: Sequence[bytes | None]) -> Mapping[str, Any]:
    """The cache entries a script read (as stored: serialized, None for a missing one), by key."""
    serializer = backend._cache._serializer
    loads = _stored_loads if type(serializer) is RedisSerializer and serializer.protocol >= 2 else serializer.loads
    return _StoredValues(dict(zip(keys, raw, strict=True)), loads)


class _StoredValues(Mapping[str, Any]):
    """Entries as a script read them, each deserialized when first looked up: a request reads ahead entries it
    may not need (a ping whose snapshot is fresh never looks at the kept copy)."""

    def __init__(self, stored: dict[str, bytes | None], loads: Callable[[bytes], Any]) -> None:
        self._stored, self._loads, self._values = stored, loads, {}

    def __getitem__(self, key: str) -> Any:
        if key in self._values:
            return self._values[key]
        stored = self._stored[key]
        value = self._values[key] = None if stored is None else self._loads(stored)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._stored  # (Mapping's own looks the entry up, deserializing it)

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)


def _stored_loads(stored: bytes) -> Any:
    """RedisSerializer.loads, without the int() it tries first: that fails on every pickled entry, raising an
    exception that formats the entry's bytes (a tenth of a hot-path entry's read). Django stores an int as its
    digits and anything else pickled, starting with pickle's PROTO opcode."""
    return pickle.loads(stored) if stored[:1] == PICKLE_PROTO else int(stored)  # noqa: S301 - our own cache's entries


def _hit_elsewhere(backend: Any, key: str, expiry: int, cost: int) -> int:
    """The window count on other cache backends (local memory or files when embedded)."""
    if backend.add(key, cost, expiry):
        return cost
    try:
        return backend.incr(key, cost)
    except ValueError:  # expired in between
        backend.add(key, cost, expiry)
        return cost
