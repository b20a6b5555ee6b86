"""Cursor (keyset) pagination with Intercom's `pages` object and a bounded total count."""

import base64
import binascii
import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Model, Q, QuerySet

from api.errors import ParameterInvalid
from api.fields import int_param
from common.pagination import EstimatedCountPaginator
from common.parsing import BIGINT_MAX, int_or_none, json_loads, text_problem

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 150
CURSOR_VERSION = "c1"
# A sorted page's cursor also carries the sort field and the last row's value of it (JSON inside).
SORTED_CURSOR_VERSION = "c2"
MAX_CURSOR_LENGTH = 1200
CURSOR_ERROR = "starting_after must be a cursor taken from pages.next."


@dataclass(frozen=True)
class Sort:
    """Intercom's `sort: {field, order}` resolved: the model field path, the direction, and its value kind."""

    name: str  # the field as the caller names it (kept in the cursor)
    path: str  # the model field
    kind: str  # integer | date | string
    descending: bool


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after the row with this primary key; page is the page number it leads to.

    For a sorted page, `sort_name` and `after_value` (the last row's value of the sort field, in its
    JSON form: Unix microseconds for dates) say where in that order.
    """

    after_pk: int
    page: int
    sort_name: str | None = None
    after_value: int | str | None = None


def cursor_encode(cursor: Cursor) -> str:
    if cursor.sort_name is None:
        raw = f"{CURSOR_VERSION}:{cursor.after_pk}:{cursor.page}".encode()
    else:
        payload = [cursor.after_pk, cursor.page, cursor.sort_name, cursor.after_value]
        raw = f"{SORTED_CURSOR_VERSION}:{json.dumps(payload, separators=(',', ':'))}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(value: Any, *, field: str = "starting_after") -> Cursor | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > MAX_CURSOR_LENGTH:
        raise ParameterInvalid(field, CURSOR_ERROR)
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        version, _, rest = raw.partition(":")
        if version == SORTED_CURSOR_VERSION:
            return _sorted_cursor(json_loads(rest))
        if version != CURSOR_VERSION:
            raise ValueError(version)
        after_pk, page = rest.split(":")
        after, number = int_or_none(after_pk), int_or_none(page, minimum=0)
        if after is None or number is None:
            raise ValueError(raw)
        return Cursor(after_pk=after, page=max(number, 2))
    except (ValueError, UnicodeDecodeError, binascii.Error, TypeError):
        raise ParameterInvalid(field, CURSOR_ERROR) from None


def _sorted_cursor(payload: Any) -> Cursor:
    """A c2 cursor's JSON, every part checked (a cursor comes back from outside)."""
    if not isinstance(payload, list) or len(payload) != 4:
        raise ValueError("cursor")
    after_pk, page, sort_name, after_value = payload
    after, number = int_or_none(str(after_pk)), int_or_none(str(page), minimum=0)
    if after is None or number is None or not isinstance(sort_name, str) or len(sort_name) > 100:
        raise ValueError("cursor")
    if not (after_value is None or isinstance(after_value, str) or type(after_value) is int):
        raise ValueError("cursor")
    if isinstance(after_value, str) and text_problem(after_value):
        raise ValueError("cursor")
    if type(after_value) is int and abs(after_value) > BIGINT_MAX:
        raise ValueError("cursor")
    return Cursor(after_pk=after, page=max(number, 2), sort_name=sort_name, after_value=after_value)


def sort_clean(value: Any, *, fields: dict[str, tuple[str, str]], field: str = "sort") -> Sort | None:
    """Intercom's `sort: {field, order}` over `fields` (name → (model field, kind)): indexed fields only."""
    if value in (None, {}):
        return None
    if not isinstance(value, dict):
        raise ParameterInvalid(field, "sort must be an object: {field, order}.")
    name = value.get("field")
    if not isinstance(name, str) or not name:
        raise ParameterInvalid(f"{field}.field", "sort.field is required.")
    if name not in fields:
        shown = (
            name if len(name) <= 100 and text_problem(name) is None else name[:100].encode("utf-8", "replace").decode()
        )
        raise ParameterInvalid(
            f"{field}.field",
            f"Cannot sort on {shown!r}: sorting needs an indexed field, one of {', '.join(fields)}.",
        )
    order = value.get("order", "descending")
    if order not in ("ascending", "descending"):
        raise ParameterInvalid(f"{field}.order", "sort.order must be ascending or descending.")
    path, kind = fields[name]
    if path == "pk" and order == "descending":
        return None  # the default order: keep the plain cursors
    return Sort(name=name, path=path, kind=kind, descending=order == "descending")


def _sort_value(row: Model, sort: Sort) -> int | str | None:
    value = getattr(row, sort.path)
    return _micros(value) if isinstance(value, dt.datetime) else value


