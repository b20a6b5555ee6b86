"""admin_contact_10m_vs_10k: one contact's admin page with 10,000,000 page views in the database
divided by the same page with 10,000 (goal ≤ 1.5).

Each database is built on the local PostgreSQL in production shape (page views and events in
monthly partitions, 15 months of them) with server-side SQL: contacts with 4 sessions of 25 page
views each spread over those months, and an event per session. The contact whose page is timed is
the same in both: a user with 100 page views and 20 events, the newest today, the oldest a year ago.
`--quick` builds 1,000,000 page views instead of 10,000,000 (the figure name stays).
"""

import os
import sys

from bench.common import fresh_postgres, large_vs_small, setup_django, time_pages
from bench.datasets import build_contacts, insert_select

SIZES = {"small": 10_000, "large": 10_000_000}
QUICK_LARGE = 1_000_000
PAGE_VIEWS_PER_CONTACT = 100  # 4 sessions of 25
HISTORY_MONTHS = 15
PREFIX = os.environ.get("BENCH_DATABASE_PREFIX", "parley_bench")

SESSION_COLUMNS = {
    "contact_id": "c.id",
    "started_at": "now() - ((c.id * 7 + s * 113) %% 450) * interval '1 day' - interval '1 hour'",
    "last_activity_at": "now() - ((c.id * 7 + s * 113) %% 450) * interval '1 day'",
    "page_views_count": "25",
    "landing_url": "'https://example.com/'",
    "referrer": "'https://www.google.com/'",
    "os": "'Mac OS X'",
    "browser": "'Chrome'",
    "country": "'FR'",
}
SESSIONS_FROM = "contacts_contact c CROSS JOIN generate_series(1, 4) AS s WHERE c.id <> %(viewed)s"
PAGE_VIEW_COLUMNS = {
    "contact_id": "s.contact_id",
    "session_id": "s.id",
    "url": "'https://example.com/docs/page-' || p",
    "title": "'Docs page ' || p",
    "referrer": "'https://example.com/'",
    "created_at": "s.started_at + p * interval '2 minute'",
}
PAGE_VIEWS_FROM = "tracking_websession s CROSS JOIN generate_series(1, 25) AS p"
EVENT_COLUMNS = {
    "contact_id": "s.contact_id",
    "name": "'opened-docs'",
    "metadata": "jsonb_build_object('page', s.id %% 7)",
    "created_at": "s.started_at + interval '5 minute'",
}
EVENTS_FROM = "tracking_websession s WHERE s.contact_id <> %(viewed)s"
# The viewed contact's four sessions: today, last week, two months and a year ago.
VIEWED_SESSIONS_FROM = "contacts_contact c CROSS JOIN unnest(ARRAY[0, 7, 60, 365]) AS s WHERE c.id = %(viewed)s"
VIEWED_SESSION_COLUMNS = {
    **SESSION_COLUMNS,
    "started_at": "now() - s * interval '1 day' - interval '1 hour'",
    "last_activity_at": "now() - s * interval '1 day'",
}
VIEWED_EVENT_COLUMNS = {**EVENT_COLUMNS, "created_at": "s.started_at + e * interval '1 minute'"}
VIEWED_EVENTS_FROM = "tracking_websession s CROSS JOIN generate_series(1, 5) AS e WHERE s.contact_id = %(viewed)s"


def _build(page_views: int) -> int:
    """The dataset; returns the viewed contact's id."""
    from django.db import connection
    from django.utils import timezone

    from contacts.models import Contact
    from tracking.partitioning import month_start, months_add
    from tracking.services.partitions import history_partitions_create

    now = timezone.now()
    history_partitions_create(first=months_add(month_start(now), -HISTORY_MONTHS), last=now)
    build_contacts(max(page_views // PAGE_VIEWS_PER_CONTACT - 1, 1))
    viewed = Contact.objects.create(role="user", external_id="viewed", email="viewed@example.com", name="Ada Viewed")
    params = {"viewed": viewed.pk}
    connection.ensure_connection()
    raw = connection.connection  # the psycopg connection under Django's (autocommit)
    insert_select(raw, "tracking_websession", SESSION_COLUMNS, SESSIONS_FROM, params)
    insert_select(raw, "tracking_websession", VIEWED_SESSION_COLUMNS, VIEWED_SESSIONS_FROM, params)
    insert_select(raw, "tracking_pageview", PAGE_VIEW_COLUMNS, PAGE_VIEWS_FROM)
    insert_select(raw, "tracking_event", EVENT_COLUMNS, EVENTS_FROM, params)
    insert_select(raw, "tracking_event", VIEWED_EVENT_COLUMNS, VIEWED_EVENTS_FROM, params)
    raw.execute("VACUUM ANALYZE")
    # The build's writes reach the disk before the clock starts: timed right after 10M rows, the page
    # otherwise paid for the checkpoint (2.3 in one run; 1.06 timed again on the same databases).
    raw.execute("CHECKPOINT")
    return viewed.pk


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    large = QUICK_LARGE if quick else SIZES["large"]
    ratio = large_vs_small(
        "bench.admin_contact", small=SIZES["small"], large=large, database_prefix=f"{PREFIX}_contact"
    )
    return {"admin_contact_10m_vs_10k": ratio}


def _main(page_views: int, name: str) -> None:
    setup_django(fresh_postgres(name))
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    viewed = _build(page_views)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tracking_pageview")
        total = cursor.fetchone()[0]
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("bench", "bench@example.com", "x"))
    print(f"# {total} page views", file=sys.stderr)
    print(time_pages(client, [f"/admin/contacts/contact/{viewed}/change/"], repeat=9, warmup=3))


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    _main(int(sys.argv[1]), sys.argv[2])
