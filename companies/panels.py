"""What other apps add to the companies admin: read-only panels on the company page (their people's
conversations, page views…) and sidebar filters on the company list (segments), registered in one place, as
contacts/panels.py does for the contacts admin.

Each app registers its own from its `integration.py`; the companies admin reads them here and imports
no other app's code (companies sits below tracking and conversations in the import layers).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin

from companies.models import Company


@dataclass(frozen=True)
class CompanyPanel:
    """A read-only block on the company page, one query each."""

    order: int
    title: str
    template: str
    rows: Callable[[Company], Any]


_panels: list[CompanyPanel] = []
_list_filters: list[type[admin.SimpleListFilter]] = []
_first_list_filters: list[type[admin.SimpleListFilter]] = []  # above the app's own (segments)


def register_company_panel(panel: CompanyPanel) -> None:
    """Add a panel to the company page (once per title), in `order`."""
    if all(existing.title != panel.title for existing in _panels):
        _panels.append(panel)
        _panels.sort(key=lambda p: p.order)


def company_panels() -> list[CompanyPanel]:
    """The company page's panels, in order."""
    return list(_panels)


def register_company_list_filter(list_filter: type[admin.SimpleListFilter], *, first: bool = False) -> None:
    """Add a sidebar filter to the company list (once per class), after the companies app's own, or with `first` at the
    top of the sidebar (the segments: what teammates open most)."""
    registered = _first_list_filters if first else _list_filters
    if list_filter not in registered:
        registered.append(list_filter)


def company_list_filters(*, first: bool = False) -> list[type[admin.SimpleListFilter]]:
    """The company list's sidebar filters registered by other apps."""
    return list(_first_list_filters if first else _list_filters)
