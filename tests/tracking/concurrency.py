"""Two database sessions racing on purpose (PostgreSQL): one holds its transaction open while the other
runs into its locks, so a test decides who goes first instead of hoping for it."""

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection, connections, transaction

WAIT_SECONDS = 30
POLL_SECONDS = 0.02


class Session(threading.Thread):
    """`work()` in a thread with its own database connection.

    With `hold=True` it runs in a transaction that stays open after `work()` returns (`done` is set)
    until `release()`, so its row locks are held meanwhile; otherwise `work()` commits as it would in
    a request or a task."""

    def __init__(self, work: Callable[[], Any], *, hold: bool = False) -> None:
        super().__init__(daemon=True)
        self.work, self.hold = work, hold
        self.result: Any = None
        self.error: BaseException | None = None
        self.pid: int | None = None
        self.started_work = threading.Event()
        self.done = threading.Event()
        self._release = threading.Event()

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.started_work.set()
            if self.hold:
                with transaction.atomic():
                    self.result = self.work()
                    self.done.set()
                    self._release.wait(WAIT_SECONDS)
            else:
                self.result = self.work()
        except BaseException as error:  # reported by finish(); the test thread raises it
            self.error = error
        finally:
            self.done.set()
            connections.close_all()

    def begin(self) -> "Session":
        """Start, and for a held session wait until `work()` returned inside its open transaction."""
        self.start()
        if self.hold:
            assert self.done.wait(WAIT_SECONDS), "the held session did not finish its work"
            self._raise()
        return self

    def release(self) -> None:
        self._release.set()

    def finish(self) -> Any:
        """Release (if held), wait for the end, raise what it raised, return what `work()` returned."""
        self.release()
        self.join(WAIT_SECONDS)
        assert not self.is_alive(), "the session did not end"
        self._raise()
        return self.result

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def wait_until_blocked(self) -> None:
        """Until this session waits for a lock another one holds (it must not have finished)."""
        assert self.started_work.wait(WAIT_SECONDS)
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            assert not self.done.is_set() or self.hold, f"it did not wait for the lock: {self.error or self.result}"
            with connection.cursor() as cursor:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [self.pid])
                row = cursor.fetchone()
            if row and row[0] == "Lock":
                return
            time.sleep(POLL_SECONDS)  # polling for a state, not a timing assumption
        raise AssertionError("the session never waited for a lock")
