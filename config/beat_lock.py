"""Exactly one beat: a beat process holds a PostgreSQL advisory lock while it schedules.

A second beat started by mistake (or on purpose, as a standby on another machine) waits at start
for the lock and sends nothing; when the first one stops or dies, its database session ends, the
lock is released, and the waiting one takes over within POLL_SECONDS. A beat that loses its lock
session (a database restart or a cut connection) exits at once, so two beats never schedule
together; its supervisor starts it again and it waits for the lock like any other.

Embedded mode (SQLite, beat inside the worker) has one process anyway: no lock there.
"""

import logging
import os
import threading
import time
from typing import Any

from django.db import connections

logger = logging.getLogger(__name__)

# pg_advisory_lock key: "parley-beat" folded into a bigint; any fixed number unique to Parley works.
BEAT_LOCK_KEY = 0x7061726C6579_0B
POLL_SECONDS = 2.0
WATCH_SECONDS = 5.0
EXIT_LOCK_LOST = 75  # sysexits.h EX_TEMPFAIL: the supervisor restarts it, then it waits for the lock

_holder: Any = None  # the dedicated database session that holds the lock, for the process's lifetime


def beat_lock_wait() -> None:
    """Block until this process holds the beat lock (PostgreSQL only), then watch that session."""
    global _holder
    if connections["default"].vendor != "postgresql" or _holder is not None:
        return
    holder = connections.create_connection("default")
    holder.inc_thread_sharing()  # the watch thread checks the same session
    said_waiting = False
    while True:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY])
            (acquired,) = cursor.fetchone()
        if acquired:
            break
        if not said_waiting:
            logger.warning("Another beat holds the beat lock: this one waits as a standby and sends nothing.")
            said_waiting = True
        time.sleep(POLL_SECONDS)
    _holder = holder
    logger.info("Beat lock taken: this beat schedules.")
    threading.Thread(target=_watch, name="beat-lock-watch", daemon=True).start()


def _watch() -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        try:
            with _holder.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as error:
            logger.error(
                "The beat lock's database session is lost (%s): exiting so no two beats schedule.",
                error.__class__.__name__,
            )
            os._exit(EXIT_LOCK_LOST)
