"""Monthly partitions of page views and events on PostgreSQL: keep months ahead, drop old months,
convert an install's tables (the mechanics and their guarantees: tracking.partitioning).

SQLite (the embedded mode) keeps plain tables: everything here does nothing there. On PostgreSQL a
history table may be plain for a while (an install whose tables were too big to convert during
`migrate`, until `manage.py partition_tables` ran): the app reads and writes both shapes alike, and
these functions leave a plain table alone.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from tracking import partitioning
from tracking.models import Event, PageView

HISTORY_MODELS: tuple[type[models.Model], ...] = (PageView, Event)
# Beat creates the current month and this many after it, daily: a missed week changes nothing.
MONTHS_AHEAD = 3


def _connection(model: type[models.Model]) -> BaseDatabaseWrapper:
    return connections[model.objects.db]


def _partitioned(model: type[models.Model]) -> bool:
    connection = _connection(model)
    return (
        connection.vendor == "postgresql"
        and partitioning.table_shape(connection, model._meta.db_table) == "partitioned"
    )


@dataclass(frozen=True)
class HistoryTableStatus:
    label: str
    table: str
    shape: str  # partitioned, plain or missing
    partitions: list[partitioning.Partition]
    conversion_in_progress: bool


def history_tables_status() -> list[HistoryTableStatus]:
    """Each history table's shape and partitions."""
    statuses = []
    for model in HISTORY_MODELS:
        connection, table = _connection(model), model._meta.db_table
        shape = partitioning.table_shape(connection, table)
        postgresql = connection.vendor == "postgresql"
        statuses.append(
            HistoryTableStatus(
                label=model._meta.label,
                table=table,
                shape=shape,
                partitions=partitioning.partitions_list(connection, table) if shape == "partitioned" else [],
                conversion_in_progress=postgresql and partitioning.conversion_in_progress(connection, table),
            )
        )
    return statuses


def history_partitions_maintain(*, now: dt.datetime | None = None) -> list[str]:
    """Create the current month's partition and MONTHS_AHEAD after it for each partitioned history
    table; the names created (none on SQLite or for a plain table)."""
    current = partitioning.month_start(now or timezone.now())
    created = []
    for model in HISTORY_MODELS:
        if _partitioned(model):
            created += partitioning.partition_months_ensure(
                _connection(model),
                model._meta.db_table,
                first=current,
                last=partitioning.months_add(current, MONTHS_AHEAD),
            )
    return created


def history_partitions_create(*, first: dt.datetime, last: dt.datetime) -> list[str]:
    """Create monthly partitions from `first` to `last` (e.g. before importing old history): the
    rows the default partition holds for those months move into them."""
    created = []
    for model in HISTORY_MODELS:
        if _partitioned(model):
            created += partitioning.partition_months_ensure(
                _connection(model), model._meta.db_table, first=first, last=last
            )
    return created


def history_partitions_drop_before(
    *,
    model: type[models.Model],
    cutoff: dt.datetime,
    dry_run: bool = False,
    on_drop: Callable[[int], None] | None = None,
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Drop the monthly partitions of `model`'s table whose every row is older than `cutoff`; the
    [start, end) of each month dropped (or, in a dry run, counted only). `on_drop(rows)` runs inside
    each drop's transaction. Nothing on a plain table."""
    if model not in HISTORY_MODELS or not _partitioned(model):
        return []
    dropped = partitioning.partitions_drop_before(
        _connection(model),
        model._meta.db_table,
        cutoff=cutoff,
        dry_run=dry_run,
        on_drop=(lambda _partition, rows: on_drop(rows)) if on_drop else None,
    )
    return [(partition.lower, partition.upper) for partition, _ in dropped if partition.lower and partition.upper]


def history_tables_convert(
    *,
    partitioned: bool = True,
    batch_size: int = partitioning.DEFAULT_BATCH_SIZE,
    now: dt.datetime | None = None,
    on_batch: Callable[[str, int], None] | None = None,
) -> list[partitioning.ConversionResult]:
    """Convert page views and events to monthly partitions (or back to plain tables) online."""
    now = now or timezone.now()
    results = []
    for model in HISTORY_MODELS:
        connection, table = _connection(model), model._meta.db_table
        results.append(
            partitioning.table_convert(
                connection,
                table,
                partitioned=partitioned,
                now=now,
                months_ahead=MONTHS_AHEAD,
                batch_size=batch_size,
                on_batch=(lambda rows, table=table: on_batch(table, rows)) if on_batch else None,
            )
        )
    return results


def history_conversion_abort() -> list[str]:
    """Drop the copies (and triggers) a stopped conversion left; the tables they were for."""
    aborted = []
    for model in HISTORY_MODELS:
        connection, table = _connection(model), model._meta.db_table
        if connection.vendor == "postgresql" and partitioning.conversion_abort(connection, table):
            aborted.append(table)
    return aborted
