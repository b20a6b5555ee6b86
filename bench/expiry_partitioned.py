"""expiry_partitioned_vs_plain: the visitor expiry with 10,000,000 page views in monthly partitions,
divided by the same expiry on plain tables.

One database is built on the local PostgreSQL with plain history tables (as an install from before
partitioning) and server-side SQL: people seen over the last 15 months with 100 page views each
(10 sessions of 10, spread over those months) and 2% of the page views belonging to stale visitors
(10 page views and 3 events each, last seen 9 to 12 months ago). It is copied (CREATE DATABASE …
TEMPLATE …) and the copy converted with `manage.py partition_tables` (its time goes to stderr).
Then Parley's expiry (`retention.services.visitors_expire`, in a fresh subprocess on a Redis
cache, as in bench/expiry.py) runs on a fresh copy of each, after a checkpoint, in both orders (plain first, then
partitioned first); the figure divides the sums. All four runs must leave the same rows behind.
`--quick` builds 1,000,000 page views instead of 10,000,000 (the figure name stays).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.common import ROOT, fresh_postgres
from bench.datasets import insert_select
from bench.expiry import (
    CONTACT_COLUMNS,
    CONTACTS_FROM,
    EVENT_COLUMNS,
    EVENTS_FROM,
    PAGE_VIEW_COLUMNS,
    SESSION_COLUMNS,
    SUMMARIES_FROM,
    SUMMARY_COLUMNS,
    TTL_DAYS,
    _copy,
    _psql,
    _row_counts,
    _run_parley_expiry,
)

PAGE_VIEWS = 10_000_000
QUICK_PAGE_VIEWS = 1_000_000
STALE_SHARE = 0.02  # of the page views, the stale visitors'
STALE_PAGE_VIEWS_EACH = 10  # bench/expiry.py's visitors: 2 sessions of 5
PAGE_VIEWS_EACH = 100  # everyone else: 10 sessions of 10 over 15 months
PREFIX = os.environ.get("BENCH_DATABASE_PREFIX", "parley_bench")

STALE = "c.last_seen_at < now() - %(ttl)s::int * interval '1 day'"
STALE_SESSIONS_FROM = f"contacts_contact c CROSS JOIN generate_series(1, 2) AS s WHERE {STALE}"
STALE_PAGE_VIEWS_FROM = (
    f"tracking_websession s JOIN contacts_contact c ON c.id = s.contact_id AND {STALE} "
    "CROSS JOIN generate_series(1, 5) AS p"
)
ACTIVE_SESSION_COLUMNS = {
    **SESSION_COLUMNS,
    "started_at": "c.last_seen_at - ((c.id * 37 + s * 43) %% 450) * interval '1 day'",
    "last_activity_at": "c.last_seen_at - ((c.id * 37 + s * 43) %% 450) * interval '1 day' + interval '10 minute'",
    "page_views_count": "10",
}
ACTIVE_SESSIONS_FROM = f"contacts_contact c CROSS JOIN generate_series(1, 10) AS s WHERE NOT ({STALE})"
ACTIVE_PAGE_VIEWS_FROM = (
    f"tracking_websession s JOIN contacts_contact c ON c.id = s.contact_id AND NOT ({STALE}) "
    "CROSS JOIN generate_series(1, 10) AS p"
)


def _build(name: str, page_views: int) -> str:
    """A migrated database with plain history tables holding `page_views` page views."""
    url = fresh_postgres(name)
    env = {**os.environ, "DATABASE_URL": url, "HTTPS_ONLY": "false"}
    for command in (["migrate", "--verbosity", "0"], ["partition_tables", "--undo"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    stale = int(page_views * STALE_SHARE) // STALE_PAGE_VIEWS_EACH
    active = int(page_views * (1 - STALE_SHARE)) // PAGE_VIEWS_EACH
    groups = [  # (role, prefix, days since last seen at least, count); the users and leads are never expired
        ("visitor", "v", TTL_DAYS + 1, stale),
        ("visitor", "lv", 0, active * 7 // 10),
        ("lead", "l", 0, active // 10),
        ("user", "u", 0, active - active * 7 // 10 - active // 10),
    ]
    ttl = {"ttl": TTL_DAYS}
    with psycopg.connect(url, autocommit=True) as connection:
        for role, prefix, days, count in groups:
            params = {"role": role, "prefix": f"{prefix}-", "days": days, "count": count}
            insert_select(connection, "contacts_contact", CONTACT_COLUMNS, CONTACTS_FROM, params)
        insert_select(connection, "tracking_websession", SESSION_COLUMNS, STALE_SESSIONS_FROM, ttl)
        insert_select(connection, "tracking_websession", ACTIVE_SESSION_COLUMNS, ACTIVE_SESSIONS_FROM, ttl)
        insert_select(connection, "tracking_pageview", PAGE_VIEW_COLUMNS, STALE_PAGE_VIEWS_FROM, ttl)
        insert_select(connection, "tracking_pageview", PAGE_VIEW_COLUMNS, ACTIVE_PAGE_VIEWS_FROM, ttl)
        insert_select(connection, "tracking_event", EVENT_COLUMNS, EVENTS_FROM)
        insert_select(connection, "tracking_eventsummary", SUMMARY_COLUMNS, SUMMARIES_FROM)
        connection.execute("VACUUM ANALYZE")
    return url


def _partition(url: str) -> float:
    """Convert a database's history tables with the command an operator runs; its seconds."""
    env = {**os.environ, "DATABASE_URL": url, "HTTPS_ONLY": "false"}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "partition_tables"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return seconds


