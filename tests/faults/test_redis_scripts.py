"""Parley's Redis connections (common.redis_cache), against a private redis-server: a Lua script run straight over
a thread's own connection answers as redis-py would, is sent again after Redis forgot it, is retried once on a
new connection after Redis closed the old one, raises errors (a down Redis, a failing script); and a hung Redis
times out after the configured seconds, with the kernel keeping the timeout, as a timeout: never sent twice."""

import datetime as dt
import socket
import struct
import threading
import time

import pytest
import redis
from django.core.cache import caches
from django.db import connection
from django.db.models import Count, F
from redis.backoff import NoBackoff
from redis.retry import Retry

from common import redis_cache
from common.redis_cache import Outage, RedisCache, Script, pool_options, thread_client
from contacts.models import Contact
from tests.faults.support import RedisServer, TcpProxy, wait_until
from tests.tracking.conftest import Widget, buffer_on
from tracking import page_view_buffer
from tracking.models import PageView, WebSession
from tracking.page_view_buffer import page_views_flush
from tracking.services import website_create
from tracking.services.hot_path import HotPathState

COUNT = Script("local n = redis.call('INCRBY', KEYS[1], ARGV[1]) return {n, redis.call('GET', KEYS[2]), false}")
FAILING = Script("return redis.error_reply('refused by the script')")


@pytest.fixture
def server():
    running = RedisServer().start()
    yield running
    running.close()


@pytest.fixture
def shop(server, settings, monkeypatch):
    """A website, with the ingest queue on and the cache and the page-view buffer on the private Redis (one Redis, as
    deployed)."""
    if connection.vendor != "postgresql":
        pytest.skip("the ingest queue needs PostgreSQL")
    settings.CACHES = {"default": {"BACKEND": "common.redis_cache.RedisCache", "LOCATION": server.url(0)}}
    settings.PARLEY_INGEST_QUEUE = True
    buffer_on(settings, monkeypatch, server.url(0))
    return website_create(name="Shop", allowed_origins=["https://shop.example"])


def _pool(server: RedisServer, timeout: float = 1.0) -> redis.ConnectionPool:
    """As the page-view buffer's (and the cache's): a closed connection is retried once, at once."""
    return redis.ConnectionPool.from_url(
        server.url(),
        **pool_options(server.url(), timeout=timeout),
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        retry_on_error=[redis.ConnectionError],
    )


def test_a_script_answers_as_redis_py_would(server):
    pool = _pool(server)
    client = thread_client(pool)
    client.set("name", "Ada")
    assert COUNT.run(client, ["counter", "name"], [5]) == [5, b"Ada", None]
    assert COUNT.run(client, ["counter", "missing"], [2]) == [7, None, None]
    # A client sharing the pool (not this thread's own connection) gets the same through redis-py's own way.
    assert COUNT.run(redis.Redis(connection_pool=pool), ["counter", "name"], [1]) == [8, b"Ada", None]


def test_a_script_redis_forgot_is_sent_again(server):
    client = thread_client(_pool(server))
    assert COUNT.run(client, ["counter", "name"], [1])[0] == 1
    client.script_flush()
    assert COUNT.run(client, ["counter", "name"], [1])[0] == 2
    assert client.script_exists(COUNT.sha) == [True]


def test_after_redis_restarted_the_next_run_reconnects_once(server):
    client = thread_client(_pool(server))
    assert COUNT.run(client, ["counter", "name"], [1])[0] == 1
    server.restart()  # the connection this thread kept is closed under it (and the restarted Redis is empty)
    assert COUNT.run(client, ["counter", "name"], [3])[0] == 3
    assert client.get("counter") == b"3"  # run once on the new connection, not twice


def test_a_down_redis_and_a_failing_script_raise(server):
    client = thread_client(_pool(server))
    with pytest.raises(redis.ResponseError, match="refused by the script"):
        FAILING.run(client, [], [])
    assert COUNT.run(client, ["counter", "name"], [1])[0] == 1  # the connection is still usable after the error
    server.stop()
    with pytest.raises(redis.ConnectionError):
        COUNT.run(client, ["counter", "name"], [1])


def test_a_hung_redis_times_out_once_and_the_script_is_not_sent_again(server):
    client = thread_client(_pool(server, timeout=0.5))
    assert COUNT.run(client, ["counter", "name"], [1])[0] == 1
    sock = client.connection._sock
    assert sock.gettimeout() is None  # blocking: no poll before each send and receive
    assert struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)) == (0, 500_000)
    server.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            COUNT.run(client, ["counter", "name"], [1])
        assert time.monotonic() - started < 1.0  # one wait of 0.5 s, no retry on a new connection
    finally:
        server.thaw()
    reader = redis.Redis.from_url(server.url())
    # The command Redis had received runs once it wakes up: once, not twice.
    wait_until(lambda: reader.get("counter") == b"2", timeout=5, what="the timed-out command to run")
    time.sleep(0.2)
    assert reader.get("counter") == b"2"
    assert COUNT.run(client, ["counter", "name"], [1])[0] == 3  # and this thread's client connects again


