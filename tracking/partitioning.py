"""Monthly partitions of the history tables (page views, events) on PostgreSQL: the mechanics.

The shape. A history table is partitioned by RANGE on `created_at`: one partition per UTC calendar
month, named `<table>_pYYYY_MM`, and `<table>_default` for rows of a month that has no partition
(the far past, a client's timestamp years ahead), so an insert never fails. PostgreSQL wants the
partition key in every unique index, so the primary key is (id, created_at); ids still come from
the table's one identity sequence, so `id` stays unique and Django's pk (`id`) works unchanged:
admin URLs, lookups and deletes by id. Every index, foreign key and check of the plain table is
kept (each partition has its own copy of the indexes), so a query that bounds `created_at` reads
the partitions of those months only.

Months ahead (`partition_months_ensure`, run daily by beat): a missing month is created as a plain
table, given the rows the default partition holds for that month, then attached (SHARE UPDATE
EXCLUSIVE on the parent: reads and writes go on). Every DDL transaction here waits at most
LOCK_TIMEOUT for a lock, then gives up and retries, so it never queues the app's writes behind a
long query.

Online conversion (`table_convert`), plain to partitioned or back, while the app writes:
1. A shadow table of the target shape is created beside the live one with the live table's
   columns, indexes, foreign keys and checks; a trigger on the live table mirrors every insert,
   update, delete and truncate into it from then on.
2. The live rows are copied in id order, in batches: each batch one transaction that locks its rows
   FOR SHARE (an update or delete racing it waits, then its trigger mirrors it; one committed
   before is seen) and inserts ON CONFLICT DO NOTHING (a row the trigger brought over stays).
   The shadow's comment keeps the last id copied, so a rerun after a crash carries on.
3. In one REPEATABLE READ snapshot both tables must hold the same rows (count, sum of row hashes).
4. The swap, one short transaction: lock the live table (ACCESS EXCLUSIVE, with the lock timeout
   and retries), drop it, give the shadow, its indexes and its identity sequence the live names,
   and move the sequence past every id handed out. Statements that waited for the lock look the
   name up again and reach the new table: writers pause for the swap's milliseconds, none fails.
"""

import datetime as dt
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import OperationalError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

PARTITION_COLUMN = "created_at"
ID_COLUMN = "id"
# A DDL statement waits this long for its lock, then its transaction is retried after a pause.
LOCK_TIMEOUT = "1s"
LOCK_ATTEMPTS = 60
LOCK_RETRY_PAUSE_SECONDS = 0.5
DEFAULT_BATCH_SIZE = 10_000
# A conversion creates monthly partitions back to the oldest row, but no further back than this
# (older rows go to the default partition: each partition costs the planner a little).
MONTHS_BACK_MAX = 36
_LOCK_NOT_AVAILABLE = "55P03"
_PROGRESS_PREFIX = "parley conversion in progress; copied through id "
_T = TypeVar("_T")


