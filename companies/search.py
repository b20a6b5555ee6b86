"""The query language of company filters: the contacts' search DSL (contacts.search) over company fields.

A company segment keeps its filter in this language, exactly as a contact segment keeps the contact
search's: one filter `{"field", "operator", "value"}` or an AND/OR group, with the same operators, limits
and refusals naming their field; `custom_attributes.<name>` reads the data attributes of `model=company`.
"""

from typing import Any

from django.db.models import Q, QuerySet

from companies.models import Company
from contacts.models import DataAttribute
from contacts.search import FieldSpec, QueryCompiler, query_mentions_field

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
    "tag_id": FieldSpec("tag", "tags"),
}


def company_search_q(query: Any) -> Q:
    """Compile a company filter; a ValidationError names the field it refuses."""
    return QueryCompiler(COMPANY_FIELDS, custom_model=DataAttribute.Model.COMPANY).compile(query)


def companies_matching(query: Any, *, queryset: QuerySet[Company] | None = None) -> QuerySet[Company]:
    """The companies a filter selects, in one SQL query whatever the filter's shape."""
    condition = company_search_q(query)
    matching = Company.objects.all() if queryset is None else queryset
    # A filter through tags may match one company twice; keep it in a subquery to stay distinct.
    if query_mentions_field(query, "tag_id"):
        return matching.filter(pk__in=Company.objects.filter(condition).values("pk"))
    return matching.filter(condition)