def test_the_cache_gives_up_on_a_hung_redis_after_its_timeout(server):
    cache = RedisCache(server.url(), {})
    cache.set("key", "value")
    assert cache.get("key") == "value"
    server.freeze()
    try:
        started = time.monotonic()
        assert cache.get("key") is None  # fails soft: an entry that cannot be read is a miss
        assert time.monotonic() - started < 1.8  # its one second, not twice that
        assert not cache.available()
    finally:
        server.thaw()


def test_a_send_the_kernel_timed_out_is_a_timeout_and_not_sent_again(server):
    client = redis.Redis(connection_pool=_pool(server, timeout=0.5))
    client.ping()
    reader = redis.Redis.from_url(server.url())
    connections = reader.info("stats")["total_connections_received"]
    server.freeze()
    try:
        pipeline = client.pipeline(transaction=False)
        pipeline.incr("counter")
        pipeline.set("big", b"x" * (64 << 20))  # more than the sockets' buffers hold: the send itself waits
        with pytest.raises(redis.TimeoutError, match="writing"):
            pipeline.execute()
    finally:
        server.thaw()
    # Not sent again on a new connection (which the kernel would have accepted for the hung Redis).
    assert reader.info("stats")["total_connections_received"] == connections
    assert reader.get("counter") in (None, b"1")


@pytest.mark.django_db(transaction=True)
def test_a_ping_on_a_hung_redis_is_answered_and_written(server, shop, client, monkeypatch):
    website = shop
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/1").status_code == 200
    while page_views_flush():
        pass
    assert widget.ping("https://shop.example/2").status_code == 200  # a returning visitor's steady state
    server.freeze()
    try:
        started = time.monotonic()
        assert widget.ping("https://shop.example/3").status_code == 200
        # A few waits of 1 or 2 s (the first round trip, the cache's count, the queue), none retried: not until
        # Redis wakes up (a blocking socket without its kernel timeout would wait for ever).
        assert time.monotonic() - started < 10
        assert PageView.objects.filter(url="https://shop.example/3").exists()  # written directly
        # The next pings skip the hung Redis (they would each wait as long): answered and written, nothing sent.
        sent = _commands_sent(monkeypatch)
        for page in (4, 5, 6):
            assert widget.ping(f"https://shop.example/{page}").status_code == 200
        assert sent == []
        assert PageView.objects.filter(url__in=[f"https://shop.example/{page}" for page in (4, 5, 6)]).count() == 3
    finally:
        server.thaw()
        redis_cache.outages_forget()


def _commands_sent(monkeypatch) -> list[bytes]:
    """Every command a Redis connection sends from now on (each is still sent)."""
    sent: list[bytes] = []
    send = redis.Connection.send_packed_command

    def counted(connection, command, *args, **kwargs):
        sent.append(command)
        return send(connection, command, *args, **kwargs)

    monkeypatch.setattr(redis.Connection, "send_packed_command", counted)
    return sent


def _in_another_thread(call):
    result = []
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()
    thread.join()
    return result[0]


def test_after_a_timeout_redis_is_skipped_longer_than_after_a_refusal(monkeypatch):
    monkeypatch.setattr(redis_cache, "OUTAGE_BACKOFF_SECONDS", 0.0)
    monkeypatch.setattr(redis_cache, "HUNG_BACKOFF_SECONDS", 3600.0)
    outage = Outage()
    assert not outage.skip()
    outage.failed(redis.ConnectionError("refused"))
    assert not outage.skip()  # a refusal's backoff (none here) is over: this caller tries again
    outage.failed(redis.TimeoutError("hung"))
    assert outage.skip() and _in_another_thread(outage.skip)  # a hung Redis: everyone skips it meanwhile


def test_when_the_backoff_ends_one_thread_probes_while_the_others_skip(monkeypatch):
    monkeypatch.setattr(redis_cache, "HUNG_BACKOFF_SECONDS", 0.0)
    outage = Outage()
    outage.failed(redis.TimeoutError("hung"))
    assert not outage.skip()  # the backoff is over: this thread probes
    assert _in_another_thread(outage.skip)  # the others wait for what the probe finds, without waiting on Redis
    assert not outage.skip()  # the probe's request may use Redis for its later calls too
    outage.answered()
    assert not _in_another_thread(outage.skip)  # Redis answered the probe: everyone uses it again
    outage.failed(redis.TimeoutError("hung"))
    assert not _in_another_thread(outage.skip)  # another backoff over: another thread probes
    assert outage.skip()  # and this one, no longer the probe, skips


