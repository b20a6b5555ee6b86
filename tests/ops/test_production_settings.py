"""A production install (DATABASE_URL set, DEBUG off) refuses to start on a missing, weak or
Django-generated SECRET_KEY: one clear line and exit status 78 from every entry point."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.production import EXIT_CONFIG, secret_key_problem

ROOT = Path(__file__).resolve().parent.parent.parent
STRONG_KEY = "f6Qe0vLr2P9xW-3mTz7yKcB1uHn8sJd4aGo5iRt_XwEqVbNp0ZlMkYjC"
# Never connected to: the refusal comes before any connection.
PRODUCTION_DATABASE = "postgres://parley@127.0.0.1:9/parley"

ENTRY_POINTS = {
    "manage.py": [sys.executable, "manage.py", "check"],
    "gunicorn": [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--bind", "127.0.0.1:0", "config.wsgi"],
    "celery worker": [sys.executable, "-m", "celery", "-A", "config.celery:app", "worker"],
    "celery beat": [sys.executable, "-m", "celery", "-A", "config.celery:app", "beat"],
}


def _run(command: list[str], *, secret_key: str | None, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(DATABASE_URL=PRODUCTION_DATABASE, **extra)
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)  # noqa: S603


WEAK_KEYS = [
    (None, "is not set"),
    ("", "is not set"),
    ("s3cr3t", "is weak"),
    ("a" * 60, "is weak"),
    ("django-insecure-" + "k3y" * 20, "is Django's generated development key"),
]
# Every kind of weak key through manage.py; one refusal through each server process.
CASES = [("manage.py", *weak) for weak in WEAK_KEYS] + [
    (entry_point, "s3cr3t", "is weak") for entry_point in ENTRY_POINTS if entry_point != "manage.py"
]


@pytest.mark.parametrize(("entry_point", "secret_key", "reason"), CASES)
def test_every_entry_point_refuses_a_missing_or_weak_secret_key(entry_point, secret_key, reason):
    result = _run(ENTRY_POINTS[entry_point], secret_key=secret_key)

    assert result.returncode == EXIT_CONFIG, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line, no traceback
    assert result.stderr.startswith(f"Parley refuses to start: SECRET_KEY {reason}")
    assert "secrets.token_urlsafe(50)" in result.stderr  # how to make a good one


def test_a_strong_key_passes_and_the_embedded_and_debug_modes_keep_their_generated_key():
    assert secret_key_problem(STRONG_KEY) is None
    assert _run(ENTRY_POINTS["manage.py"], secret_key=STRONG_KEY).returncode == 0
    assert _run(ENTRY_POINTS["manage.py"], secret_key=None, DEBUG="true").returncode == 0


def test_make_run_prod_names_what_is_missing_before_starting_anything():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")}
    result = subprocess.run(
        ["make", "--no-print-directory", "run-prod"],  # noqa: S607
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "make run-prod needs DATABASE_URL in the environment" in result.stdout + result.stderr
