"""The contact list's or the company list's filters and search, as a segment's query (the search language of
contacts.search, over contact or company fields).

Each sidebar filter the language can say is translated, the relative ones ("seen in the last 7 days", "last
request over 30 days ago") as relative moments (`now-7d`) that move with the days as the list's own filters do;
those it cannot say (events, consent, visitors) are all named in one refusal, so a saved segment never means less
than what the teammate saw. A company's people (the Company filter) are `companies.id`, and the search box's match
on a company's name `companies.name` (companies.search adds both to the language).
"""

from collections.abc import Callable
from typing import Any

from django.http import QueryDict

from common.parsing import int_or_none
from companies import admin as company_admin
from companies.search import COMPANIES_ID, COMPANIES_NAME
from contacts import panels as contact_search  # the contact list's search and its limits
from contacts.admin.filters import LastSeenFilter
from contacts.admin.forms import CUSTOM_ATTRIBUTE_PREFIX
from contacts.models import Contact, DataAttribute
from contacts.panels import last_seen_choices
from contacts.search import MAX_FILTERS_PER_GROUP
from segments.models import Segment

SEARCH_PARAMETER = "q"
SEGMENT_PARAMETER = "segment"
TAG_PARAMETER = "tag"
NOT_TAG_PARAMETER = "not_tag"  # the lists' "not tagged" filter (contacts.panels.NotTaggedFilter)
COMPANY_PARAMETER = "company"  # the contact list's Company filter (companies.admin_filters), the company page's link
# Parameters that change what the page shows, not who is in it.
IGNORED_PARAMETERS = frozenset({"o", "p", "all", "_changelist_filters", "e", "_popup", "_to_field", "_facets"})

Filter = dict[str, Any]


def _filter(field: str, operator: str, value: Any) -> Filter:
    return {"field": field, "operator": operator, "value": value}


class UnsavableFilter(ValueError):
    """Filters the query language cannot express: `problems` holds (filter, why) for each; the message names
    them all."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(" ".join(f"“{name}”: {why}" if name else why for name, why in problems))


class NothingToSave(UnsavableFilter):
    """The list is neither filtered nor searched: a segment needs a filter."""


class _Unsavable(Exception):  # one filter's refusal, gathered into UnsavableFilter
    def __init__(self, why: str) -> None:
        self.why = why


# Why the list filters other apps register cannot be kept (the language has no such field), by parameter.
_NOT_IN_THE_LANGUAGE = {
    "event": "the search language has no events; a segment cannot say who did one.",
    "restricted": "processing restrictions are not in the search language.",
    "analytics_consent": "consent is not in the search language.",
    "marketing_consent": "consent is not in the search language.",
}
# The list's "seen in the last N days" filter (tracking.admin_filters) takes N up to ten years.
SEEN_DAYS_MAX = 3650


def _seen_within(days: int) -> Filter:
    return _filter("last_seen_at", ">", f"now-{days}d")


def _custom_attribute(name: str, raw: str, attributes: dict[str, DataAttribute]) -> Filter:
    attribute = attributes.get(name)
    if attribute is None:
        raise _Unsavable("it names no defined custom attribute.")
    value: Any = raw
    if attribute.data_type == DataAttribute.DataType.BOOLEAN:
        value = raw == "true"
    return _filter(f"custom_attributes.{name}", "=", value)


def _contact_search(term: str) -> list[Filter]:
    """The contact list's search box (contacts.panels.contacts_search): every word in the name, the email or the
    name of one of the contact's companies (anywhere from three characters, as a prefix below), or the exact user id
    or contact id ("2011", "Lead 2011"). The exact matches join each word's group (every word, or the exact id, is every
    word-or-the-exact-id), so nothing nests deeper."""
    words = term.split()[: contact_search.SEARCH_MAX_WORDS]
    exact = [_filter("external_id", "=", term)]
    if (contact_id := contact_search.searched_contact_id(term)) is not None:
        exact.append(_filter("id", "=", contact_id))
    groups = []
    for word in words:
        operator = "~" if len(word) >= contact_search.SEARCH_SUBSTRING_MIN_LENGTH else "^"
        groups.append({"operator": "OR", "value": [
            _filter("name", operator, word), _filter("email", operator, word), _filter(COMPANIES_NAME, operator, word),
            *exact,
        ]})  # fmt: skip
    return groups


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


def _last_seen(raw: str) -> Filter:
    """The contact list's "last seen" filter (contacts.admin.filters.LastSeenFilter and the choices other apps add)."""
    if raw == "never":
        return _filter("last_seen_at", "=", None)
    if raw == "today":
        return _filter("last_seen_at", ">", "today")
    if raw in LastSeenFilter.RANGES:
        return _seen_within(LastSeenFilter.RANGES[raw])
    for choice in last_seen_choices():  # retention's "stale": not seen for the visitor TTL, as it stands today
        if raw == choice.value:
            return _filter("last_seen_at", "<", f"now-{choice.days()}d")
    raise _Unsavable("it names no “last seen” range.")


