"""Demo rows for `seed_demo`: the past week's nightly visitor-expiry runs, as the schedule and the
policy would have made them, so the run log, the beat schedule and the rules tell the same story."""

import datetime as dt
import random

from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from contacts.models import Contact
from retention.models import RetentionRun
from retention.selectors import retention_policy_get
from retention.services import contacts_stale

DEMO_RUN_DAYS = 7
EXPIRY_TASK = "retention.tasks.expire_stale_visitors"


def _past_run_times(entry: PeriodicTask | None, now: dt.datetime) -> list[dt.datetime]:
    """The last DEMO_RUN_DAYS daily start times of the beat entry (03:15 UTC when it has no crontab)."""
    hour, minute = 3, 15
    if entry is not None and entry.crontab is not None and entry.crontab.hour.isdigit():
        hour, minute = int(entry.crontab.hour), int(entry.crontab.minute) if entry.crontab.minute.isdigit() else 0
    latest = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if latest > now:
        latest -= dt.timedelta(days=1)
    return [latest - dt.timedelta(days=days_ago) for days_ago in range(DEMO_RUN_DAYS - 1, -1, -1)]


def _stale_only_since_the_last_run(
    *, contact_ids: list[int], last_cutoff: dt.datetime, now: dt.datetime, ttl: dt.timedelta, rng: random.Random
) -> None:
    """Visitors the last seeded run would have deleted (seen before its cutoff) cannot still be here: each is
    moved to a last-seen time after that cutoff. Those still past the policy now became stale after the last
    run (the next run deletes them); the others are not stale yet. A dry run then finds what the log allows."""
    stale = list(
        contacts_stale(role=Contact.Role.VISITOR, cutoff=last_cutoff)
        .filter(pk__in=contact_ids)
        .values_list("pk", flat=True)
    )
    window = max((now - ttl) - last_cutoff, dt.timedelta(minutes=1))  # since the last run, up to now
    moved = []
    for pk in stale:
        # Half became stale since the last run; the others go stale within the next weeks.
        later = window * rng.random() if rng.random() < 0.5 else window + dt.timedelta(days=rng.uniform(1, 30))
        moved.append(Contact(pk=pk, last_seen_at=last_cutoff + later))
    Contact._base_manager.bulk_update(moved, ["last_seen_at"], batch_size=500)


def seed_for_contacts(*, contact_ids: list[int], rng: random.Random) -> None:
    """One run per past night at the scheduled time with the policy's cutoff; counts like a small site's."""
    now = timezone.now()
    entry = PeriodicTask.objects.filter(task=EXPIRY_TASK).select_related("crontab").first()
    ttl = dt.timedelta(days=retention_policy_get().visitor_ttl_days)
    runs = []
    started_times = _past_run_times(entry, now)
    for started in started_times:
        contacts = rng.randint(0, 40)
        counts = (
            {
                "contacts.Contact": contacts,
                "tracking.WebSession": contacts * 2,
                "tracking.PageView": contacts * rng.randint(3, 12),
                "tracking.Event": contacts * rng.randint(0, 4),
            }
            if contacts
            else {}
        )
        runs.append(
            RetentionRun(
                kind=RetentionRun.Kind.VISITORS,
                status=RetentionRun.Status.DONE,
                trigger="task",
                cutoff=started - ttl,
                heartbeat_at=started + dt.timedelta(seconds=2),
                finished_at=started + dt.timedelta(seconds=3),
                batches=1 if contacts else 0,
                contacts_deleted=contacts,
                counts=counts,
            )
        )
    created = RetentionRun.objects.bulk_create(runs)
    _stale_only_since_the_last_run(contact_ids=contact_ids, last_cutoff=started_times[-1] - ttl, now=now, ttl=ttl,
                                   rng=rng)  # fmt: skip
    for run, started in zip(created, started_times, strict=True):
        run.started_at = started  # auto_now_add on insert; the demo's history is in the past
    RetentionRun.objects.bulk_update(created, ["started_at"])
    if entry is not None:  # the schedule says it ran, as the run log does
        PeriodicTask.objects.filter(pk=entry.pk).update(last_run_at=started_times[-1], total_run_count=len(runs))
