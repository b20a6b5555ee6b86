"""Reads for the API: lookups by Intercom-style ids and querysets with their prefetches."""

import math
from dataclasses import replace
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet

from api.errors import NotFound, ParameterInvalid
from api.pagination import Cursor, Page, Sort, estimated_total, keyset_page, offset_page
from common.parsing import int_or_none, text_problem
from companies.models import Company, CompanyContact
from companies.selectors import (
    companies_for_output,
    companies_ordered,
    company_find,
    company_find_by_name,
    contact_companies_prefetch,
)
from contacts.models import Contact, ContactNote, DataAttribute, Tag
from contacts.search import LISTED_ROLES
from contacts.selectors import contacts_with_email
from conversations import selectors as conversation_selectors
from conversations.models import Conversation, ConversationPart, Message, MessageDelivery, Team
from segments.models import Segment
from segments.selectors import contacts_search, segment_companies, segment_kind_problem
from tracking.models import Event, EventSummary


def pk_from_id(value: Any) -> int | None:
    """Intercom ids are strings; ours are integers inside them. Anything else finds nothing."""
    return int_or_none(value if isinstance(value, int) else str(value))


def _get_by_id(queryset: QuerySet, value: Any, *, not_found: str, field: str | None = None) -> Any:
    """The row whose Intercom-style id is `value`, or Intercom's 404 naming what was not found."""
    pk = pk_from_id(value)
    row = queryset.filter(pk=pk).first() if pk is not None else None
    if row is None:
        raise NotFound(not_found, field=field)
    return row


def contacts_for_output() -> QuerySet[Contact]:
    """Contacts with what ContactOutput shows, in a fixed number of queries whatever the page size."""
    return Contact.objects.prefetch_related(
        Prefetch("tags", queryset=Tag.objects.order_by("name")),
        Prefetch("notes", queryset=ContactNote.objects.only("id", "contact_id", "created_at")),
        contact_companies_prefetch(),
    )


def contacts_page(*, per_page: int, cursor: Cursor | None) -> Page:
    """GET /contacts: users and leads that are not archived, newest first."""
    queryset = contacts_for_output().filter(role__in=LISTED_ROLES, is_archived=False)
    return keyset_page(queryset, per_page=per_page, cursor=cursor)


def contacts_search_page(*, query: Any, per_page: int, cursor: Cursor | None, sort: Sort | None = None) -> Page:
    """POST /contacts/search: the contacts the query selects (segments.selectors.contacts_search), one page."""
    matching = contacts_search(query=query, queryset=contacts_for_output())
    return keyset_page(matching, per_page=per_page, cursor=cursor, sort=sort, cursor_field="pagination.starting_after")


def contact_get(*, contact_id: Any, field: str | None = None) -> Contact:
    """A contact by its Intercom id, as the API shows it; a 404 (User Not Found) otherwise."""
    return _get_by_id(contacts_for_output(), contact_id, not_found="User Not Found", field=field)


def contact_get_by_external_id(*, external_id: str) -> Contact:
    # No stored external id holds a NUL or a lone surrogate (and PostgreSQL refuses to compare one).
    """A contact by the customer's own user id, as the API shows it; a 404 otherwise."""
    contact = (
        contacts_for_output().filter(external_id=external_id).first() if text_problem(external_id) is None else None
    )
    if contact is None:
        raise NotFound("User Not Found")
    return contact


def contact_get_by_reference(*, user_id: Any = None, email: Any = None, intercom_user_id: Any = None,
                             field_prefix: str = "") -> Contact | None:  # fmt: skip
    """A contact named the ways Intercom lets callers name one: its id, external id or email."""
    queryset = Contact.objects.all()
    if intercom_user_id not in (None, ""):
        pk = pk_from_id(intercom_user_id)
        return queryset.filter(pk=pk).first() if pk is not None else None
    if user_id not in (None, ""):
        external_id = str(user_id)
        return queryset.filter(external_id=external_id).first() if text_problem(external_id) is None else None
    if email not in (None, "") and text_problem(str(email)) is None:
        # Users first: an email is unique among users, and leads may share it.
        matches = contacts_with_email(email=str(email))
        return matches.filter(role=Contact.Role.USER).first() or matches.order_by("-pk").first()
    return None


def visitor_get_by_reference(*, pk: int | None = None, anonymous_id: str | None = None,
                             email: str | None = None) -> Contact | None:  # fmt: skip
    """An anonymous visitor by id, by anonymous id (Intercom's visitor user_id) or by email (the newest), as the API shows it."""
    queryset = contacts_for_output().filter(role=Contact.Role.VISITOR)
    if pk is not None:
        return queryset.filter(pk=pk).first()
    if anonymous_id is not None:
        try:
            return queryset.filter(anonymous_id=anonymous_id).first()
        except ValidationError:  # a malformed UUID simply finds nobody
            return None
    if email is not None:
        return contacts_with_email(email=email).filter(role=Contact.Role.VISITOR).order_by("-pk").first()
    return None


