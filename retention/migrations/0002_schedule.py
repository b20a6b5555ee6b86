"""The policy row and the daily beat entries (django-celery-beat), editable in the admin."""

import json

from django.db import migrations
from django.utils import timezone

# The message expires after this many seconds, so a run delayed past half a day is dropped, not doubled.
EXPIRE_SECONDS = 12 * 3600
SCHEDULES = [
    {
        "name": "Retention: expire stale visitors (daily)",
        "task": "retention.tasks.expire_stale_visitors",
        "minute": "15",
        "hour": "3",
        "description": "Deletes anonymous visitors not seen for the retention policy's visitor TTL, "
        "with their whole history.",
    },
    {
        "name": "Retention: apply optional rules (daily)",
        "task": "retention.tasks.apply_retention_rules",
        "minute": "45",
        "hour": "3",
        "description": "Applies the optional retention rules (closed conversations, page views and events, "
        "leads) that are switched on in the retention policy.",
    },
]


def create_policy_and_schedule(apps, schema_editor):
    RetentionPolicy = apps.get_model("retention", "RetentionPolicy")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    RetentionPolicy.objects.get_or_create(id=1)
    for entry in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=entry["minute"],
            hour=entry["hour"],
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone="UTC",
        )
        PeriodicTask.objects.update_or_create(
            name=entry["name"],
            defaults={
                "task": entry["task"],
                "crontab": crontab,
                "args": "[]",
                "kwargs": json.dumps({}),
                "expire_seconds": EXPIRE_SECONDS,
                "enabled": True,
                "description": entry["description"],
            },
        )
    # Tell a running DatabaseScheduler that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[entry["task"] for entry in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_policy_and_schedule, remove_schedule)]
