"""The contact list's "Company" filter (registered in contacts/panels.py): the people of one company, reached
from the sidebar (the companies with the most people: there may be 100k) or the company page's "all its people"
link; the search box finds people by any company's name."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from common.parsing import int_or_none
from companies.selectors import companies_for_contact_filter


class CompanyMembersFilter(admin.SimpleListFilter):
    title = "company"
    parameter_name = "company"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        # The largest companies, and the one being looked at (Django applies a filter only when it has choices).
        chosen = int_or_none(request.GET.get(self.parameter_name))
        return [(str(company.pk), str(company)) for company in companies_for_contact_filter(chosen_id=chosen)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() is None:
            return queryset
        company_id = int_or_none(self.value())
        return queryset.none() if company_id is None else queryset.filter(company_memberships__company_id=company_id)