def test_asking_whether_redis_is_backed_off_claims_no_probe(monkeypatch):
    monkeypatch.setattr(redis_cache, "HUNG_BACKOFF_SECONDS", 0.0)
    outage = Outage()
    outage.failed(redis.TimeoutError("hung"))
    assert not outage.backing_off()  # the backoff is over: a caller may try
    assert not _in_another_thread(outage.skip)  # and the first that calls Redis probes (the check claimed nothing)
    assert outage.backing_off() and outage.skip()  # meanwhile this thread skips it


def test_asking_whether_pings_may_queue_leaves_the_probe_to_the_call_that_queues(settings, monkeypatch):
    from tracking.page_view_buffer import _outage, page_view_buffer_on

    buffer_on(settings, monkeypatch, "redis://127.0.0.1:6399/0")  # (not called: only the check is asked)
    monkeypatch.setattr(redis_cache, "HUNG_BACKOFF_SECONDS", 0.0)
    outage = _outage(settings.PARLEY_PAGE_VIEW_BUFFER_URL)
    outage.failed(redis.TimeoutError("hung"))
    assert page_view_buffer_on()  # the backoff is over
    assert not _in_another_thread(outage.skip)  # a request that queues probes at once, not PROBE_SECONDS later


def test_when_a_backoff_ends_under_many_threads_exactly_one_probes(monkeypatch):
    monkeypatch.setattr(redis_cache, "HUNG_BACKOFF_SECONDS", 0.0)

    class YieldingClock:
        """The clock, letting the other threads run at each reading: they all find the backoff over at once."""

        @staticmethod
        def monotonic():
            time.sleep(0.001)
            return time.monotonic()

    outage = Outage()
    outage.failed(redis.TimeoutError("hung"))
    monkeypatch.setattr(redis_cache, "time", YieldingClock)
    start, probes = threading.Barrier(8), []

    def ask():
        start.wait()
        if not outage.skip():
            probes.append(threading.get_ident())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(probes) == 1


def test_a_down_cache_says_so_once_per_outage_not_once_per_probe(server, monkeypatch, caplog):
    monkeypatch.setattr(redis_cache, "OUTAGE_BACKOFF_SECONDS", 0.0)  # every call probes again at once
    cache = RedisCache(server.url(0), {})
    cache.set("key", "value")
    server.stop()
    with caplog.at_level("WARNING", logger="common.redis_cache"):
        assert [cache.get("key", "down") for _ in range(3)] == ["down"] * 3  # the first fails, each later one probes
    assert [record.getMessage() for record in caplog.records] == [
        "The cache's Redis is unavailable (ConnectionError); serving without it."
    ]
    server.start()
    cache.set("key", "again")  # the probe: Redis answers
    assert not cache.outage.known() and cache.get("key") == "again"


@pytest.mark.django_db
def test_readiness_asks_redis_itself_not_the_caches_backoff(server, settings):
    from ops.readiness import readiness_findings, readiness_forget

    settings.CACHES = {"default": {"BACKEND": "common.redis_cache.RedisCache", "LOCATION": server.url(0)}}
    cache = caches["default"]
    server.stop()
    readiness_forget()
    assert readiness_findings()["cache"] == "unavailable"
    server.start()
    cache.outage.failed(redis.TimeoutError("a moment ago"))  # the app skips Redis for 15 s from here
    readiness_forget()
    assert readiness_findings()["cache"] == "ok"  # Redis answers: the node is ready now, not 15 s later
    assert not cache.available()  # the app's own callers still leave it to their probe, in 15 s
    readiness_forget()


@pytest.mark.django_db(transaction=True)
def test_a_ping_redis_answered_ends_the_caches_backoff_too(server, shop, client, monkeypatch):
    """A returning ping's one round trip counts its limits and reads the cache's entries on the buffer's client: the
    cache's own callers must learn that Redis answered, or they would skip it (rate limits failing open) meanwhile."""
    website = shop
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/1").status_code == 200
    while page_views_flush():
        pass
    assert widget.ping("https://shop.example/2").status_code == 200
    monkeypatch.setattr(redis_cache, "HUNG_BACKOFF_SECONDS", 0.0)
    cache = caches["default"]
    cache.outage.failed(redis.TimeoutError("a moment ago"))  # its backoff over: the next caller probes
    sent = _commands_sent(monkeypatch)
    assert widget.ping("https://shop.example/3").status_code == 200
    assert len(sent) == 1  # the probe: one script counted, read and queued
    assert _in_another_thread(cache.available)
    while page_views_flush():
        pass
    assert PageView.objects.filter(url="https://shop.example/3").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refusal", ["full", "read-only"])