def _micros(moment: dt.datetime) -> int:
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def _after(sort: Sort, cursor: Cursor) -> Q:
    """The rows after the cursor in the sort's order, the primary key breaking ties.

    Nulls count as the largest value, as in a PostgreSQL b-tree: last ascending, first descending, so
    one plain index serves both directions.
    """
    value: Any = cursor.after_value
    if sort.kind == "date" and value is not None:
        if type(value) is not int:
            raise ValueError("cursor")
        value = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=value)
    elif (sort.kind == "integer" and value is not None and type(value) is not int) or (
        sort.kind == "string" and value is not None and not isinstance(value, str)
    ):
        raise ValueError("cursor")
    beyond, pk_beyond = ("lt", "lt") if sort.descending else ("gt", "gt")
    if sort.path == "pk":
        return Q(**{f"pk__{pk_beyond}": cursor.after_pk})
    null_rest = Q(**{f"{sort.path}__isnull": True, f"pk__{pk_beyond}": cursor.after_pk})
    if value is None:
        # Descending, the valued rows all follow the nulls; ascending, only nulls are left.
        return null_rest | Q(**{f"{sort.path}__isnull": False}) if sort.descending else null_rest
    after_value = Q(**{f"{sort.path}__{beyond}": value}) | Q(**{sort.path: value, f"pk__{pk_beyond}": cursor.after_pk})
    return after_value if sort.descending else after_value | Q(**{f"{sort.path}__isnull": True})


def per_page_clean(value: Any, *, field: str = "per_page") -> int:
    return int_param(value, field=field, maximum=MAX_PER_PAGE, default=DEFAULT_PER_PAGE)


def estimated_total(queryset: QuerySet) -> int:
    """Exact when small; the planner's estimate on PostgreSQL above that (never a COUNT(*) over 1M rows)."""
    return EstimatedCountPaginator(queryset.order_by("pk"), 1).count


@dataclass(frozen=True)
class Page:
    """One page of rows and Intercom's `pages` object for it (`next` only when a cursor leads on)."""

    rows: list[Model]
    total_count: int
    per_page: int
    page: int
    total_pages: int
    next_cursor: str | None = None

    def pages_json(self) -> dict[str, Any]:
        pages: dict[str, Any] = {
            "type": "pages",
            "page": self.page,
            "per_page": self.per_page,
            "total_pages": self.total_pages,
        }
        # The official SDKs keep requesting while `next` is present: it is absent on the last page.
        if self.next_cursor:
            pages["next"] = {"page": self.page + 1, "starting_after": self.next_cursor}
        return pages


def keyset_page(
    queryset: QuerySet,
    *,
    per_page: int,
    cursor: Cursor | None,
    count: bool = True,
    sort: Sort | None = None,
    cursor_field: str = "starting_after",
) -> Page:
    """Newest first by primary key (or in `sort`'s order); one query for the rows, one bounded one for the total."""
    if cursor is not None and cursor.sort_name != (sort.name if sort else None):
        raise ParameterInvalid(cursor_field, "This cursor was made for another sort; send the same sort as before.")
    if sort is None:
        ordered = queryset.order_by("-pk")
        if cursor is not None:
            ordered = ordered.filter(pk__lt=cursor.after_pk)
    else:
        column = F(sort.path)
        ordered = queryset.order_by(
            column.desc(nulls_first=True) if sort.descending else column.asc(nulls_last=True),
            "-pk" if sort.descending else "pk",
        )
        if cursor is not None:
            try:
                ordered = ordered.filter(_after(sort, cursor))
            except (ValueError, OverflowError):
                raise ParameterInvalid(cursor_field, CURSOR_ERROR) from None
    rows = list(ordered[: per_page + 1])
    has_more = len(rows) > per_page
    rows = rows[:per_page]
    page = cursor.page if cursor else 1
    next_cursor = None
    if has_more:
        last = rows[-1]
        next_cursor = cursor_encode(
            Cursor(after_pk=last.pk, page=page + 1)
            if sort is None
            else Cursor(after_pk=last.pk, page=page + 1, sort_name=sort.name, after_value=_sort_value(last, sort))
        )
    total = estimated_total(queryset) if count else len(rows)
    total_pages = max(math.ceil(total / per_page), page if rows else 0)
    return Page(
        rows=rows, total_count=total, per_page=per_page, page=page, total_pages=total_pages, next_cursor=next_cursor
    )


def offset_page(queryset: QuerySet, *, per_page: int, page: int) -> Page:
    """Page `page` by number in the queryset's own order, with an exact count (small lists only, e.g. notes)."""
    total = queryset.count()
    rows = list(queryset[(page - 1) * per_page : page * per_page])
    # The SDK asks for the next page until one is empty: no cursor, at least one page.
    total_pages = max((total + per_page - 1) // per_page, 1)
    return Page(rows=rows, total_count=total, per_page=per_page, page=page, total_pages=total_pages)
