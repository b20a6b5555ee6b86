"""The contact list's "company" filter (registered in contacts/panels.py): the people of one company,
reached from the company page's "all its people" link; no choices in the sidebar (there may be 100k)."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from common.parsing import int_or_none
from companies.models import Company


class CompanyMembersFilter(admin.SimpleListFilter):
    title = "company"
    parameter_name = "company"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        # Only the company being looked at (Django applies a filter only when it has a choice to show).
        company_id = int_or_none(request.GET.get(self.parameter_name))
        company = Company.objects.filter(pk=company_id).first() if company_id is not None else None
        return [(str(company.pk), str(company))] if company is not None else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() is None:
            return queryset
        company_id = int_or_none(self.value())
        return queryset.none() if company_id is None else queryset.filter(company_memberships__company_id=company_id)
