"""Beat's safety-net run of the page-view flush (declared in config.beat; pings schedule the usual ones)."""

from django.db import migrations

from config.beat import beat_entries_remove, beat_entries_sync

BEAT_TASKS = ("tracking.tasks.flush_page_views",)


def create_schedule(apps, schema_editor):
    beat_entries_sync(apps, tasks=BEAT_TASKS)


def remove_schedule(apps, schema_editor):
    beat_entries_remove(apps, tasks=BEAT_TASKS)


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0003_page_view_buffer_cursor"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
