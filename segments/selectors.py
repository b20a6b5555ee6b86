"""Reads of segments: the list, one segment, its members (contacts or companies), and the segments a contact
or a company belongs to."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, Model, OuterRef, QuerySet

from companies.models import Company
from companies.search import companies_matching
from contacts.models import Contact, DataAttribute
from contacts.search import contacts_matching, query_mentions_field
from segments.models import Segment

# A workspace keeps tens of segments; the sidebar, the API list and the membership check read them all.
MAX_SEGMENTS = 250
CONTACT = Segment.PersonType.CONTACT
COMPANY = Segment.PersonType.COMPANY
# What each kind of segment holds, in words (the refusals when one is given where the other is expected).
HOLDS = {CONTACT: "contacts", COMPANY: "companies"}


def segment_list(*, person_type: str | None = None) -> list[Segment]:
    """Every segment by name, or every segment of one kind (at most MAX_SEGMENTS, which segment_create enforces)."""
    segments = Segment.objects.order_by("name")
    if person_type is not None:
        segments = segments.filter(person_type=person_type)
    return list(segments[:MAX_SEGMENTS])


def segment_find(*, segment_id: int, person_type: str | None = None) -> Segment | None:
    """A segment by id (of this kind, when given), or None."""
    segments = Segment.objects.filter(pk=segment_id)
    if person_type is not None:
        segments = segments.filter(person_type=person_type)
    return segments.first()


def segment_kind_problem(segment: Segment, *, person_type: str) -> str | None:
    """Why this segment cannot serve where a segment of `person_type` is expected, or None when it can."""
    if segment.person_type == person_type:
        return None
    return (
        f"“{segment.name}” is a segment of {HOLDS.get(segment.person_type, segment.person_type)}, "
        f"not of {HOLDS[person_type]}."
    )


def _check_kind(segment: Segment, person_type: str) -> None:
    problem = segment_kind_problem(segment, person_type=person_type)
    if problem:
        raise ValidationError({"segment": problem})


def segment_members(*, segment: Segment, queryset: QuerySet[Contact] | None = None) -> QuerySet[Contact]:
    """The contacts in a contact segment now: exactly what POST /contacts/search with its query returns.
    A company segment is refused (ValidationError naming `segment`)."""
    _check_kind(segment, CONTACT)
    return contacts_matching(segment.query, queryset=queryset)


def segment_companies(*, segment: Segment, queryset: QuerySet[Company] | None = None) -> QuerySet[Company]:
    """The companies in a company segment now; a contact segment is refused (ValidationError naming `segment`)."""
    _check_kind(segment, COMPANY)
    return companies_matching(segment.query, queryset=queryset)


def segment_rows(*, segment: Segment) -> QuerySet[Any]:
    """What a segment holds now, whatever its kind (its contacts or its companies): what its count counts."""
    if segment.person_type == COMPANY:
        return segment_companies(segment=segment)
    return segment_members(segment=segment)


def _segments_holding(model: type[Model], pks: list[int], person_type: str) -> dict[int, list[Segment]]:
    """Row pk → the segments of this kind that hold it: one query for all the rows and all the segments (an
    EXISTS per segment), none more when there is no segment of this kind."""
    segments = segment_list(person_type=person_type)
    if not segments or not pks:
        return {pk: [] for pk in pks}
    checks: dict[str, Any] = {
        f"in_{segment.pk}": Exists(segment_rows(segment=segment).filter(pk=OuterRef("pk"))) for segment in segments
    }
    rows = model._default_manager.filter(pk__in=pks).values("pk", **checks)
    held = {row["pk"]: [segment for segment in segments if row[f"in_{segment.pk}"]] for row in rows}
    return {pk: held.get(pk, []) for pk in pks}


def contact_segments(*, contact: Contact) -> list[Segment]:
    """The contact segments a contact is in: one query for every segment together."""
    return _segments_holding(Contact, [contact.pk], CONTACT)[contact.pk]


def company_segments(*, company: Company) -> list[Segment]:
    """The company segments a company is in: one query for every segment together."""
    return _segments_holding(Company, [company.pk], COMPANY)[company.pk]


def companies_segments(*, company_ids: list[int]) -> dict[int, list[Segment]]:
    """Company pk → its company segments, for a page of companies: one query for the whole page."""
    return _segments_holding(Company, company_ids, COMPANY)


def segments_naming_attribute(*, attribute: DataAttribute) -> list[Segment]:
    """The segments whose stored filter names this custom attribute (`custom_attributes.<name>`), by name: a contact
    attribute in contact segments, a company attribute in company segments (their queries walked here: a workspace
    keeps at most MAX_SEGMENTS)."""
    person_type = {DataAttribute.Model.CONTACT: CONTACT, DataAttribute.Model.COMPANY: COMPANY}.get(attribute.model)
    if person_type is None:
        return []
    field = f"custom_attributes.{attribute.name}"
    return [segment for segment in segment_list(person_type=person_type) if query_mentions_field(segment.query, field)]