def tag_get(*, tag_id: Any, field: str | None = None) -> Tag:
    """A tag by its id; a 404 (Tag Not Found) otherwise."""
    return _get_by_id(Tag.objects.all(), tag_id, not_found="Tag Not Found", field=field)


def teammates() -> QuerySet:
    """Active staff users: the API's admins."""
    return (
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .select_related("parley_profile")
        .prefetch_related("parley_teams")
        .order_by("pk")
    )


def staff_user_find(*, user_id: int) -> Any:
    """A staff user by id (active or not: a contact's owner may be away), or None."""
    return get_user_model().objects.filter(pk=user_id, is_staff=True).first()


def teammate_get(*, admin_id: Any, field: str | None = None) -> Any:
    """An admin (active staff user) by id; a 404 (Admin Not Found) otherwise."""
    return _get_by_id(teammates(), admin_id, not_found="Admin Not Found", field=field)


def data_attribute_get(*, attribute_id: Any) -> DataAttribute:
    """A data attribute by id; a 404 otherwise."""
    return _get_by_id(DataAttribute.objects.all(), attribute_id, not_found="Data Attribute Not Found")


def note_get(*, note_id: Any) -> ContactNote:
    """A contact note by id, with its author; a 404 otherwise."""
    return _get_by_id(ContactNote.objects.select_related("author"), note_id, not_found="Note Not Found")


def contact_notes(*, contact: Contact) -> QuerySet[ContactNote]:
    """A contact's notes with their authors."""
    return ContactNote.objects.filter(contact=contact).select_related("author")


def contact_notes_page(*, contact: Contact, per_page: int, page: int) -> Page:
    """A contact's notes, newest first, by page number (as Intercom pages notes)."""
    return offset_page(contact_notes(contact=contact), per_page=per_page, page=page)


def data_attribute_list(*, model: str | None, include_archived: bool) -> QuerySet[DataAttribute]:
    """Data attributes by model and name, optionally of one model and with the archived ones."""
    attributes = DataAttribute.objects.order_by("model", "name")
    if model:
        attributes = attributes.filter(model=model)
    if not include_archived:
        attributes = attributes.filter(archived=False)
    return attributes


# --- conversations ------------------------------------------------------------------------------


def conversations_for_output(*, with_parts: bool) -> QuerySet[Conversation]:
    """Conversations with what ConversationOutput shows (parts only for a single conversation)."""
    queryset = Conversation.objects.select_related("contact").prefetch_related(
        "tags", conversation_selectors.conversation_ratings_given_prefetch()
    )
    if with_parts:
        queryset = queryset.prefetch_related(
            Prefetch(
                "parts",
                queryset=ConversationPart.objects.select_related("author_contact", "author_teammate")
                .prefetch_related("attachments")
                .order_by("created_at", "id"),
            )
        )
    return queryset


def conversation_get(*, conversation_id: Any) -> Conversation:
    """A conversation with its parts, ready for ConversationOutput."""
    return _get_by_id(conversations_for_output(with_parts=True), conversation_id, not_found="Conversation Not Found")


def conversations_page(*, per_page: int, cursor: Cursor | None) -> Page:
    """One keyset page of conversations, newest first, as the API lists them."""
    return keyset_page(conversations_for_output(with_parts=False), per_page=per_page, cursor=cursor)


def conversations_search_page(*, condition: Q, per_page: int, cursor: Cursor | None, sort: Sort | None = None) -> Page:
    """One keyset page of the conversations matching a search condition (newest first, or in `sort`'s order)."""
    matching = Conversation.objects.filter(condition).values("pk")
    queryset = conversations_for_output(with_parts=False).filter(pk__in=matching)
    return keyset_page(queryset, per_page=per_page, cursor=cursor, sort=sort, cursor_field="pagination.starting_after")


def conversation_first_part(*, conversation: Conversation) -> ConversationPart | None:
    """The part that opened a conversation (Intercom's `source`), if any."""
    return conversation.parts.order_by("created_at", "id").first()


def message_conversation_id(*, message: Message) -> int | None:
    """The conversation a message to one contact opened (at once, or when the contact answered), if any."""
    return (
        MessageDelivery.objects.filter(message=message, conversation__isnull=False)
        .values_list("conversation_id", flat=True)
        .first()
    )


def segment_get(*, segment_id: Any, field: str | None = None, person_type: str | None = None) -> Segment:
    """A segment by id; a 404 (Segment Not Found) otherwise, and a 400 naming `field` when it is not of
    `person_type` (a contact segment where companies are listed, or the reverse)."""
    segment = _get_by_id(Segment.objects.all(), segment_id, not_found="Segment Not Found", field=field)
    problem = segment_kind_problem(segment, person_type=person_type) if person_type is not None else None
    if problem:
        raise ParameterInvalid(field or "segment_id", problem)
    return segment


