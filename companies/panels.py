"""What other apps add to the company page: read-only panels (their people's conversations, page
views…), registered in one place, as contacts/panels.py does for the contact page.

Each app registers its own from its `integration.py`; the companies admin reads them here and imports
no other app's code (companies sits below tracking and conversations in the import layers).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from companies.models import Company


@dataclass(frozen=True)
class CompanyPanel:
    """A read-only block on the company page, one query each."""

    order: int
    title: str
    template: str
    rows: Callable[[Company], Any]


_panels: list[CompanyPanel] = []


def register_company_panel(panel: CompanyPanel) -> None:
    """Add a panel to the company page (once per title), in `order`."""
    if all(existing.title != panel.title for existing in _panels):
        _panels.append(panel)
        _panels.sort(key=lambda p: p.order)


def company_panels() -> list[CompanyPanel]:
    """The company page's panels, in order."""
    return list(_panels)
