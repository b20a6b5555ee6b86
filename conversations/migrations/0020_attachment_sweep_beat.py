"""Beat entry for deleting stored attachment files no row names, daily (declared in config.beat)."""

from django.db import migrations

from config.beat import beat_entries_remove, beat_entries_sync

BEAT_TASKS = ("conversations.tasks.sweep_attachment_files",)


def add_beat_entry(apps, schema_editor):
    beat_entries_sync(apps, tasks=BEAT_TASKS)


def remove_beat_entry(apps, schema_editor):
    beat_entries_remove(apps, tasks=BEAT_TASKS)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0019_rating_withdrawn_at"),
        ("django_celery_beat", "0016_alter_crontabschedule_timezone"),
    ]
    operations = [migrations.RunPython(add_beat_entry, remove_beat_entry)]
