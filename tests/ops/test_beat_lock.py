"""Exactly one beat: a second beat started by mistake waits as a standby and sends nothing; it takes
over when the first one stops (config/beat_lock.py)."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.beat_lock import EXIT_LOCK_LOST
from tests.celery_support import _database_url, _purge_broker

pytestmark = [pytest.mark.celery, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent.parent
SENT = "Sending due task test: beat lock heartbeat"


class Beat:
    def __init__(self) -> None:
        env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
               "PYTHONUNBUFFERED": "1"}  # fmt: skip
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config.celery:app", "-q", "beat", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def wait_for(self, text: str, *, times: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.count(text) < times:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no {text!r} ({times}x) from beat:\n" + "\n".join(self.lines))
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def test_a_second_beat_waits_as_a_standby_and_takes_over_when_the_first_stops():
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the beat lock is a PostgreSQL advisory lock; embedded mode runs beat inside its one worker")
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="test: beat lock heartbeat", task="ops.tasks.worker_heartbeat", interval=every_second, expire_seconds=5
    )
    first = Beat()
    second = None
    try:
        first.wait_for("Beat lock taken")
        second = Beat()
        second.wait_for("waits as a standby")
        sent_before = first.count(SENT)
        first.wait_for(SENT, times=sent_before + 3)  # three more seconds of schedule
        assert second.count(SENT) == 0
        assert second.count("Beat lock taken") == 0

        first.stop()

        second.wait_for("Beat lock taken", timeout=30)
        second.wait_for(SENT, times=2)

        # The lock's session cut (a database restart, a proxy dropping it): that beat stops at once
        # rather than schedule without the lock; its supervisor starts it again as a standby.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
            )
        assert second.process.wait(timeout=30) == EXIT_LOCK_LOST
        assert second.count("beat lock's database session is lost") == 1
    finally:
        first.stop()
        if second is not None:
            second.stop()
        _purge_broker()  # nobody consumed what they sent
