"""Office hours: is a website's team in now, when is it back, and durations counted in office hours.

A website without a schedule is always open (SLAs then count wall-clock time). A schedule's weekly
intervals are local times in its time zone; holidays close the whole local day.
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from conversations.models import OfficeSchedule

# Looking further ahead than this for an opening means the schedule has none (no intervals at all).
MAX_DAYS_AHEAD = 400


@dataclass(frozen=True)
class Hours:
    """A schedule read once into memory: the time zone, intervals per weekday, and holiday dates."""

    tz: dt.tzinfo
    weekly: dict[int, list[tuple[dt.time, dt.time]]]
    holidays: frozenset[dt.date]

    @property
    def always_open(self) -> bool:
        return not self.weekly


ALWAYS_OPEN = Hours(tz=dt.UTC, weekly={}, holidays=frozenset())


def timezone_validate(name: str) -> dt.tzinfo:
    """The named IANA time zone, or a ValidationError naming `timezone`."""
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError({"timezone": "Not a known time zone; use a name such as Europe/Paris."}) from None


def hours_for_schedule(schedule: OfficeSchedule | None) -> Hours:
    """The schedule's hours (intervals and holidays read once; prefetched when the caller did)."""
    if schedule is None:
        return ALWAYS_OPEN
    weekly: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for interval in schedule.intervals.all():
        weekly.setdefault(interval.weekday, []).append((interval.opens, interval.closes))
    for spans in weekly.values():
        spans.sort()
    try:
        tz = zoneinfo.ZoneInfo(schedule.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    return Hours(tz=tz, weekly=weekly, holidays=frozenset(h.date for h in schedule.holidays.all()))


def hours_for_website(website_id: int | None) -> Hours:
    """A website's office hours (three small queries; always open without a schedule)."""
    if website_id is None:
        return ALWAYS_OPEN
    schedule = OfficeSchedule.objects.filter(website_id=website_id).prefetch_related("intervals", "holidays").first()
    return hours_for_schedule(schedule)


def _day_spans(hours: Hours, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The open spans of one local day, as aware datetimes (00:00 as a closing time is the day's end)."""
    if day in hours.holidays:
        return []
    spans = []
    for opens, closes in hours.weekly.get(day.weekday(), []):
        start = dt.datetime.combine(day, opens, tzinfo=hours.tz)
        end = (
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=hours.tz)
            if closes == dt.time(0)
            else dt.datetime.combine(day, closes, tzinfo=hours.tz)
        )
        if end > start:
            spans.append((start, end))
    return spans


def _spans_from(hours: Hours, at: dt.datetime):
    """Open spans that end after `at`, in order, clipped to start no earlier than `at`."""
    day = at.astimezone(hours.tz).date() - dt.timedelta(days=1)  # yesterday's span may run past midnight
    for offset in range(MAX_DAYS_AHEAD):
        for start, end in _day_spans(hours, day + dt.timedelta(days=offset)):
            if end > at:
                yield max(start, at), end


def is_open(hours: Hours, at: dt.datetime) -> bool:
    """Whether the team is in at `at`."""
    if hours.always_open:
        return True
    first = next(_spans_from(hours, at), None)
    return first is not None and first[0] <= at


def next_open(hours: Hours, at: dt.datetime) -> dt.datetime | None:
    """When the team is next in (`at` itself when open now; None when the schedule never opens)."""
    if hours.always_open:
        return at
    first = next(_spans_from(hours, at), None)
    return first[0] if first else None


def status_words(hours: Hours, at: dt.datetime) -> str:
    """The team's state at `at` in words, for the admin ("Open now", "Closed now, back Mon 09:00")."""
    if hours.always_open:
        return "Open now (no hours set: always open)"
    if is_open(hours, at):
        return "Open now"
    back = next_open(hours, at)
    if back is None:
        return "Closed (the schedule never opens)"
    return f"Closed now, back {back.astimezone(hours.tz):%a %H:%M} ({hours.tz})"


def add_office_time(hours: Hours, start: dt.datetime, seconds: float) -> dt.datetime | None:
    """The moment `seconds` of office time have passed since `start` (None when it never opens)."""
    if hours.always_open:
        return start + dt.timedelta(seconds=seconds)
    left = dt.timedelta(seconds=seconds)
    for span_start, span_end in _spans_from(hours, start):
        length = span_end - span_start
        if left <= length:
            return span_start + left
        left -= length
    return None


def office_time_between(hours: Hours, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """Office time from `start` to `end` (negative when `end` is earlier)."""
    if end < start:
        return -office_time_between(hours, end, start)
    if hours.always_open:
        return end - start
    total = dt.timedelta()
    for span_start, span_end in _spans_from(hours, start):
        if span_start >= end:
            break
        total += min(span_end, end) - span_start
    return total


@transaction.atomic
def office_schedule_save(
    *,
    website,
    timezone: str,
    intervals: list[tuple[int, dt.time, dt.time]],
    holidays: list[tuple[dt.date, str]] = (),
) -> OfficeSchedule:
    """Replace a website's office hours: its time zone, weekly (weekday, opens, closes) and holidays."""
    timezone_validate(timezone)
    for weekday, opens, closes in intervals:
        if not 0 <= weekday <= 6:
            raise ValidationError({"weekday": "Must be 0 (Monday) to 6 (Sunday)."})
        if closes != dt.time(0) and closes <= opens:
            raise ValidationError({"closes": "Must be later than opens (00:00 for midnight)."})
    schedule, _ = OfficeSchedule.objects.update_or_create(website=website, defaults={"timezone": timezone})
    schedule.intervals.all().delete()
    schedule.holidays.all().delete()
    schedule.intervals.bulk_create(
        [schedule.intervals.model(schedule=schedule, weekday=w, opens=o, closes=c) for w, o, c in intervals]
    )
    schedule.holidays.bulk_create(
        [schedule.holidays.model(schedule=schedule, date=d, name=n) for d, n in dict(holidays).items()]
    )
    return schedule
