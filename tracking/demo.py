"""Demo sessions, page views and events for `seed_demo` (bulk inserts: 100k contacts in seconds)."""

import datetime as dt
import json
import random
from collections import defaultdict
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce

from contacts.models import Contact
from tracking.models import Event, EventSummary, PageView, WebSession, Website

BATCH_SIZE = 5000
PAGES = [
    ("", "Home"), ("pricing", "Pricing"), ("features", "Features"), ("blog/launch", "We launched!"),
    ("docs/getting-started", "Getting started"), ("signup", "Sign up"), ("contact", "Contact us"),
]  # fmt: skip
REFERRERS = ["", "", "https://www.google.com/", "https://news.ycombinator.com/", "https://twitter.com/"]
CAMPAIGNS = [{}, {}, {}, {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "fall-launch"}]
EVENTS = ["viewed_pricing", "started_trial", "invited_teammate", "upgraded_plan", "exported_report"]
EVENT_SHARE = 0.25
METADATA = json.dumps({"source": "demo"})


def _insert(table: str, columns: list[str], rows: list[tuple]) -> None:
    """Plain executemany: the ORM's per-object cost would dominate at hundreds of thousands of rows."""
    if not rows:
        return
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _timestamp_adapter() -> Callable[[dt.datetime], object]:
    if connection.vendor == "sqlite":
        # What Django stores for an aware datetime on SQLite: naive UTC text.
        return lambda value: value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
    return lambda value: value


def seed_for_contacts(*, contact_ids: list[int], rng: random.Random) -> None:
    """One or two sessions per contact ending at its last_seen_at, with page views; some events."""
    website = Website.objects.order_by("pk").first()
    website_id = website.pk if website else None
    base = f"{settings.PUBLIC_URL}/demo/"
    stamp = _timestamp_adapter()
    device_fields = ["os", "browser", "browser_version", "browser_language", "city", "country", "country_name"]
    session_columns = [
        "id", "contact_id", "website_id", "started_at", "last_activity_at", "page_views_count", "landing_url",
        "referrer", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", *device_fields,
    ]  # fmt: skip
    next_session_id = (WebSession.objects.aggregate(top=Max("id"))["top"] or 0) + 1
    for start in range(0, len(contact_ids), BATCH_SIZE):
        chunk = contact_ids[start : start + BATCH_SIZE]
        sessions, page_views, events = [], [], []
        summaries: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
        for pk, last_seen, *device in Contact.objects.filter(pk__in=chunk).values_list(
            "pk", "last_seen_at", *device_fields
        ):
            if last_seen is None:
                continue
            end = last_seen
            for _ in range(rng.choice((1, 1, 2))):
                pages = rng.randint(1, 3)
                started = end - dt.timedelta(minutes=rng.uniform(1, 25) * pages)
                path, title = rng.choice(PAGES)
                campaign = rng.choice(CAMPAIGNS)
                landing = base + path + ("?" + "&".join(f"{k}={v}" for k, v in campaign.items()) if campaign else "")
                session_id = next_session_id
                next_session_id += 1
                sessions.append((
                    session_id, pk, website_id, stamp(started), stamp(end), pages, landing, rng.choice(REFERRERS),
                    campaign.get("utm_source", ""), campaign.get("utm_medium", ""), campaign.get("utm_campaign", ""),
                    "", "", *device,
                ))  # fmt: skip
                step = (end - started) / max(pages - 1, 1)
                for n in range(pages):
                    if n:
                        path, title = rng.choice(PAGES)
                    url = landing if n == 0 else base + path
                    page_views.append((pk, session_id, url, title, "", stamp(started + step * n)))
                end = started - dt.timedelta(days=rng.uniform(1, 30))
            if rng.random() < EVENT_SHARE:
                for _ in range(rng.randint(1, 3)):
                    name = rng.choice(EVENTS)
                    at = last_seen - dt.timedelta(minutes=rng.uniform(0, 20))
                    events.append((pk, name, METADATA, stamp(at), False))
                    summaries[pk, name].append(at)
        _insert(WebSession._meta.db_table, session_columns, sessions)
        # Each contact's count is the sessions it has (the new-user walk read "Web sessions: 5" above one listed).
        Contact.objects.filter(pk__in=chunk).update(
            web_sessions_count=Coalesce(
                Subquery(
                    WebSession.objects.filter(contact_id=OuterRef("pk")).order_by().values("contact_id")
                    .annotate(n=Count("id")).values("n")
                ),
                0,
            )
        )  # fmt: skip
        _insert(
            PageView._meta.db_table, ["contact_id", "session_id", "url", "title", "referrer", "created_at"], page_views
        )
        _insert(Event._meta.db_table, ["contact_id", "name", "metadata", "created_at", "client_timestamp"], events)
        _insert(
            EventSummary._meta.db_table,
            ["contact_id", "name", "count", "first_at", "last_at"],
            [(pk, name, len(times), stamp(min(times)), stamp(max(times))) for (pk, name), times in summaries.items()],
        )
    if connection.vendor == "postgresql":
        # Sessions were given explicit ids: move the sequence past them.
        with connection.cursor() as cursor:
            table = WebSession._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")  # noqa: S608
