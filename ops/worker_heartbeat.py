"""Whether a Celery worker is running: each worker's main process writes the time to the cache every few seconds,
and the admin says so on every page once none has for `PARLEY_WORKER_LATE_SECONDS` (emails, in-app messages,
exports, the page-view flush and beat's schedules wait for one). A worker killed or frozen stops writing."""

import threading
import time

from django.conf import settings
from django.core.cache import cache

SEEN_KEY = "ops:worker-seen"


def _interval() -> float:
    return max(1.0, min(15.0, settings.PARLEY_WORKER_LATE_SECONDS / 4))


def worker_heartbeat_start() -> threading.Event:
    """In a worker's main process, once it is ready: the heartbeat, until the process ends (or the event returned
    is set)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            cache.set(SEEN_KEY, time.time(), None)  # kept for good: its age is the news
            stop.wait(_interval())

    threading.Thread(target=beat, name="parley-worker-heartbeat", daemon=True).start()
    return stop


def worker_silent_for() -> float | None:
    """Seconds since a worker was last heard from, when that is longer than the setting; None otherwise (and
    before any worker ever ran here: a new install says nothing until its first worker has)."""
    seen = cache.get(SEEN_KEY)
    if not isinstance(seen, int | float):
        return None
    silent = time.time() - seen
    return silent if silent > settings.PARLEY_WORKER_LATE_SECONDS else None
