"""The query language of company filters: the contacts' search DSL (contacts.search) over company fields; and
the company fields of the contact search, `companies.id` and `companies.name` (a Parley extension to Intercom's).

A company segment keeps its filter in this language, exactly as a contact segment keeps the contact
search's: one filter `{"field", "operator", "value"}` or an AND/OR group, with the same operators, limits
and refusals naming their field; `custom_attributes.<name>` reads the data attributes of `model=company`.

A contact search's `companies.id` / `companies.name` filter selects the contacts at a company with that id or
such a name (integrations.connect registers them with contacts.search, which cannot import this app): one
EXISTS on memberships per filter, whatever the number of contacts or companies.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet

from companies.models import Company, CompanyContact
from contacts.models import DataAttribute
from contacts.search import FieldSpec, QueryCompiler, QuerySize

COMPANY_FIELDS: dict[str, FieldSpec] = {
    "id": FieldSpec("integer", "pk"),
    "company_id": FieldSpec("string", "company_id"),
    "name": FieldSpec("ci_string", "name"),
    "plan": FieldSpec("string", "plan"),
    "size": FieldSpec("integer", "size"),
    "website": FieldSpec("string", "website"),
    "industry": FieldSpec("string", "industry"),
    "monthly_spend": FieldSpec("integer", "monthly_spend"),
    "user_count": FieldSpec("integer", "user_count"),
    "session_count": FieldSpec("integer", "session_count"),
    "last_request_at": FieldSpec("date", "last_request_at"),
    "remote_created_at": FieldSpec("date", "remote_created_at"),
    "created_at": FieldSpec("date", "created_at"),
    "updated_at": FieldSpec("date", "updated_at"),
    "tag_id": FieldSpec("tag", "tags", Company),
}


def company_search_q(query: Any) -> Q:
    """Compile a company filter; a ValidationError names the field it refuses."""
    return QueryCompiler(COMPANY_FIELDS, custom_model=DataAttribute.Model.COMPANY).compile(query)


def companies_matching(query: Any, *, queryset: QuerySet[Company] | None = None) -> QuerySet[Company]:
    """The companies a filter selects, in one SQL query whatever the filter's shape."""
    condition = company_search_q(query)
    matching = Company.objects.all() if queryset is None else queryset
    return matching.filter(condition)  # no filter joins a relation: each company comes once


COMPANIES_ID = "companies.id"
COMPANIES_NAME = "companies.name"
# The contact search's company fields, read on a contact's memberships: Parley's company id, the company's name
# (case-insensitive, as the contact list's search box matches it).
MEMBERSHIP_FIELDS: dict[str, FieldSpec] = {
    COMPANIES_ID: FieldSpec("integer", "company_id"),
    COMPANIES_NAME: FieldSpec("ci_string", "company__name"),
}
MEMBERSHIP_OPERATORS = {
    COMPANIES_ID: ("=", "!=", "IN", "NIN"),
    COMPANIES_NAME: ("=", "!=", "~", "!~", "^", "$", "IN", "NIN"),
}
# A negative filter is its positive one's complement: the contacts at no such company (those at none included),
# as `tag_id !=` is the contacts without the tag.
_POSITIVE = {"!=": "=", "!~": "~", "NIN": "IN"}


def _at_company(memberships: QuerySet[CompanyContact]) -> Q:
    """The contacts holding one of these memberships: a correlated EXISTS (see ExtraField.condition)."""
    return Q(Exists(memberships.filter(contact=OuterRef("pk"))))


class CompanyMembershipField:
    """`companies.id` or `companies.name` in a contact search: the contacts at a company with this id, or whose
    name matches (`=`, `~`, `^`, `$`, `IN`; `!=`, `!~`, `NIN`: at no such company). `companies.id = null` is the
    contacts at no company at all, `!= null` those at one. One EXISTS per filter, no query of its own."""

    def __init__(self, field: str) -> None:
        self.field = field
        self._memberships = QueryCompiler({field: MEMBERSHIP_FIELDS[field]})

    def condition(self, operator: str, value: Any) -> Q:
        allowed = MEMBERSHIP_OPERATORS[self.field]
        if operator not in allowed:
            raise ValidationError({self.field: f"{self.field} is compared with {', '.join(allowed)}."})
        positive = _POSITIVE.get(operator, operator)
        if value is None:
            if self.field != COMPANIES_ID or positive != "=":
                raise ValidationError({self.field: f"{self.field} is not compared with null; companies.id = null "
                                                   "finds the contacts at no company."})  # fmt: skip
            at_any_company = _at_company(CompanyContact.objects.all())
            return ~at_any_company if operator == "=" else at_any_company
        memberships = CompanyContact.objects.filter(
            self._memberships.compile({"field": self.field, "operator": positive, "value": value})
        )
        at_such_a_company = _at_company(memberships)
        return at_such_a_company if operator == positive else ~at_such_a_company

    def includes_archived(self) -> bool:
        return False

    def carried_size(self) -> QuerySize:
        return QuerySize()  # the filter itself is all its subquery holds


def company_membership_field(field: str, query: Any) -> CompanyMembershipField:
    """`field` for one contact search (registered with contacts.search; it reads nothing ahead of the query)."""
    return CompanyMembershipField(field)
