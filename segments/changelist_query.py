"""The contact list's filters and search, as a segment's query (the search API's language).

Each sidebar filter the language can say is translated; one it cannot (relative dates such as "seen in
the last 7 days", events, visitors) is refused with its name, so a saved segment never means less than
what the teammate saw.
"""

from typing import Any

from django.http import QueryDict

from common.parsing import int_or_none
from contacts.admin.forms import CUSTOM_ATTRIBUTE_PREFIX
from contacts.models import Contact, DataAttribute
from segments.models import Segment

SEARCH_PARAMETER = "q"
# Parameters that change what the page shows, not who is in it.
IGNORED_PARAMETERS = frozenset({"o", "p", "all", "_changelist_filters", "e"})
SEARCH_MAX_WORDS = 5


def _filter(field: str, operator: str, value: Any) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


class UnsavableFilter(ValueError):
    """A changelist filter the query language cannot express; the message names it."""


def _custom_attribute(name: str, raw: str) -> dict[str, Any]:
    attribute = DataAttribute.objects.filter(model=DataAttribute.Model.CONTACT, name=name).first()
    if attribute is None:
        raise UnsavableFilter(f"The custom attribute filter “{name}” names no defined attribute.")
    value: Any = raw
    if attribute.data_type == DataAttribute.DataType.BOOLEAN:
        value = raw == "true"
    elif attribute.data_type in (DataAttribute.DataType.INTEGER, DataAttribute.DataType.FLOAT):
        value = raw
    return _filter(f"custom_attributes.{name}", "=", value)


def _search(term: str) -> list[dict[str, Any]]:
    """The list's search box: every word in the name or the email (contains), or the exact user id."""
    words = term.split()[:SEARCH_MAX_WORDS]
    if len(words) == 1:
        return [{"operator": "OR", "value": [_filter("name", "~", words[0]), _filter("email", "~", words[0]),
                                             _filter("external_id", "=", words[0])]}]  # fmt: skip
    return [{"operator": "OR", "value": [_filter("name", "~", w), _filter("email", "~", w)]} for w in words]


def changelist_query(params: QueryDict) -> dict[str, Any]:
    """The segment query for the contact list's current filters and search; UnsavableFilter names what cannot be kept."""
    filters: list[dict[str, Any]] = []
    for name, raw in params.items():
        if name in IGNORED_PARAMETERS or raw == "":
            continue
        if name == "segment":
            # Filters added while a segment is open narrow it: the new segment keeps the open one's query.
            segment = Segment.objects.filter(pk=int_or_none(raw) or 0).first()
            if segment is None:
                raise UnsavableFilter("The segment filter names no segment.")
            filters.append(segment.query)
        elif name == "role__exact":
            if raw == Contact.Role.VISITOR:
                raise UnsavableFilter("Segments hold users and leads (as the API's contacts): not anonymous visitors.")
            filters.append(_filter("role", "=", raw))
        elif name == "tag":
            if int_or_none(raw) is None:
                raise UnsavableFilter("The tag filter names no tag.")
            filters.append(_filter("tag_id", "=", raw))
        elif name == "country":
            filters.append(_filter("location.country_code", "=", raw))
        elif name == "unsubscribed_from_emails__exact":
            filters.append(_filter("unsubscribed_from_emails", "=", raw == "1"))
        elif name == "seen" and raw == "never":
            filters.append(_filter("last_seen_at", "=", None))
        elif name.startswith(CUSTOM_ATTRIBUTE_PREFIX):
            filters.append(_custom_attribute(name.removeprefix(CUSTOM_ATTRIBUTE_PREFIX), raw))
        elif name == SEARCH_PARAMETER:
            if raw.strip():
                filters += _search(raw.strip())
        elif name in ("seen", "seen_days"):
            raise UnsavableFilter("“Last seen” ranges are relative to today; a segment keeps fixed filters only.")
        else:
            raise UnsavableFilter(f"The filter “{name}” cannot be saved in a segment.")
    if not filters:
        raise UnsavableFilter("Filter or search the contact list first: a segment needs a filter.")
    return filters[0] if len(filters) == 1 else {"operator": "AND", "value": filters}
