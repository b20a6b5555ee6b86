"""Reads for the widget endpoints, the admin panels and the website chart."""

import datetime as dt
import functools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.db.models import Count, Exists, ForeignKey, Model, OuterRef, QuerySet
from django.db.models.functions import TruncDate
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from companies.models import Company
from companies.selectors import company_recent_member_ids
from contacts.models import Contact
from tracking.models import Event, EventSummary, PageView, WebSession, Website
from tracking.partitioning import month_start, months_add

# Websites change rarely and every widget request needs one: keep them in process memory briefly.
# An edit made in the admin reaches other processes within this many seconds.
WEBSITE_CACHE_SECONDS = 30
PANEL_ROWS = 20
CHART_DAYS = 30

_websites: dict[str, tuple[float, Website | None]] = {}
_websites_lock = threading.Lock()


def website_for_app_id(*, app_id: str) -> Website | None:
    """The website with this public app id (cached per process for a few seconds), or None."""
    now = time.monotonic()
    cached = _websites.get(app_id)
    if cached and cached[0] > now:
        return cached[1]
    # No query for what cannot be an app id (a NUL in the path would make PostgreSQL raise).
    website = Website.objects.filter(app_id=app_id).first() if len(app_id) <= 32 and "\x00" not in app_id else None
    with _websites_lock:
        if len(_websites) > 10_000:  # unknown ids probed at random must not grow this forever
            _websites.clear()
        _websites[app_id] = (now + WEBSITE_CACHE_SECONDS, website)
    return website


def website_cache_forget(*, app_id: str | None = None) -> None:
    """Forget one website (or all) from this process's cache, after a change."""
    with _websites_lock:
        if app_id is None:
            _websites.clear()
        else:
            _websites.pop(app_id, None)


def origin_allowed(*, website: Website, origin: str) -> bool:
    """Whether an Origin header is one of the website's allowed origins."""
    return origin.lower().rstrip("/") in website.allowed_origins


def contact_for_widget(*, contact_id: int) -> Contact | None:
    """The contact a widget token names, if it still exists."""
    return contact_row_where("pk", contact_id)


def contact_row_where(field: str, value: Any, *, for_update: bool = False) -> Contact | None:
    """The contact whose unique `field` is `value` (locked FOR UPDATE when asked), or None.

    The widget reads a contact on every new session and sign-in: its SELECT is compiled once per
    database, field and lock, since the ORM's compiler costs several times the query itself for a
    model this wide (0.7 ms against 0.15)."""
    alias = router.db_for_write(Contact) if for_update else router.db_for_read(Contact)
    connection = connections[alias]
    if for_update and not connection.in_atomic_block:
        raise TransactionManagementError("contact_row_where(for_update=True) locks until the transaction ends.")
    compiled = _contact_select(alias, field, for_update)
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, [value])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, (functions, expression) in compiled.converters:  # as the ORM does: JSON decoded, and so on
        for function in functions:
            values[index] = function(values[index], expression, connection)
    return Contact.from_db(alias, compiled.attnames, values)


@dataclass(frozen=True)
class _CompiledSelect:
    sql: str  # one %s parameter: the value looked up
    attnames: list[str]
    converters: list[tuple[int, tuple[list[Any], Any]]]


_PLACEHOLDER = "parley-compiled-select-placeholder"


@functools.cache
def _contact_select(alias: str, field: str, for_update: bool) -> _CompiledSelect:
    if field != "pk" and not Contact._meta.get_field(field).unique:
        raise ImproperlyConfigured(f"contact_row_where reads one row: {field} must be unique")
    value = 0 if field == "pk" else _PLACEHOLDER
    rows = Contact.objects.filter(**{field: value}).order_by()
    compiler = (rows.select_for_update() if for_update else rows).query.get_compiler(alias)
    sql, params = compiler.as_sql()
    if list(params) != [value]:
        raise ImproperlyConfigured("the contact's compiled SELECT must take the value looked up as its only parameter")
    expressions = [selected[0] for selected in compiler.select]
    return _CompiledSelect(
        sql=sql,
        attnames=[expression.target.attname for expression in expressions],
        converters=list(compiler.get_converters(expressions).items()),
    )


def contact_first_website_id(*, contact: Contact) -> int | None:
    """The website whose widget created this contact: recorded at creation; for rows older than the
    record, the website of its first web session, else of its first conversation (None: no website)."""
    if contact.first_website_id is not None:
        return contact.first_website_id
    first_session = (
        WebSession.objects.filter(contact_id=contact.pk).order_by("started_at", "id").values_list("website_id").first()
    )
    if first_session is not None:
        return first_session[0]
    first_conversation = (
        Website.objects.filter(conversations__contact_id=contact.pk)
        .order_by("conversations__created_at", "conversations__id")
        .values_list("pk")
        .first()
    )
    return first_conversation[0] if first_conversation is not None else None


