"""expiry_vs_raw_sql, expiry_peak_rss_mb_20k, expiry_peak_rss_mb_200k.

A database is built on the local PostgreSQL with server-side SQL (generate_series): N stale
visitors with 2 sessions, 10 page views and 3 events each, plus live visitors, leads and users
with the same history (leads and users last seen long ago). It is copied (CREATE DATABASE …
TEMPLATE …), then Parley's expiry (`retention.services.visitors_expire`, in batches, in a fresh
subprocess) runs on one copy while a hand-written single-transaction `DELETE … USING` cascade runs
on the other. Both must leave the same rows behind.

- expiry_vs_raw_sql: Parley's time / raw SQL time at N = 200,000 (goal ≤ 1.5).
- expiry_peak_rss_mb_20k / _200k: peak RSS (MB) of the subprocess running the expiry at
  N = 20,000 and N = 200,000 (goal: within 20% of each other, i.e. memory stays flat).
`--quick` divides N by 10 (the figure names stay).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.common import POSTGRES_SERVER, ROOT, fresh_postgres
from bench.datasets import insert_select

SMALL, LARGE = 20_000, 200_000
CACHE_URL = os.environ.get("BENCH_EXPIRY_CACHE_URL", "redis://127.0.0.1:6379/11")
QUICK_DIVISOR = 10
TTL_DAYS = 270
# Per stale visitor: other contacts, as a share of N, that must survive the run.
LIVE_VISITORS_SHARE, LEADS_SHARE, USERS_SHARE = 0.2, 0.05, 0.05

# What each table gets, column by column; columns not named here (added by later migrations) are
# filled by `bench.datasets.insert_select` with NULL, their database default or an empty value of their type.
CONTACT_COLUMNS = {
    "role": "%(role)s::text",
    "external_id": "CASE WHEN %(role)s::text = 'user' THEN %(prefix)s::text || g END",
    "anonymous_id": "gen_random_uuid()",
    "name": "CASE WHEN %(role)s::text = 'visitor' THEN '' ELSE 'Person ' || g END",
    "email": "CASE WHEN %(role)s::text = 'visitor' THEN '' ELSE %(prefix)s::text || g || '@example.com' END",
    "first_seen_at": "now() - %(days)s::int * interval '1 day' - (g %% 100) * interval '1 day' - interval '3 day'",
    "last_seen_at": "now() - %(days)s::int * interval '1 day' - (g %% 100) * interval '1 day'",
    "web_sessions_count": "2",
    "city": "'Paris'",
    "country": "'FR'",
    "country_name": "'France'",
    "os": "'Mac OS X'",
    "browser": "'Chrome'",
    "browser_version": "'131.0'",
    "browser_language": "'en-US'",
    "custom_attributes": "'{}'::jsonb",
    "created_at": "now() - %(days)s::int * interval '1 day' - interval '200 day'",
    "updated_at": "now()",
}
CONTACTS_FROM = "generate_series(1, %(count)s::int) AS g"
SESSION_COLUMNS = {
    "contact_id": "c.id",
    "started_at": "c.last_seen_at - s * interval '1 hour'",
    "last_activity_at": "c.last_seen_at - s * interval '1 hour' + interval '5 minute'",
    "page_views_count": "5",
    "landing_url": "'https://example.com/'",
    "referrer": "'https://www.google.com/'",
    "utm_source": "'google'",
    "os": "'Mac OS X'",
    "browser": "'Chrome'",
    "city": "'Paris'",
    "country": "'FR'",
}
SESSIONS_FROM = "contacts_contact c CROSS JOIN generate_series(1, 2) AS s"
PAGE_VIEW_COLUMNS = {
    "contact_id": "s.contact_id",
    "session_id": "s.id",
    "url": "'https://example.com/docs/page-' || p",
    "title": "'Docs page ' || p",
    "referrer": "'https://example.com/'",
    "created_at": "s.started_at + p * interval '1 minute'",
}
PAGE_VIEWS_FROM = "tracking_websession s CROSS JOIN generate_series(1, 5) AS p"
EVENT_COLUMNS = {
    "contact_id": "c.id",
    "name": "'opened-docs'",
    "metadata": "jsonb_build_object('page', e)",
    "created_at": "c.last_seen_at - e * interval '1 minute'",
}
EVENTS_FROM = "contacts_contact c CROSS JOIN generate_series(1, 3) AS e"
SUMMARY_COLUMNS = {
    "contact_id": "contact_id",
    "name": "name",
    "count": "count(*)",
    "first_at": "min(created_at)",
    "last_at": "max(created_at)",
}
SUMMARIES_FROM = "tracking_event GROUP BY contact_id, name"
# The hand-written reference: every table that reaches a contact, leaves first, one transaction.
RAW_SQL_CASCADE = f"""
BEGIN;
CREATE TEMP TABLE doomed ON COMMIT DROP AS
    SELECT id FROM contacts_contact
    WHERE role = 'visitor' AND coalesce(last_seen_at, first_seen_at, created_at) < now() - interval '{TTL_DAYS} days';
CREATE TEMP TABLE doomed_conversations ON COMMIT DROP AS
    SELECT c.id FROM conversations_conversation c JOIN doomed d ON c.contact_id = d.id;
DELETE FROM conversations_conversationpart p USING doomed_conversations d WHERE p.conversation_id = d.id;
DELETE FROM conversations_conversationpart p USING doomed d WHERE p.author_contact_id = d.id;
DELETE FROM conversations_conversation_tags t USING doomed_conversations d WHERE t.conversation_id = d.id;
UPDATE conversations_messagedelivery m SET conversation_id = NULL
    FROM doomed_conversations d WHERE m.conversation_id = d.id;