def team_get(*, team_id: Any, field: str | None = None, queryset: QuerySet[Team] | None = None) -> Team:
    """A team by id; a 404 (Team Not Found) otherwise."""
    return _get_by_id(queryset if queryset is not None else Team.objects.all(), team_id,
                      not_found="Team Not Found", field=field)  # fmt: skip


def teams_with_members() -> QuerySet[Team]:
    """Teams with their active staff members prefetched (the API's admin_ids)."""
    members = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("pk").only("pk")
    return Team.objects.order_by("name").prefetch_related(Prefetch("members", queryset=members))


def teams_list() -> list[Team]:
    """Every team by name with its members; teams are few (a workspace has tens, not thousands)."""
    return list(teams_with_members())


# --- events -------------------------------------------------------------------------------------


def events_page(*, contact: Contact, per_page: int, cursor: Cursor | None) -> Page:
    """A contact's events, newest first; no total (Intercom's event list has none)."""
    return keyset_page(Event.objects.filter(contact=contact), per_page=per_page, cursor=cursor, count=False)


def event_summaries(*, contact: Contact) -> list[EventSummary]:
    """A contact's event counts per name, most recent first."""
    return list(EventSummary.objects.filter(contact=contact).order_by("-last_at"))


# --- companies ----------------------------------------------------------------------------------


def company_get(*, company_id: Any, field: str | None = None) -> Company:
    """A company by its Intercom id, with its tags; a 404 (Company Not Found) otherwise."""
    return _get_by_id(companies_for_output(), company_id, not_found="Company Not Found", field=field)


def company_get_by_company_id(*, company_id: str) -> Company:
    """A company by the customer's own company_id; a 404 otherwise."""
    company = company_find(company_id=company_id)
    if company is None:
        raise NotFound("Company Not Found")
    return company


def company_get_by_name(*, name: str) -> Company:
    """A company by its name (case-insensitive, the oldest of namesakes); a 404 otherwise."""
    company = company_find_by_name(name=name)
    if company is None:
        raise NotFound("Company Not Found")
    return company


def companies_list(
    *, ascending: bool = False, tag_id: int | None = None, segment: Segment | None = None
) -> QuerySet[Company]:
    """Companies by last request (newest first unless ascending), optionally those with a tag or in a segment."""
    companies = companies_ordered(ascending=ascending)
    if segment is not None:
        companies = segment_companies(segment=segment, queryset=companies)
    return companies.filter(tag_links__tag_id=tag_id) if tag_id is not None else companies


def companies_offset_page(queryset: QuerySet[Company], *, page: int, per_page: int) -> tuple[list[Company], int, bool]:
    """(rows of page `page`, estimated total, whether rows follow): two queries and one prefetch."""
    rows = list(queryset[(page - 1) * per_page : page * per_page + 1])
    more = len(rows) > per_page
    return rows[:per_page], estimated_total(queryset), more


def companies_scroll(*, after_pk: int, per_page: int) -> tuple[list[Company], bool]:
    """The next companies in id order after `after_pk` (keyset: as cheap at the millionth as at the first)."""
    rows = list(companies_for_output().filter(pk__gt=after_pk).order_by("pk")[: per_page + 1])
    return rows[:per_page], len(rows) > per_page


def company_contacts_page(*, company: Company, per_page: int, cursor: Cursor | None) -> Page:
    """A company's people (as the API shows contacts), newest member first; the total is its user_count."""
    members = contacts_for_output().filter(pk__in=CompanyContact.objects.filter(company=company).values("contact_id"))
    page = keyset_page(members, per_page=per_page, cursor=cursor, count=False)
    total = max(company.user_count, len(page.rows))
    return replace(page, total_count=total, total_pages=max(math.ceil(total / per_page), page.page if page.rows else 0))


def contact_companies(*, contact: Contact) -> list[Company]:
    """The companies a contact belongs to (at most MAX_COMPANIES_PER_CONTACT), newest membership first."""
    return list(companies_for_output().filter(memberships__contact=contact).order_by("-memberships__id"))


def companies_by_reference(references: list[dict[str, Any]]) -> list[int | None]:
    """The pk of each `{"id": …}` or `{"company_id": …}` (None where no company matches): two queries."""
    pks = {pk for ref in references if (pk := pk_from_id(ref.get("id"))) is not None}
    company_ids = {str(ref["company_id"]) for ref in references if ref.get("company_id") and not ref.get("id")}
    company_ids = {value for value in company_ids if text_problem(value) is None}
    known_pks = set(Company.objects.filter(pk__in=pks).values_list("pk", flat=True)) if pks else set()
    by_company_id = (
        dict(Company.objects.filter(company_id__in=company_ids).values_list("company_id", "pk")) if company_ids else {}
    )
    found: list[int | None] = []
    for ref in references:
        if ref.get("id"):
            pk = pk_from_id(ref.get("id"))
            found.append(pk if pk in known_pks else None)
        else:
            found.append(by_company_id.get(str(ref.get("company_id"))))
    return found
