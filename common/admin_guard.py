"""A query string the admin would pass to the database as a filter value must be storable text."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from common.parsing import int_or_none, text_problem

ADMIN_PREFIX = "/admin/"
# Date-part lookups a changelist turns into a date range at query time: outside these ranges Python's
# date raises (ValueError, OverflowError) while the query is built, which would be a 500.
DATE_PART_RANGES = {"year": (1, 9999), "iso_year": (1, 9999), "quarter": (1, 4), "month": (1, 12),
                    "week": (1, 53), "day": (1, 31), "week_day": (1, 7), "iso_week_day": (1, 7)}  # fmt: skip


def date_part_problem(name: str, value: str) -> str | None:
    """Why a `<field>__year=…` style filter value cannot be queried, or None."""
    part = name.rsplit("__", 1)[-1] if "__" in name else ""
    if part not in DATE_PART_RANGES:
        return None
    low, high = DATE_PART_RANGES[part]
    if int_or_none(value, minimum=low, maximum=high) is None:
        return f"must be a whole number from {low} to {high}"
    return None


class AdminQueryGuardMiddleware:
    """The admin turns unknown query parameters into filters: a NUL or a lone surrogate there would
    reach PostgreSQL (a 500), a date part out of range (`?created_at__year=10000`) would raise while
    the query is built (a 500); each is refused with a 400 naming the parameter instead."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(ADMIN_PREFIX):
            for name, values in request.GET.lists():
                for text in (name, *values):
                    problem = text_problem(text)
                    if problem:
                        return _refused(name, problem)
                for value in values:
                    problem = date_part_problem(name, value)
                    if problem:
                        return _refused(name, problem)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Any other out-of-range date a filter reaches (a date beyond year 9999): a 400, not a 500."""
        if request.path_info.startswith(ADMIN_PREFIX) and isinstance(exception, OverflowError):
            return HttpResponseBadRequest("A filter's date is out of range.", content_type="text/plain")
        return None


def _refused(name: str, problem: str) -> HttpResponse:
    shown = name.encode("unicode_escape").decode()[:40]
    return HttpResponseBadRequest(f"Query parameter {shown!r}: {problem}", content_type="text/plain")
