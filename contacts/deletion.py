"""Bulk deletion of rows with everything that references them, leaves first, in set-based SQL.

Used by the GDPR erase, the retention runs and the API's conversation delete. Django's
`QuerySet.delete()` loads every row it cascades to (to send signals and collect dependents);
here each table gets one `DELETE … WHERE fk = ANY(ARRAY(subquery of the parent's keys))`, so memory
stays flat whatever the history of a contact. The caller owns the transaction and bounds the root batch.
Files stored for the deleted rows (any FileField, e.g. conversation attachments) are deleted from their
storage once the transaction commits.

Rows referenced without a database foreign key (page views and events: `db_constraint=False`) rely on
one lock protocol instead of the database's checks (docs/partitioning.md, Integrity):
- a deletion locks the parent rows (FOR UPDATE: the contacts, then their sessions) before it deletes
  what references them (`_lock_if_referenced_without_constraint`);
- a writer holds a lock on the parent of the row it inserts, from before the insert until it commits:
  an event its contact (`contact_hold`, FOR KEY SHARE, what a foreign-key check takes), a page view its
  session (the UPDATE of the session's counters in the same transaction).
Whichever comes second waits for the first: a deletion then sees the writer's row and deletes it too,
and a writer finds its parent gone and inserts nothing. Locks are taken contact first, then session.
"""

import logging
from collections import Counter
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.db.models import F, Lookup

from common.row_locks import rows_lock
from contacts import generations, lifecycle
from contacts.models import Contact

logger = logging.getLogger(__name__)

# A cycle in the foreign-key graph (a model referencing itself, or A → B → A) is followed this deep.
_MAX_CASCADE_DEPTH = 8


def _dependents(model: type[models.Model]) -> list[Any]:
    """Reverse foreign keys (and one-to-ones, and auto-created m2m through tables) pointing at `model`."""
    return [
        rel
        for rel in model._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)
    ]


def _delete_rows(rows: models.QuerySet) -> int:
    """One DELETE statement for `rows`, whose dependents are already gone."""
    # Django has no public single-statement delete: QuerySet.delete() collects first (for a model
    # others reference it loads every row). With leaves moved to delete(), expiry_vs_raw_sql read
    # 1.81 and 1.93 against 1.23 and 1.55 before, so until a quiet-machine run says otherwise every
    # table takes _raw_delete, Django's own one-statement path.
    return rows._raw_delete(rows.db)


def _files_delete_on_commit(model: type[models.Model], rows: models.QuerySet) -> None:
    """Files stored for the rows about to go (a model's FileFields, e.g. attachments) are deleted from their
    storage once the deletion commits: a rolled-back batch keeps them, an erase leaves none behind."""
    fields = [field for field in model._meta.concrete_fields if isinstance(field, models.FileField)]
    if not fields:
        return
    stored = [
        (field.storage, name)
        for values in rows.values_list(*[field.attname for field in fields]).iterator()
        for field, name in zip(fields, values, strict=True)
        if name
    ]
    if stored:
        stored_files_delete_on_commit(stored, using=rows.db)


def stored_files_delete_on_commit(stored: list[tuple[Any, str]], *, using: str | None = None) -> None:
    """Delete (storage, name) pairs from their storage once the current transaction commits."""
    transaction.on_commit(partial(_files_delete, stored), using=using)


def _files_delete(stored: list[tuple[Any, str]]) -> None:
    for storage, name in stored:
        try:
            storage.delete(name)
        except Exception:  # one unreachable file must not keep the others; the name is random, no personal data
            logger.exception("Could not delete the stored file %s.", name)


class _AnyOfArray(Lookup):
    """`column = ANY(ARRAY(subquery))` (PostgreSQL): the keys are computed once, then each table (each
    partition) is read through its index on the column.

    With `column IN (subquery)` the planner sizes the subquery from averages: a batch of 1,000 stale
    visitors looks like 1,000 average contacts, a tenth of a 1M-row page-view table, so it read every page
    view (a sequential scan or a hash join) per batch and per table. An array built at run time is
    planned as a few keys, which is what a bounded batch is (docs/partitioning.md, Figures).
    """

    lookup_name = "any_of_array"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY(ARRAY{rhs})", [*lhs_params, *rhs_params]


def _rows_where(model: type[models.Model], field: str, keys: Any, *, postgresql: bool) -> models.QuerySet:
    """`model`'s rows whose `field` is one of `keys` (a subquery or the root batch)."""
    if postgresql:
        return model._base_manager.filter(_AnyOfArray(F(field), keys))
    return model._base_manager.filter(**{f"{field}__in": keys})


