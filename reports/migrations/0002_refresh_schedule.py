"""The beat entries that keep the reports' rollups current (declared in config.beat)."""

from django.db import migrations

from config.beat import beat_entries_remove, beat_entries_sync

BEAT_TASKS = ("reports.tasks.refresh_reports", "reports.tasks.settle_reports")


def create_schedules(apps, schema_editor):
    beat_entries_sync(apps, tasks=BEAT_TASKS)


def remove_schedules(apps, schema_editor):
    beat_entries_remove(apps, tasks=BEAT_TASKS)


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
