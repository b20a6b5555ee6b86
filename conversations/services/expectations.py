"""What the messenger tells a visitor about replies: "usually replies in 4 minutes" inside office hours,
"back on Monday at 09:00" outside them.

The expected reply time is the median first-response time of the website's recent conversations (the
team that answers them), computed at most once per `REPLY_TIME_CACHE_SECONDS` per website and cached;
the whole answer is cached for `AVAILABILITY_CACHE_SECONDS`, so a busy messenger costs no query.
"""

import datetime as dt
import statistics
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from conversations.models import Conversation
from conversations.services.office_hours import hours_for_website, is_open, next_open

REPLY_TIME_CACHE_SECONDS = 600
AVAILABILITY_CACHE_SECONDS = 60
RECENT_DAYS = 30
RECENT_CONVERSATIONS = 200


def reply_time_median(*, website_id: int, now: dt.datetime | None = None) -> int | None:
    """Median seconds to the first teammate reply over the website's recent conversations (None: no data)."""
    now = now or timezone.now()
    rows = (
        Conversation.objects.filter(
            website_id=website_id, first_response_at__isnull=False, created_at__gte=now - dt.timedelta(days=RECENT_DAYS)
        )
        .exclude(source=Conversation.Source.ADMIN)
        .order_by("-created_at")
        .values_list("created_at", "first_response_at")[:RECENT_CONVERSATIONS]
    )
    waits = [max(0.0, (answered - created).total_seconds()) for created, answered in rows]
    return round(statistics.median(waits)) if waits else None


def reply_time_expected(*, website_id: int) -> int | None:
    """The median first-response seconds, cached per website."""
    key = f"parley:reply-time:{website_id}"
    cached = cache.get(key)
    if cached is not None:
        return cached["s"]
    seconds = reply_time_median(website_id=website_id)
    cache.set(key, {"s": seconds}, REPLY_TIME_CACHE_SECONDS)
    return seconds


def website_availability(*, website_id: int, now: dt.datetime | None = None) -> dict[str, Any]:
    """{"open": bool, "reply_seconds": median or None, "back_at": ISO time the team is back, or None}; cached."""
    key = f"parley:availability:{website_id}"
    if now is None:
        cached = cache.get(key)
        if cached is not None:
            return cached
    at = now or timezone.now()
    hours = hours_for_website(website_id)
    open_now = is_open(hours, at)
    back = None if open_now else next_open(hours, at)
    answer = {
        "open": open_now,
        "reply_seconds": reply_time_expected(website_id=website_id) if open_now else None,
        "back_at": back.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if back else None,
    }
    if now is None:
        # Never cached past the moment the team comes back (or leaves: at most a minute late).
        ttl = AVAILABILITY_CACHE_SECONDS
        if back is not None:
            ttl = max(1, min(ttl, int((back - at).total_seconds())))
        cache.set(key, answer, ttl)
    return answer


def availability_forget(*, website_id: int) -> None:
    """Drop the cached answer (office hours were edited)."""
    cache.delete(f"parley:availability:{website_id}")
