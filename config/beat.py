"""Every Celery beat entry of Parley, declared once, and the one helper that writes them into
django-celery-beat (whose admin shows them and lets teammates change them).

Each entry has `expire_seconds`, so a run that could not start before the next one is due is
dropped, not doubled. The data migrations that introduced the entries call
`beat_entries_sync(apps, tasks=…)` with their own tasks; a change to an entry here needs a new
migration that calls it again (a sync on every `migrate` would undo what teammates changed).
"""

from dataclasses import dataclass
from typing import Any

from django.utils import timezone


@dataclass(frozen=True)
class BeatEntry:
    name: str  # as shown in the admin
    task: str  # the Celery task name, a contract
    description: str
    expire_seconds: int
    crontab: tuple[str, str] | None = None  # (minute, hour), every day, UTC
    every_seconds: int | None = None  # for the short safety-net loops, instead of a crontab


DAY_EXPIRE_SECONDS = 12 * 3600  # a daily run delayed past half a day is dropped
RECLAIM_EVERY_SECONDS = 300

BEAT_ENTRIES: tuple[BeatEntry, ...] = (
    BeatEntry(
        name="Retention: expire stale visitors (daily)",
        task="retention.tasks.expire_stale_visitors",
        crontab=("15", "3"),
        expire_seconds=DAY_EXPIRE_SECONDS,
        description="Deletes anonymous visitors not seen for the retention policy's visitor TTL, "
        "with their whole history.",
    ),
    BeatEntry(
        name="Retention: apply optional rules (daily)",
        task="retention.tasks.apply_retention_rules",
        crontab=("45", "3"),
        expire_seconds=DAY_EXPIRE_SECONDS,
        description="Applies the optional retention rules (closed conversations, page views and events, "
        "leads) that are switched on in the retention policy.",
    ),
    BeatEntry(
        name="Reopen snoozed conversations",
        task="conversations.tasks.reopen_due_snoozes",
        crontab=("*", "*"),
        # A run that could not start within the minute is dropped: the next one does the work.
        expire_seconds=50,
        description="Reopens snoozed conversations whose snooze time has come.",
    ),
    BeatEntry(
        name="Tracking: flush buffered page views",
        task="tracking.tasks.flush_page_views",
        every_seconds=60,
        expire_seconds=60,
        description="Writes page views queued in Redis by pings (PARLEY_PAGE_VIEW_BUFFER_URL) that no "
        "ping-scheduled flush wrote, e.g. after a worker crash. Does nothing when the buffer is off.",
    ),
    BeatEntry(
        name="Tracking: create monthly partitions ahead (daily)",
        task="tracking.tasks.maintain_history_partitions",
        crontab=("5", "2"),
        expire_seconds=DAY_EXPIRE_SECONDS,
        description="On PostgreSQL, creates this month's partition of page views and events and the next "
        "three (docs/partitioning.md); rows of a month without one go to the default partition. Does nothing "
        "on SQLite or for a table that is not partitioned yet.",
    ),
    BeatEntry(
        name="Conversations: reclaim stalled outbound messages",
        task="conversations.tasks.reclaim_stalled_messages",
        every_seconds=RECLAIM_EVERY_SECONDS,
        expire_seconds=RECLAIM_EVERY_SECONDS,
        description="Gives up deliveries whose send was interrupted (never resent: at most once) and queues "
        "messages still sending whose task was lost, e.g. after a worker was killed mid-batch.",
    ),
    BeatEntry(
        name="Conversations: record SLA breaches",
        task="conversations.tasks.record_sla_breaches",
        every_seconds=60,
        expire_seconds=60,
        description="Records SLA targets (first response, next response, time to close) that fell due unmet, "
        "once each, and emails the conversation's assignee.",
    ),
    BeatEntry(
        name="Attachments: delete files no message names (daily)",
        task="conversations.tasks.sweep_attachment_files",
        crontab=("45", "4"),
        expire_seconds=DAY_EXPIRE_SECONDS,
        description="Deletes stored attachment files older than an hour that no attachment row names (a message "
        "whose transaction rolled back after its files were written, a crash between a deletion and its files).",
    ),
    BeatEntry(
        name="Segments: refresh member counts",
        task="segments.tasks.refresh_segment_counts",
        every_seconds=900,
        expire_seconds=900,
        description="Counts each segment's members, so that the contact list's sidebar and GET /api/segments "
        "show a recent count without a COUNT(*) per page view.",
    ),
    BeatEntry(
        name="Reports: refresh today's figures",
        task="reports.tasks.refresh_reports",
        every_seconds=600,
        expire_seconds=600,
        description="Recomputes today's and yesterday's daily rollups the dashboard reads, fills days never "
        "computed, and counts contacts by role and the visitors due to expire.",
    ),
    BeatEntry(
        name="Reports: settle the last week (daily)",
        task="reports.tasks.settle_reports",
        crontab=("30", "2"),
        expire_seconds=DAY_EXPIRE_SECONDS,
        description="Recomputes the last seven days' rollups: email opens and clicks, SLA breaches and "
        "ratings that arrived after the day.",
    ),
    BeatEntry(
        name="Retention: reclaim stalled runs",
        task="retention.tasks.reclaim_stalled_runs",
        every_seconds=RECLAIM_EVERY_SECONDS,
        expire_seconds=RECLAIM_EVERY_SECONDS,
        description="Marks retention runs that stopped committing batches as failed and starts them again, "
        "instead of waiting for the broker to redeliver a killed worker's task.",
    ),
)


def beat_entries_sync(apps: Any, *, tasks: tuple[str, ...]) -> None:
    """Create or update the entries of `tasks` in django-celery-beat and tell a running scheduler.

    `apps` is a migration's app registry (or django.apps.apps).
    """
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    unknown = set(tasks) - {entry.task for entry in BEAT_ENTRIES}
    if unknown:
        raise ValueError(f"No beat entry declared for {sorted(unknown)}.")
    for entry in BEAT_ENTRIES:
        if entry.task not in tasks:
            continue
        schedule: dict[str, Any] = {"crontab": None, "interval": None}
        if entry.crontab is not None:
            minute, hour = entry.crontab
            schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
            )
        else:
            schedule["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=entry.every_seconds, period="seconds"
            )
        PeriodicTask.objects.update_or_create(
            name=entry.name,
            defaults={
                **schedule,
                "task": entry.task,
                "args": "[]",
                "kwargs": "{}",
                "expire_seconds": entry.expire_seconds,
                "enabled": True,
                "description": entry.description,
            },
        )
    # A running DatabaseScheduler reloads its entries when this timestamp changes.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def beat_entries_remove(apps: Any, *, tasks: tuple[str, ...]) -> None:
    """Undo `beat_entries_sync` for `tasks` (a migration rolled back)."""
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task__in=tasks).delete()
