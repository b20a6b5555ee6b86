"""A production install (DATABASE_URL set, DEBUG off) refuses to start on a missing, weak or
Django-generated SECRET_KEY, and any install on a URL it cannot read: one clear line and exit status 78 from every
entry point."""

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
    env.update({"DATABASE_URL": PRODUCTION_DATABASE, **extra})
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


# A URL of the wrong form: its own parser said "Port could not be cast to integer value as 'abc'" in a traceback
# without naming the variable, or (a cache's, a broker's port) nothing until the first connection. The message
# never repeats the URL, which may hold a password.
UNREADABLE_URLS = [
    ("DATABASE_URL", "postgres://parley:hunter2@127.0.0.1:abc/parley", "postgres://user:password@host:5432/name"),
    ("DATABASE_URL", "postgres://parley:hunter2@[::1/parley", "postgres://user:password@host:5432/name"),
    ("CACHE_URL", "redis://:hunter2@127.0.0.1:port/0", "redis://host:6379/0"),
    ("CACHE_URL", "redis://127.0.0.1:6379,127.0.0.1:6380x/0", "redis://host:6379/0"),
    ("CACHE_URL", "redis://127.0.0.1:99999/0", "redis://host:6379/0"),
    ("CELERY_BROKER_URL", "amqp://u:hunter2@h:5672//;amqp://u:hunter2@h2:56 72//", "amqp://user:password@host:5672//"),
    ("EMAIL_URL", "smtp+tls://u:hunter2@mail.example:\uff15\uff18\uff17", "smtp+tls://user:password@host:587"),
    # A scheme nothing reads: django-environ printed the whole URL, password included, in a warning, then crashed.
    ("DATABASE_URL", '"postgres://parley:hunter2@127.0.0.1:5432/parley"', "postgres://user:password@host:5432/name"),
    ("DATABASE_URL", "//parley:hunter2@127.0.0.1:5432/parley", "postgres://user:password@host:5432/name"),
    ("DATABASE_URL", "postgress://parley:hunter2@127.0.0.1:5432/parley", "postgres://user:password@host:5432/name"),
    ("DATABASE_URL", "", "postgres://user:password@host:5432/name"),
    ("DATABASE_REPLICA_URL", "//parley:hunter2@127.0.0.1:5433/parley", "postgres://user:password@host:5432/name"),
    ("CACHE_URL", "unix:///run/redis.sock", "redis://host:6379/0"),
    ("CACHE_URL", "", "redis://host:6379/0"),
    ("EMAIL_URL", "bogus://u:hunter2@mail.example", "smtp+tls://user:password@host:587"),
    ("CELERY_BROKER_URL", "amqpx://u:hunter2@h:5672//", "amqp://user:password@host:5672//"),
    ("CELERY_BROKER_URL", "", "amqp://user:password@host:5672//"),
    # A port checked in every host of a list.
    ("CACHE_URL", "redis://:hunter2@127.0.0.1:6379,127.0.0.1:abc/9", "redis://host:6379/0"),
    # "+" as kombu reads it is the broker's alone; a space after the port is no port.
    (
        "DATABASE_URL",
        "postgresql+psycopg://parley:hunter2@127.0.0.1:5432/parley",
        "postgres://user:password@host:5432/name",
    ),
    ("DATABASE_URL", "postgres://parley:hunter2@127.0.0.1:5432 ", "postgres://user:password@host:5432/name"),
    # Unexpanded by the deployment: django-environ read it as another variable's name, and ran on the embedded
    # defaults (SQLite; the console as the email backend, printing sign-in links to the log).
    ("DATABASE_URL", "${DB_URL}", "postgres://user:password@host:5432/name"),
    ("CACHE_URL", "$REDIS_URL", "redis://host:6379/0"),
    ("CELERY_BROKER_URL", "$BROKER", "amqp://user:password@host:5672//"),
    ("EMAIL_URL", "$SMTP_URL", "smtp+tls://user:password@host:587"),
]


