"""A query string the admin would pass to the database as a filter must be one the list offers, with
storable text as its value."""

import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ERROR_FLAG, IGNORED_PARAMS, PAGE_VAR
from django.core.exceptions import FieldDoesNotExist
from django.db import DataError, models
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from common.parsing import BIGINT_MIN, MOMENT_RANGE, int_or_none, text_problem, utc_or_none

ADMIN_PREFIX = "/admin/"
# Date-part lookups a changelist turns into a date range at query time: outside these ranges Python's
# date raises (ValueError, OverflowError) while the query is built, which would be a 500.
DATE_PART_RANGES = {"year": (1, 9999), "iso_year": (1, 9999), "quarter": (1, 4), "month": (1, 12),
                    "week": (1, 53), "day": (1, 31), "week_day": (1, 7), "iso_week_day": (1, 7)}  # fmt: skip


_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]")
# PostgreSQL refuses a time zone displacement beyond ±15:59 (a DataError, while the query runs).
MAX_OFFSET = dt.timedelta(hours=15, minutes=59)


def moment_problem(value: str) -> str | None:
    """Why a date-and-time filter value cannot be queried (an offset PostgreSQL refuses, or no UTC moment), or None."""
    if not _ISO_MOMENT.match(value):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None  # not a moment: the admin's own validation answers it
    offset = moment.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        return "the time zone offset must be within ±15:59"
    if offset is not None and utc_or_none(moment) is None:
        return f"the moment must fall {MOMENT_RANGE}"
    return None


# A regular expression runs in the database (Python's own engine on SQLite): one pattern can take exponential time.
REGEX_LOOKUPS = frozenset({"regex", "iregex"})


def lookup_problem(model_admin: Any, name: str, offered: Callable[[], set[str]]) -> str | None:
    """Why a changelist query parameter is not a filter the list offers, or None.

    Django's admin accepts any lookup on any of the model's own fields (`?identity_secret__startswith=a`):
    a teammate could learn, one character at a time, a value the admin never shows them. A field is
    offered when the list shows it (a column), filters on it (the sidebar, the date drill-down) or it
    links to another object (a relation, the id); any other parameter is a list filter's own or
    unknown, and the admin answers it as before. `offered()` names the list's offered fields
    (_offered_fields, read at most once a request)."""
    parts = name.split(LOOKUP_SEP)
    if REGEX_LOOKUPS.intersection(parts):
        return "regular expression filters are not offered"
    try:
        field = model_admin.model._meta.get_field(parts[0])
    except FieldDoesNotExist:
        return None
    if field.is_relation or field.primary_key or parts[0] in offered():
        return None
    return "this list offers no filter on that field"


def _offered_fields(model_admin: Any, request: HttpRequest) -> set[str]:
    names = {model_admin.date_hierarchy}
    for item in model_admin.get_list_filter(request):
        if isinstance(item, str):
            names.add(item.split(LOOKUP_SEP)[0])
        elif isinstance(item, (tuple, list)):
            names.add(item[0].split(LOOKUP_SEP)[0])
        else:
            names.add(getattr(item, "parameter_name", None))
    names.update(column for column in model_admin.get_list_display(request) if isinstance(column, str))
    return names


def date_part_problem(name: str, value: str) -> str | None:
    """Why a `<field>__year=…` style filter value cannot be queried, or None."""
    part = name.rsplit("__", 1)[-1] if "__" in name else ""
    if part not in DATE_PART_RANGES:
        return None
    low, high = DATE_PART_RANGES[part]
    if int_or_none(value, minimum=low, maximum=high) is None:
        return f"must be a whole number from {low} to {high}"
    return None


def selection_problem(model_admin: Any, values: list[str]) -> str | None:
    """Why the ids an action was posted with (`_selected_action`) cannot be looked up, or None: Django filters
    `pk__in` with them as they come, and text that is no number for an integer key raises while the query is
    built (a 500)."""
    key = model_admin.model._meta.pk
    key = key.target_field if key.is_relation else key  # a one-to-one key holds the other row's id
    for value in values:
        problem = text_problem(value)
        if problem:
            return problem
        if isinstance(key, models.IntegerField) and int_or_none(value, minimum=BIGINT_MIN) is None:
            return "each selected id must be a whole number"
    return None


class AdminQueryGuardMiddleware:
    """The admin turns unknown query parameters into filters: a NUL or a lone surrogate there would
    reach PostgreSQL (a 500), a date part out of range (`?created_at__year=10000`) would raise while
    the query is built (a 500), a filter on a field the list does not offer could read a hidden value
    (lookup_problem), an action posted with ids that are no ids (selection_problem); each is refused with a 400
    naming the parameter instead."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(ADMIN_PREFIX):
            for name, values in request.GET.lists():
                for text in (name, *values):
                    problem = text_problem(text)
                    if problem:
                        return _refused(request, name, problem)
                for value in values:
                    problem = date_part_problem(name, value) or moment_problem(value)
                    if problem:
                        return _refused(request, name, problem)
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        # ModelAdmin.get_urls names the admin on each of its views; only the changelist filters by the query string.
        model_admin = getattr(view_func, "model_admin", None)
        if model_admin is None or getattr(view_func, "__name__", "") != "changelist_view":
            return None
        if request.method == "POST":
            problem = selection_problem(model_admin, request.POST.getlist(ACTION_CHECKBOX_NAME))
            if problem:
                return _refused(request, ACTION_CHECKBOX_NAME, problem)
        # The list's filters and columns (which may read the database: custom attribute filters) once.
        offered = functools.cache(lambda: _offered_fields(model_admin, request))
        for name in request.GET:
            if name in IGNORED_PARAMS or name in (PAGE_VAR, ERROR_FLAG):
                continue
            problem = lookup_problem(model_admin, name, offered)
            if problem:
                return _refused(request, name, problem)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Any other out-of-range value a filter reaches (a date beyond year 9999 in Python, or one the
        database refuses: PostgreSQL's DataError for a time zone offset past ±15:59): a 400, not a 500."""
        if not request.path_info.startswith(ADMIN_PREFIX):
            return None
        if isinstance(exception, OverflowError) or (request.method == "GET" and isinstance(exception, DataError)):
            return _refused(request, None, "a filter's value is out of range")
        return None


def _refused(request: HttpRequest, name: str | None, problem: str) -> HttpResponse:
    """A 400 in the admin's layout naming the parameter and why, with a way back: the list without it (or, for a
    value no parameter can be blamed for, without its filters)."""
    shown = None if name is None else name.encode("unicode_escape").decode()[:40]
    kept = QueryDict(mutable=True)
    if name is not None:  # the other parameters, those that can be sent back as they are
        for other, values in request.GET.lists():
            if other not in (name, ERROR_FLAG) and not any(map(text_problem, (other, *values))):
                kept.setlist(other, values)
    context = {
        **admin.site.each_context(request),
        "title": "This list cannot be filtered that way",
        "parameter": shown,
        "problem": problem,
        "back_url": request.path + (f"?{kept.urlencode()}" if kept else ""),
    }
    return render(request, "admin/query_refused.html", context, status=400)
