"""The ingest figures: the widget ping path against floors served by the same server, same run.

Starts gunicorn (PostgreSQL, Redis cache and broker) with Parley's settings plus two extra routes
(bench/ingest_floor.py): a bare DRF POST that does one INSERT (the floor), and a bare Django JSON
view with no I/O (the ceiling of any Python ping). A real Celery worker flushes the ingest buffer
while the load runs. A Python load generator on loopback drives Parley and a floor in alternating
rounds (order swapped every pair); each figure is the median over pairs of Parley's answered pings
per second divided by the floor's:

- `ingest_vs_floor`: returning visitors in their current session, against the one-INSERT floor.
- `ingest_new_visitors_vs_floor`: every ping a new visitor (no token, no anonymous id).
- `ingest_mixed_vs_floor`: 65% returning in session, 20% new visitors, 10% new sessions of known
  visitors (their hot-path entry dropped first, as 30 minutes of silence would), 5% a known user
  signing in on a new browser with a valid user_hash.
- `ingest_vs_bare_django`: returning visitors in session, against the bare Django view.

Beside each throughput ratio, stderr shows the CPU time per request of Parley and of its floor,
from the processes' own counters (psutil): the server's processes during each side's rounds, plus,
for Parley, everything the flushing worker spent over the scenario (it writes Parley's rows only).
The CPU ratio is the floor's CPU per request over Parley's (≥ 1: Parley is cheaper), less exposed
to the other tenants of a shared machine than throughput.

- `flush_rows_per_second`: page views one flushing process writes per second from a backlog of
  steady-state page views (the worker stopped while it builds, then the same flush function).
- `queries_per_ping`: database statements of one steady-state ping, in-process (transaction control
  not counted).

Every run checks, after the buffer drained, that each answered ping's page view reached the database
exactly once, each new visitor's contact exactly once with exactly one session, and that the known
visitors' sessions (rows and web_sessions_count) are exactly those their pings opened.
"""

import hashlib
import hmac
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import psutil

from bench.common import ROOT, database_name, fresh_postgres, setup_django, start_gunicorn

# Other runs on the same machine may hold the defaults: each can name its own port and database
# (BENCH_INGEST_DATABASE, or BENCH_DATABASE_PREFIX as for every benchmark's database).
PORT = int(os.environ.get("BENCH_INGEST_PORT", "8763"))
DATABASE = os.environ.get("BENCH_INGEST_DATABASE") or database_name("parley_bench_ingest")
CACHE_URL = os.environ.get("BENCH_INGEST_CACHE_URL", "redis://127.0.0.1:6379/12")
BROKER_URL = os.environ.get("BENCH_INGEST_BROKER_URL", "redis://127.0.0.1:6379/13")
DRAIN_TIMEOUT_SECONDS = 180
CLIENTS = 8
VISITORS_PER_CLIENT = 25
USERS_PER_CLIENT = 5
# Short rounds, many pairs, order swapped every pair: a shared, noisy machine drifts less within a pair.
ROUND_SECONDS, QUICK_ROUND_SECONDS = 3.0, 2.5
# The backlog flush_rows_per_second times: long enough (about ten thousand page views) that a flush's fixed costs
# and the machine's hiccups do not decide it, as they did over one round's 2,500 (9,200 and 18,500 in two runs).
FLUSH_BACKLOG_SECONDS, QUICK_FLUSH_BACKLOG_SECONDS = 10.0, 2.5
PAIRS, QUICK_PAIRS = 11, 3
ORIGIN = "https://shop.example"
USER_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36"
QUERY_SAMPLES = 20
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
# The mixed traffic, as a cycle of 20 pings: 13 returning, 4 new visitors, 2 new sessions, 1 sign-in.
MIXED_CYCLE = ("r", "n", "r", "r", "s", "r", "n", "r", "r", "i", "r", "n", "r", "r", "s", "r", "n", "r", "r", "r")
SCENARIOS = {
    "ingest_vs_floor": ("floor", ("r",)),
    "ingest_new_visitors_vs_floor": ("floor", ("n",)),
    "ingest_mixed_vs_floor": ("floor", MIXED_CYCLE),
    "ingest_vs_bare_django": ("bare", ("r",)),
}
RATIO_FIGURES = tuple(SCENARIOS)


