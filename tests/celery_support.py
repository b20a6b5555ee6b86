"""A real Celery worker (optionally with embedded beat) running against the test database.

Use in `@pytest.mark.django_db(transaction=True)` tests, so rows are committed and visible to the
worker process. The worker uses the configured broker: the filesystem transport under VAR_DIR in
the embedded (SQLite) run, Redis when CELERY_BROKER_URL points there.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 60


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class CeleryWorker:
    """A worker subprocess whose log is collected, so tests can wait for what it did."""

    def __init__(self, *, beat: bool, extra_env: dict[str, str] | None = None) -> None:
        self.beat = beat
        self.extra_env = extra_env or {}
        self.log_lines: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="parley-celery-"))

    def start(self) -> "CeleryWorker":
        _purge_broker()
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "VAR_DIR": str(settings.VAR_DIR),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        command = [
            sys.executable, "-m", "celery", "-A", "config.celery:app", "worker", "--pool", "solo",
            "--loglevel", "INFO", "--hostname", f"test-{uuid.uuid4().hex[:8]}@localhost",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        if self.beat:
            command += ["--beat", "--schedule", str(self._workdir / "beat-schedule")]
        self._process = subprocess.Popen(  # noqa: S603 - fixed command line
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._collect_log, daemon=True).start()
        self.wait_for_log("ready.", timeout=READY_TIMEOUT_SECONDS)
        return self

    def _collect_log(self) -> None:
        assert self._process and self._process.stdout
        for line in self._process.stdout:
            self.log_lines.append(line.rstrip())

    @property
    def log(self) -> str:
        return "\n".join(self.log_lines)

    def wait_for_log(self, text: str, *, timeout: float = 30) -> None:
        self.wait_until(lambda: text in self.log, timeout=timeout, what=f"{text!r} in the worker log")

    def wait_until(self, condition: Callable[[], bool], *, timeout: float = 30, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self._process and self._process.poll() is not None:
                raise AssertionError(f"Celery worker exited ({self._process.returncode}):\n{self.log}")
            time.sleep(0.2)
        raise AssertionError(f"Timed out after {timeout}s waiting for {what}. Worker log:\n{self.log}")

    def kill(self) -> None:
        """SIGKILL, as a crashed worker would die."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self._workdir, ignore_errors=True)


def _purge_broker() -> None:
    """Drop messages left by earlier runs, so a test only sees the tasks it sent."""
    if settings.CELERY_BROKER_IS_FILESYSTEM:
        queue_dir = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        for message in queue_dir.glob("*"):
            message.unlink(missing_ok=True)
    else:
        celery_app.control.purge()


@pytest.fixture
def celery_worker_factory(transactional_db) -> Iterator[Callable[..., CeleryWorker]]:
    """Start real workers: `celery_worker_factory(beat=True)`; all are stopped after the test."""
    workers: list[CeleryWorker] = []

    def start(*, beat: bool = False, extra_env: dict[str, str] | None = None) -> CeleryWorker:
        worker = CeleryWorker(beat=beat, extra_env=extra_env).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
