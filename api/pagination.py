"""Cursor (keyset) pagination with Intercom's `pages` object and a bounded total count."""

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, QuerySet

from api.errors import ParameterInvalid
from api.fields import int_param
from common.pagination import EstimatedCountPaginator
from common.parsing import int_or_none

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 150
CURSOR_VERSION = "c1"


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after the row with this primary key; page is the page number it leads to."""

    after_pk: int
    page: int


def cursor_encode(cursor: Cursor) -> str:
    raw = f"{CURSOR_VERSION}:{cursor.after_pk}:{cursor.page}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(value: Any, *, field: str = "starting_after") -> Cursor | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 100:
        raise ParameterInvalid(field, "starting_after must be a cursor taken from pages.next.")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        version, after_pk, page = raw.split(":")
        if version != CURSOR_VERSION:
            raise ValueError(version)
        after, number = int_or_none(after_pk), int_or_none(page, minimum=0)
        if after is None or number is None:
            raise ValueError(raw)
        return Cursor(after_pk=after, page=max(number, 2))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ParameterInvalid(field, "starting_after must be a cursor taken from pages.next.") from None


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


def keyset_page(queryset: QuerySet, *, per_page: int, cursor: Cursor | None, count: bool = True) -> Page:
    """Newest first by primary key; one query for the rows, one bounded one for the total."""
    ordered = queryset.order_by("-pk")
    if cursor is not None:
        ordered = ordered.filter(pk__lt=cursor.after_pk)
    rows = list(ordered[: per_page + 1])
    has_more = len(rows) > per_page
    rows = rows[:per_page]
    page = cursor.page if cursor else 1
    next_cursor = cursor_encode(Cursor(after_pk=rows[-1].pk, page=page + 1)) if has_more else None
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
