"""What other apps add to the contacts admin, registered in one place: panels on the contact page,
actions, sidebar filters and "last seen" choices on the contact list; and what other apps' admins take from it: the
contact search (the inbox's) and the tag filters (the company list's and the inbox's).

Each app registers its own from its `integration.py`, called in its AppConfig.ready(); the contacts
admin reads them here and imports no other app's admin code.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest

from common.parsing import int_or_none
from contacts import selectors
from contacts.models import Contact


@dataclass(frozen=True)
class ContactPanel:
    """A read-only block on the contact page (page views, events, conversations…), one query each."""

    order: int
    title: str
    template: str
    rows: Callable[[Contact], Any]


@dataclass(frozen=True)
class ContactAction:
    """A contact list action from another app, offered to teammates with `permission` ("app.codename")."""

    function: Callable[..., Any]
    permission: str


@dataclass(frozen=True)
class LastSeenChoice:
    """A choice another app adds to the contact list's "last seen" filter: not seen for `days()` days."""

    value: str
    label: str
    days: Callable[[], int]


# The contact's own panel: teammates' notes (also written through the API), newest first.
_panels: list[ContactPanel] = [
    ContactPanel(order=5, title="Notes", template="admin/contacts/contact/notes_panel.html",
                 rows=lambda contact: selectors.contact_notes_recent(contact=contact)),
]  # fmt: skip
_actions: list[ContactAction] = []
_list_filters: list[type[admin.SimpleListFilter]] = []
_first_list_filters: list[type[admin.SimpleListFilter]] = []  # above the app's own (segments)
_last_seen_choices: list[LastSeenChoice] = []
# More places a word of the contact list's search may match (a company's name): word -> condition on contacts.
_search_matches: list[Callable[[str], Q]] = []


def register_contact_panel(panel: ContactPanel) -> None:
    """Add a panel to the contact page (once per title), in `order`."""
    if all(existing.title != panel.title for existing in _panels):
        _panels.append(panel)
        _panels.sort(key=lambda p: p.order)


def register_contact_action(action: ContactAction) -> None:
    """Add an action to the contact list (once per function)."""
    if all(existing.function is not action.function for existing in _actions):
        _actions.append(action)


def register_contact_list_filter(list_filter: type[admin.SimpleListFilter], *, first: bool = False) -> None:
    """Add a sidebar filter to the contact list (once per class), after the contacts app's own, or with `first` at the
    top of the sidebar (the segments: what teammates open most)."""
    registered = _first_list_filters if first else _list_filters
    if list_filter not in registered:
        registered.append(list_filter)


def register_last_seen_choice(choice: LastSeenChoice) -> None:
    """Add a choice to the contact list's "last seen" filter (once per value), before "Never"."""
    if all(existing.value != choice.value for existing in _last_seen_choices):
        _last_seen_choices.append(choice)


def contact_panels() -> list[ContactPanel]:
    """The contact page's panels, in order."""
    return list(_panels)


def contact_actions() -> list[ContactAction]:
    """The contact list's actions registered by other apps."""
    return list(_actions)


def contact_list_filters(*, first: bool = False) -> list[type[admin.SimpleListFilter]]:
    """The contact list's sidebar filters registered by other apps."""
    return list(_first_list_filters if first else _list_filters)


def last_seen_choices() -> list[LastSeenChoice]:
    """The "last seen" filter's choices registered by other apps."""
    return list(_last_seen_choices)


def register_contact_search_match(match: Callable[[str], Q]) -> None:
    """Let a word of the contact list's search also match `match(word)` (a condition on contacts, one subquery)."""
    if match not in _search_matches:
        _search_matches.append(match)


def contact_search_matches(word: str) -> Q:
    """What other apps let one search word match, OR-ed (empty Q: nothing registered)."""
    condition = Q()
    for match in _search_matches:
        condition |= match(word)
    return condition


# Words this long match anywhere in a name or an email (pg_trgm GIN indexes on PostgreSQL); shorter ones as prefixes.
SEARCH_SUBSTRING_MIN_LENGTH = 3
SEARCH_MAX_WORDS = 5
_SHOWN_NAME = re.compile(rf"(?:{'|'.join(label for _, label in Contact.Role.choices)})\s+#?(\d+)", re.IGNORECASE)


def searched_contact_id(term: str) -> int | None:
    """The contact id a search term is: "2011", or "Lead 2011", the name the admin shows for a contact without a
    name or an email (its role and id)."""
    shown = _SHOWN_NAME.fullmatch(term.strip())
    return int_or_none(shown.group(1) if shown else term.strip())


def contacts_search(queryset: QuerySet[Contact], term: str) -> QuerySet[Contact]:
    """The contacts a search term finds, as the contact list and the inbox search them: every word of the term in the
    name or the email (so "Rivera" finds "Jamie Rivera" and "acme.example" finds "jo@acme.example") or in what other
    apps let it match (their company's name), or the exact user id, contact id or shown name ("Lead 2011")."""
    term = term.strip()
    exact = Q(external_id=term)
    contact_id = searched_contact_id(term)
    if contact_id is not None:
        exact |= Q(pk=contact_id)
    every_word = Q()
    for word in term.split()[:SEARCH_MAX_WORDS]:
        if len(word) >= SEARCH_SUBSTRING_MIN_LENGTH:
            own = Q(name__icontains=word) | Q(email__icontains=word)
        else:
            own = Q(name_ci__startswith=word.lower()) | Q(email_ci__startswith=word.lower())
        every_word &= own | contact_search_matches(word)
    return queryset.annotate(name_ci=Lower("name"), email_ci=Lower("email")).filter(every_word | exact)


# --- the tag filters, for the contact list and any list of rows with tags ------------------------------------------


def _tag_choices(request: HttpRequest) -> list[tuple[str, str]]:
    """The tags as a filter's choices, read once a request: the tag and "not tagged" filters offer the same."""
    choices = getattr(request, "_parley_tag_choices", None)
    if choices is None:
        choices = request._parley_tag_choices = [(str(tag.pk), tag.name) for tag in selectors.tag_list()]  # type: ignore[attr-defined]
    return choices


class TagFilter(admin.SimpleListFilter):
    """The rows with one tag: the contact and the company lists (both reach their tags through `tag_links`) and,
    with its own `tag_path`, the inbox (another app: it takes it here). An id that is no number filters nothing."""

    title = "tag"
    parameter_name = "tag"
    tag_path = "tag_links__tag_id"  # from a row to its tags' ids

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return _tag_choices(request)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        tag_id = int_or_none(self.value())
        return queryset if tag_id is None else queryset.filter(**{self.tag_path: tag_id})


class NotTaggedFilter(TagFilter):
    """The rows without one tag ("not tagged VIP"), next to the tag filter; a segment saved from the list keeps
    it as `tag_id != <id>`."""

    title = "not tagged"
    parameter_name = "not_tag"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        tag_id = int_or_none(self.value())
        return queryset if tag_id is None else queryset.exclude(**{self.tag_path: tag_id})
