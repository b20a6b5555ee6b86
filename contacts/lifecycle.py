"""A contact's lifecycle as data: how the rows of every app follow a contact through merge, GDPR
export and erase.

Each app whose rows reach a contact declares them once, in its `integration.py`, called from its
AppConfig.ready():

    lifecycle.register(lifecycle.ContactRows(
        app="tracking",
        merge={Event: events_merge},                                # default: a plain foreign-key move
        export=(lifecycle.ExportSection("events", events_export, models=(Event,)),),
        not_exported={"tracking.EventSummary": "counts derived from the exported events"},
        on_erase=(forget_contact,),                                 # after an erase commits, with its id
        on_delete=(counts_follow,),           # in the deletion's transaction, before rows go (erase, expiry)
    ))

Erase and expiry delete every row that references a contact without being told (contacts.deletion).
A test fails when a model with a foreign key to Contact is neither exported nor in `not_exported`.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from contacts.models import Contact

MergeHandler = Callable[[Contact, Contact], None]  # (source, into): move the source's rows to into
ExportRows = Callable[[Contact], list[dict[str, Any]]]
EraseHook = Callable[[int], None]  # the erased contact's id, once the erase has committed
# (source id, into id), inside the merge's transaction: rows that keep a contact's id (not a foreign key) follow it.
MergeHook = Callable[[int, int], None]
# The ids of contacts about to be deleted (erase, expiry), inside the deleting transaction: for derived
# values kept elsewhere (a company's user_count) that the set-based deletion would leave stale.
DeleteHook = Callable[[list[int]], None]


@dataclass(frozen=True)
class ExportSection:
    """`rows(contact)` are listed under `name` in the GDPR export; they are the rows of `models`."""

    name: str
    rows: ExportRows
    models: tuple[type[models.Model], ...]


@dataclass(frozen=True)
class ContactRows:
    """One app's rows that reach a contact: how they merge, what is exported, what runs after an erase."""

    app: str
    merge: Mapping[type[models.Model], MergeHandler] = field(default_factory=dict)
    export: tuple[ExportSection, ...] = ()
    # Model label → why its rows stay out of the export.
    not_exported: Mapping[str, str] = field(default_factory=dict)
    on_erase: tuple[EraseHook, ...] = ()
    on_merge: tuple[MergeHook, ...] = ()
    # After a restriction, its lifting or an objection commits, with the contact's id (caches drop the old state).
    on_privacy_change: tuple[EraseHook, ...] = ()
    on_delete: tuple[DeleteHook, ...] = ()


_registered: dict[str, ContactRows] = {}


def register(rows: ContactRows) -> None:
    """Declare an app's rows (again: the new declaration replaces the app's previous one)."""
    _registered[rows.app] = rows


def merge_handler(model: type[models.Model]) -> MergeHandler | None:
    """The handler that moves `model`'s rows on merge, or None for a plain foreign-key update."""
    for rows in _registered.values():
        if model in rows.merge:
            return rows.merge[model]
    return None


def export_sections() -> list[ExportSection]:
    """The contacts app's own sections first, as declared, then the other apps' by name."""
    own = _registered["contacts"].export if "contacts" in _registered else ()
    others = [s for app, rows in _registered.items() if app != "contacts" for s in rows.export]
    return [*own, *sorted(others, key=lambda section: section.name)]


def erase_hooks() -> list[EraseHook]:
    return [hook for rows in _registered.values() for hook in rows.on_erase]


def merge_hooks() -> list[MergeHook]:
    return [hook for rows in _registered.values() for hook in rows.on_merge]


def privacy_change_hooks() -> list[EraseHook]:
    return [hook for rows in _registered.values() for hook in rows.on_privacy_change]


def delete_hooks() -> list[DeleteHook]:
    return [hook for rows in _registered.values() for hook in rows.on_delete]


def export_covered_models() -> set[str]:
    """Labels of the models whose rows reach the GDPR export."""
    return {model._meta.label for section in export_sections() for model in section.models}


def export_excluded_models() -> dict[str, str]:
    """Labels of the models deliberately left out of the export, each with its reason."""
    return {label: reason for rows in _registered.values() for label, reason in rows.not_exported.items()}