class PartitioningError(Exception):
    """A conversion or maintenance step that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Partition:
    """One partition of a table; `lower` and `upper` are None for the default partition."""

    name: str
    lower: dt.datetime | None
    upper: dt.datetime | None

    @property
    def is_default(self) -> bool:
        return self.lower is None and self.upper is None


# --- months ---------------------------------------------------------------------------------------


def month_start(moment: dt.datetime) -> dt.datetime:
    """The first instant (UTC) of the month holding `moment`."""
    moment = moment.astimezone(dt.UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def months_add(month: dt.datetime, count: int) -> dt.datetime:
    """The first instant of the month `count` months after (or before) the month starting at `month`."""
    index = month.year * 12 + month.month - 1 + count
    return month.replace(year=index // 12, month=index % 12 + 1)


def months_between(first: dt.datetime, last: dt.datetime) -> Iterator[dt.datetime]:
    """The first instants of every month from `first` to `last`, both included."""
    month = month_start(first)
    while month <= last:
        yield month
        month = months_add(month, 1)


def partition_name(table: str, month: dt.datetime) -> str:
    return f"{table}_p{month:%Y_%m}"


def default_partition_name(table: str) -> str:
    return f"{table}_default"


def shadow_name(table: str) -> str:
    return f"{table}_shadow"


# --- reading the catalog ----------------------------------------------------------------------------


def table_shape(connection: BaseDatabaseWrapper, table: str) -> str:
    """ "partitioned", "plain" or "missing" (SQLite tables are always plain)."""
    if connection.vendor != "postgresql":
        return "plain" if table in connection.introspection.table_names() else "missing"
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    if row is None:
        return "missing"
    return "partitioned" if row[0] == "p" else "plain"


_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


def _parse_bound(text: str) -> dt.datetime:
    # pg_get_expr prints the bound in the session's time zone ("2025-01-01 00:00:00+00").
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def partitions_list(connection: BaseDatabaseWrapper, table: str) -> list[Partition]:
    """The partitions of `table`, months in order, the default one last; [] for a plain table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
            [table],
        )
        rows = cursor.fetchall()
    months, default = [], []
    for name, bound in rows:
        match = _BOUND.search(bound or "")
        if match:
            months.append(Partition(name, _parse_bound(match.group(1)), _parse_bound(match.group(2))))
        elif bound == "DEFAULT":
            default.append(Partition(name, None, None))
        # Anything else (MINVALUE, MAXVALUE) was made by hand: left alone.
    return sorted(months, key=lambda p: p.lower or dt.datetime.min.replace(tzinfo=dt.UTC)) + default


def _columns(cursor: Any, table: str) -> list[str]:
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum",
        [table],
    )
    return [name for (name,) in cursor.fetchall()]


def _quoted_columns(connection: BaseDatabaseWrapper, columns: list[str]) -> str:
    return ", ".join(connection.ops.quote_name(name) for name in columns)


# --- lock-bounded DDL ---------------------------------------------------------------------------------


def _is_lock_timeout(error: Exception) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == _LOCK_NOT_AVAILABLE


def with_lock_retries(connection: BaseDatabaseWrapper, what: str, work: Callable[[Any], _T]) -> _T:
    """Run `work(cursor)` in its own transaction (a savepoint inside a caller's) that waits at most
    LOCK_TIMEOUT for each lock, retried until it gets them: DDL never holds the app's writes in a
    lock queue for long."""
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('lock_timeout')")
                previous = cursor.fetchone()[0]
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
                result = work(cursor)
                # Inside a caller's transaction, what follows keeps its own lock timeout.
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
                return result
        except OperationalError as error:
            if not _is_lock_timeout(error) or attempt == LOCK_ATTEMPTS:
                raise
            logger.info("%s waited too long for a lock (attempt %s); trying again.", what, attempt)
            time.sleep(LOCK_RETRY_PAUSE_SECONDS)
    raise AssertionError("unreachable")


# --- months ahead and behind ----------------------------------------------------------------------------


def _month_covered(partitions: list[Partition], month: dt.datetime) -> bool:
    return any(p.lower is not None and p.upper is not None and p.lower <= month < p.upper for p in partitions)


def _month_overlaps(partitions: list[Partition], month: dt.datetime) -> bool:
    upper = months_add(month, 1)
    return any(p.lower is not None and p.upper is not None and p.lower < upper and month < p.upper for p in partitions)


def partition_months_ensure(
    connection: BaseDatabaseWrapper, table: str, *, first: dt.datetime, last: dt.datetime
) -> list[str]:
    """Create the missing monthly partitions of a partitioned `table` from `first` to `last`; their
    names. A month that the default partition holds rows of takes them along."""
    partitions = partitions_list(connection, table)
    default = next((p for p in partitions if p.is_default), None)
    created = []
    for month in months_between(first, last):
        if _month_covered(partitions, month):
            continue
        if _month_overlaps(partitions, month):
            logger.warning("%s: a partition made by hand overlaps %s; that month is left alone.", table, month)
            continue
        name = partition_name(table, month)
        with_lock_retries(
            connection,
            f"Creating partition {name}",
            lambda cursor, month=month, name=name: _month_attach(connection, cursor, table, month, name, default),
        )
        created.append(name)
    return created


