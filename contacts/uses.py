"""What else names a data attribute or a tag (a saved segment's filter names `custom_attributes.<name>` or
`tag_id`): apps above contacts register finders here from their integration.py, and `data_attribute_delete` and
`tag_delete` refuse to delete what something still names, naming what does. Contacts imports no app above it, so
it asks them here.
"""

from collections.abc import Callable, Sequence

from contacts.models import DataAttribute, Tag

# An attribute → what of one app names it, each as a teammate reads it ("the segment “VIPs”"); tags → the same per
# tag id, for those of the tags something of the app names (a selection is looked up at once).
AttributeUseFinder = Callable[[DataAttribute], list[str]]
TagUseFinder = Callable[[Sequence[Tag]], dict[int, list[str]]]

_attribute_finders: dict[str, AttributeUseFinder] = {}
_tag_finders: dict[str, TagUseFinder] = {}


def register_use_finders(*, app: str, attribute: AttributeUseFinder, tag: TagUseFinder) -> None:
    """Declare what of `app` may name a data attribute or a tag (again: the new finders replace the app's
    previous ones)."""
    _attribute_finders[app] = attribute
    _tag_finders[app] = tag


def data_attribute_uses(*, attribute: DataAttribute) -> list[str]:
    """Everything that names this attribute now, app by app."""
    return [use for app in sorted(_attribute_finders) for use in _attribute_finders[app](attribute)]


def tags_uses(*, tags: Sequence[Tag]) -> dict[int, list[str]]:
    """Tag id → everything that names it now, app by app, for the tags something names: a fixed number of queries
    however many tags."""
    found: dict[int, list[str]] = {}
    for app in sorted(_tag_finders):
        for pk, named_by in _tag_finders[app](tags).items():
            found.setdefault(pk, []).extend(named_by)
    return found
