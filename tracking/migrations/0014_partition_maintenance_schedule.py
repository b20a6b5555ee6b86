"""Beat's daily run that keeps monthly partitions of page views and events ahead (config.beat)."""

from django.db import migrations

from config.beat import beat_entries_remove, beat_entries_sync

BEAT_TASKS = ("tracking.tasks.maintain_history_partitions",)


def create_schedule(apps, schema_editor):
    beat_entries_sync(apps, tasks=BEAT_TASKS)


def remove_schedule(apps, schema_editor):
    beat_entries_remove(apps, tasks=BEAT_TASKS)


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0013_partition_page_views_and_events"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