def contact_belongs_to_verifying_website(*, contact_id: int) -> bool:
    """The contact was signed in, has a web session or a conversation on a website that enforces identity verification."""
    verifying = Website.objects.filter(identity_verification=Website.IdentityVerification.ENFORCED)
    return (
        Contact.objects.filter(pk=contact_id, identity_verified_at__isnull=False).exists()
        or WebSession.objects.filter(contact_id=contact_id, website__in=verifying).exists()
        or verifying.filter(conversations__contact_id=contact_id).exists()
    )


# --- admin panels ---------------------------------------------------------------------------------

SESSION_PANEL_ROWS = 10
SUMMARY_PANEL_ROWS = 50
_TEXT_COLUMNS = 9


def _panel_columns(datetimes: list[str], number: str | None, texts: list[str]) -> str:
    columns = [f"CAST({name} AS TEXT)" for name in datetimes] + ["CAST(NULL AS TEXT)"] * (2 - len(datetimes))
    columns.append(f"CAST({number} AS TEXT)" if number else "CAST(NULL AS TEXT)")
    columns += [f"CAST({name} AS TEXT)" for name in texts] + ["CAST(NULL AS TEXT)"] * (_TEXT_COLUMNS - len(texts))
    # Aliased: a cast keeps its column's name, and ORDER BY created_at would then sort the text
    # (every row of the contact) instead of walking the (contact, created_at) index.
    return ", ".join(f"{column} AS c{position}" for position, column in enumerate(columns))


def _panel_select(
    kind: str, model: type, datetimes: list[str], number: str | None, texts: list[str], order: str, limit: int
) -> tuple[str, list[Any]]:
    table = model._meta.db_table
    columns = _panel_columns(datetimes, number, texts)
    sql = (
        f"SELECT * FROM (SELECT '{kind}' AS kind, id, {columns} FROM {table} "  # noqa: S608 - names from code
        f"WHERE contact_id = %s ORDER BY {order} LIMIT {int(limit)}) {kind}"
    )
    return sql, [None]


# A contact's newest history rows are looked for in this many months first (the current one and
# the ones before it), so on PostgreSQL only those monthly partitions are read (tracking.partitioning).
RECENT_HISTORY_MONTHS = 3


def recent_history_since(*, now: dt.datetime) -> dt.datetime:
    """Where "recent" starts for the contact page's history panels: a month boundary, so that a
    partitioned table reads the partitions of the last RECENT_HISTORY_MONTHS months only."""
    return months_add(month_start(now), 1 - RECENT_HISTORY_MONTHS)


def _history_panel_select(kind: str, model: type, texts: list[str], limit: int, since: Any) -> tuple[str, list[Any]]:
    """The newest `limit` rows of a history table (page views, events) for one contact, read in the
    recent months; the older months are read only when those held fewer rows (a one-time filter,
    so PostgreSQL does not even open their partitions otherwise). Rows come in two runs, each
    newest first: the caller sorts them."""
    table = model._meta.db_table
    columns = _panel_columns(["created_at"], None, texts)
    select = f"SELECT '{kind}' AS kind, id, {columns} FROM {table} WHERE contact_id = %s"  # noqa: S608 - names from code
    order = f"ORDER BY created_at DESC, id DESC LIMIT {int(limit)}"
    recent = f"SELECT * FROM ({select} AND created_at >= %s {order}) {kind}_recent"  # noqa: S608
    filled = f"(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE contact_id = %s AND created_at >= %s LIMIT {int(limit)}) f)"  # noqa: S608
    older = f"SELECT * FROM ({select} AND created_at < %s AND {filled} < {int(limit)} {order}) {kind}_older"  # noqa: S608
    return f"{recent} UNION ALL {older}", [None, since, None, since, None, since]


