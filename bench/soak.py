"""soak_error_rate and soak_p99_vs_idle: the real stack under sustained mixed widget traffic.

Starts gunicorn (PostgreSQL, Redis cache) and a Celery worker (Redis broker), then repeats a round:
probe the throughput flat out for a moment, a loaded window (a realistic mix held at 70% of that
probe's capacity, or of the probes' median when lower; open loop), then an idle window (one client
alone, the same mix). Each round gives one ratio, loaded p99
over idle p99, measured seconds apart, so the machine's background load (this machine is shared) hits
both sides and the capacity alike; the figure is the median of those ratios, and their spread goes to
stderr. (One probe at the start made the ratio follow the noise: a probe in a quiet moment set a load
the machine could not hold a minute later.)
soak_error_rate is the share of failed requests over every window.

soak_worker_peak_rss_mb and soak_worker_rss_growth_mb: the Celery worker's memory (its processes'
RSS together, sampled through the whole soak): the peak, and how much the last fifth of the samples
sits above the first fifth (flat: about 0; a leak grows with the run's length).
"""

import dataclasses
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

# Where the soak runs; a shared machine's runs set their own (port, database, Redis databases).
PORT = int(os.environ.get("BENCH_SOAK_PORT", "8761"))
DATABASE = os.environ.get("BENCH_SOAK_DATABASE", "parley_bench_soak")
CACHE_URL = os.environ.get("BENCH_SOAK_CACHE_URL", "redis://127.0.0.1:6379/15")
BROKER_URL = os.environ.get("BENCH_SOAK_BROKER_URL", "redis://127.0.0.1:6379/14")
CLIENTS = 16
CONNECTION_FAILED = 599
# A soak holds a sustainable load: 70% of what the stack serves flat out.
SOAK_LOAD_FRACTION = 0.7


@dataclasses.dataclass(frozen=True)
class SoakShape:
    windows: int  # rounds of (probe, loaded, idle)
    probe_seconds: float  # flat out, to set this round's load
    idle_requests: int  # per idle window: enough for a p99 of its own
    loaded_seconds: float  # per loaded window


FULL = SoakShape(windows=12, probe_seconds=3, idle_requests=200, loaded_seconds=8)
QUICK = SoakShape(windows=6, probe_seconds=2, idle_requests=150, loaded_seconds=4)
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
        "CACHE_URL": CACHE_URL,
        "CELERY_BROKER_URL": BROKER_URL,
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


def _idle_window(visitor: "Visitor", requests: int) -> tuple[int, int, list[float]]:
    """One client alone, the same mix as the load, one request after the other."""
    latencies = []
    outcomes = {"ok": 0, "failed": 0}
    for _ in range(requests):
        started = time.perf_counter()
        status = visitor.act()
        latencies.append(time.perf_counter() - started)
        outcomes["ok" if 200 <= status < 300 else "failed"] += 1
    return outcomes["ok"], outcomes["failed"], latencies


def _run_clients(visitors: list["Visitor"], seconds: float, interval: float | None) -> tuple[int, int, list[float]]:
    """The browsers for `seconds`, one thread each; with `interval`, each sends on a fixed schedule
    (open loop) and latency counts from the scheduled time, so queueing delay is not hidden."""
    latencies: list[float] = []
    outcomes = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    started_at = time.monotonic()
    stop_at = started_at + seconds

    def client(seed: int) -> None:
        visitor = visitors[seed]
        due = started_at + (interval or 0) * seed / len(visitors)
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

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(len(visitors))]
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


@dataclasses.dataclass
class SoakResult:
    ratios: list[float]
    idle_p99s: list[float]
    loaded_p99s: list[float]
    capacities: list[float]
    requests: int = 0
    failed: int = 0


def _soak(app_id: str, shape: SoakShape, rss: "RssSampler") -> SoakResult:
    """`shape.windows` rounds: probe the capacity, a window at 70% of it, an idle window."""
    visitors = [Visitor(app_id, random.Random(seed)) for seed in range(CLIENTS)]
    alone = Visitor(app_id, random.Random(CLIENTS))
    result = SoakResult([], [], [], [])
    with rss:
        for _ in range(shape.windows):
            ok, failed, _ = _run_clients(visitors, shape.probe_seconds, interval=None)
            result.capacities.append((ok + failed) / shape.probe_seconds)
            result.requests += ok + failed
            result.failed += failed
            # A probe in a lucky quiet second would set a load the machine cannot hold the next: never
            # above the median of the probes so far.
            capacity = min(result.capacities[-1], statistics.median(result.capacities))
            interval = CLIENTS / (capacity * SOAK_LOAD_FRACTION)
            loaded_ok, loaded_failed, loaded = _run_clients(visitors, shape.loaded_seconds, interval=interval)
            idle_ok, idle_failed, idle = _idle_window(alone, shape.idle_requests)
            result.idle_p99s.append(_percentile(idle, 0.99))
            result.loaded_p99s.append(_percentile(loaded, 0.99))
            result.ratios.append(result.loaded_p99s[-1] / result.idle_p99s[-1])
            result.requests += idle_ok + idle_failed + loaded_ok + loaded_failed
            result.failed += idle_failed + loaded_failed
    return result


def _report_spread(result: SoakResult) -> None:
    """What the median hides, for a person reading the run (stdout keeps one line per figure)."""

    def ms(values: list[float]) -> str:
        return " ".join(f"{value * 1000:.1f}" for value in values)

    ratios = sorted(result.ratios)
    print(
        f"soak: capacity per round {' '.join(f'{c:.0f}' for c in result.capacities)} req/s "
        f"(load {SOAK_LOAD_FRACTION:.0%} of it); "
        f"p99 ratio per window pair {' '.join(f'{r:.2f}' for r in result.ratios)}; "
        f"min {ratios[0]:.2f} median {statistics.median(ratios):.2f} max {ratios[-1]:.2f}; "
        f"idle p99 ms {ms(result.idle_p99s)}; loaded p99 ms {ms(result.loaded_p99s)}",
        file=sys.stderr,
        flush=True,
    )


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    database_url = fresh_postgres(DATABASE)
    app_id = _prepare(database_url)
    processes = _start_stack(database_url)
    try:
        rss = RssSampler(processes[1].pid)
        result = _soak(app_id, QUICK if quick else FULL, rss)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    _report_spread(result)
    return {
        "soak_error_rate": result.failed / max(result.requests, 1),
        "soak_p99_vs_idle": statistics.median(result.ratios),
        "soak_worker_peak_rss_mb": max(rss.samples),
        "soak_worker_rss_growth_mb": rss.growth_mb(),
    }
