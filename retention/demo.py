"""Demo rows for `seed_demo`: a few past retention runs, so the admin's run log is not empty."""

import datetime as dt
import random

from django.utils import timezone

from retention.models import RetentionRun

DEMO_RUN_DAYS = 7


def seed_for_contacts(*, contact_ids: list[int], rng: random.Random) -> None:
    """One nightly run per past day, plus one dry run; counts look like a small site's."""
    now = timezone.now()
    runs = []
    for days_ago in range(DEMO_RUN_DAYS, 0, -1):
        started = (now - dt.timedelta(days=days_ago)).replace(hour=3, minute=15, second=0, microsecond=0)
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
                cutoff=started - dt.timedelta(days=270),
                heartbeat_at=started + dt.timedelta(seconds=2),
                finished_at=started + dt.timedelta(seconds=3),
                batches=1 if contacts else 0,
                contacts_deleted=contacts,
                counts=counts,
            )
        )
    created = RetentionRun.objects.bulk_create(runs)
    for run, started in zip(created, [r.finished_at - dt.timedelta(seconds=3) for r in runs], strict=True):
        run.started_at = started
    RetentionRun.objects.bulk_update(created, ["started_at"])