def _contact_filter(name: str, raw: str, attributes: dict[str, DataAttribute]) -> list[Filter]:
    """One of the contact list's sidebar filters, in the query language."""
    if name == "role__exact":
        if raw == Contact.Role.VISITOR:
            raise _Unsavable("segments hold users and leads (the API's contacts), not anonymous visitors.")
        return [_filter("role", "=", raw)]
    if name == "country":
        return [_filter("location.country_code", "=", raw)]
    if name == "unsubscribed_from_emails__exact":
        return [_filter("unsubscribed_from_emails", "=", raw == "1")]
    if name == "seen":
        return [_last_seen(raw)]
    if name == "seen_days":
        days = int_or_none(raw, maximum=SEEN_DAYS_MAX)
        if days is None:
            raise _Unsavable(f"a number of days between 1 and {SEEN_DAYS_MAX} is needed.")
        return [_seen_within(days)]
    if name.startswith(CUSTOM_ATTRIBUTE_PREFIX):
        return [_custom_attribute(name.removeprefix(CUSTOM_ATTRIBUTE_PREFIX), raw, attributes)]
    if name == COMPANY_PARAMETER:
        company_id = int_or_none(raw)
        if company_id is None:
            raise _Unsavable("it names no company.")
        return [_filter(COMPANIES_ID, "=", company_id)]
    if name == SEARCH_PARAMETER:
        return _contact_search(raw.strip()) if raw.strip() else []
    raise _Unsavable(_NOT_IN_THE_LANGUAGE.get(name, "this filter cannot be kept in a segment."))


def _company_filter(name: str, raw: str, attributes: dict[str, DataAttribute]) -> list[Filter]:
    """One of the company list's sidebar filters (companies.admin), in the query language."""
    if name == "plan":
        return [_filter("plan", "=", raw)]
    if name == "size":
        if raw == "unknown":
            return [_filter("size", "=", None)]
        if raw not in company_admin.SizeFilter.RANGES:
            raise _Unsavable("it names no size range.")
        at_least, fewer_than = company_admin.SizeFilter.RANGES[raw]  # the language has > and <: at least n is > n - 1
        return [_filter("size", ">", at_least - 1)] + ([_filter("size", "<", fewer_than)] if fewer_than else [])
    if name == "request":
        if raw == "never":
            return [_filter("last_request_at", "=", None)]
        if raw in company_admin.LastRequestFilter.RANGES:
            return [_filter("last_request_at", ">", f"now-{company_admin.LastRequestFilter.RANGES[raw]}d")]
        if raw == "older":
            return [_filter("last_request_at", "<", "now-30d")]
        raise _Unsavable("it names no “last request” range.")
    if name == SEARCH_PARAMETER:
        return _company_search(raw.strip()) if raw.strip() else []
    raise _Unsavable("this filter cannot be kept in a segment.")


_FILTERS_BY_KIND: dict[str, Callable[[str, str, dict[str, DataAttribute]], list[Filter]]] = {
    Segment.PersonType.CONTACT: _contact_filter,
    Segment.PersonType.COMPANY: _company_filter,
}
_LIST_NAME = {Segment.PersonType.CONTACT: "contact list", Segment.PersonType.COMPANY: "company list"}


def _open_segment(raw: str, person_type: str) -> list[Filter]:
    """Filters added while a segment is open narrow it: the new segment keeps the open one's filters (an AND's
    own filters side by side with the new ones, so the nesting stays as deep as the search language allows)."""
    segment = Segment.objects.filter(pk=int_or_none(raw) or 0, person_type=person_type).first()
    if segment is None:
        raise _Unsavable(f"it names no segment of this {_LIST_NAME[person_type]}.")
    query = segment.query
    if isinstance(query, dict) and query.get("operator") == "AND" and isinstance(query.get("value"), list):
        return list(query["value"])
    return [query]


def changelist_query(params: QueryDict, *, person_type: str = Segment.PersonType.CONTACT) -> dict[str, Any]:
    """The segment query for the contact (or company) list's current filters and search; UnsavableFilter names
    every filter that cannot be kept (by its parameter; the admin shows each sidebar title), NothingToSave says
    there is no filter at all."""
    translate = _FILTERS_BY_KIND[person_type]
    model = DataAttribute.Model.CONTACT if person_type == Segment.PersonType.CONTACT else DataAttribute.Model.COMPANY
    attributes: dict[str, DataAttribute] | None = None
    filters: list[Filter] = []
    problems: list[tuple[str, str]] = []
    for name, raw in params.items():
        if name in IGNORED_PARAMETERS or raw == "":
            continue
        try:
            if name == SEGMENT_PARAMETER:
                filters += _open_segment(raw, person_type)
            elif name in (TAG_PARAMETER, NOT_TAG_PARAMETER):
                if int_or_none(raw) is None:
                    raise _Unsavable("it names no tag.")
                filters.append(_filter("tag_id", "=" if name == TAG_PARAMETER else "!=", raw))
            else:
                if attributes is None and name.startswith(CUSTOM_ATTRIBUTE_PREFIX):  # one query for every attribute
                    attributes = {a.name: a for a in DataAttribute.objects.filter(model=model)}
                filters += translate(name, raw, attributes or {})
        except _Unsavable as refusal:
            problems.append((name, refusal.why))
    if problems:
        raise UnsavableFilter(problems)
    if not filters:
        raise NothingToSave([("", f"Filter or search the {_LIST_NAME[person_type]} first: a segment needs a filter.")])
    if len(filters) > MAX_FILTERS_PER_GROUP:
        raise UnsavableFilter([("", f"A segment keeps at most {MAX_FILTERS_PER_GROUP} filters; remove some first.")])
    return filters[0] if len(filters) == 1 else {"operator": "AND", "value": filters}
