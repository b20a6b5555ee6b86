"""The contact list's sidebar filters: country, last seen, and one per filterable custom attribute (its tag and "not
tagged" filters, which the company list and the inbox use too, are in contacts.panels)."""

import datetime as dt
from typing import Any

from django.contrib import admin
from django.db import connections
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTransform
from django.http import HttpRequest
from django.utils import timezone

from common.parsing import finite_number_or_none
from contacts import selectors
from contacts.admin.forms import CUSTOM_ATTRIBUTE_PREFIX
from contacts.models import Contact, DataAttribute
from contacts.panels import last_seen_choices


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
        if attribute.data_type == DataAttribute.DataType.BOOLEAN and raw not in ("true", "false"):
            return queryset.none()  # "yes" or "1" in a hand-made address: no match, not the "No" list
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


def custom_attribute_filters(definitions: QuerySet[DataAttribute]) -> list[type[admin.SimpleListFilter]]:
    """A sidebar filter for each of these attributes that has a short list of values: yes/no ones, and those with
    options (a contact's and a company's list alike)."""
    filterable = definitions.filter(Q(data_type=DataAttribute.DataType.BOOLEAN) | ~Q(options=[]))
    return [custom_attribute_filter(attribute) for attribute in filterable]
