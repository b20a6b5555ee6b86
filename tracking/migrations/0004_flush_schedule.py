"""Beat's safety-net run of the page-view flush (pings schedule the usual ones themselves)."""

from django.db import migrations
from django.utils import timezone

NAME = "Tracking: flush buffered page views"
TASK = "tracking.tasks.flush_page_views"
EVERY_SECONDS = 60


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval, _ = IntervalSchedule.objects.get_or_create(every=EVERY_SECONDS, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": interval,
            "args": "[]",
            "kwargs": "{}",
            "expire_seconds": EVERY_SECONDS,
            "enabled": True,
            "description": "Writes page views queued in Redis by pings (PARLEY_PAGE_VIEW_BUFFER_URL) that no "
            "ping-scheduled flush wrote, e.g. after a worker crash. Does nothing when the buffer is off.",
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0003_page_view_buffer_cursor"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