def _server_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.ingest_settings",
        "DATABASE_URL": database_url,
        "CACHE_URL": CACHE_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "HTTPS_ONLY": "false",
        "ACCESS_LOG": "0",
        "LOG_LEVEL": "WARNING",
        # The limiter still runs on every request; the limits just sit above the generated load.
        "PARLEY_WIDGET_RATE_PER_IP": "1000000000",
        "PARLEY_WIDGET_RATE_PER_CONTACT": "1000000000",
    }


def _start_worker(database_url: str) -> subprocess.Popen:
    """One Celery worker process (as `make run` starts): it writes the queued rows."""
    command = [
        sys.executable, "-m", "celery", "-A", "config.celery:app", "worker", "--pool", "solo", "--loglevel",
        "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=_server_env(database_url))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its live descendants, from their own counters."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:  # a child replaced in between
            pass
    return total


def _wait_for_page_views(expected: int) -> int:
    """Page views in the database once the buffer drained (or the timeout passed)."""
    from tracking.models import PageView

    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while True:
        written = PageView.objects.count()
        if written >= expected or time.monotonic() > deadline:
            return written
        time.sleep(0.2)


@dataclass
class Visitor:
    anonymous_id: str | None = None
    token: str | None = None
    contact_id: int | None = None
    new_sessions: int = 0


@dataclass
class Tally:
    """What the server answered, to check against the database afterwards."""

    pings: int = 0
    new_visitors: list[str] = field(default_factory=list)


class Client:
    """One load-generating connection: a few returning visitors and known users, and new visitors."""

    def __init__(self, app_id: str, index: int, users: list[tuple[str, str]], silence_keys) -> None:
        self.app_id = app_id
        self.index = index
        self.connection = self._connect()
        self.visitors = [Visitor() for _ in range(VISITORS_PER_CLIENT)]
        self.users = users
        self.silence_keys = silence_keys
        self.redis = None
        self.turn = 0
        self.tally = Tally()

    @staticmethod
    def _connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)

    def _body(self, kind: str, visitor: Visitor | None) -> dict:
        self.turn += 1
        body: dict = {
            "page": {"url": f"https://shop.example/p/{self.turn % 300}", "title": "Product", "referrer": ""},
            "browser_language": "en-US",
            "consent": False,
        }
        if kind == "i":
            user_id, user_hash = self.users[self.turn % len(self.users)]
            body["user"] = {"user_id": user_id, "user_hash": user_hash}
        elif visitor is not None and visitor.token:
            body.update(anonymous_id=visitor.anonymous_id, token=visitor.token)
        return body

    def send(self, path: str, kind: str) -> int:
        visitor = self.visitors[self.turn % VISITORS_PER_CLIENT] if kind in ("r", "s") else None
        parley = path.startswith("/widget-api/")
        if parley and kind == "s" and visitor is not None and visitor.contact_id is not None:
            # Thirty minutes of silence: the visitor's hot-path entry (and snapshot) are gone, and so is
            # the claim of its last new session (kept for seconds only: two tabs opening one at once).
            self.redis.delete(*self.silence_keys(visitor.contact_id))
        body = json.dumps(self._body(kind, visitor))
        headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN, "User-Agent": USER_AGENT}
        try:
            self.connection.request("POST", path, body, headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = self._connect()
            return 599
        if response.status == 200 and parley:
            answer = json.loads(data)
            self.tally.pings += 1
            if kind == "n":
                self.tally.new_visitors.append(answer["anonymous_id"])
            elif visitor is not None:
                visitor.anonymous_id, visitor.token = answer["anonymous_id"], answer["token"]
                if kind == "s" and visitor.contact_id is not None:
                    visitor.new_sessions += 1
        return response.status

    def warm_up(self) -> None:
        for _ in range(2):
            for _visitor in self.visitors:
                self.send(f"/widget-api/{self.app_id}/ping", "r")
        for _ in self.users:
            self.send(f"/widget-api/{self.app_id}/ping", "i")

    def run(self, path: str, cycle: tuple[str, ...], stop_at: float, counts: list[int]) -> None:
        import redis

        self.redis = self.redis or redis.Redis.from_url(CACHE_URL)
        # A new connection per round: the server closes one left idle past its keep-alive (a drain, a phase change),
        # and the round's first request would fail on it.
        self.connection.close()
        self.connection = self._connect()
        done = failed = step = 0
        while time.monotonic() < stop_at:
            kind = cycle[(step + self.index) % len(cycle)]
            step += 1
            if self.send(path, kind) == 200:
                done += 1
            else:
                failed += 1
        counts[self.index] = done
        if failed:
            print(f"  ({failed} failed requests to {path})", file=sys.stderr)


def _parallel(clients: list[Client], method: str, *args) -> None:
    threads = [threading.Thread(target=getattr(c, method), args=args) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _drive(clients: list[Client], path: str, cycle: tuple[str, ...], seconds: float, server_pid: int):
    """(answered requests, wall seconds, the server's CPU seconds) of one round."""
    counts = [0] * len(clients)
    cpu_before, started = _cpu_seconds(server_pid), time.monotonic()
    stop_at = started + seconds
    threads = [threading.Thread(target=c.run, args=(path, cycle, stop_at, counts)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), time.monotonic() - started, _cpu_seconds(server_pid) - cpu_before


@dataclass
class Outcome:
    ratio: float
    ratios: list[float]
    parley_rate: float
    floor_rate: float
    parley_cpu_ms: float
    floor_cpu_ms: float
    worker_cpu_ms: float  # the flushing worker's part of parley_cpu_ms


def _scenario(clients, app_id: str, figure: str, quick: bool, server_pid: int, worker_pid: int) -> Outcome:
    """Interleaved rounds of Parley and this figure's floor; the worker's CPU is Parley's."""
    floor_kind, cycle = SCENARIOS[figure]
    parley_path = f"/widget-api/{app_id}/ping"
    floor_path = f"/bench-{floor_kind}/{app_id}/ping"
    seconds = QUICK_ROUND_SECONDS if quick else ROUND_SECONDS
    worker_before = _cpu_seconds(worker_pid)
    _drive(clients, floor_path, cycle, 0.5, server_pid)  # warm the floor's code paths too
    parley, floor = [], []  # (requests, seconds, server CPU)
    for pair in range(QUICK_PAIRS if quick else PAIRS):
        if pair % 2:
            parley.append(_drive(clients, parley_path, cycle, seconds, server_pid))
            floor.append(_drive(clients, floor_path, cycle, seconds, server_pid))
        else:
            floor.append(_drive(clients, floor_path, cycle, seconds, server_pid))
            parley.append(_drive(clients, parley_path, cycle, seconds, server_pid))
    # The worker's share: everything it spent until it wrote what these rounds queued.
    _wait_for_page_views(_page_views_expected(clients))
    worker_cpu = _cpu_seconds(worker_pid) - worker_before
    ratios = [(p[0] / p[1]) / (f[0] / f[1]) for p, f in zip(parley, floor, strict=True)]
    parley_requests, floor_requests = sum(p[0] for p in parley), sum(f[0] for f in floor)
    return Outcome(
        ratio=statistics.median(ratios),
        ratios=ratios,
        parley_rate=statistics.fmean(p[0] / p[1] for p in parley),
        floor_rate=statistics.fmean(f[0] / f[1] for f in floor),
        parley_cpu_ms=1000 * (sum(p[2] for p in parley) + worker_cpu) / max(parley_requests, 1),
        floor_cpu_ms=1000 * sum(f[2] for f in floor) / max(floor_requests, 1),
        worker_cpu_ms=1000 * worker_cpu / max(parley_requests, 1),
    )


_PAGE_VIEWS_AT_START = 0


def _page_views_expected(clients: list[Client]) -> int:
    """Page views the database must hold: one per answered ping of this run."""
    return _PAGE_VIEWS_AT_START + sum(c.tally.pings for c in clients)


def _check_exactly_once(clients: list[Client]) -> str:
    """Every answered ping's page view, every new visitor's contact and session, the known visitors'
    sessions: each in the database exactly once (raises SystemExit otherwise)."""
    from django.db.models import Count, Sum

    from contacts.models import Contact
    from tracking.models import PageView, WebSession

    answered = _page_views_expected(clients)
    written = _wait_for_page_views(answered)
    if written != answered:
        raise SystemExit(f"ingest: {answered} pings answered but {written} page views written")
    new_ids = [anonymous_id for c in clients for anonymous_id in c.tally.new_visitors]
    if len(set(new_ids)) != len(new_ids):
        raise SystemExit("ingest: an anonymous id was handed to two new visitors")
    found = Contact.objects.filter(anonymous_id__in=new_ids).aggregate(n=Count("id"), s=Sum("web_sessions_count"))
    sessions = WebSession.objects.filter(contact__anonymous_id__in=new_ids).count()
    if not (found["n"] == sessions == len(new_ids) and (found["s"] or 0) == len(new_ids)):
        raise SystemExit(f"ingest: {len(new_ids)} new visitors but {found['n']} contacts, {sessions} sessions")
    known = [v for c in clients for v in c.visitors if v.contact_id is not None]
    expected_sessions = sum(1 + v.new_sessions for v in known)
    ids = [v.contact_id for v in known]
    rows = WebSession.objects.filter(contact_id__in=ids).count()
    counted = Contact.objects.filter(pk__in=ids).aggregate(s=Sum("web_sessions_count"))["s"] or 0
    if not rows == counted == expected_sessions:
        raise SystemExit(f"ingest: known visitors opened {expected_sessions} sessions; {rows} rows, {counted} counted")
    views = PageView.objects.count()
    return (
        f"page views written {views} of {answered}; new visitors {len(new_ids)} (contact and session each once); "
        f"known visitors' sessions {rows} of {expected_sessions}"
    )


def _flush_rows_per_second(clients: list[Client], app_id: str, server_pid: int, quick: bool) -> float:
    """With the worker stopped, steady-state pings build a backlog; then time the flush writing it."""
    from tracking.models import PageView
    from tracking.page_view_buffer import page_views_flush

    before = PageView.objects.count()
    seconds = QUICK_FLUSH_BACKLOG_SECONDS if quick else FLUSH_BACKLOG_SECONDS
    _drive(clients, f"/widget-api/{app_id}/ping", ("r",), seconds, server_pid)
    started = time.perf_counter()
    written = 0
    while True:
        batch = page_views_flush()
        written += batch
        if not batch:
            break
    elapsed = time.perf_counter() - started
    print(f"  flush: {written} page views in {elapsed:.2f}s (one process)", file=sys.stderr)
    if PageView.objects.count() - before != written:
        raise SystemExit("ingest: the timed flush did not write what was queued")
    return written / elapsed if elapsed else 0.0


def _queries_per_ping(app_id: str) -> float:
    """Statements of one steady-state ping (same visitor, same session), in-process."""
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    client = DjangoClient()
    headers = {"REMOTE_ADDR": "81.2.69.142", "HTTP_ORIGIN": ORIGIN, "HTTP_USER_AGENT": USER_AGENT}
    visitor: dict = {}
    counts = []
    for index in range(QUERY_SAMPLES + 2):
        body = {"page": {"url": f"https://shop.example/p/{index}", "title": "Product"}, **visitor}
        with CaptureQueriesContext(connection) as captured:
            response = client.post(f"/widget-api/{app_id}/ping", json.dumps(body), content_type="text/plain", **headers)
        answer = response.json()
        visitor = {"anonymous_id": answer["anonymous_id"], "token": answer["token"]}
        if index >= 2:
            counts.append(sum(1 for q in captured if not q["sql"].lstrip().upper().startswith(TRANSACTION_CONTROL)))
    return sum(counts) / len(counts)


def _known_users(website, count: int) -> list[tuple[str, str]]:
    """Users the site signs in with a valid user_hash (verification is enforced: the default)."""
    from contacts import services as contacts_services
    from contacts.models import Contact

    users = []
    for index in range(count):
        user_id = f"bench-user-{index}"
        contacts_services.contact_create(role=Contact.Role.USER, external_id=user_id)
        user_hash = hmac.new(website.identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
        users.append((user_id, user_hash))
    return users


def _measure_load(figures: list[str], quick: bool, database_url: str, website, results: dict) -> None:
    global _PAGE_VIEWS_AT_START
    import redis
    from django.core.cache import cache

    from contacts.models import Contact
    from tracking.models import PageView
    from tracking.page_view_buffer import session_claim_key
    from tracking.services.hot_path import HotPathState

    users = _known_users(website, CLIENTS * USERS_PER_CLIENT)
    redis.Redis.from_url(BROKER_URL).flushdb()
    worker = _start_worker(database_url)
    server = None
    try:
        # Inside the try: a server that does not start must not leave the worker running, flushing the next run's
        # queue under its nose.
        server = start_gunicorn(port=PORT, env=_server_env(database_url))
        _PAGE_VIEWS_AT_START = PageView.objects.count()
        clients = [
            Client(
                website.app_id,
                index,
                users[index * USERS_PER_CLIENT : (index + 1) * USERS_PER_CLIENT],
                lambda pk: (
                    cache.make_key(HotPathState.key(pk)),
                    session_claim_key(contact_id=pk, website_id=website.pk),
                ),
            )
            for index in range(CLIENTS)
        ]
        _parallel(clients, "warm_up")
        _wait_for_page_views(_page_views_expected(clients))
        by_anonymous_id = dict(
            Contact.objects.filter(anonymous_id__in=[v.anonymous_id for c in clients for v in c.visitors]).values_list(
                "anonymous_id", "pk"
            )
        )
        for client in clients:
            for visitor in client.visitors:
                visitor.contact_id = by_anonymous_id.get(uuid.UUID(visitor.anonymous_id))
        outcomes: dict[str, Outcome] = {}
        for figure in RATIO_FIGURES:
            if figure in figures:
                outcome = outcomes[figure] = _scenario(clients, website.app_id, figure, quick, server.pid, worker.pid)
                floor = "bare Django" if SCENARIOS[figure][0] == "bare" else "floor"
                print(
                    f"  {figure}: Parley/{floor} per pair of rounds: " + " ".join(f"{r:.2f}" for r in outcome.ratios),
                    file=sys.stderr,
                )
                print(
                    f"  {figure}: throughput {outcome.ratio:.2f} (Parley {outcome.parley_rate:.0f}/s, {floor} "
                    f"{outcome.floor_rate:.0f}/s); CPU per request Parley {outcome.parley_cpu_ms:.2f} ms "
                    f"(worker {outcome.worker_cpu_ms:.2f}), {floor} "
                    f"{outcome.floor_cpu_ms:.2f} ms, CPU ratio {outcome.floor_cpu_ms / outcome.parley_cpu_ms:.2f}",
                    file=sys.stderr,
                )
                results[figure] = outcome.ratio
        print("  " + _check_exactly_once(clients), file=sys.stderr)
        worker.terminate()
        worker.wait(timeout=30)
        if "flush_rows_per_second" in figures:
            results["flush_rows_per_second"] = _flush_rows_per_second(clients, website.app_id, server.pid, quick)
    finally:
        for process in (server, worker):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


LOAD_FIGURES = (*RATIO_FIGURES, "flush_rows_per_second")


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    import redis

    database_url = fresh_postgres(DATABASE)
    # The in-process parts run with the server's configuration (Redis cache, ingest buffer).
    os.environ.update(CACHE_URL=CACHE_URL, CELERY_BROKER_URL=BROKER_URL)
    setup_django(database_url)
    redis.Redis.from_url(CACHE_URL).flushdb()  # no cached state from an earlier run's database
    from django.db import connection

    from bench.ingest_floor import CREATE_FLOOR_TABLE
    from tracking.services import website_create

    with connection.cursor() as cursor:
        cursor.execute(CREATE_FLOOR_TABLE)
    website = website_create(name="Bench", allowed_origins=[ORIGIN])
    results: dict[str, float] = {}
    if any(figure in LOAD_FIGURES for figure in figures):
        _measure_load(figures, quick, database_url, website, results)
    if "queries_per_ping" in figures:
        results["queries_per_ping"] = _queries_per_ping(website.app_id)
    return results
