"""The beat entry that refreshes segment member counts (declared in config.beat)."""

from django.db import migrations

from config.beat import beat_entries_remove, beat_entries_sync

BEAT_TASKS = ("segments.tasks.refresh_segment_counts",)


def create_schedules(apps, schema_editor):
    beat_entries_sync(apps, tasks=BEAT_TASKS)


def remove_schedules(apps, schema_editor):
    beat_entries_remove(apps, tasks=BEAT_TASKS)


class Migration(migrations.Migration):
    dependencies = [("segments", "0001_segment"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