def _month_attach(
    connection: BaseDatabaseWrapper, cursor: Any, table: str, month: dt.datetime, name: str, default: Partition | None
) -> None:
    quote = connection.ops.quote_name
    upper = months_add(month, 1)
    if default is not None:
        # First: a row of this month arriving in the default partition during the move would make
        # the ATTACH fail. Inserts routed to the other partitions do not wait for this lock.
        cursor.execute(f"LOCK TABLE {quote(default.name)} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(f"CREATE TABLE {quote(name)} (LIKE {quote(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    if default is not None:
        columns = _quoted_columns(connection, _columns(cursor, table))
        cursor.execute(
            f"WITH moved AS (DELETE FROM {quote(default.name)} WHERE {PARTITION_COLUMN} >= %s "  # noqa: S608 - names from the catalog
            f"AND {PARTITION_COLUMN} < %s RETURNING {columns}) "
            f"INSERT INTO {quote(name)} ({columns}) SELECT {columns} FROM moved",
            [month, upper],
        )
    cursor.execute(
        f"ALTER TABLE {quote(table)} ATTACH PARTITION {quote(name)} FOR VALUES FROM (%s) TO (%s)", [month, upper]
    )


def partitions_drop_before(
    connection: BaseDatabaseWrapper,
    table: str,
    *,
    cutoff: dt.datetime,
    dry_run: bool = False,
    on_drop: Callable[[Partition, int], None] | None = None,
) -> list[tuple[Partition, int]]:
    """Drop the monthly partitions of `table` whose every row is older than `cutoff`: (partition,
    rows) for each. `on_drop` runs inside each drop's transaction (to record it atomically); a dry
    run only counts."""
    dropped = []
    for partition in partitions_list(connection, table):
        if partition.is_default or partition.upper is None or partition.upper > cutoff:
            continue
        quoted = connection.ops.quote_name(partition.name)

        def drop(cursor: Any, partition: Partition = partition, quoted: str = quoted) -> int:
            cursor.execute(f"SELECT count(*) FROM {quoted}")  # noqa: S608 - a name from the catalog
            rows = cursor.fetchone()[0]
            if not dry_run:
                cursor.execute(f"DROP TABLE {quoted}")
            if on_drop is not None:
                on_drop(partition, rows)
            return rows

        dropped.append((partition, with_lock_retries(connection, f"Dropping partition {partition.name}", drop)))
    return dropped


# --- the online conversion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Index:
    name: str
    definition: str  # pg_get_indexdef, or pg_get_constraintdef for a constraint's index
    constraint: bool  # a PRIMARY KEY or UNIQUE constraint (rather than a bare index)
    primary: bool
    columns: tuple[str, ...]


def _indexes(cursor: Any, table: str) -> list[_Index]:
    cursor.execute(
        """
        SELECT i.relname, coalesce(pg_get_constraintdef(con.oid), pg_get_indexdef(x.indexrelid)),
               con.oid IS NOT NULL, x.indisprimary,
               ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = x.indrelid
                     AND a.attnum = ANY(x.indkey::int2[]))
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid
            AND con.contype IN ('p', 'u')
        WHERE x.indrelid = to_regclass(%s)
        ORDER BY i.relname
        """,
        [table],
    )
    return [
        _Index(name, definition, constraint, primary, tuple(columns))
        for name, definition, constraint, primary, columns in cursor.fetchall()
    ]


def _foreign_keys(cursor: Any, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) "
        "AND contype = 'f' ORDER BY conname",
        [table],
    )
    return cursor.fetchall()


def _shadow_index_name(name: str) -> str:
    """A name for the shadow's copy of index `name` (index names are unique per schema)."""
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"{name[:48]}_{digest}_shadow"


_INDEX_DEFINITION = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (USING .*)$", re.DOTALL)


def _shadow_create(
    connection: BaseDatabaseWrapper, cursor: Any, table: str, *, partitioned: bool, months: list[dt.datetime]
) -> None:
    quote = connection.ops.quote_name
    shadow = shadow_name(table)
    cursor.execute(
        "SELECT attidentity FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s", [table, ID_COLUMN]
    )
    identity = cursor.fetchone()
    if identity is None or identity[0] not in ("a", "d"):
        raise PartitioningError(
            f"{table}.{ID_COLUMN} is not an identity column: this conversion handles tables Django created."
        )
    partition_by = f" PARTITION BY RANGE ({PARTITION_COLUMN})" if partitioned else ""
    cursor.execute(
        f"CREATE TABLE {quote(shadow)} (LIKE {quote(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        f"INCLUDING IDENTITY INCLUDING STORAGE){partition_by}"
    )
    for index in _indexes(cursor, table):
        new_name = quote(_shadow_index_name(index.name))
        unique = index.constraint or index.definition.startswith("CREATE UNIQUE")
        if partitioned and unique and not index.primary and PARTITION_COLUMN not in index.columns:
            raise PartitioningError(
                f"The unique index {index.name} of {table} leaves out {PARTITION_COLUMN}: PostgreSQL cannot keep it "
                "on a partitioned table. Add the column to it first."
            )
        if index.primary:
            key = f"{ID_COLUMN}, {PARTITION_COLUMN}" if partitioned else ID_COLUMN
            cursor.execute(f"ALTER TABLE {quote(shadow)} ADD CONSTRAINT {new_name} PRIMARY KEY ({key})")
        elif index.constraint:
            cursor.execute(f"ALTER TABLE {quote(shadow)} ADD CONSTRAINT {new_name} {index.definition}")
        else:
            match = _INDEX_DEFINITION.match(index.definition)
            if match is None:
                raise PartitioningError(f"Cannot read the definition of index {index.name}: {index.definition}")
            unique, rest = match.groups()
            cursor.execute(f"CREATE {unique or ''}INDEX {new_name} ON {quote(shadow)} {rest}")
    for name, definition in _foreign_keys(cursor, table):
        cursor.execute(f"ALTER TABLE {quote(shadow)} ADD CONSTRAINT {quote(name)} {definition}")
    if partitioned:
        cursor.execute(f"CREATE TABLE {quote(default_partition_name(table))} PARTITION OF {quote(shadow)} DEFAULT")
        for month in months:
            cursor.execute(
                f"CREATE TABLE {quote(partition_name(table, month))} PARTITION OF {quote(shadow)} "
                "FOR VALUES FROM (%s) TO (%s)",
                [month, months_add(month, 1)],
            )
    _progress_save(connection, cursor, table, 0)
    _mirror_install(connection, cursor, table)


def _mirror_function(table: str) -> str:
    return f"{table}_mirror"


def _mirror_install(connection: BaseDatabaseWrapper, cursor: Any, table: str) -> None:
    """The trigger that keeps the shadow in step with every write to the live table."""
    quote = connection.ops.quote_name
    shadow, function = quote(shadow_name(table)), quote(_mirror_function(table))
    columns = _columns(cursor, table)
    names = _quoted_columns(connection, columns)
    new_values = ", ".join(f"NEW.{quote(name)}" for name in columns)
    same_row = f"{ID_COLUMN} = OLD.{ID_COLUMN} AND {PARTITION_COLUMN} = OLD.{PARTITION_COLUMN}"
    cursor.execute(
        f"""
        CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $mirror$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                TRUNCATE {shadow};
                RETURN NULL;
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                DELETE FROM {shadow} WHERE {same_row};
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                INSERT INTO {shadow} ({names}) VALUES ({new_values}) ON CONFLICT DO NOTHING;
            END IF;
            RETURN NULL;
        END
        $mirror$
        """  # noqa: S608 - names from the catalog
    )
    cursor.execute(
        f"CREATE TRIGGER {quote(_mirror_function(table) + '_rows')} AFTER INSERT OR UPDATE OR DELETE "
        f"ON {quote(table)} FOR EACH ROW EXECUTE FUNCTION {function}()"
    )
    cursor.execute(
        f"CREATE TRIGGER {quote(_mirror_function(table) + '_truncate')} AFTER TRUNCATE "
        f"ON {quote(table)} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )


def _progress_save(connection: BaseDatabaseWrapper, cursor: Any, table: str, last_id: int) -> None:
    # COMMENT takes no parameters: the id is an int, formatted as one.
    cursor.execute(
        f"COMMENT ON TABLE {connection.ops.quote_name(shadow_name(table))} IS '{_PROGRESS_PREFIX}{int(last_id)}'"
    )


def _progress_read(cursor: Any, table: str) -> int:
    cursor.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", [shadow_name(table)])
    comment = (cursor.fetchone() or [None])[0] or ""
    return int(comment.removeprefix(_PROGRESS_PREFIX)) if comment.startswith(_PROGRESS_PREFIX) else 0


def _copy_batches(
    connection: BaseDatabaseWrapper, table: str, *, batch_size: int, on_batch: Callable[[int], None] | None
) -> int:
    quote = connection.ops.quote_name
    shadow = quote(shadow_name(table))
    copied = 0
    with connection.cursor() as cursor:
        columns = _quoted_columns(connection, _columns(cursor, table))
        last_id = _progress_read(cursor, table)
    while True:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                f"WITH batch AS (SELECT {columns} FROM {quote(table)} WHERE {ID_COLUMN} > %s "  # noqa: S608 - names from the catalog
                f"ORDER BY {ID_COLUMN} LIMIT %s FOR SHARE), "
                f"copied AS (INSERT INTO {shadow} ({columns}) SELECT {columns} FROM batch ON CONFLICT DO NOTHING) "
                f"SELECT max({ID_COLUMN}), count(*) FROM batch",
                [last_id, batch_size],
            )
            newest, rows = cursor.fetchone()
            if not rows:
                break
            _progress_save(connection, cursor, table, newest)
        last_id = newest
        copied += rows
        if on_batch is not None:
            on_batch(copied)
    return copied


def _fingerprint(cursor: Any, quoted_table: str) -> tuple[int, int]:
    # The same row reads the same as text in both tables (same columns, same order).
    cursor.execute(f"SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0) FROM {quoted_table} t")  # noqa: S608
    count, total = cursor.fetchone()
    return int(count), int(total)


def _verify(connection: BaseDatabaseWrapper, table: str) -> int:
    """Both tables hold the same rows, seen in one snapshot (the trigger writes in the same
    transactions as the live table's writes); returns the row count."""
    quote = connection.ops.quote_name
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        live = _fingerprint(cursor, quote(table))
        shadow = _fingerprint(cursor, quote(shadow_name(table)))
    if live != shadow:
        raise PartitioningError(
            f"The copy of {table} differs from the table ({shadow[0]} rows against {live[0]}); nothing was swapped. "
            "Run the conversion again with --abort, then once more."
        )
    return live[0]


def _swap(connection: BaseDatabaseWrapper, cursor: Any, table: str) -> None:
    quote = connection.ops.quote_name
    shadow = shadow_name(table)
    cursor.execute(f"LOCK TABLE {quote(table)}, {quote(shadow)} IN ACCESS EXCLUSIVE MODE")
    index_names = [index.name for index in _indexes(cursor, table)]
    # Every id handed out so far is below this one (no insert can take one while the lock is held).
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s))", [table, ID_COLUMN])
    next_id = cursor.fetchone()[0]
    cursor.execute(f"DROP TABLE {quote(table)}")
    cursor.execute(f"DROP FUNCTION {quote(_mirror_function(table))}()")
    cursor.execute(f"ALTER TABLE {quote(shadow)} RENAME TO {quote(table)}")
    for name in index_names:
        cursor.execute(f"ALTER INDEX IF EXISTS {quote(_shadow_index_name(name))} RENAME TO {quote(name)}")
    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, ID_COLUMN])
    sequence = cursor.fetchone()[0]
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {quote(table + '_' + ID_COLUMN + '_seq')}")
    cursor.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s, false)", [table, ID_COLUMN, next_id])
    cursor.execute(f"COMMENT ON TABLE {quote(table)} IS NULL")