def _lock_if_referenced_without_constraint(model: type[models.Model], rows: models.QuerySet) -> None:
    """Lock `rows` (FOR UPDATE, in pk order) when a table references `model` without a database foreign
    key (page views and events: docs/partitioning.md, Integrity), before any dependent row goes.

    Nothing in the database stops an insert of such a child for a parent being deleted; instead every
    writer holds a lock on the parent (a page view's session row, an event's contact row) from before
    its insert until it commits. With the parents locked first, a writer that got there before has
    committed when the dependents are deleted (its row goes with them), and one that comes after finds
    its parent gone and writes nothing.
    """
    if all(getattr(rel.field, "db_constraint", True) for rel in _dependents(model)):
        return
    locked = rows.order_by("pk").select_for_update().values("pk")
    sql, params = locked.query.sql_with_params()
    with transaction.get_connection(rows.db).cursor() as cursor:
        # Counted on the server: the locked keys need not travel (an erase may lock many sessions).
        cursor.execute(f"SELECT count(*) FROM ({sql}) locked", params)  # noqa: S608 - SQL built by the ORM


def contact_hold(*, contact_id: int) -> bool:
    """Lock a contact against deletion (and merging away) until the current transaction ends, before
    inserting a row that references it without a database foreign key; False when it is gone.

    FOR KEY SHARE, as PostgreSQL's own foreign-key check: the contact's other writes go on. SQLite
    serialises write transactions, so a plain read says the same there."""
    connection = transaction.get_connection(router.db_for_write(Contact))
    if not connection.in_atomic_block:
        raise RuntimeError("contact_hold locks until the transaction ends: call it inside one.")
    table = Contact._meta.db_table
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} WHERE id = %s{lock}", [contact_id])  # noqa: S608 - the model's table
        return cursor.fetchone() is not None


def _cascade_delete(
    model: type[models.Model], rows: models.QuerySet, counts: Counter, *, root_ids: Any = None, depth: int = 0
) -> None:
    """Delete `rows` of `model` and everything that cascades from them, leaves first, with one
    set-based statement per table.

    Children are addressed by `fk = ANY(ARRAY(subquery of the parent's keys))` (`fk IN (…)` off
    PostgreSQL), so no id list of a child table is ever loaded into memory; the caller bounds the work
    by the size of the root batch (`root_ids`, which children that reference its pk use directly).
    """
    if depth > _MAX_CASCADE_DEPTH:
        raise ValidationError(f"The foreign keys to {model._meta.verbose_name} cascade too deep to delete.")
    postgresql = transaction.get_connection(rows.db).vendor == "postgresql"
    _lock_if_referenced_without_constraint(model, rows)
    for rel in _dependents(model):
        child, name = rel.related_model, rel.field.name
        target = rel.field.target_field
        keys = root_ids if root_ids is not None and target.primary_key else rows.order_by().values(target.attname)
        children = _rows_where(child, name, keys, postgresql=postgresql)
        if rel.on_delete is models.CASCADE:
            _cascade_delete(child, children, counts, depth=depth + 1)
        elif rel.on_delete is models.SET_NULL:
            children.update(**{name: None})
        elif rel.on_delete is models.SET_DEFAULT:
            children.update(**{name: rel.field.get_default()})
        elif rel.on_delete in (models.PROTECT, models.RESTRICT) and children.exists():
            raise ValidationError(f"{child._meta.verbose_name} rows protect this contact from deletion.")
        # DO_NOTHING: the model's owner chose to handle it (e.g. a database-level ON DELETE).
    _files_delete_on_commit(model, rows)
    deleted = _delete_rows(rows)
    if deleted:
        counts[model._meta.label] += deleted


def rows_delete_with_history(*, model: type[models.Model], pks: Iterable[Any]) -> Counter:
    """Delete rows of `model` by pk and every row that cascades from them. Returns rows per model label.

    The caller owns the transaction and bounds `pks` (e.g. 1,000 per batch).
    """
    counts: Counter = Counter()
    ids = list(pks)
    if not ids:
        return counts
    connection = transaction.get_connection(model._base_manager.db)
    root_ids: Any = ids
    if connection.vendor == "postgresql":
        # One array parameter instead of n literals, which PostgreSQL would parse and plan in
        # every statement of the cascade.
        pk_type = model._meta.pk.rel_db_type(connection)
        root_ids = models.expressions.RawSQL(f"SELECT unnest(%s::{pk_type}[])", (ids,))  # noqa: S611 - type from model meta
    rows = _rows_where(model, "pk", root_ids, postgresql=connection.vendor == "postgresql")
    _cascade_delete(model, rows, counts, root_ids=root_ids)
    return counts


def contacts_delete_with_history(*, contact_ids: Iterable[int]) -> Counter:
    """Delete contacts and every row that reaches them. Returns rows deleted per model label.

    The caller owns the transaction, so expiry can run it per batch and erase per person. The
    admin's change history goes too: its entries name the person (name or email) in object_repr.
    """
    ids = list(contact_ids)
    if not ids:
        return Counter()
    # The lock order of every writer of a contact's history (the ping, the ingest buffer's flush):
    # the contact rows first, in id order, then what hangs off them. Deleting leaves first without
    # it would lock page views and sessions before the contact, the other way round, and deadlock.
    rows_lock(Contact, ids)
    generations.contacts_changed(ids, using=router.db_for_write(Contact))  # no cached copy outlives its row
    for hook in lifecycle.delete_hooks():  # derived values kept elsewhere follow, before the rows go
        hook(ids)
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Contact), object_id__in=[str(pk) for pk in ids]
    ).delete()
    return rows_delete_with_history(model=Contact, pks=ids)
