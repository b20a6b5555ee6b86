"""Beat entry for reopening due snoozes (declared in config.beat), and the PostgreSQL full-text index on part bodies."""

from django.db import migrations

from config.beat import beat_entries_remove, beat_entries_sync

BEAT_TASKS = ("conversations.tasks.reopen_due_snoozes",)
FTS_INDEX_NAME = "part_body_fts"


def add_beat_entry(apps, schema_editor):
    beat_entries_sync(apps, tasks=BEAT_TASKS)


def remove_beat_entry(apps, schema_editor):
    beat_entries_remove(apps, tasks=BEAT_TASKS)


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
