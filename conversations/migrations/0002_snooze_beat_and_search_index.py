"""Beat entry for reopening due snoozes, and the PostgreSQL full-text index on part bodies."""

from django.db import migrations

SNOOZE_TASK = "conversations.tasks.reopen_due_snoozes"
SNOOZE_ENTRY_NAME = "Reopen snoozed conversations"
FTS_INDEX_NAME = "part_body_fts"


def add_beat_entry(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = crontab_model.objects.get_or_create(
        minute="*", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    task_model.objects.update_or_create(
        name=SNOOZE_ENTRY_NAME,
        defaults={
            "task": SNOOZE_TASK,
            "crontab": every_minute,
            "interval": None,
            # A run that could not start within the minute is dropped: the next one does the work.
            "expire_seconds": 50,
            "enabled": True,
            "description": "Reopens snoozed conversations whose snooze time has come.",
        },
    )


def remove_beat_entry(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SNOOZE_ENTRY_NAME).delete()


def _fts_index():
    from django.contrib.postgres.indexes import GinIndex
    from django.contrib.postgres.search import SearchVector

    # The same expression the inbox search filters on (ConversationAdmin.get_search_results).
    return GinIndex(SearchVector("body", config="simple"), name=FTS_INDEX_NAME)


def add_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("conversations", "ConversationPart"), _fts_index())


def remove_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {FTS_INDEX_NAME}")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0001_initial"),
        ("django_celery_beat", "0016_alter_crontabschedule_timezone"),
    ]
    operations = [
        migrations.RunPython(add_beat_entry, remove_beat_entry),
        migrations.RunPython(add_search_index, remove_search_index),
    ]
