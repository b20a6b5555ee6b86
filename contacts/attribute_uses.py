"""What else names a data attribute (a saved segment's filter names `custom_attributes.<name>`): apps above
contacts register a finder here from their integration.py, and `data_attribute_delete` refuses to delete an
attribute something still names, naming what does. Contacts imports no app above it, so it asks them here.
"""

from collections.abc import Callable

from contacts.models import DataAttribute

# An attribute → what of one app names it, each as a teammate reads it ("the segment “VIPs”").
AttributeUseFinder = Callable[[DataAttribute], list[str]]

_finders: dict[str, AttributeUseFinder] = {}


def register_attribute_use_finder(*, app: str, finder: AttributeUseFinder) -> None:
    """Declare what of `app` may name a data attribute (again: the new finder replaces the app's previous one)."""
    _finders[app] = finder


def data_attribute_uses(*, attribute: DataAttribute) -> list[str]:
    """Everything that names this attribute now, app by app."""
    return [use for app in sorted(_finders) for use in _finders[app](attribute)]
