"""The reports' tests place their history an hour or more before "now" and read it back as today's: between midnight
and one o'clock (the reports' time zone) that history fell on yesterday and CI failed (seen at 00:31 UTC). Each test
runs with the clock moved to midday of the real day, ticking on from there."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.conf import settings


@pytest.fixture(autouse=True)
def _midday():
    zone = zoneinfo.ZoneInfo(settings.PARLEY_REPORTS_TIME_ZONE)
    midday = dt.datetime.combine(dt.datetime.now(zone).date(), dt.time(12), tzinfo=zone)
    with time_machine.travel(midday, tick=True):
        yield