def test_a_redis_that_refuses_writes_is_served_around_as_an_outage(server, client, settings, monkeypatch, refusal):
    """Full under noeviction (what docs/deployment.md asks of the buffer's Redis) or a replica after a failover: Redis
    answers, refusing each write (OOM, READONLY). Every widget request is answered anyway, each page view written
    once (directly), as while Redis is down."""
    settings.CACHES = {"default": {"BACKEND": "common.redis_cache.RedisCache", "LOCATION": server.url(0)}}
    settings.PARLEY_INGEST_QUEUE = connection.vendor == "postgresql"
    buffer_on(settings, monkeypatch, server.url(0))
    website = website_create(name="Shop", allowed_origins=["https://shop.example"])
    returning = Widget(client, website)
    assert returning.ping("https://shop.example/first").status_code == 200
    admin = redis.Redis.from_url(server.url(0))
    if refusal == "full":
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
    else:
        admin.replicaof("127.0.0.1", 1)  # (no such primary: it stays a read-only replica)
    try:
        answers = [
            returning.ping("https://shop.example/returning").status_code,
            Widget(client, website).ping("https://shop.example/new").status_code,
            client.get(
                f"/widget-api/{website.app_id}/attachments/limits", HTTP_ORIGIN="https://shop.example"
            ).status_code,
        ]
    finally:
        admin.config_set("maxmemory", 0)
        admin.replicaof("NO", "ONE")
    assert answers == [200, 200, 200]
    redis_cache.outages_forget()
    page_views_flush()
    urls = list(PageView.objects.order_by("url").values_list("url", flat=True))
    assert urls == ["https://shop.example/first", "https://shop.example/new", "https://shop.example/returning"]


@pytest.mark.django_db(transaction=True)
def test_a_redis_that_stalls_then_resumes_writes_each_page_view_it_stalled_on_once(server, shop, client, monkeypatch):
    """A stalled Redis (a paused VM, a stopped process) holds a ping's command past its timeout: the ping
    writes its page view directly. When Redis resumes it runs the command it had received; a returning visitor's page
    view, a known visitor's new session and a first visit must not then be queued a second time."""
    visits = _ThreeVisits(client, shop)
    reader = redis.Redis.from_url(server.url())
    _scripts_loaded(reader)
    for widget, url, before, user in visits.next_pings():
        if before is not None:
            before()
        _live_connections()
        server.freeze()
        try:
            assert widget.ping(f"https://shop.example{url}", user=user).status_code == 200
        finally:
            server.thaw()
        # Two round trips after the thaw: Redis has by then read every command it held (one event loop, in turn).
        assert reader.ping() and reader.ping()
        redis_cache.outages_forget()
    _flush()
    visits.assert_each_page_view_written_once()
    assert WebSession.objects.filter(contact=visits.back_contact).count() == 2


def _flush() -> None:
    while page_views_flush():
        pass


class _ThreeVisits:
    """A returning visitor (two page views), a known visitor (one), each written; then a third ping of each kind: the
    returning visitor's, the known visitor's new session an hour later (user fields: no first round trip, whose held
    reply would close the connection the session's goes on), a first visit. Each its own address: the rate limits a
    command run late counts again must not refuse the others."""

    def __init__(self, client, website) -> None:
        self.client, self.website = client, website
        self.returning = Widget(client, website, ip="81.2.69.142")
        self.back = Widget(client, website, ip="81.2.69.143")
        for widget, url in ((self.returning, "/1"), (self.returning, "/2"), (self.back, "/b1")):
            assert widget.ping(f"https://shop.example{url}").status_code == 200
            _flush()
        self.back_contact = Contact.objects.get(anonymous_id=self.back.anonymous_id)

    def _session_over(self) -> None:
        """An hour later (by the database, not the clock: Redis keeps the real one)."""
        WebSession.objects.filter(contact=self.back_contact).update(
            started_at=F("started_at") - dt.timedelta(hours=1),
            last_activity_at=F("last_activity_at") - dt.timedelta(hours=1),
        )
        caches["default"].delete(HotPathState.key(self.back_contact.pk))

    def next_pings(self):
        """(widget, url, what to do before, user fields) of the three pings under test."""
        return (
            (self.returning, "/3", None, None),
            (self.back, "/b2", self._session_over, {"name": "Back"}),
            (Widget(self.client, self.website, ip="81.2.69.144"), "/new", None, None),
        )

    def assert_each_page_view_written_once(self) -> None:
        counts = dict(PageView.objects.values_list("url").annotate(n=Count("id")))
        assert counts == {f"https://shop.example{url}": 1 for url in ("/1", "/2", "/3", "/b1", "/b2", "/new")}
        assert Contact.objects.count() == 3


