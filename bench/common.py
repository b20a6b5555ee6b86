"""Shared set-up for benchmarks: a fresh PostgreSQL database, Django configured on it, timers."""

import http.client
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
# Benchmarks run production-shaped (PostgreSQL, DEBUG off), which refuses a missing SECRET_KEY;
# the servers and workers they start inherit this one.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))


def fresh_postgres(name: str) -> str:
    """Drop and create database `name`; returns its URL."""
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(
            ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql],
            check=True,
            capture_output=True,
        )
    return f"{POSTGRES_SERVER}/{name}"


def setup_django(database_url: str) -> None:
    """Point Django at `database_url`, set it up and migrate quietly."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("HTTPS_ONLY", "false")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # Benchmarks render admin pages without a collectstatic run first. Through override_settings: its
    # setting_changed signal drops the storages already built while the apps loaded (the attachments').
    from django.test.utils import override_settings

    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()

    call_command("migrate", verbosity=0)


def median_seconds(action: Callable[[], object], *, repeat: int = 7, warmup: int = 2) -> float:
    """Median wall time of `action` after warm-up runs."""
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def time_pages(client: object, urls: list[str], *, repeat: int = 5, warmup: int = 2) -> float:
    """Sum of the median times of GET `urls` through a Django test client; each must answer 200."""
    total = 0.0
    for url in urls:

        def fetch(url: str = url) -> None:
            response = client.get(url)  # type: ignore[attr-defined]
            assert response.status_code == 200, (url, response.status_code)

        total += median_seconds(fetch, repeat=repeat, warmup=warmup)
    return total


def time_admin_pages(
    *, size: int, database: str, build: Callable[[int], object], pages: Callable[[], list[str]]
) -> None:
    """One side of an admin page figure, in the process large_vs_small starts: a fresh database `database` with
    `size` rows made by `build`, the superuser `bench` (made here unless `build` made it) logged in, then the
    summed median time of `pages()` printed for large_vs_small to read."""
    setup_django(fresh_postgres(database))
    from django.contrib.auth import get_user_model
    from django.test import Client

    build(size)
    users = get_user_model().objects
    teammate = users.filter(username="bench").first() or users.create_superuser("bench", "bench@example.com", "x")
    client = Client()
    client.force_login(teammate)
    print(time_pages(client, pages()))


def database_name(name: str) -> str:
    """`name` with its leading `parley_bench` replaced by $BENCH_DATABASE_PREFIX when set, so that two
    people benchmarking on one PostgreSQL server never drop each other's databases."""
    prefix = os.environ.get("BENCH_DATABASE_PREFIX")
    if not prefix or not name.startswith("parley_bench") or name.startswith(prefix):
        return name  # no prefix asked for, or the name has it already (the partitioning benchmarks)
    return prefix + name.removeprefix("parley_bench")


def large_vs_small(module: str, *, small: int, large: int, database_prefix: str) -> float:
    """Run `python -m module SIZE DATABASE` for both sizes, each in its own process and database,
    and divide the large size's printed seconds by the small one's (both go to stderr too)."""

    def seconds(size: int, database: str) -> float:
        output = subprocess.run(
            [sys.executable, "-m", module, str(size), database],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return float(output.strip().splitlines()[-1])

    prefix = database_name(database_prefix)
    large_seconds, small_seconds = seconds(large, f"{prefix}_large"), seconds(small, f"{prefix}_small")
    print(f"# {module}: {large:,} rows {large_seconds:.4f}s, {small:,} rows {small_seconds:.4f}s", file=sys.stderr)
    return large_seconds / small_seconds


def start_gunicorn(*, port: int, env: dict[str, str]) -> subprocess.Popen:
    """Start the real web server (config/gunicorn.py) on `port` and wait until /healthz answers."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}", "config.wsgi"],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError("the web server did not start")