def _aware(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    parsed = parse_datetime(value.replace(" ", "T", 1))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def contact_tracking_activity(*, contact: Contact) -> dict[str, list[Any]]:
    """Recent page views, sessions, event summaries and recent events of a contact in ONE query.

    The contact page must stay at a fixed, small number of queries, so its panels share it
    (tracking.integration keeps the result for the contact the page renders).
    """
    connection = connections[PageView.objects.db]
    since = connection.ops.adapt_datetimefield_value(recent_history_since(now=timezone.now()))
    parts = [
        _history_panel_select("pv", PageView, ["url", "title", "referrer"], PANEL_ROWS, since),
        _panel_select(
            "ws", WebSession, ["started_at", "last_activity_at"], "page_views_count",
            ["landing_url", "referrer", "utm_source", "utm_campaign", "browser", "browser_version", "os", "city", "country_name"],
            "last_activity_at DESC, id DESC", SESSION_PANEL_ROWS,
        ),
        _panel_select("es", EventSummary, ["first_at", "last_at"], "count", ["name"], "last_at DESC, id DESC", SUMMARY_PANEL_ROWS),
        _history_panel_select("ev", Event, ["name", "metadata"], PANEL_ROWS, since),
    ]  # fmt: skip
    # Each None in a part's parameters stands for the contact's id.
    params = [contact.pk if value is None else value for _, part_params in parts for value in part_params]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(sql for sql, _ in parts), params)
        rows = cursor.fetchall()
    activity: dict[str, list[Any]] = {"page_views": [], "sessions": [], "summaries": [], "events": []}
    for kind, pk, at1, at2, number, *texts in rows:
        if kind == "pv":
            activity["page_views"].append(
                PageView(
                    pk=pk,
                    contact_id=contact.pk,
                    created_at=_aware(at1),
                    url=texts[0],
                    title=texts[1],
                    referrer=texts[2],
                )
            )
        elif kind == "ws":
            fields = dict(
                zip(
                    [
                        "landing_url",
                        "referrer",
                        "utm_source",
                        "utm_campaign",
                        "browser",
                        "browser_version",
                        "os",
                        "city",
                        "country_name",
                    ],
                    texts,
                    strict=True,
                )
            )
            activity["sessions"].append(
                WebSession(
                    pk=pk,
                    contact_id=contact.pk,
                    started_at=_aware(at1),
                    last_activity_at=_aware(at2),
                    page_views_count=int(number),
                    **fields,
                )
            )
        elif kind == "es":
            activity["summaries"].append(
                EventSummary(
                    pk=pk,
                    contact_id=contact.pk,
                    first_at=_aware(at1),
                    last_at=_aware(at2),
                    count=int(number),
                    name=texts[0],
                )
            )
        else:
            metadata = json.loads(texts[1]) if texts[1] else {}
            activity["events"].append(
                Event(pk=pk, contact_id=contact.pk, created_at=_aware(at1), name=texts[0], metadata=metadata)
            )
    for kind in ("page_views", "events"):  # recent and older runs, newest first, panel-sized
        activity[kind] = sorted(activity[kind], key=lambda row: (row.created_at, row.pk), reverse=True)[:PANEL_ROWS]
    return activity


def event_names(*, limit: int = 200) -> list[str]:
    """Distinct event names, for the contact list filter (callers cache it)."""
    return list(EventSummary.objects.order_by("name").values_list("name", flat=True).distinct()[:limit])


def website_page_views_per_day(*, website: Website, days: int = CHART_DAYS) -> list[tuple[dt.date, int]]:
    """Page views per UTC day over the last `days` days, zero days included: one aggregate query."""
    today = timezone.now().date()
    first_day = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first_day, dt.time.min, tzinfo=dt.UTC)
    rows = (
        PageView.objects.filter(created_at__gte=since, session__website=website)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(views=Count("id"))
        .order_by()
    )
    counts = {row["day"]: row["views"] for row in rows}
    return [(first_day + dt.timedelta(days=n), counts.get(first_day + dt.timedelta(days=n), 0)) for n in range(days)]


def export_rows(queryset: QuerySet[Any], fields: list[str]) -> list[dict[str, Any]]:
    """The given fields of every row, read in chunks, for a GDPR export."""
    return list(queryset.values(*fields).iterator(chunk_size=2000))


def page_views_for_company_panel(company: Company) -> list[PageView]:
    """The ten most recent page views of the people a company page shows, for that page (one query)."""
    members = company_recent_member_ids(company=company)
    return list(
        PageView.objects.filter(contact_id__in=members).select_related("contact").order_by("-created_at", "-id")[:10]
    )


# --- rows whose contact or session is gone (docs/partitioning.md, Integrity) --------------------------------


def history_parent_links() -> list[tuple[type[Model], ForeignKey]]:
    """Every (model, foreign key) of the tracking app declared without a database constraint: the
    links whose integrity rests on contacts.deletion's lock protocol rather than on the database."""
    return [
        (model, field)
        for model in apps.get_app_config("tracking").get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, ForeignKey) and not field.db_constraint
    ]


def history_orphans(*, model: type[Model], field: ForeignKey) -> QuerySet:
    """Rows of `model` whose `field` names a row that does not exist."""
    parent = field.related_model._base_manager.filter(pk=OuterRef(field.attname))
    return model._base_manager.filter(~Exists(parent))


def history_orphans_count() -> dict[str, int]:
    """Orphaned rows per link ("tracking.PageView.contact": n); one scan of each table per link."""
    return {
        f"{model._meta.label}.{field.name}": history_orphans(model=model, field=field).count()
        for model, field in history_parent_links()
    }
