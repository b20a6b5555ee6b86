"""Parley's admin site: Django's own, whose home page shows the reports dashboard above the app list."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path


class ParleyAdminSite(admin.AdminSite):
    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        """The app list, with the dashboard above it for teammates allowed to see reports."""
        from reports.views import dashboard_context

        dashboard, status = dashboard_context(request)
        response = super().index(request, extra_context={**dashboard, **(extra_context or {})})
        response.status_code = status
        return response

    def get_urls(self) -> list[URLPattern | URLResolver]:
        from reports.views import chart_csv_view

        return [
            path("reports/<slug:key>.csv", self.admin_view(chart_csv_view), name="reports_chart_csv"),
            *super().get_urls(),
        ]
