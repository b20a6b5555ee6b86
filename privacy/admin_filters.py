"""The contact list's privacy filters (registered through privacy.integration): fixed field lookups."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest


class RestrictedFilter(admin.SimpleListFilter):
    title = "processing restricted"
    parameter_name = "restricted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Restricted"), ("no", "Not restricted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in {"yes", "no"}:
            return queryset.filter(processing_restricted=self.value() == "yes")
        return queryset


class _ConsentFilter(admin.SimpleListFilter):
    field = ""
    CHOICES = {"given": True, "refused": False, "none": None}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("given", "Given"), ("refused", "Refused"), ("none", "No choice made")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in self.CHOICES:
            return queryset
        value = self.CHOICES[self.value()]
        if value is None:
            return queryset.filter(**{f"{self.field}__isnull": True})
        return queryset.filter(**{self.field: value})


class AnalyticsConsentFilter(_ConsentFilter):
    title = "analytics consent"
    parameter_name = "analytics_consent"
    field = "analytics_consent"


class MarketingConsentFilter(_ConsentFilter):
    title = "marketing consent"
    parameter_name = "marketing_consent"
    field = "marketing_consent"