def _timed_expiry(source: str, copy: str) -> tuple[float, dict[str, int]]:
    """Parley's expiry on a fresh copy of `source` (neither shape finds its pages warmer in PostgreSQL's
    buffers), after a checkpoint: the copy's own writes are on disk before the clock starts, so they do
    not slow the commits of whichever expiry runs right after the copies."""
    url = _copy(source, copy)
    _psql(copy, "CHECKPOINT")
    seconds, _ = _run_parley_expiry(url)
    return seconds, _row_counts(url)


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    page_views = QUICK_PAGE_VIEWS if quick else PAGE_VIEWS
    plain_name, partitioned_name = f"{PREFIX}_expiry_plain", f"{PREFIX}_expiry_partitioned"
    _build(plain_name, page_views)
    conversion_seconds = _partition(_copy(plain_name, partitioned_name))
    # Both orders, each expiry on its own fresh copy: a shape that always ran second (or first) would
    # carry whatever the machine was doing then. The figure divides the sums.
    seconds = {plain_name: [], partitioned_name: []}
    rows = {}
    for order in ((plain_name, partitioned_name), (partitioned_name, plain_name)):
        for name in order:
            elapsed, rows[name] = _timed_expiry(name, f"{name}_run")
            seconds[name].append(elapsed)
    if rows[plain_name] != rows[partitioned_name]:
        raise RuntimeError(
            f"Partitioned and plain tables left different rows: {rows[partitioned_name]} != {rows[plain_name]}"
        )
    partitioned_seconds, plain_seconds = sum(seconds[partitioned_name]), sum(seconds[plain_name])
    print(
        f"# {page_views} page views: expiry partitioned "
        f"{' + '.join(f'{t:.2f}' for t in seconds[partitioned_name])}s, plain "
        f"{' + '.join(f'{t:.2f}' for t in seconds[plain_name])}s (plain first, then partitioned first); "
        f"partition_tables took {conversion_seconds:.1f}s",
        file=sys.stderr,
    )
    for name in (plain_name, partitioned_name, f"{plain_name}_run", f"{partitioned_name}_run"):
        _psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {"expiry_partitioned_vs_plain": partitioned_seconds / plain_seconds}
