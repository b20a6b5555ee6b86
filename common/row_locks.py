"""Holding rows a write is about to name, so that their deletion waits for it (or it for the deletion).

A foreign key to a row that another transaction deletes meanwhile fails at the commit (PostgreSQL checks Django's
foreign keys then): an IntegrityError, a 500. A writer that holds the rows it names first (FOR KEY SHARE, what a
foreign key check takes itself) either waits for the deletion, which locks its rows FOR UPDATE, and then finds them
gone (a refusal on its field), or commits first and the deletion sees what it wrote. Writers naming the same row
never wait on each other. SQLite serialises writers, so a plain read does there.
"""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, models, router


def rows_hold(model: type[models.Model], pks: Iterable[Any]) -> set[Any]:
    """Of these rows of `model`, the pks that exist, each held until the caller's transaction ends."""
    ids = set(pks)  # the lock order is the query's ORDER BY pk; sorting here failed on ids given as mixed types
    if not ids:
        return set()
    using = router.db_for_write(model)
    found = model._base_manager.using(using).filter(pk__in=ids).order_by("pk").values_list("pk", flat=True)
    if connections[using].vendor != "postgresql":
        return set(found)
    sql, params = found.query.sql_with_params()
    with connections[using].cursor() as cursor:
        cursor.execute(f"{sql} FOR KEY SHARE", params)
        return {pk for (pk,) in cursor.fetchall()}


def rows_lock(model: type[models.Model], pks: Any) -> list[Any]:
    """Lock these rows of `model` (ids, or a query of them) FOR UPDATE in id order, the order every writer holding
    several rows of one table takes them (else two such writers deadlock); the ids of those still there."""
    rows = model._base_manager.select_for_update().filter(pk__in=pks).order_by("pk")
    return list(rows.values_list("pk", flat=True))


def row_gone_error(what: str, *, field: str) -> ValidationError:
    """The refusal of a write naming a row (`what`: "tag “vip”") that a teammate deleted meanwhile, on the field
    that named it."""
    return ValidationError({field: f"The {what} no longer exists: a teammate has just deleted it."})
