"""The policy row and the daily beat entries (declared in config.beat), editable in the admin."""

from django.db import migrations

from config.beat import beat_entries_remove, beat_entries_sync

BEAT_TASKS = ("retention.tasks.expire_stale_visitors", "retention.tasks.apply_retention_rules")


def create_policy_and_schedule(apps, schema_editor):
    apps.get_model("retention", "RetentionPolicy").objects.get_or_create(id=1)
    beat_entries_sync(apps, tasks=BEAT_TASKS)


def remove_schedule(apps, schema_editor):
    beat_entries_remove(apps, tasks=BEAT_TASKS)


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_policy_and_schedule, remove_schedule)]