DELETE FROM conversations_messagedelivery m USING doomed d WHERE m.contact_id = d.id;
DELETE FROM conversations_conversation c USING doomed_conversations d WHERE c.id = d.id;
DELETE FROM tracking_pageview p USING doomed d WHERE p.contact_id = d.id;
DELETE FROM tracking_websession s USING doomed d WHERE s.contact_id = d.id;
DELETE FROM tracking_event e USING doomed d WHERE e.contact_id = d.id;
DELETE FROM tracking_eventsummary e USING doomed d WHERE e.contact_id = d.id;
DELETE FROM contacts_contacttag t USING doomed d WHERE t.contact_id = d.id;
DELETE FROM contacts_contact c USING doomed d WHERE c.id = d.id;
COMMIT;
"""
COUNTED_TABLES = (
    "contacts_contact", "contacts_contacttag", "tracking_websession", "tracking_pageview", "tracking_event",
    "tracking_eventsummary", "conversations_conversation", "conversations_conversationpart",
)  # fmt: skip


def _psql(database: str, sql: str) -> None:
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-c", sql],
        check=True,
        capture_output=True,
    )


def _build(name: str, stale: int) -> str:
    """A migrated database `name` holding `stale` stale visitors and the survivors around them."""
    url = fresh_postgres(name)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "HTTPS_ONLY": "false"},
        check=True,
    )
    groups = [
        ("visitor", "v", TTL_DAYS + 1, stale),
        ("visitor", "lv", 0, int(stale * LIVE_VISITORS_SHARE)),
        ("lead", "l", TTL_DAYS + 400, int(stale * LEADS_SHARE)),
        ("user", "u", TTL_DAYS + 400, int(stale * USERS_SHARE)),
    ]
    with psycopg.connect(url, autocommit=True) as connection:
        for role, prefix, days, count in groups:
            params = {"role": role, "prefix": f"{prefix}-", "days": days, "count": count}
            insert_select(connection, "contacts_contact", CONTACT_COLUMNS, CONTACTS_FROM, params)
        insert_select(connection, "tracking_websession", SESSION_COLUMNS, SESSIONS_FROM)
        insert_select(connection, "tracking_pageview", PAGE_VIEW_COLUMNS, PAGE_VIEWS_FROM)
        insert_select(connection, "tracking_event", EVENT_COLUMNS, EVENTS_FROM)
        insert_select(connection, "tracking_eventsummary", SUMMARY_COLUMNS, SUMMARIES_FROM)
        connection.execute("VACUUM ANALYZE")
    return url


def _copy(source: str, copy: str) -> str:
    _psql("postgres", f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
    _psql("postgres", f'CREATE DATABASE "{copy}" TEMPLATE "{source}"')
    return f"{POSTGRES_SERVER}/{copy}"


def _row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        return {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in COUNTED_TABLES}


def _run_parley_expiry(url: str) -> tuple[float, float]:
    """Seconds spent in the expiry service and peak RSS (MB) of the subprocess that ran it.

    On PostgreSQL with a Redis cache, the production shape: an expiry batch marks its contacts gone in
    the cache, and the embedded default (a file cache) would time its directory listings instead."""
    import redis

    redis.Redis.from_url(CACHE_URL).flushdb()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", url],
        cwd=ROOT,
        env={**os.environ, "CACHE_URL": CACHE_URL},
        stdout=subprocess.PIPE,
        text=True,
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"expiry subprocess failed ({process.returncode}): {output}")
    seconds = float(output.strip().splitlines()[-1])
    return seconds, usage.ru_maxrss / 1024  # Linux reports kilobytes


def _run_raw_sql(url: str) -> float:
    with psycopg.connect(url, autocommit=True) as connection:
        started = time.perf_counter()
        connection.execute(RAW_SQL_CASCADE)
        return time.perf_counter() - started


def _child(url: str) -> None:
    """Run inside the subprocess: Django on `url`, the expiry service, its time on the last line."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("HTTPS_ONLY", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from retention.services import visitors_expire

    started = time.perf_counter()
    run = visitors_expire(trigger="bench")
    elapsed = time.perf_counter() - started
    assert run is not None and run.status == "done", run
    print(f"{elapsed:.6f}")


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    small, large = (SMALL // QUICK_DIVISOR, LARGE // QUICK_DIVISOR) if quick else (SMALL, LARGE)
    results: dict[str, float] = {}
    if {"expiry_vs_raw_sql", "expiry_peak_rss_mb_200k"} & set(figures):
        parley_url = _build("parley_bench_expiry_large", large)
        raw_url = _copy("parley_bench_expiry_large", "parley_bench_expiry_large_raw")
        parley_seconds, results["expiry_peak_rss_mb_200k"] = _run_parley_expiry(parley_url)
        raw_seconds = _run_raw_sql(raw_url)
        parley_rows, raw_rows = _row_counts(parley_url), _row_counts(raw_url)
        if parley_rows != raw_rows:
            raise RuntimeError(f"Parley and raw SQL left different rows: {parley_rows} != {raw_rows}")
        results["expiry_vs_raw_sql"] = parley_seconds / raw_seconds
        print(f"# N={large}: parley {parley_seconds:.2f}s, raw SQL {raw_seconds:.2f}s", file=sys.stderr)
        for name in ("parley_bench_expiry_large", "parley_bench_expiry_large_raw"):
            _psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if "expiry_peak_rss_mb_20k" in figures:
        small_url = _build("parley_bench_expiry_small", small)
        _, results["expiry_peak_rss_mb_20k"] = _run_parley_expiry(small_url)
        _psql("postgres", 'DROP DATABASE IF EXISTS "parley_bench_expiry_small" WITH (FORCE)')
    return results


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
