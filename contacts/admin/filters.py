"""The contact list's sidebar filters: tag, not tagged (the company list's too), country, last seen, and one per
filterable custom attribute."""

import datetime as dt
from typing import Any

from django.contrib import admin
from django.db import connections
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform
from django.http import HttpRequest
from django.utils import timezone

from common.parsing import finite_number_or_none, int_or_none
from contacts import selectors
from contacts.admin.forms import CUSTOM_ATTRIBUTE_PREFIX
from contacts.models import Contact, DataAttribute
from contacts.panels import last_seen_choices


def _tag_choices(request: HttpRequest) -> list[tuple[str, str]]:
    """The tags as a filter's choices, read once a request: the tag and "not tagged" filters offer the same."""
    choices = getattr(request, "_parley_tag_choices", None)
    if choices is None:
        choices = request._parley_tag_choices = [(str(tag.pk), tag.name) for tag in selectors.tag_list()]  # type: ignore[attr-defined]
    return choices


class TagFilter(admin.SimpleListFilter):
    """The rows with one tag: the contact and the company lists (both reach their tags through `tag_links`) and,
    with its own `tag_path`, the inbox. An id that is no number filters nothing."""

    title = "tag"
    parameter_name = "tag"
    tag_path = "tag_links__tag_id"  # from a row to its tags' ids

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return _tag_choices(request)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        tag_id = int_or_none(self.value())
        return queryset if tag_id is None else queryset.filter(**{self.tag_path: tag_id})


class NotTaggedFilter(TagFilter):
    """The rows without one tag ("not tagged VIP"), next to the tag filter; a segment saved from the list keeps
    it as `tag_id != <id>`."""

    title = "not tagged"
    parameter_name = "not_tag"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        tag_id = int_or_none(self.value())
        return queryset if tag_id is None else queryset.exclude(**{self.tag_path: tag_id})


class CountryFilter(admin.SimpleListFilter):
    title = "country"
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return selectors.contact_countries()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        return queryset.filter(country=self.value()) if self.value() else queryset


class LastSeenFilter(admin.SimpleListFilter):
    title = "last seen"
    parameter_name = "seen"
    RANGES = {"today": 1, "7d": 7, "30d": 30}

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("today", "Today"),
            ("7d", "Past 7 days"),
            ("30d", "Past 30 days"),
            *((choice.value, choice.label) for choice in last_seen_choices()),
            ("never", "Never"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        now = timezone.now()
        value = self.value()
        if value in self.RANGES:
            since = now - dt.timedelta(days=self.RANGES[value])
            if value == "today":
                since = now.replace(hour=0, minute=0, second=0, microsecond=0)
            return queryset.filter(last_seen_at__gte=since)
        for choice in last_seen_choices():  # other apps' (contacts/panels.py): retention's "stale"
            if value == choice.value:
                return queryset.filter(last_seen_at__lt=now - dt.timedelta(days=choice.days()))
        if value == "never":
            return queryset.filter(last_seen_at__isnull=True)
        return queryset


def custom_attribute_filter(attribute: DataAttribute) -> type[admin.SimpleListFilter]:
    """A sidebar filter for one defined custom attribute (booleans and attributes with options)."""

    def lookups(self: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        if attribute.data_type == DataAttribute.DataType.BOOLEAN:
            return [("true", "Yes"), ("false", "No")]
        return [(str(option), str(option)) for option in attribute.options]

    def queryset(self: Any, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        raw = self.value()
        if raw is None:
            return queryset
        value: Any = raw == "true" if attribute.data_type == DataAttribute.DataType.BOOLEAN else raw
        if attribute.data_type in (DataAttribute.DataType.INTEGER, DataAttribute.DataType.FLOAT):
            value = finite_number_or_none(raw, integer=attribute.data_type == DataAttribute.DataType.INTEGER)
            if value is None:
                return queryset.none()
        if connections[queryset.db].vendor == "postgresql":
            # `@>` containment uses the GIN index on custom_attributes.
            return queryset.filter(custom_attributes__contains={attribute.name: value})
        # The name as one key, never parsed as a lookup: a stored name may contain "__" (`vip__contains`).
        return queryset.alias(_attribute=KeyTransform(attribute.name, "custom_attributes")).filter(_attribute=value)

    return type(
        f"CustomAttributeFilter_{attribute.pk}",
        (admin.SimpleListFilter,),
        {
            "title": attribute.label or attribute.name,
            "parameter_name": f"{CUSTOM_ATTRIBUTE_PREFIX}{attribute.name}",
            "lookups": lookups,
            "queryset": queryset,
        },
    )