def _referencing_tables(cursor: Any, table: str) -> list[str]:
    cursor.execute(
        "SELECT DISTINCT conrelid::regclass::text FROM pg_constraint WHERE confrelid = to_regclass(%s) "
        "AND contype = 'f' AND conrelid <> confrelid",
        [table],
    )
    return [name for (name,) in cursor.fetchall()]


def conversion_abort(connection: BaseDatabaseWrapper, table: str) -> bool:
    """Drop a conversion's shadow table and trigger (the live table is untouched); whether there was one."""
    quote = connection.ops.quote_name
    shadow = shadow_name(table)

    def abort(cursor: Any) -> bool:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [shadow])
        existed = cursor.fetchone()[0]
        cursor.execute(f"DROP TABLE IF EXISTS {quote(shadow)}")
        cursor.execute(f"DROP FUNCTION IF EXISTS {quote(_mirror_function(table))}() CASCADE")  # its triggers too
        return existed

    return with_lock_retries(connection, f"Dropping the copy of {table}", abort)


def conversion_in_progress(connection: BaseDatabaseWrapper, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [shadow_name(table)])
        return cursor.fetchone()[0]


def conversion_months(
    connection: BaseDatabaseWrapper, table: str, *, now: dt.datetime, months_ahead: int
) -> list[dt.datetime]:
    """The months a partitioned copy of `table` gets: from its oldest row's (at most MONTHS_BACK_MAX
    back) to `months_ahead` after now's."""
    current = month_start(now)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min({PARTITION_COLUMN}) FROM {connection.ops.quote_name(table)}")  # noqa: S608
        oldest = cursor.fetchone()[0]
    first = max(month_start(oldest), months_add(current, -MONTHS_BACK_MAX)) if oldest else current
    return list(months_between(min(first, current), months_add(current, months_ahead)))


