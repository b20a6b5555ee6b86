"""Contact list filters that read tracking data: "did event X", "seen in the last N days" and "live now"."""

import contextlib
import datetime as dt

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.cache import cache
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from common.parsing import int_or_none
from contacts.models import Contact
from tracking import selectors
from tracking.page_view_buffer import PageViewBufferBehind, page_views_flush_before_reading

EVENT_NAMES_CACHE_SECONDS = 600
MAX_DAYS = 3650


class EventNameFilter(admin.SimpleListFilter):
    title = "event"
    parameter_name = "event"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        names = cache.get("tracking:event-names")
        if names is None:
            names = selectors.event_names()
            cache.set("tracking:event-names", names, EVENT_NAMES_CACHE_SECONDS)
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        # (contact, name) is unique in the summary: the join adds no duplicate rows.
        return queryset.filter(event_summaries__name=self.value()) if self.value() else queryset


class SeenWithinDaysFilter(admin.SimpleListFilter):
    """Any N works in the URL (?seen_days=N); the sidebar offers the usual ones."""

    title = "seen in the last N days"
    parameter_name = "seen_days"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(days), f"{days} day{'s' if days > 1 else ''}") for days in (1, 3, 7, 14, 30, 90, 180)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        value = self.value()
        if not value:
            return queryset
        days = int_or_none(value, maximum=MAX_DAYS)
        if days is None:
            raise IncorrectLookupParameters(f"seen_days must be a number of days between 1 and {MAX_DAYS}.")
        return queryset.filter(last_seen_at__gte=timezone.now() - dt.timedelta(days=days))


class LiveNowFilter(admin.SimpleListFilter):
    """Contacts seen in the last few minutes, queued first visits included (the buffer is flushed first)."""

    title = "live now"
    parameter_name = "live"
    MINUTES = 5

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("now", f"Seen in the last {self.MINUTES} minutes")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        if self.value() != "now":
            return queryset
        # A first visit is seconds from the database: write what is queued, so it shows here. Far behind,
        # the list shows what is written (it is a view of the moment, not a record that must be complete).
        with contextlib.suppress(PageViewBufferBehind):
            page_views_flush_before_reading()
        return queryset.filter(last_seen_at__gte=timezone.now() - dt.timedelta(minutes=self.MINUTES))