def _scripts_loaded(beside: redis.Redis) -> None:
    """The ingest scripts loaded, as on a Redis that has served pings for a while (no NOSCRIPT round trip)."""
    for script in (
        page_view_buffer._PREFLIGHT_QUEUE_SCRIPT,
        page_view_buffer._COUNTED_QUEUE_SCRIPT,
        page_view_buffer._OPEN_SESSION_SCRIPT,
        page_view_buffer._XADD_SCRIPT,
    ):
        beside.script_load(script.source)


def _live_connections() -> None:
    """The ping's commands go out on live connections (a timeout closed the last ones): Redis holds or runs them,
    not the handshake of a new one."""
    caches["default"]._cache.get_client(write=True).ping()
    page_view_buffer._client().ping()
    redis_cache.outages_forget()


@pytest.fixture
def held_shop(server, settings, monkeypatch):
    """As `shop`, with the cache and the page-view buffer reaching Redis through a proxy that can hold its replies."""
    if connection.vendor != "postgresql":
        pytest.skip("the ingest queue needs PostgreSQL")
    proxy = TcpProxy(("127.0.0.1", server.port))
    settings.CACHES = {"default": {"BACKEND": "common.redis_cache.RedisCache", "LOCATION": proxy.url(0)}}
    settings.PARLEY_INGEST_QUEUE = True
    buffer_on(settings, monkeypatch, proxy.url(0))
    yield proxy, website_create(name="Shop", allowed_origins=["https://shop.example"])
    proxy.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("flush_first", [False, True], ids=["direct-write-first", "flush-first"])
def test_a_queueing_redis_ran_but_answered_too_late_is_written_once(server, held_shop, client, flush_first):
    """Redis runs a ping's queueing command in time, but its reply comes after the ping's timeout (another client's
    slow command, a fork, a stop between running and answering): the ping writes its rows directly, and the flush
    writes the entry Redis holds. A returning visitor's page view, a known visitor's new session and a first visit
    are each written once, whichever of the two reaches the database first."""
    proxy, website = held_shop
    visits = _ThreeVisits(client, website)
    beside = redis.Redis.from_url(server.url())  # Redis itself, around the proxy
    stream = page_view_buffer._stream_key()
    _scripts_loaded(beside)
    for widget, url, before, user in visits.next_pings():
        if before is not None:
            before()
        _live_connections()
        queued = _entries_added(beside, stream)
        flusher = None
        if flush_first:  # the entry is written as soon as Redis holds it, before the ping's own write
            flusher = threading.Thread(target=_flush_when_queued, args=(beside, stream, queued))
            flusher.start()
        proxy.hold_replies()
        try:
            assert widget.ping(f"https://shop.example{url}", user=user).status_code == 200
        finally:
            proxy.release_replies()
        if flusher is not None:
            flusher.join(timeout=30)
        assert _entries_added(beside, stream) > queued  # Redis did queue it
        redis_cache.outages_forget()
    _flush()
    visits.assert_each_page_view_written_once()
    back_contact = visits.back_contact
    sessions = WebSession.objects.order_by("started_at")
    assert [(s.contact_id, s.page_views_count) for s in sessions.filter(contact=back_contact)] == [
        (back_contact.pk, 1), (back_contact.pk, 1)
    ]  # fmt: skip
    assert {s.page_views_count for s in sessions} == {1, 3}  # the returning visitor's three, the others' one
    assert sorted(Contact.objects.values_list("web_sessions_count", flat=True)) == [1, 1, 2]


def _entries_added(beside: redis.Redis, stream: str) -> int:
    """Entries ever added to the stream (flushes trim them: the ping's own may have flushed)."""
    return int(beside.xinfo_stream(stream)["entries-added"]) if beside.exists(stream) else 0


def _flush_when_queued(beside: redis.Redis, stream: str, queued: int) -> None:
    """Wait for an entry past `queued`, then flush over a connection of its own, around the proxy."""
    try:
        wait_until(lambda: _entries_added(beside, stream) > queued, timeout=10, what="the ping's entry")
        while page_view_buffer._flush_batches(beside)[0]:
            pass
    finally:
        connection.close()
