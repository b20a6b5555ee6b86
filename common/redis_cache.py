"""Redis clients for hot paths: one redis.Redis per thread and pool, keeping its own connection;
and a cache backend that fails soft while Redis is unreachable.

Django's RedisCacheClient builds a new redis.Redis for every cache call, and each call then takes
a connection from the pool and gives it back. The constructor copies the response-callback table
(hundreds of entries); taking a connection polls its socket. Together that cost several times the
CPU of the round trip itself on the widget hot path. A client that keeps one connection
(single_connection_client) serialises its callers on a lock, hence one per thread; web threads are
long-lived, and a thread's connection goes back to the pool when the thread ends. A forked child
(Celery prefork) starts afresh rather than share its parent's socket. Lua scripts (Script) go straight
over that connection, and over TCP its timeouts are the kernel's (KernelTimeoutConnection).

Outages: the cache holds only what can be recomputed (rate-limit windows, snapshots, memos), so
while Redis does not answer, reads miss, writes and deletes are dropped and `incr` finds no key
(callers then count from one: rate limits fail open). After a failure the backend skips Redis for a
while (Outage), so an outage costs a request no time; then one call tries again. Entries a dropped
delete should have removed expire with their timeouts.
"""

import functools
import hashlib
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
from django.core.cache.backends import redis as django_redis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

# What an unreachable or hung Redis raises (BusyLoadingError, a restarting Redis, is a ConnectionError); and what one
# that cannot take writes answers: full under noeviction (OOM), or a replica after a failover (READONLY). Those refuse
# a command, or a script at its first write, before it changed anything: callers go on without Redis, as in an outage.
REDIS_UNAVAILABLE = (
    redis.ConnectionError, redis.TimeoutError, redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError,
)  # fmt: skip
# After a refused connection (Redis down or restarting: it fails in well under a millisecond), skip Redis this long;
# after a timeout (Redis hung: the kernel accepts connections, nothing answers), which cost its caller the whole
# timeout, this long.
OUTAGE_BACKOFF_SECONDS = 1.0
HUNG_BACKOFF_SECONDS = 15.0
# While one thread tries a Redis that failed again (the probe), the others keep skipping it for up to this long: more
# than the probe's request can wait on it (a widget ping: its first round trip, its count and its queue, ~5 s), so
# that no other thread takes the probe over before that request queued its page view again under its own id.
PROBE_SECONDS = 8.0
# A hung Redis must not hold a request: past these a cache call counts as failed.
SOCKET_TIMEOUT_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 0.5

_local = threading.local()


class Outage:
    """Whether a process's threads skip a Redis that failed to answer.

    A failure starts a backoff (OUTAGE_BACKOFF_SECONDS, or HUNG_BACKOFF_SECONDS after a timeout). When it ends, the
    first thread to ask probes: it may use Redis for the rest of its request while the others keep skipping, until
    its call answers (the outage is over) or fails (a new backoff), or PROBE_SECONDS pass (another thread probes).
    Without the probe, every request arriving while a hung Redis held the first one would wait its whole timeout
    too: on a busy site, every request."""

    def __init__(self) -> None:
        self._until = 0.0  # skip Redis until this monotonic time (0: it answers)
        self._probe: int | None = None  # the thread that may try it meanwhile
        self._claim = threading.Lock()  # taken only when a backoff ended: one thread becomes the probe

    def skip(self) -> bool:
        """True while backing off; when the backoff ended, this thread becomes the probe (False)."""
        if not self._until:  # (every call while Redis answers: one test)
            return False
        if self.backing_off():
            return True
        if self._probe == threading.get_ident():
            return False
        with self._claim:
            if self.backing_off():  # another thread claimed it meanwhile
                return True
            if self._until:  # (0: Redis answered meanwhile)
                self._until, self._probe = time.monotonic() + PROBE_SECONDS, threading.get_ident()
        return False

    def backing_off(self) -> bool:
        """Whether this thread would skip Redis now, without becoming the probe when the backoff ended: for a check
        that is not followed by a call (a probe claimed and not used keeps the others away for PROBE_SECONDS)."""
        return bool(self._until) and self._probe != threading.get_ident() and time.monotonic() < self._until

    def known(self) -> bool:
        """Whether a failure is known and not answered since (asking claims nothing: skip() makes the probe)."""
        return bool(self._until)

    def failed(self, error: Exception) -> None:
        backoff = HUNG_BACKOFF_SECONDS if isinstance(error, redis.TimeoutError) else OUTAGE_BACKOFF_SECONDS
        self._until, self._probe = time.monotonic() + backoff, None

    def answered(self) -> None:
        if self._until:
            self._until, self._probe = 0.0, None


