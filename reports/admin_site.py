"""Parley's admin site: Django's own, whose home page shows the reports dashboard above the app list."""

from typing import Any

from django.contrib import admin
from django.contrib.admin import actions
from django.contrib.admin.utils import model_ngettext
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path
from django.utils.translation import gettext_lazy

from common.teammates import PROFILE, teammate_name


class TeammateAutocompleteView(AutocompleteJsonView):
    """Autocomplete fields (a contact's owner, an API token's teammate) list teammates by their one name, and
    find them by it too; any other model as Django does."""

    def get_queryset(self) -> QuerySet:
        found = super().get_queryset()
        if self.model_admin.model is not get_user_model():
            return found
        if self.term:
            named = self.model_admin.get_queryset(self.request).complex_filter(self.source_field.get_limit_choices_to())
            named = named.filter(**{f"{PROFILE}__display_name__icontains": self.term})
            found = found | (named.distinct() if found.query.distinct else named)
        return found.select_related(PROFILE)

    def serialize_result(self, obj: Model, to_field_name: str) -> dict[str, str]:
        result = super().serialize_result(obj, to_field_name)
        if isinstance(obj, get_user_model()):
            result["text"] = teammate_name(obj)
        return result


@admin.action(permissions=["delete"], description=gettext_lazy("Delete selected %(verbose_name_plural)s"))
def delete_selected(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    """Django's bulk delete, its confirmation titled by what it deletes, "Delete 1 tag" or "Delete 3 tags" (Django
    titles it "Delete multiple objects", even for one); templates/admin/delete_selected_confirmation.html puts the
    title in the breadcrumbs too."""
    response = actions.delete_selected(modeladmin, request, queryset)
    if isinstance(response, TemplateResponse) and not (
        response.context_data["perms_lacking"] or response.context_data["protected"]
    ):  # a refusal keeps Django's "Cannot delete tag" / "Cannot delete tags"
        count = len(queryset)
        response.context_data["title"] = f"Delete {count:,} {model_ngettext(modeladmin.opts, count)}"
    return response


# The admin's home and sidebar list the apps in this order; an app not named comes after these, before the last two.
APP_ORDER = {
    label: position
    for position, label in enumerate(
        ("conversations", "contacts", "companies", "segments", "tracking", "reports", "privacy", "retention", "ops")
    )
} | {"auth": 100, "django_celery_beat": 101}


class ParleyAdminSite(admin.AdminSite):
    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        self.add_action(delete_selected, "delete_selected")  # in place of Django's, for every model

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        """The app list, with the dashboard above it for teammates allowed to see reports."""
        from reports.views import dashboard_context

        dashboard, status = dashboard_context(request)
        response = super().index(request, extra_context={**dashboard, **(extra_context or {})})
        response.status_code = status
        return response

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        """Parley's apps first, in the order of a support team's day (APP_ORDER); Django's users and groups, then the
        periodic tasks' schedules (django-celery-beat: set up once), last."""
        apps = super().get_app_list(request, app_label)
        return sorted(apps, key=lambda app: APP_ORDER.get(app["app_label"], len(APP_ORDER)))

    def autocomplete_view(self, request: HttpRequest) -> HttpResponse:
        return TeammateAutocompleteView.as_view(admin_site=self)(request)

    def get_urls(self) -> list[URLPattern | URLResolver]:
        from reports.views import chart_csv_view

        return [
            path("reports/<slug:key>.csv", self.admin_view(chart_csv_view), name="reports_chart_csv"),
            *super().get_urls(),
        ]
