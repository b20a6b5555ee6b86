from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.contrib.admin import apps as admin_apps
from django.core import checks


class ParleyAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with Parley's admin site, whose home page is the reports dashboard."""

    default = False  # named in INSTALLED_APPS in place of "django.contrib.admin"
    default_site = "reports.admin_site.ParleyAdminSite"


class ReportsConfig(AppConfig):
    default = True  # this module also holds the admin's config: "reports" in INSTALLED_APPS means this one
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from reports import integration

        checks.register(_reports_time_zone_check)
        integration.connect()


def _reports_time_zone_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from reports.clock import zone_problem

    problem = zone_problem(settings.PARLEY_REPORTS_TIME_ZONE)
    return [checks.Error(f"PARLEY_REPORTS_TIME_ZONE: {problem}", id="reports.E001")] if problem else []