_outages: dict[str, Outage] = {}


def outage(name: str) -> Outage:
    """The Outage of the Redis `name` stands for, shared by the process's callers of that name."""
    found = _outages.get(name)
    if found is None:
        found = _outages.setdefault(name, Outage())
    return found


def outages_forget() -> None:
    """Every Redis answers again, as far as this process knows (tests: a new server on a known address)."""
    for known in _outages.values():
        known.answered()


def thread_client(pool: redis.ConnectionPool) -> redis.Redis:
    """This thread's client over `pool` (it connects on first use: a down Redis raises here)."""
    local = _local.__dict__
    if local.get("pid") != os.getpid():
        local.update(pid=os.getpid(), clients={})
    client = local["clients"].get(id(pool))
    if client is None:
        client = local["clients"][id(pool)] = redis.Redis(connection_pool=pool, single_connection_client=True)
    return client


class Script:
    """A Lua script Redis runs by its SHA-1 (sent whole once, and again after Redis restarted or was flushed)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1

    def run(self, client: redis.Redis, keys: list[Any], arguments: list[Any]) -> Any:
        try:
            return _command(client, "EVALSHA", self.sha, len(keys), *keys, *arguments)
        except redis.exceptions.NoScriptError:
            return _command(client, "EVAL", self.source, len(keys), *keys, *arguments)


def _command(client: redis.Redis, *args: Any) -> Any:
    """client.execute_command(*args) for a script, whose reply needs no parsing callback: on a thread's own
    client (thread_client), straight over its connection. redis-py's layers around a command (a lock no other
    thread takes, the options, the callback table) cost a fifth of the widget ping's round trip in CPU.
    Retried as redis-py retries it: once, on a new connection, when the connection was closed."""
    connection = client.connection
    if connection is None:  # not a single-connection client: redis-py's own way
        return client.execute_command(*args)

    def send_and_read() -> Any:
        connection.send_command(*args)
        return connection.read_response()

    return connection.retry.call_with_retry(send_and_read, lambda _error: connection.disconnect())


class KernelTimeoutConnection(redis.Connection):
    """A TCP connection to Redis on a blocking socket whose timeouts the kernel keeps (SO_RCVTIMEO, SO_SNDTIMEO).

    With a timeout of its own, a Python socket polls before every send and every receive: four system calls per
    command instead of two, each releasing the GIL, which under gunicorn's threads another request's thread then
    takes. A returning visitor's ping spent about a tenth of its server CPU that way. A send or receive the kernel
    timed out raises TimeoutError, as redis-py's own timeout does: never retried (a command sent may have run; a
    pipeline sent in part may have run its first commands).

    The kernel's timeout is per call: a send that makes progress, or a signal (the call is restarted, PEP 475),
    starts it again, where a Python-level timeout keeps one deadline. Parley's commands are small and its
    processes get no periodic signals (docs/deployment.md, "Redis hung")."""

    def __init__(self, *, kernel_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_timeout = kernel_timeout

    def _connect(self) -> socket.socket:
        sock = super()._connect()  # blocking once connected: this connection's socket_timeout is None
        if self.kernel_timeout:
            whole = int(self.kernel_timeout)
            value = struct.pack("ll", whole, int((self.kernel_timeout - whole) * 1_000_000))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
        return sock

    def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().send_packed_command(*args, **kwargs)
        except redis.ConnectionError as error:
            raise _timeout_or(error, f"Timeout writing to {self.host}:{self.port}") from error

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except redis.ConnectionError as error:
            raise _timeout_or(error, f"Timeout reading from {self.host}:{self.port}") from error


def _timeout_or(error: redis.ConnectionError, message: str) -> redis.RedisError:
    """The kernel's timeout reaches Python as EAGAIN on a blocking socket, which redis-py calls a lost connection:
    a TimeoutError then, else `error` itself."""
    return redis.TimeoutError(message) if isinstance(error.__context__, BlockingIOError) else error


def pool_options(*urls: str, timeout: float) -> dict[str, Any]:
    """The options of connection pools on `urls` whose commands give up after `timeout` seconds: over TCP, kernel-kept
    timeouts (KernelTimeoutConnection); if any is over TLS or a Unix socket, redis-py's own connection and timeout."""
    if all(urlsplit(url).scheme == "redis" for url in urls):
        return {"connection_class": KernelTimeoutConnection, "kernel_timeout": timeout, "socket_timeout": None}
    return {"socket_timeout": timeout}


