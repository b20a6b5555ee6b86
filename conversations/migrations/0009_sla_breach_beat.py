"""Beat entry for recording SLA breaches every minute (declared in config.beat)."""

from django.db import migrations

from config.beat import beat_entries_remove, beat_entries_sync

BEAT_TASKS = ("conversations.tasks.record_sla_breaches",)


def add_beat_entry(apps, schema_editor):
    beat_entries_sync(apps, tasks=BEAT_TASKS)


def remove_beat_entry(apps, schema_editor):
    beat_entries_remove(apps, tasks=BEAT_TASKS)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0008_routing_office_hours_sla"),
        ("django_celery_beat", "0016_alter_crontabschedule_timezone"),
    ]
    operations = [migrations.RunPython(add_beat_entry, remove_beat_entry)]
