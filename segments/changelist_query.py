"""The contact list's or the company list's filters and search, as a segment's query (the search language of
contacts.search, over contact or company fields).

Each sidebar filter the language can say is translated; one it cannot (relative dates such as "seen in
the last 7 days", events, visitors) is refused with its name, so a saved segment never means less than
what the teammate saw.
"""

from collections.abc import Callable
from typing import Any

from django.http import QueryDict

from common.parsing import int_or_none
from companies import admin as company_admin
from contacts.admin import changelist as contact_list
from contacts.admin.forms import CUSTOM_ATTRIBUTE_PREFIX
from contacts.models import Contact, DataAttribute
from segments.models import Segment

SEARCH_PARAMETER = "q"
SEGMENT_PARAMETER = "segment"
TAG_PARAMETER = "tag"
# Parameters that change what the page shows, not who is in it.
IGNORED_PARAMETERS = frozenset({"o", "p", "all", "_changelist_filters", "e"})

Filter = dict[str, Any]


def _filter(field: str, operator: str, value: Any) -> Filter:
    return {"field": field, "operator": operator, "value": value}


class UnsavableFilter(ValueError):
    """A changelist filter the query language cannot express; the message names it."""


def _custom_attribute(name: str, raw: str) -> Filter:
    attribute = DataAttribute.objects.filter(model=DataAttribute.Model.CONTACT, name=name).first()
    if attribute is None:
        raise UnsavableFilter(f"The custom attribute filter “{name}” names no defined attribute.")
    value: Any = raw
    if attribute.data_type == DataAttribute.DataType.BOOLEAN:
        value = raw == "true"
    return _filter(f"custom_attributes.{name}", "=", value)


def _contact_search(term: str) -> list[Filter]:
    """The contact list's search box: every word in the name or the email (contains), or the exact user id."""
    words = term.split()[: contact_list.SEARCH_MAX_WORDS]
    if len(words) == 1:
        return [{"operator": "OR", "value": [_filter("name", "~", words[0]), _filter("email", "~", words[0]),
                                             _filter("external_id", "=", words[0])]}]  # fmt: skip
    return [{"operator": "OR", "value": [_filter("name", "~", w), _filter("email", "~", w)]} for w in words]


def _company_search(term: str) -> list[Filter]:
    """The company list's search box (companies.admin): every word in the name or the company id (anywhere from
    three characters, as a prefix below), or, for one word, the exact company id."""
    words = term.split()[: company_admin.SEARCH_MAX_WORDS]
    groups = []
    for word in words:
        operator = "~" if len(word) >= company_admin.SEARCH_SUBSTRING_MIN_LENGTH else "^"
        groups.append({"operator": "OR", "value": [_filter("name", operator, word),
                                                   _filter("company_id", operator, word)]})  # fmt: skip
    if len(words) == 1:
        groups[0]["value"].append(_filter("company_id", "=", words[0]))
    return groups


def _contact_filter(name: str, raw: str) -> list[Filter]:
    """One of the contact list's sidebar filters, in the query language."""
    if name == "role__exact":
        if raw == Contact.Role.VISITOR:
            raise UnsavableFilter("Segments hold users and leads (as the API's contacts): not anonymous visitors.")
        return [_filter("role", "=", raw)]
    if name == "country":
        return [_filter("location.country_code", "=", raw)]
    if name == "unsubscribed_from_emails__exact":
        return [_filter("unsubscribed_from_emails", "=", raw == "1")]
    if name == "seen" and raw == "never":
        return [_filter("last_seen_at", "=", None)]
    if name.startswith(CUSTOM_ATTRIBUTE_PREFIX):
        return [_custom_attribute(name.removeprefix(CUSTOM_ATTRIBUTE_PREFIX), raw)]
    if name == SEARCH_PARAMETER:
        return _contact_search(raw.strip()) if raw.strip() else []
    if name in ("seen", "seen_days"):
        raise UnsavableFilter("“Last seen” ranges are relative to today; a segment keeps fixed filters only.")
    raise UnsavableFilter(f"The filter “{name}” cannot be saved in a segment.")


def _company_filter(name: str, raw: str) -> list[Filter]:
    """One of the company list's sidebar filters (companies.admin), in the query language."""
    if name == "plan":
        return [_filter("plan", "=", raw)]
    if name == "size":
        if raw == "unknown":
            return [_filter("size", "=", None)]
        if raw not in company_admin.SizeFilter.RANGES:
            raise UnsavableFilter("The size filter names no size range.")
        at_least, fewer_than = company_admin.SizeFilter.RANGES[raw]  # the language has > and <: at least n is > n - 1
        return [_filter("size", ">", at_least - 1)] + ([_filter("size", "<", fewer_than)] if fewer_than else [])
    if name == "request":
        if raw == "never":
            return [_filter("last_request_at", "=", None)]
        raise UnsavableFilter("“Last request” ranges are relative to today; a segment keeps fixed filters only.")
    if name == SEARCH_PARAMETER:
        return _company_search(raw.strip()) if raw.strip() else []
    raise UnsavableFilter(f"The filter “{name}” cannot be saved in a segment.")


_FILTERS_BY_KIND: dict[str, Callable[[str, str], list[Filter]]] = {
    Segment.PersonType.CONTACT: _contact_filter,
    Segment.PersonType.COMPANY: _company_filter,
}
_LIST_NAME = {Segment.PersonType.CONTACT: "contact list", Segment.PersonType.COMPANY: "company list"}


def changelist_query(params: QueryDict, *, person_type: str = Segment.PersonType.CONTACT) -> dict[str, Any]:
    """The segment query for the contact (or company) list's current filters and search; UnsavableFilter names
    what cannot be kept."""
    translate = _FILTERS_BY_KIND[person_type]
    filters: list[Filter] = []
    for name, raw in params.items():
        if name in IGNORED_PARAMETERS or raw == "":
            continue
        if name == SEGMENT_PARAMETER:
            # Filters added while a segment is open narrow it: the new segment keeps the open one's query.
            segment = Segment.objects.filter(pk=int_or_none(raw) or 0, person_type=person_type).first()
            if segment is None:
                raise UnsavableFilter(f"The segment filter names no segment of this {_LIST_NAME[person_type]}.")
            filters.append(segment.query)
        elif name == TAG_PARAMETER:
            if int_or_none(raw) is None:
                raise UnsavableFilter("The tag filter names no tag.")
            filters.append(_filter("tag_id", "=", raw))
        else:
            filters += translate(name, raw)
    if not filters:
        raise UnsavableFilter(f"Filter or search the {_LIST_NAME[person_type]} first: a segment needs a filter.")
    return filters[0] if len(filters) == 1 else {"operator": "AND", "value": filters}
