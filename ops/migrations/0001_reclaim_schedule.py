"""Beat entries that reclaim work a killed worker left half done (outbound messages, retention runs)."""

from django.db import migrations
from django.utils import timezone

EVERY_SECONDS = 300
SCHEDULES = [
    {
        "name": "Conversations: reclaim stalled outbound messages",
        "task": "conversations.tasks.reclaim_stalled_messages",
        "description": "Gives up deliveries whose send was interrupted (never resent: at most once) and queues "
        "messages still sending whose task was lost, e.g. after a worker was killed mid-batch.",
    },
    {
        "name": "Retention: reclaim stalled runs",
        "task": "retention.tasks.reclaim_stalled_runs",
        "description": "Marks retention runs that stopped committing batches as failed and starts them again, "
        "instead of waiting for the broker to redeliver a killed worker's task.",
    },
]


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval, _ = IntervalSchedule.objects.get_or_create(every=EVERY_SECONDS, period="seconds")
    for entry in SCHEDULES:
        PeriodicTask.objects.update_or_create(
            name=entry["name"],
            defaults={
                "task": entry["task"],
                "interval": interval,
                "args": "[]",
                "kwargs": "{}",
                # A run delayed past the next one is dropped, not doubled.
                "expire_seconds": EVERY_SECONDS,
                "enabled": True,
                "description": entry["description"],
            },
        )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[entry["task"] for entry in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
