"""Beat entries that reclaim work a killed worker left half done (declared in config.beat)."""

from django.db import migrations

from config.beat import beat_entries_remove, beat_entries_sync

BEAT_TASKS = ("conversations.tasks.reclaim_stalled_messages", "retention.tasks.reclaim_stalled_runs")


def create_schedules(apps, schema_editor):
    beat_entries_sync(apps, tasks=BEAT_TASKS)


def remove_schedules(apps, schema_editor):
    beat_entries_remove(apps, tasks=BEAT_TASKS)


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
