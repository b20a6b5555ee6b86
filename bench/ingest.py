"""ingest_vs_floor and queries_per_ping: the widget ping path against a one-INSERT floor.

Starts gunicorn (PostgreSQL, Redis cache and broker) with Parley's settings plus one extra route, a
bare DRF POST that does one INSERT (bench/ingest_floor.py), so both endpoints run in the very same
process setup, and a real Celery worker that flushes the page-view buffer while the load runs (its
CPU counts against Parley: same machine). A Python load generator on loopback sends the same
page-view bodies to both, in alternating rounds, from returning visitors (steady state: same session,
token and anonymous id). Prints the median, over pairs of rounds, of Parley's page-view pings per
second divided by the floor's, after checking that every answered ping's page view reached the
database; and the database queries of one steady-state ping measured in-process (transaction
control statements not counted).
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time

from bench.common import ROOT, database_name, fresh_postgres, setup_django, start_gunicorn

PORT = int(os.environ.get("BENCH_INGEST_PORT", "8763"))
CACHE_URL = os.environ.get("BENCH_INGEST_CACHE_URL", "redis://127.0.0.1:6379/12")
BROKER_URL = os.environ.get("BENCH_INGEST_BROKER_URL", "redis://127.0.0.1:6379/13")
DRAIN_TIMEOUT_SECONDS = 120
CLIENTS = 8
VISITORS_PER_CLIENT = 25
# Short rounds, many pairs, order swapped every pair: a shared, noisy machine drifts less within a pair.
ROUND_SECONDS, QUICK_ROUND_SECONDS = 3.0, 2.5
PAIRS, QUICK_PAIRS = 11, 2
ORIGIN = "https://shop.example"
USER_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36"
QUERY_SAMPLES = 20
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


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
    """One Celery worker process (as `make run` starts): it writes the buffered page views."""
    command = [
        sys.executable, "-m", "celery", "-A", "config.celery:app", "worker", "--pool", "solo", "--loglevel",
        "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=_server_env(database_url))


def _wait_for_page_views(expected: int) -> int:
    """Page views in the database once the buffer drained (or the timeout passed)."""
    from tracking.models import PageView

    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while True:
        written = PageView.objects.count()
        if written >= expected or time.monotonic() > deadline:
            return written
        time.sleep(0.5)


class Client:
    """One load-generating connection serving a few returning visitors in turn."""

    def __init__(self, app_id: str, index: int) -> None:
        self.app_id = app_id
        self.index = index
        self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.visitors: list[dict] = [{} for _ in range(VISITORS_PER_CLIENT)]
        self.turn = 0
        self.pings_answered = 0

    def _body(self, visitor: dict) -> str:
        self.turn += 1
        body = {
            "page": {"url": f"https://shop.example/p/{self.turn % 300}", "title": "Product", "referrer": ""},
            "browser_language": "en-US",
            "consent": False,
            **visitor,
        }
        return json.dumps(body)

    def send(self, path: str, visitor: dict) -> int:
        headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN, "User-Agent": USER_AGENT}
        try:
            self.connection.request("POST", path, self._body(visitor), headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            return 599
        if response.status == 200 and path.endswith("/ping") and path.startswith("/widget-api/"):
            answer = json.loads(data)
            visitor.update(anonymous_id=answer["anonymous_id"], token=answer["token"])
            self.pings_answered += 1
        return response.status

    def warm_up(self) -> None:
        for _ in range(2):
            for visitor in self.visitors:
                self.send(f"/widget-api/{self.app_id}/ping", visitor)

    def run(self, path: str, stop_at: float, counts: list[int]) -> None:
        done = failed = 0
        while time.monotonic() < stop_at:
            visitor = self.visitors[self.turn % VISITORS_PER_CLIENT]
            if self.send(path, visitor) == 200:
                done += 1
            else:
                failed += 1
        counts[self.index] = done
        if failed:
            print(f"  ({failed} failed requests to {path})", file=sys.stderr)


def _drive(clients: list[Client], path: str, seconds: float) -> float:
    counts = [0] * len(clients)
    started = time.monotonic()
    stop_at = started + seconds
    threads = [threading.Thread(target=c.run, args=(path, stop_at, counts)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def _pings_per_second(app_id: str, quick: bool) -> tuple[float, float, float, int]:
    """(median of Parley/floor over the pairs of rounds, Parley's and the floor's mean rates, pings answered)."""
    clients = [Client(app_id, index) for index in range(CLIENTS)]
    threads = [threading.Thread(target=client.warm_up) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = QUICK_ROUND_SECONDS if quick else ROUND_SECONDS
    parley, floor = [], []
    floor_path, parley_path = f"/bench-floor/{app_id}/ping", f"/widget-api/{app_id}/ping"
    _drive(clients, floor_path, 1.0)  # warm the floor's code paths too
    for pair in range(QUICK_PAIRS if quick else PAIRS):
        if pair % 2:
            parley.append(_drive(clients, parley_path, seconds))
            floor.append(_drive(clients, floor_path, seconds))
        else:
            floor.append(_drive(clients, floor_path, seconds))
            parley.append(_drive(clients, parley_path, seconds))
    answered = sum(client.pings_answered for client in clients)
    ratios = [p / f for p, f in zip(parley, floor, strict=True)]
    print("  Parley/floor per pair of rounds: " + " ".join(f"{r:.2f}" for r in ratios), file=sys.stderr)
    ratio = statistics.median(ratios)
    return ratio, statistics.fmean(parley), statistics.fmean(floor), answered


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


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    import redis

    database_url = fresh_postgres(database_name("parley_bench_ingest"))
    # The in-process query count runs with the server's configuration (Redis cache, page-view buffer).
    os.environ.update(CACHE_URL=CACHE_URL, CELERY_BROKER_URL=BROKER_URL)
    setup_django(database_url)
    redis.Redis.from_url(CACHE_URL).flushdb()  # no cached state from an earlier run's database
    from django.db import connection

    from bench.ingest_floor import CREATE_FLOOR_TABLE
    from tracking.services import website_create

    with connection.cursor() as cursor:
        cursor.execute(CREATE_FLOOR_TABLE)
    app_id = website_create(name="Bench", allowed_origins=[ORIGIN]).app_id
    connection.close()
    results: dict[str, float] = {}
    if "ingest_vs_floor" in figures:
        redis.Redis.from_url(BROKER_URL).flushdb()
        worker = _start_worker(database_url)
        server = start_gunicorn(port=PORT, env=_server_env(database_url))
        try:
            ratio, parley, floor, answered = _pings_per_second(app_id, quick)
            written = _wait_for_page_views(answered)
        finally:
            for process in (server, worker):
                process.terminate()
                process.wait(timeout=30)
        print(
            f"  ping {parley:.0f}/s, floor {floor:.0f}/s; page views written {written} of {answered}", file=sys.stderr
        )
        if written != answered:
            raise SystemExit(f"ingest: {answered} pings answered but {written} page views written")
        results["ingest_vs_floor"] = ratio
    if "queries_per_ping" in figures:
        results["queries_per_ping"] = _queries_per_ping(app_id)
    return results
