"""Which time zone a report's "day" is in: `PARLEY_REPORTS_TIME_ZONE` (an IANA name, UTC by default).

Days start at local midnight, so a day can be 23 or 25 hours long when the clocks change; hours on the
busiest-hours heat map are local hours too. Changing the zone applies to days computed afterwards:
`manage.py rebuild_reports --days N` recomputes the past ones.
"""

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_problem(name: str) -> str | None:
    """Why `name` is not a time zone reports can use, or None."""
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not an IANA time zone name (e.g. Europe/Paris)."
    return None


def report_zone() -> ZoneInfo:
    return _zone(settings.PARLEY_REPORTS_TIME_ZONE)


def local_day(moment: dt.datetime) -> dt.date:
    """The report day `moment` (aware) falls on."""
    return moment.astimezone(report_zone()).date()


def report_today(now: dt.datetime | None = None) -> dt.date:
    return local_day(now or timezone.now())


def day_start(day: dt.date) -> dt.datetime:
    """Local midnight at the start of `day`, in UTC (Python subtracts two datetimes of one zone by the
    wall clock: a 23-hour day would measure 24 hours)."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=report_zone()).astimezone(dt.UTC)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of `day`: local midnight to the next local midnight (23 to 25 hours around DST)."""
    return day_start(day), day_start(day + dt.timedelta(days=1))
