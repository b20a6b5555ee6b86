"""Retention against other processes and threads: beat and a worker, a racing ping, kill -9, two runs."""

import importlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from contacts.models import Contact
from retention import services
from retention.models import RetentionRun
from tests.celery_support import ROOT, _database_url
from tests.contacts.factories import LeadFactory, UserContactFactory
from tests.retention.history import days_ago, give_history, history_rows, orphan_rows, visitor

pytestmark = pytest.mark.django_db(transaction=True)

STALE = 300  # days, past the default 270-day TTL


def _in_thread(target, *args, **kwargs) -> tuple[threading.Thread, list]:
    """Run `target` in a thread with its own database connection; errors and results are collected."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(target(*args, **kwargs))
        except BaseException as error:  # reported by the test
            outcome.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _migrated_beat_entry(task: str) -> PeriodicTask:
    if not PeriodicTask.objects.filter(task=task).exists():
        # An earlier transactional test flushed the rows the data migration created: create them again.
        migration = importlib.import_module("retention.migrations.0002_schedule")
        migration.create_policy_and_schedule(apps, None)
    return PeriodicTask.objects.get(task=task)


@pytest.mark.celery
def test_beat_fires_the_scheduled_expiry_and_the_worker_deletes_exactly_the_stale_visitors(celery_worker_factory):
    stale = [visitor(last_seen_days_ago=STALE + n) for n in range(5)]
    live = visitor(last_seen_days_ago=10)
    lead = give_history(LeadFactory(last_seen_at=days_ago(2000)))
    user = give_history(UserContactFactory(last_seen_at=days_ago(2000)))
    # An agent changes the schedule in the admin: every two seconds instead of nightly.
    entry = _migrated_beat_entry("retention.tasks.expire_stale_visitors")
    entry.interval = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
    entry.crontab = None
    entry.save()

    worker = celery_worker_factory(beat=True)
    worker.wait_until(
        lambda: RetentionRun.objects.filter(status="done", trigger="task", contacts_deleted=5).exists(),
        timeout=90,
        what="a retention run started by beat",
    )

    assert "retention.tasks.expire_stale_visitors" in worker.log
    assert set(Contact.objects.values_list("pk", flat=True)) == {live.pk, lead.pk, user.pk}
    assert all(history_rows(contact.pk) == {} for contact in stale)
    for kept in (live, lead, user):
        assert history_rows(kept.pk)["tracking.WebSession"] == 2
    assert orphan_rows() == {}


@pytest.mark.celery
def test_worker_runs_a_queued_dry_run_that_deletes_nothing(celery_worker_factory):
    from retention.tasks import expire_stale_visitors

    visitor(last_seen_days_ago=STALE)
    worker = celery_worker_factory()
    result = expire_stale_visitors.delay(dry_run=True)
    worker.wait_for_log(f"Task retention.tasks.expire_stale_visitors[{result.id}] succeeded", timeout=60)

    run = RetentionRun.objects.get()
    assert run.dry_run and run.status == "done"
    assert run.counts["contacts.Contact"] == 1
    assert Contact.objects.count() == 1


def test_visitor_pinging_while_the_job_runs_is_not_deleted():
    stale = [visitor(last_seen_days_ago=STALE, history=False) for _ in range(6)]
    returning = stale[2]
    pinged, run_under_way = threading.Event(), threading.Event()

    def ping_held_open() -> None:
        # A ping's transaction: last seen is written, the commit comes once the run is under way.
        with transaction.atomic():
            Contact.objects.filter(pk=returning.pk).update(last_seen_at=days_ago(0))
            pinged.set()
            assert run_under_way.wait(30)

    def first_write_signals(execute, sql, params, many, context):
        # SQLite: the run's first write waits for the ping's lock, so the ping commits while it waits.
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "BEGIN")):
            run_under_way.set()
        return execute(sql, params, many, context)

    thread, outcome = _in_thread(ping_held_open)
    assert pinged.wait(10)
    if connection.vendor == "postgresql":
        # PostgreSQL: the ping commits after a batch has locked and deleted rows, skipping its locked row.
        run = services.visitors_expire(batch_size=2, on_batch=lambda progress: run_under_way.set())
    else:
        with connection.execute_wrapper(first_write_signals):
            run = services.visitors_expire(batch_size=2)
    thread.join(30)

    assert outcome == [None]
    assert list(Contact.objects.values_list("pk", flat=True)) == [returning.pk]
    assert run.contacts_deleted == 5


def test_two_runs_at_once_split_the_work_without_doubling_or_deadlocking():
    for n in range(40):
        visitor(last_seen_days_ago=STALE + n % 7)
    live = visitor(last_seen_days_ago=1)

    threads = [_in_thread(services.visitors_expire, batch_size=3, pause_seconds=0.01) for _ in range(2)]
    for thread, _ in threads:
        thread.join(120)

    runs = [outcome[0] for _, outcome in threads]
    assert all(isinstance(run, RetentionRun) for run in runs), runs
    assert sum(run.contacts_deleted for run in runs) == 40
    assert sum(run.counts.get("tracking.PageView", 0) for run in runs) == 40 * 3
    assert sum(run.counts.get("conversations.ConversationPart", 0) for run in runs) == 40 * 2
    assert list(Contact.objects.values_list("pk", flat=True)) == [live.pk]
    assert orphan_rows() == {}


def test_run_killed_with_sigkill_leaves_no_orphans_and_the_next_run_finishes():
    stale = [visitor(last_seen_days_ago=STALE + n) for n in range(30)]
    live = visitor(last_seen_days_ago=1)
    env = {**os.environ, "DATABASE_URL": _database_url(), "VAR_DIR": str(settings.VAR_DIR), "HTTPS_ONLY": "false"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "expire_visitors", "--batch-size", "2", "--pause", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not RetentionRun.objects.filter(batches__gte=3).exists():
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(10)

    killed = RetentionRun.objects.get()
    remaining = Contact.objects.exclude(pk=live.pk).count()
    assert killed.status == RetentionRun.Status.RUNNING
    assert 0 < remaining < 30
    assert killed.contacts_deleted == 30 - remaining  # the run row commits with each batch
    assert orphan_rows() == {}

    services.retention_runs_mark_interrupted(now=days_ago(-1))
    resumed = services.visitors_expire()

    killed.refresh_from_db()
    assert killed.status == RetentionRun.Status.FAILED
    assert resumed.contacts_deleted == remaining
    assert list(Contact.objects.values_list("pk", flat=True)) == [live.pk]
    assert all(history_rows(contact.pk) == {} for contact in stale)
    assert orphan_rows() == {}
