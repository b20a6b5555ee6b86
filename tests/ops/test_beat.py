"""Beat entries: declared once (config.beat), written by one helper that tells a running scheduler."""

import pytest
from django.apps import apps
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from config.beat import BEAT_ENTRIES, beat_entries_sync
from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_every_declared_entry_is_in_beat_after_migrate_with_an_expiry_and_a_registered_task():
    celery_app.loader.import_default_modules()
    for entry in BEAT_ENTRIES:
        task = PeriodicTask.objects.get(name=entry.name)
        assert (task.task, task.enabled, task.expire_seconds) == (entry.task, True, entry.expire_seconds)
        assert (task.crontab is None) == (entry.crontab is None) and (task.interval is None) == (
            entry.crontab is not None
        )
        assert entry.task in celery_app.tasks
        assert entry.expire_seconds > 0


def test_a_sync_restores_an_entry_and_tells_a_running_scheduler():
    PeriodicTask.objects.filter(task="retention.tasks.expire_stale_visitors").delete()
    PeriodicTasks.objects.all().delete()

    beat_entries_sync(apps, tasks=("retention.tasks.expire_stale_visitors",))

    entry = PeriodicTask.objects.select_related("crontab").get(task="retention.tasks.expire_stale_visitors")
    assert (entry.crontab.minute, entry.crontab.hour, str(entry.crontab.timezone)) == ("15", "3", "UTC")
    assert PeriodicTasks.last_change() is not None


def test_a_task_without_a_declared_entry_is_refused():
    with pytest.raises(ValueError, match=r"no\.such"):
        beat_entries_sync(apps, tasks=("no.such.task",))
