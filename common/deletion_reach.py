"""What deleting rows of a model reaches, counted per kind in one query however many rows that is.

Django's collector (behind the admin's delete page, `get_deleted_objects`) loads every row that references the
deleted ones in order to list them: a tag on 200,000 contacts, a company of 100,000 people, is a page of that many
lines. Here the model's relations are read instead (those of every app, none declared), and the rows of each are
counted on the foreign key's index:

- the link rows of a many-to-many, whichever side declares it and whether its table is a `through` model or
  Django's own: the links go, the rows on the other side stay ("unlinked": a tag's contacts, a company's people);
- the rows of a foreign key to the model with CASCADE: they are deleted with it ("deleted");
- the rows of a foreign key with PROTECT or RESTRICT: they keep it from being deleted ("protected").

A foreign key with SET_NULL, SET_DEFAULT or DO_NOTHING leaves its rows where they are, so it is not counted. Only the
direct references are counted: the rows that a cascade would delete in turn (a deleted row's own references) are not.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce

UNLINKED, DELETED, PROTECTED = "unlinked", "deleted", "protected"
# What deleting a row does to the rows of a foreign key to it (the others leave the row: SET_NULL and the like).
_EFFECT_OF_DELETION = {models.CASCADE: DELETED, models.PROTECT: PROTECTED, models.RESTRICT: PROTECTED}


@dataclass(frozen=True)
class Reference:
    """One table whose rows name rows of the model being deleted."""

    effect: str  # UNLINKED, DELETED or PROTECTED
    kind: type[models.Model]  # the rows a person thinks of: a link's other side, else the referencing rows themselves
    table: type[models.Model]  # the rows counted: the link table, else `kind`
    field: str  # the table's foreign key to the model being deleted
    name: str  # the relation's name on the model being deleted ("contacts", "tags", "memberships")


@dataclass(frozen=True)
class Reach:
    """What deleting one row touches, counted (Reference → how many rows; references without rows left out)."""

    unlinked: dict[Reference, int] = field(default_factory=dict)
    deleted: dict[Reference, int] = field(default_factory=dict)
    protected: dict[Reference, int] = field(default_factory=dict)


def references(model: type[models.Model]) -> list[Reference]:
    """Every table that references rows of `model`: its many-to-manys' link tables (declared on either side), then
    the foreign keys to it that delete or protect (a link table's own foreign key is its many-to-many's)."""
    opts = model._meta
    found = [
        Reference(UNLINKED, relation.related_model, relation.remote_field.through, relation.m2m_field_name(),
                  relation.name)
        for relation in opts.many_to_many
    ]  # fmt: skip
    for relation in opts.related_objects:
        # A symmetrical many-to-many to itself stores each link both ways: the declared side counts it once.
        if relation.many_to_many and not (relation.symmetrical and relation.related_model is model):
            found.append(Reference(UNLINKED, relation.related_model, relation.through,
                                   relation.field.m2m_reverse_field_name(), relation.get_accessor_name()))  # fmt: skip
    link_tables = {reference.table for reference in found}
    # Hidden ones too: a foreign key declared with related_name="+" still deletes or protects what it names.
    reverse = [field for field in opts.get_fields(include_hidden=True) if field.auto_created and not field.concrete]
    for relation in reverse:
        if relation.many_to_many or relation.related_model in link_tables:
            continue
        if effect := _EFFECT_OF_DELETION.get(relation.on_delete):
            named = relation.field.name if relation.hidden else relation.get_accessor_name()
            found.append(Reference(effect, relation.related_model, relation.related_model, relation.field.name, named))
    return found


def _rows_naming(reference: Reference) -> Coalesce:
    """The rows of the reference's table that name the outer row, counted on the foreign key's index."""
    per_row = reference.table._base_manager.filter(**{reference.field: OuterRef("pk")}).order_by()
    counted = per_row.values(reference.field).annotate(rows=Count("*")).values("rows")
    return Coalesce(Subquery(counted), 0, output_field=IntegerField())


def deletion_reach(model: type[models.Model], pks: Sequence[Any]) -> dict[Any, Reach]:
    """Row pk → what deleting it touches (Reach), for one row or a selection: one query whatever the number of rows
    that reference them (a count per table); rows already gone are left out."""
    found = references(model)
    counts = {f"reach_{number}": _rows_naming(reference) for number, reference in enumerate(found)}
    reach = {}
    for row in model._base_manager.filter(pk__in=list(pks)).order_by().values("pk", **counts):
        touched: dict[str, dict[Reference, int]] = {UNLINKED: {}, DELETED: {}, PROTECTED: {}}
        for number, reference in enumerate(found):
            if row[f"reach_{number}"]:
                touched[reference.effect][reference] = row[f"reach_{number}"]
        reach[row["pk"]] = Reach(**touched)
    return reach
