"""Demo rollups for `seed_demo`: the dashboard shows the seeded history at once, not after the refresh task."""

import random

from django.db import transaction

from reports.services import now_counts_changed, reports_rebuild

DEMO_REPORT_DAYS = 90  # the seeded conversations and page views lie within the last two months or so


def seed_for_contacts(*, contact_ids: list[int], rng: random.Random) -> None:
    """Compute the rollups of the demo's history (after every other app seeded its rows)."""
    reports_rebuild(days=DEMO_REPORT_DAYS)
    # The demo's conversations were inserted in bulk, past the services that tell the "now" counts.
    transaction.on_commit(now_counts_changed)
