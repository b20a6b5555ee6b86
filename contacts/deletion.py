"""Bulk deletion of rows with everything that references them, leaves first, in set-based SQL.

Used by the GDPR erase, the retention runs and the API's conversation delete. Django's
`QuerySet.delete()` loads every row it cascades to (to send signals and collect dependents);
here each table gets one `DELETE … WHERE fk IN (subquery of the parent's keys)`, so memory stays
flat whatever the history of a contact. The caller owns the transaction and bounds the root batch.
Files stored for the deleted rows (any FileField, e.g. conversation attachments) are deleted from their
storage once the transaction commits.
"""

import logging
from collections import Counter
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction

from contacts import lifecycle
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


def _cascade_delete(model: type[models.Model], rows_filter: dict[str, Any], counts: Counter, depth: int = 0) -> None:
    """Delete the rows of `model` matching `rows_filter` and everything that cascades from them,
    leaves first, with one set-based statement per table.

    Children are addressed by `fk IN (subquery of the parent's keys)`, so no id list of a child
    table is ever loaded into memory; the caller bounds the work by the size of the root batch.
    """
    if depth > _MAX_CASCADE_DEPTH:
        raise ValidationError(f"The foreign keys to {model._meta.verbose_name} cascade too deep to delete.")
    rows = model._base_manager.filter(**rows_filter)
    # The root batch is a short list of ids: use it as is rather than as a subquery of itself.
    root_ids = rows_filter["pk__in"] if set(rows_filter) == {"pk__in"} else None
    connection = transaction.get_connection(rows.db)
    if root_ids is not None and connection.vendor == "postgresql":
        # One array parameter instead of n literals, which PostgreSQL would parse and plan in
        # every statement of the cascade.
        pk_type = model._meta.pk.rel_db_type(connection)
        root_ids = models.expressions.RawSQL(f"SELECT unnest(%s::{pk_type}[])", (list(root_ids),))  # noqa: S611 - type from model meta
        rows = model._base_manager.filter(pk__in=root_ids)
    for rel in _dependents(model):
        child = rel.related_model
        target = rel.field.target_field
        keys = root_ids if root_ids is not None and target.primary_key else rows.values(target.attname)
        child_filter = {f"{rel.field.name}__in": keys}
        if rel.on_delete is models.CASCADE:
            _cascade_delete(child, child_filter, counts, depth + 1)
        elif rel.on_delete is models.SET_NULL:
            child._base_manager.filter(**child_filter).update(**{rel.field.name: None})
        elif rel.on_delete is models.SET_DEFAULT:
            child._base_manager.filter(**child_filter).update(**{rel.field.name: rel.field.get_default()})
        elif rel.on_delete in (models.PROTECT, models.RESTRICT) and child._base_manager.filter(**child_filter).exists():
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
    if ids:
        _cascade_delete(model, {"pk__in": ids}, counts)
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
    list(Contact._base_manager.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    for hook in lifecycle.delete_hooks():  # derived values kept elsewhere follow, before the rows go
        hook(ids)
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Contact), object_id__in=[str(pk) for pk in ids]
    ).delete()
    return rows_delete_with_history(model=Contact, pks=ids)