@dataclass(frozen=True)
class ConversionResult:
    table: str
    shape: str  # the table's shape afterwards
    rows: int  # rows copied by this run
    seconds: float


def table_convert(
    connection: BaseDatabaseWrapper,
    table: str,
    *,
    partitioned: bool,
    now: dt.datetime,
    months_ahead: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
) -> ConversionResult:
    """Convert the live `table` to monthly partitions (or back to a plain table) while the app
    writes to it: shadow + trigger, copy in batches, verify, swap (module docstring)."""
    started = time.monotonic()
    target = "partitioned" if partitioned else "plain"
    if connection.in_atomic_block:
        raise PartitioningError("A conversion commits its own transactions: run it outside one.")
    if connection.vendor != "postgresql":
        raise PartitioningError("Partitioned tables need PostgreSQL; the embedded SQLite database keeps plain tables.")
    shape = table_shape(connection, table)
    if shape == "missing":
        raise PartitioningError(f"There is no table {table}: run manage.py migrate first.")
    if shape == target:
        if conversion_in_progress(connection, table):  # left by a conversion the other way that was stopped
            conversion_abort(connection, table)
        return ConversionResult(table, shape, 0, time.monotonic() - started)
    with connection.cursor() as cursor:
        referencing = _referencing_tables(cursor, table)
    if referencing:
        raise PartitioningError(f"{', '.join(referencing)} reference {table} by foreign key; it cannot be swapped.")
    if not conversion_in_progress(connection, table):
        months = conversion_months(connection, table, now=now, months_ahead=months_ahead) if partitioned else []
        with_lock_retries(
            connection,
            f"Creating the copy of {table}",
            lambda cursor: _shadow_create(connection, cursor, table, partitioned=partitioned, months=months),
        )
    rows = _copy_batches(connection, table, batch_size=batch_size, on_batch=on_batch)
    _verify(connection, table)
    with_lock_retries(connection, f"Swapping {table}", lambda cursor: _swap(connection, cursor, table))
    return ConversionResult(table, target, rows, time.monotonic() - started)


def table_rows_at_most(connection: BaseDatabaseWrapper, table: str, limit: int) -> bool:
    """Whether `table` holds at most `limit` rows (reads at most limit + 1 of them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT %s) t",  # noqa: S608
            [limit + 1],
        )
        return cursor.fetchone()[0] <= limit
