"""soak_error_rate and soak_p99_vs_idle: the real stack under sustained mixed widget traffic.

Starts gunicorn (PostgreSQL, Redis cache) and a Celery worker (Redis broker), measures the p99
latency of a lone client's pings (idle), probes the throughput flat out, then holds half of it
for a while with a realistic mix (returning visitors' page views, new visitors, events) and prints
the share of failed requests and the p99 under that load divided by the idle p99.

soak_worker_peak_rss_mb and soak_worker_rss_growth_mb: the Celery worker's memory (its processes'
RSS together, sampled through the held load): the peak, and how much the last fifth of the samples
sits above the first fifth (flat: about 0; a leak grows with the run's length).
"""

import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time

import psutil

from bench.common import ROOT, fresh_postgres, start_gunicorn

PORT = 8761
CLIENTS = 16
SOAK_SECONDS = 60
QUICK_SOAK_SECONDS = 15
IDLE_REQUESTS = 200
CAPACITY_PROBE_SECONDS = 8
CONNECTION_FAILED = 599
# A soak holds a sustainable load: half of what the stack serves flat out.
SOAK_LOAD_FRACTION = 0.5
RSS_SAMPLE_SECONDS = 0.5
MB = 1024 * 1024
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36"


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class Visitor:
    """One browser: keeps its anonymous id and token like the widget does."""

    def __init__(self, app_id: str, rng: random.Random) -> None:
        self.app_id = app_id
        self.rng = rng
        self.anonymous_id: str | None = None
        self.token: str | None = None
        self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)

    def post(self, endpoint: str, body: dict) -> int:
        payload = json.dumps(body)
        # A browser's user agent: a ping without one is a bot's, answered without a contact.
        headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://shop.example", "User-Agent": BROWSER}
        for attempt in range(2):
            try:
                self.connection.request("POST", f"/widget-api/{self.app_id}/{endpoint}", payload, headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException):
                # The server closes idle keep-alive connections; like a browser, retry once on a new one.
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
                if attempt == 1:
                    return CONNECTION_FAILED
        if endpoint == "ping" and response.status == 200:
            answer = json.loads(data)
            self.anonymous_id, self.token = answer.get("anonymous_id"), answer.get("token")
        return response.status

    def page_view(self) -> int:
        body: dict = {
            "page": {"url": f"https://shop.example/p/{self.rng.randint(1, 500)}", "title": "Product"},
            "browser_language": "en-US",
        }
        if self.anonymous_id:
            body["anonymous_id"] = self.anonymous_id
        if self.token:
            body["token"] = self.token
        return self.post("ping", body)

    def act(self) -> int:
        roll = self.rng.random()
        if self.token and roll < 0.1:
            return self.post("events", {"token": self.token, "name": "added-to-cart", "metadata": {"sku": "A1"}})
        if roll < 0.3:  # a new visitor arrives on this connection
            self.anonymous_id = self.token = None
        return self.page_view()


def _start_stack(database_url: str) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CACHE_URL": "redis://127.0.0.1:6379/15",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14",
        "HTTPS_ONLY": "false",
        "ACCESS_LOG": "0",
        "WEB_CONCURRENCY": "2",
        "PARLEY_WIDGET_RATE_PER_IP": "100000000",
        "PARLEY_WIDGET_RATE_PER_CONTACT": "100000000",
        "LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config.celery:app", "worker", "--loglevel", "WARNING", "-c", "1"],
        cwd=ROOT,
        env=env,
    )
    try:
        return [start_gunicorn(port=PORT, env=env), worker]
    except RuntimeError:
        worker.terminate()
        raise


def _manage(database_url: str, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _prepare(database_url: str) -> str:
    """Migrate a fresh database and register the website; returns its app id."""
    _manage(database_url, "migrate", "--noinput")
    created = _manage(database_url, "create_website", "--name", "Soak", "--origin", "https://shop.example")
    return created.strip().splitlines()[-1]


def _idle_p99(app_id: str) -> float:
    visitor = Visitor(app_id, random.Random(1))
    samples = []
    for index in range(IDLE_REQUESTS):
        if index % 5 == 0:
            visitor.anonymous_id = visitor.token = None
        started = time.perf_counter()
        visitor.page_view()
        samples.append(time.perf_counter() - started)
    return _percentile(samples, 0.99)


def _run_clients(app_id: str, seconds: float, interval: float | None) -> tuple[int, int, list[float]]:
    """CLIENTS browsers for `seconds`; with `interval`, each sends on a fixed schedule (open loop)
    and latency counts from the scheduled time, so queueing delay is not hidden."""
    latencies: list[float] = []
    outcomes = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    started_at = time.monotonic()
    stop_at = started_at + seconds

    def client(seed: int) -> None:
        visitor = Visitor(app_id, random.Random(seed))
        due = started_at + (interval or 0) * seed / CLIENTS
        while due < stop_at:
            if interval is not None:
                time.sleep(max(0.0, due - time.monotonic()))
            begun = due if interval is not None else time.monotonic()
            status = visitor.act()
            elapsed = time.monotonic() - begun
            with lock:
                latencies.append(elapsed)
                outcomes["ok" if 200 <= status < 300 else "failed"] += 1
            due = due + interval if interval is not None else time.monotonic()

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes["ok"], outcomes["failed"], latencies


class RssSampler:
    """Samples a process tree's total RSS (the worker and its pool children) in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total_mb(self) -> float:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # a pool child replaced in between
                continue
        return total / MB

    def _run(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.samples.append(self._total_mb())

    def __enter__(self) -> "RssSampler":
        self.samples.append(self._total_mb())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def growth_mb(self) -> float:
        fifth = max(1, len(self.samples) // 5)
        return statistics.median(self.samples[-fifth:]) - statistics.median(self.samples[:fifth])


def _soak(app_id: str, seconds: float, worker_pid: int) -> tuple[float, float, RssSampler]:
    """Find the stack's capacity, then hold half of it and report (error rate, p99, worker memory)."""
    ok, failed, _ = _run_clients(app_id, CAPACITY_PROBE_SECONDS, interval=None)
    capacity = (ok + failed) / CAPACITY_PROBE_SECONDS
    interval = CLIENTS / (capacity * SOAK_LOAD_FRACTION)
    with RssSampler(worker_pid) as rss:
        ok, failed, latencies = _run_clients(app_id, seconds, interval=interval)
    return failed / max(ok + failed, 1), _percentile(latencies, 0.99), rss


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    database_url = fresh_postgres("parley_bench_soak")
    app_id = _prepare(database_url)
    processes = _start_stack(database_url)
    try:
        idle = _idle_p99(app_id)
        error_rate, loaded, rss = _soak(app_id, QUICK_SOAK_SECONDS if quick else SOAK_SECONDS, processes[1].pid)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    return {
        "soak_error_rate": error_rate,
        "soak_p99_vs_idle": loaded / idle,
        "soak_worker_peak_rss_mb": max(rss.samples),
        "soak_worker_rss_growth_mb": rss.growth_mb(),
    }