class _ThreadClients(django_redis.RedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        return thread_client(self._get_connection_pool(write))


def _fail_soft(when_down: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the cache call; while Redis is unreachable, answer `when_down(*args)` instead."""

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(self: "RedisCache", *args: Any, **kwargs: Any) -> Any:
            if not self.available():
                return when_down(*args, **kwargs)
            try:
                result = method(self, *args, **kwargs)
            except REDIS_UNAVAILABLE as error:
                self.mark_unavailable(error)
                return when_down(*args, **kwargs)
            self.outage.answered()
            return result

        return call

    return decorate


def _no_key(*args: Any, **kwargs: Any) -> Any:
    raise ValueError("Key not found: the cache is unreachable.")


def _missing(key: Any = None, default: Any = None, *args: Any, **kwargs: Any) -> Any:
    return default


class RedisCache(django_redis.RedisCache):
    """Django's Redis cache backend, using thread_client, failing soft while Redis is down."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, {**params, "OPTIONS": {**params.get("OPTIONS", {})}})
        options = self._options  # this backend's own copy: its pools are built from it on first use
        if "socket_timeout" not in options and "connection_class" not in options:
            options.update(pool_options(*self._servers, timeout=SOCKET_TIMEOUT_SECONDS))
        options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_SECONDS)
        # A connection Redis closed (it restarted) is retried once on a new one, at once; a Redis that
        # is down refuses that one too, in well under a millisecond. Not a timeout (Retry's default errors
        # include it): a hung Redis would hold the request twice as long.
        options.setdefault("retry", Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)))
        options.setdefault("retry_on_error", [redis.ConnectionError])
        self._class = _ThreadClients
        self.outage = outage("cache " + ",".join(self._servers))

    def available(self) -> bool:
        """False for a while after Redis failed to answer: callers skip it instead of waiting (Outage; a caller
        told True when the backoff ended is the one that tries Redis again)."""
        return not self.outage.skip()

    def round_trip(self, key: str) -> Any:
        """Write `key` ("1", for seconds) and read it back on Redis itself, whether or not callers skip it now
        (readiness must tell the truth, not the backoff); raises what Redis raised. An answer leaves the backoff to
        its probe: a Redis that answers this but still times out on real traffic must not draw every thread back."""
        try:
            django_redis.RedisCache.set(self, key, "1", 5)
            return django_redis.RedisCache.get(self, key)
        except REDIS_UNAVAILABLE as error:
            self.mark_unavailable(error)
            raise

    def mark_unavailable(self, error: Exception) -> None:
        if not self.outage.known():  # once per outage, not once per request
            logger.warning("The cache's Redis is unavailable (%s); serving without it.", error.__class__.__name__)
        self.outage.failed(error)

    get = _fail_soft(_missing)(django_redis.RedisCache.get)
    get_many = _fail_soft(lambda *args, **kwargs: {})(django_redis.RedisCache.get_many)
    has_key = _fail_soft(lambda *args, **kwargs: False)(django_redis.RedisCache.has_key)
    add = _fail_soft(lambda *args, **kwargs: False)(django_redis.RedisCache.add)
    set = _fail_soft(lambda *args, **kwargs: None)(django_redis.RedisCache.set)
    set_many = _fail_soft(lambda data, *args, **kwargs: list(data))(django_redis.RedisCache.set_many)
    touch = _fail_soft(lambda *args, **kwargs: False)(django_redis.RedisCache.touch)
    delete = _fail_soft(lambda *args, **kwargs: False)(django_redis.RedisCache.delete)
    delete_many = _fail_soft(lambda *args, **kwargs: None)(django_redis.RedisCache.delete_many)
    incr = _fail_soft(_no_key)(django_redis.RedisCache.incr)
    clear = _fail_soft(lambda *args, **kwargs: False)(django_redis.RedisCache.clear)

    def raw_entry(self, key: str, value: Any) -> tuple[str, Any]:
        """(the Redis key, the stored value) this cache writes for `key`: for a caller that puts a
        cache write into its own pipeline on the same Redis (one round trip instead of two). The keys are Parley's
        own: make_key, not make_and_validate_key, whose check for memcached walks every character in Python."""
        return self.make_key(key), self._cache._serializer.dumps(value)

    def delete_own_entries(self) -> None:
        """Delete every entry this cache wrote (its key prefix and version), and nothing else: unlike `clear`
        (FLUSHDB), a broker or a page-view stream sharing the Redis database keeps its keys."""
        client = self._cache.get_client(write=True)
        batch: list[bytes] = []
        for key in client.scan_iter(match=self.make_key("*"), count=1000):
            batch.append(key)
            if len(batch) == 1000:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)

    def same_redis(self, url: str) -> bool:
        """Whether `url` names the Redis (server and database) this cache writes to."""
        return url in self._servers
