"""What /readyz reports: the database (with migrations applied), the cache and the broker.

/readyz is public (load balancers and orchestrators poll it without credentials) and each run of the
checks costs a migration-graph load, database queries and two network round trips. So a process runs
them at most once every READINESS_TTL_SECONDS, one thread at a time, and answers every other request
from that run: a flood of /readyz costs each process one run per interval. What a check found goes out
as "ok", "migrations pending" or "unavailable"; why it failed (an exception's class and text, which can
name hosts) goes only to the log.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from config.celery import app as celery_app

logger = logging.getLogger(__name__)

READINESS_TTL_SECONDS = 2.0  # a node leaves rotation at most this late; floods cost one run per interval
READINESS_CACHE_KEY = "ops:readyz"
BROKER_TIMEOUT_SECONDS = 2
OK = "ok"
MIGRATIONS_PENDING = "migrations pending"
UNAVAILABLE = "unavailable"

_clock = time.monotonic  # monotonic: a wall-clock jump neither freezes nor floods the checks
_lock = threading.Lock()
_latest: tuple[float, dict[str, str]] | None = None  # (when the last run finished, its findings)
_running_since: float | None = None  # when the run in flight started
# A run taking longer than this is hanging (every check answers within the broker's timeout when its service does).
RUN_OVERDUE_SECONDS = 2 * READINESS_TTL_SECONDS + BROKER_TIMEOUT_SECONDS


class CheckFailed(Exception):
    """A check that reached its service but did not get the answer it needs (the text is for the log)."""


def _database() -> str:
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return MIGRATIONS_PENDING
    return OK


def _cache() -> str:
    round_trip = getattr(cache, "round_trip", None)
    if round_trip is not None:  # Parley's Redis cache fails soft, and skips Redis for a while after a failure: ask it
        value = round_trip(READINESS_CACHE_KEY)
    else:
        cache.set(READINESS_CACHE_KEY, "1", 5)
        value = cache.get(READINESS_CACHE_KEY)
    if value != "1":
        raise CheckFailed("the cache did not return what was written")
    return OK


def _broker() -> str:
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    return OK


CHECKS: dict[str, Callable[[], str]] = {"database": _database, "cache": _cache, "broker": _broker}


def _run_checks() -> dict[str, str]:
    findings = {}
    for name, check in CHECKS.items():
        try:
            findings[name] = check()
        except Exception as error:  # whatever the driver raises means "not ready"; the reason goes to the log
            logger.warning("Readiness: the %s is unavailable (%s: %s)", name, error.__class__.__name__, error)
            findings[name] = UNAVAILABLE
    return findings


def readiness_findings() -> dict[str, str]:
    """Each check's finding, from a run at most READINESS_TTL_SECONDS old in this process.

    One thread runs the checks; the others never wait for it. While it runs they answer with the previous
    run's findings, unless there is none yet or the run has taken longer than a check may (a database that
    stopped answering holds its query for minutes): then every check is "unavailable", so the node leaves
    rotation instead of answering an old "ok" for as long as the check hangs."""
    global _latest, _running_since
    latest = _latest
    if latest is not None and _clock() - latest[0] < READINESS_TTL_SECONDS:
        return latest[1]
    if not _lock.acquire(blocking=False):
        running_since = _running_since
        overdue = running_since is not None and _clock() - running_since > RUN_OVERDUE_SECONDS
        if latest is None or overdue:
            return dict.fromkeys(CHECKS, UNAVAILABLE)
        return latest[1]
    try:
        latest = _latest  # a run may have finished while this thread looked
        if latest is not None and _clock() - latest[0] < READINESS_TTL_SECONDS:
            return latest[1]
        _running_since = _clock()
        findings = _run_checks()
        _latest = (_clock(), findings)
        return findings
    finally:
        _running_since = None
        _lock.release()


def readiness_forget() -> None:
    """Drop the last run's findings: the next request runs the checks (tests, and settings changes)."""
    global _latest
    _latest = None
