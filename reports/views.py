"""The dashboard (the admin's home page, through reports.admin_site) and each chart's CSV download."""

import csv
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import reverse
from django.utils import timezone

from common.csv_export import csv_cell
from common.read_replica import replica_safe
from reports.clock import report_today, report_zone
from reports.dashboard import CHARTS_BY_KEY, Figures, chart_render, charts_allowed
from reports.forms import DashboardFilterForm, preset_ranges
from reports.selectors import filter_choices, rollups_computed_at


def _form(request: HttpRequest) -> DashboardFilterForm:
    websites, teams = filter_choices()
    return DashboardFilterForm(request.GET, today=report_today(), websites=websites, teams=teams)


def _query(form: DashboardFilterForm, **changes: Any) -> str:
    """The filters as a query string (the valid form's), with `changes`; empty values left out."""
    data = form.cleaned_data
    values = {"start": data["start"].isoformat(), "end": data["end"].isoformat(), "website": data.get("website"),
              "team": data.get("team"), **changes}  # fmt: skip
    return urlencode({name: value for name, value in values.items() if value})


def dashboard_context(request: HttpRequest) -> tuple[dict[str, Any], int]:
    """The dashboard's part of the admin home page and the HTTP status; empty for teammates without access."""
    allowed = charts_allowed(request.user)
    if not allowed:
        return {}, 200
    form = _form(request)
    computed_at = rollups_computed_at()
    updated = timezone.localtime(computed_at, report_zone()) if computed_at else None
    if not form.is_valid():
        # The usual ranges stay one click away (without the refused filters), and so does when figures were updated.
        presets = [(label, urlencode({"start": start.isoformat(), "end": end.isoformat()}))
                   for label, start, end in preset_ranges(today=report_today())]  # fmt: skip
        context = {"form": form, "charts": [], "presets": presets, "zone": report_zone().key, "computed_at": updated}
        return {"dashboard": context}, 400
    figures = Figures(form.filters())
    charts = []
    for spec in allowed:
        chart = chart_render(spec, figures)
        csv_url = f"{reverse('admin:reports_chart_csv', args=[spec.key])}?{_query(form)}"
        charts.append({"chart": chart, "csv_url": csv_url})
    today = report_today()
    presets = [(label, _query(form, start=start.isoformat(), end=end.isoformat())) for label, start, end in
               preset_ranges(today=today)]  # fmt: skip
    return {
        "dashboard": {
            "form": form,
            "filters": figures.filters,
            "charts": charts,
            "presets": presets,
            "zone": report_zone().key,
            "computed_at": updated,
        }
    }, 200


@replica_safe
def chart_csv_view(request: HttpRequest, key: str) -> HttpResponse:
    """One chart's data as CSV, for the same filters as the page; the chart's permission is required.
    Reads only the rollups (and the cached "now" counts): a replica, when configured, serves it."""
    spec = CHARTS_BY_KEY.get(key)
    if spec is None:
        raise Http404("No such chart.")
    if spec not in charts_allowed(request.user):
        raise PermissionDenied
    form = _form(request)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(f"Invalid filters. {problems}", content_type="text/plain; charset=utf-8")
    filters = form.filters()
    table = spec.table(Figures(filters))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="parley-{spec.key}-{filters.start}-{filters.end}.csv"'
    writer = csv.writer(response)
    writer.writerow([csv_cell(value) for value in table.header])
    writer.writerows([csv_cell(value) for value in row] for row in table.rows)
    return response
