"""Daily rollups: what the dashboard reads instead of the raw tables, so it costs the same at any size.

A "day" is a calendar day in `PARLEY_REPORTS_TIME_ZONE` (UTC unless set; reports/clock.py). Each figure
is counted on the day its event happened: a conversation on the day it was created, a first response on
the day it was sent, a close on the day it happened, a rating on the day it was given, an email on the day
its message was written. Rows are recomputed from the raw rows (reports/services.py) and hold no personal
data: they outlive the visitors and conversations that retention deletes.
"""

from django.conf import settings
from django.db import models

from reports.durations import BUCKET_COUNT

HOURS_IN_DAY = 24
CSAT_SCORES = (1, 2, 3, 4, 5)


def first_response_field(bucket: int) -> str:
    return f"first_response_b{bucket:02d}"


def time_to_close_field(bucket: int) -> str:
    return f"time_to_close_b{bucket:02d}"


def new_in_hour_field(hour: int) -> str:
    return f"new_h{hour:02d}"


def csat_field(score: int) -> str:
    return f"csat_{score}"


FIRST_RESPONSE_FIELDS = [first_response_field(b) for b in range(BUCKET_COUNT)]
TIME_TO_CLOSE_FIELDS = [time_to_close_field(b) for b in range(BUCKET_COUNT)]
NEW_IN_HOUR_FIELDS = [new_in_hour_field(h) for h in range(HOURS_IN_DAY)]
CSAT_FIELDS = [csat_field(s) for s in CSAT_SCORES]


class ConversationDay(models.Model):
    """One day's conversation figures for one website, team and teammate (the conversation's assignee)."""

    day = models.DateField()
    website = models.ForeignKey("tracking.Website", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    team = models.ForeignKey("conversations.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    teammate = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversations_new = models.PositiveIntegerField(default=0)
    first_responses = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    # Conversations closed that day under an SLA policy, and those of them that missed no target.
    sla_measured = models.PositiveIntegerField(default=0)
    sla_met = models.PositiveIntegerField(default=0)
    # The first responses' and the closes' durations in whole seconds, ascending, when the row has at most
    # reports.durations.EXACT_MEDIAN_MAX of them (else empty): the dashboard's exact medians.
    first_response_seconds = models.JSONField(default=list, db_default=models.Value([], models.JSONField()))
    time_to_close_seconds = models.JSONField(default=list, db_default=models.Value([], models.JSONField()))
    # Added below, one integer column each, so the dashboard sums them in SQL:
    # first_response_bNN / time_to_close_bNN (reports.durations buckets), new_hHH (new conversations per
    # local hour: the busiest-hours heat map), csat_N (ratings of N).

    class Meta:
        indexes = [models.Index(fields=["day"], name="conversationday_day")]
        permissions = [("view_dashboard", "Can see the reports dashboard")]

    def __str__(self) -> str:
        return f"Conversations of {self.day}"


# Generated columns: one per bucket, hour and score (see the comment in ConversationDay).
for _name in [*FIRST_RESPONSE_FIELDS, *TIME_TO_CLOSE_FIELDS, *NEW_IN_HOUR_FIELDS, *CSAT_FIELDS]:
    ConversationDay.add_to_class(_name, models.PositiveIntegerField(default=0))

COUNTED_FIELDS = [
    "conversations_new", "first_responses", "closed", "sla_measured", "sla_met",
    *FIRST_RESPONSE_FIELDS, *TIME_TO_CLOSE_FIELDS, *NEW_IN_HOUR_FIELDS, *CSAT_FIELDS,
]  # fmt: skip


class PageViewDay(models.Model):
    """One day's page views on one website (through the page view's web session)."""

    day = models.DateField()
    website = models.ForeignKey("tracking.Website", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    page_views = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day"], name="pageviewday_day")]

    def __str__(self) -> str:
        return f"Page views of {self.day}"


class EmailDay(models.Model):
    """Emails of the outbound messages written that day (test sends left out): sent, opened, clicked so far."""

    day = models.DateField(unique=True)
    sent = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Emails of {self.day}"


class RollupDay(models.Model):
    """A day whose rollups were computed, and when: the refresh locks it, the backfill looks for gaps."""

    day = models.DateField(unique=True)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Rollups of {self.day}"


class ContactsSnapshot(models.Model):
    """Contacts by role and the visitors due to expire, counted by the refresh task (latest per day)."""

    day = models.DateField(unique=True)
    taken_at = models.DateTimeField()
    visitors = models.PositiveIntegerField(default=0)
    leads = models.PositiveIntegerField(default=0)
    users = models.PositiveIntegerField(default=0)
    # The policy's visitor TTL when it was taken; null: visitor expiry was switched off.
    visitor_ttl_days = models.PositiveIntegerField(null=True, blank=True)
    # [["2025-03-01", 12], …]: visitors expiring on each of the next days (local dates), oldest first.
    expiring_visitors = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"Contacts on {self.day}"