@pytest.mark.parametrize(("variable", "value", "example"), UNREADABLE_URLS)
def test_a_url_parley_cannot_read_is_named_with_an_example_and_never_echoed(variable, value, example):
    result = _run(ENTRY_POINTS["manage.py"], secret_key=STRONG_KEY, **{variable: value})
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert (
        result.stderr
        == f"Parley refuses to start: {variable} is set to a value Parley cannot read: a URL such as {example}.\n"
    )
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize("entry_point", [entry for entry in ENTRY_POINTS if entry != "manage.py"])
def test_every_server_process_refuses_an_unreadable_url_in_one_line(entry_point):
    result = _run(ENTRY_POINTS[entry_point], secret_key=STRONG_KEY, CACHE_URL="redis://127.0.0.1:port/0")
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "Parley refuses to start: CACHE_URL is set to a value Parley cannot read: a URL such as redis://host:6379/0."
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "postgres://parley:pa:ss@w@rd@[::1]:5432/parley"),
        ("CACHE_URL", "redis://:secret@127.0.0.1:6379,127.0.0.1:6380/0"),
        ("CELERY_BROKER_URL", "amqp://u:p@h:5672//;amqp://u:p@h2:5672//"),
        ("EMAIL_URL", "smtp+tls://u:p@mail.example:587"),
        ("EMAIL_URL", "consolemail://"),
        # An empty port is the scheme's default one (django-environ, redis-py and kombu read it so).
        ("DATABASE_URL", "postgres://parley:pw@127.0.0.1:/parley"),
        ("CACHE_URL", "redis://:pw@127.0.0.1:/9"),
        ("CELERY_BROKER_URL", "amqp://u:p@h:/vhost"),
        ("DATABASE_URL", "sqlite://:memory:"),
        ("CELERY_BROKER_URL", "sentinel://h1:26379;sentinel://h2:26379"),
        ("CELERY_BROKER_URL", "redis+socket:///run/redis.sock"),
        # A "," in a password (the hosts are what comes after the last "@").
        ("DATABASE_URL", "postgres://parley:pa,ss@127.0.0.1:5432/parley"),
        ("EMAIL_URL", "smtp://u:pa,ss@mail.example:587"),
        ("CELERY_BROKER_URL", "amqp://u:pa,ss@h:5672//"),
    ],
)
def test_urls_of_every_accepted_form_still_start(variable, value):
    result = _run(ENTRY_POINTS["manage.py"], secret_key=STRONG_KEY, **{variable: value})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        # (WEB_CONCURRENCY=four: gunicorn's own config module reads it first, and crashes before Parley's runs.)
        ({"WEB_THREADS": "four"}, "WEB_THREADS must be a whole number from 1 to 1024, not 'four'."),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY must be a whole number from 1 to 1024, not '0'."),
        ({"WEB_THREADS": "-2"}, "WEB_THREADS must be a whole number from 1 to 1024, not '-2'."),
        # Digits Python's int() reads but no one means, and a typo's extra digits (a re-check: 10^20 threads started).
        ({"WEB_THREADS": "\u0664"}, "WEB_THREADS must be a whole number from 1 to 1024, not '\u0664'."),
        ({"WEB_THREADS": "99999999999999999999"}, "WEB_THREADS must be a whole number from 1 to 1024, not "
         "'99999999999999999999'."),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not 'VERBOSE'."),
        ({"WEB_THREADS": "$WEB_THREADS"}, "WEB_THREADS must be a whole number from 1 to 1024, not '$WEB_THREADS'."),
    ],
)  # fmt: skip
def test_the_web_server_refuses_a_worker_count_it_cannot_use_in_one_line(variables, said):
    """gunicorn crashed on "four" threads with a traceback, and with 0 workers it listened and hung."""
    result = _run(ENTRY_POINTS["gunicorn"], secret_key=STRONG_KEY, **variables)
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"Parley refuses to start: {said}"
    assert "Traceback" not in result.stderr
