"""Reads of segments: the list, one segment, its members (contacts or companies), and the segments a contact
or a company belongs to."""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, Model, OuterRef, Q, QuerySet

from common.parsing import int_or_none
from companies.models import Company
from companies.search import companies_matching
from contacts.models import Contact, DataAttribute, Tag
from contacts.search import (
    QuerySize,
    any_of,
    contacts_matching,
    query_filter_values,
    query_mentions_field,
    query_size,
    query_tag_ids,
)
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


SEGMENT_ID = "segment_id"


def _segment_ids_named(query: Any) -> set[int]:
    """The ids every `segment_id` filter of a search names (the body is not checked yet)."""
    ids = (
        int_or_none(value) if isinstance(value, str | int) else None
        for field, value in query_filter_values(query)
        if field == SEGMENT_ID
    )
    return {pk for pk in ids if pk is not None}


class SegmentIdField:
    """`segment_id` in a contact search, as Intercom's: the contacts in a contact segment now (`=`, `!=`, `IN`,
    `NIN`), combinable with any other filter. The segments it names are read in one query, whatever their number;
    an unknown id, or a company segment, is refused naming segment_id."""

    def __init__(self, query: Any) -> None:
        self.query = query
        self._segments: dict[int, Segment] | None = None
        self._named: list[Segment] = []

    def _segment(self, value: Any) -> Segment:
        if self._segments is None:
            self._segments = {s.pk: s for s in Segment.objects.filter(pk__in=_segment_ids_named(self.query))}
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError({SEGMENT_ID: "segment_id is compared with a segment's id (a string)."})
        pk = int_or_none(value)
        segment = self._segments.get(pk) if pk is not None else None
        if segment is None:
            raise ValidationError({SEGMENT_ID: "No segment has this id (GET /segments lists them)."})
        problem = segment_kind_problem(segment, person_type=CONTACT)
        if problem:
            raise ValidationError({SEGMENT_ID: problem})
        self._named.append(segment)
        return segment

    def condition(self, operator: str, value: Any) -> Q:
        if operator in ("IN", "NIN"):
            if not isinstance(value, list) or not value or len(value) > MAX_SEGMENTS:
                raise ValidationError({SEGMENT_ID: f"IN and NIN need a list of 1 to {MAX_SEGMENTS} segment ids."})
            segments = [self._segment(item) for item in value]
        elif operator in ("=", "!="):
            segments = [self._segment(value)]
        else:
            raise ValidationError({SEGMENT_ID: "segment_id is compared with =, !=, IN or NIN."})
        # Each segment an EXISTS of its members (see ExtraField.condition): the page stays one SQL query.
        members = any_of([Q(Exists(segment_members(segment=s).filter(pk=OuterRef("pk")))) for s in segments])
        return members if operator in ("=", "IN") else ~members

    def includes_archived(self) -> bool:
        return any(query_mentions_field(segment.query, "archived") for segment in self._named)

    def carried_size(self) -> QuerySize:
        # Each naming of a segment puts its whole filter in the search's SQL, so a search is capped with them.
        return sum((query_size(segment.query) for segment in self._named), QuerySize())


def contacts_search(*, query: Any, queryset: QuerySet[Contact] | None = None) -> QuerySet[Contact]:
    """POST /contacts/search: contacts.search's language with Intercom's `segment_id` too (a segment's members
    now, its relative dates read at this moment). A segment that mentions `archived` counts as mentioning it."""
    return contacts_matching(query, queryset=queryset, extra_fields={SEGMENT_ID: SegmentIdField(query)})


def segment_rows(*, segment: Segment) -> QuerySet[Any]:
    """What a segment holds now, whatever its kind (its contacts or its companies): what its count counts."""
    if segment.person_type == COMPANY:
        return segment_companies(segment=segment)
    return segment_members(segment=segment)


def _within_query_caps(segments: list[Segment]) -> list[list[Segment]]:
    """The segments in order, in as few runs as keep each run's filters together within a search's caps (so one
    SQL statement holds them, as it holds one search); one run unless their filters are large."""
    runs: list[list[Segment]] = []
    size = QuerySize()
    for segment in segments:
        segment_size = query_size(segment.query)
        if not runs or not (size + segment_size).within_caps():
            runs.append([])
            size = QuerySize()
        runs[-1].append(segment)
        size += segment_size
    return runs


def _segments_holding(model: type[Model], pks: list[int], person_type: str) -> dict[int, list[Segment]]:
    """Row pk → the segments of this kind that hold it: one query for all the rows and all the segments (an
    EXISTS per segment; one more per run of segments whose filters together exceed a search's caps), none more
    when there is no segment of this kind."""
    segments = segment_list(person_type=person_type)
    held: dict[int, list[Segment]] = {pk: [] for pk in pks}
    if not segments or not pks:
        return held
    for run in _within_query_caps(segments):
        checks: dict[str, Any] = {
            f"in_{segment.pk}": Exists(segment_rows(segment=segment).filter(pk=OuterRef("pk"))) for segment in run
        }
        for row in model._default_manager.filter(pk__in=pks).values("pk", **checks):
            held[row["pk"]].extend(segment for segment in run if row[f"in_{segment.pk}"])
    return held


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
    keeps about MAX_SEGMENTS: every one is read, even past the cap)."""
    person_type = {DataAttribute.Model.CONTACT: CONTACT, DataAttribute.Model.COMPANY: COMPANY}.get(attribute.model)
    if person_type is None:
        return []
    field = f"custom_attributes.{attribute.name}"
    every = Segment.objects.filter(person_type=person_type).order_by("name")
    return [segment for segment in every if query_mentions_field(segment.query, field)]


def segments_naming_tags(*, tag_ids: Iterable[int]) -> dict[int, list[Segment]]:
    """Tag id → the segments, of either kind, whose stored filter names it (`tag_id`, as the search reads its value),
    by name, for the tags some segment names: without the tag, `tag_id != it` would hold for everyone. Every
    segment's query is walked here, once, not only the first MAX_SEGMENTS segment_list shows: two saved at once may
    pass the cap."""
    wanted = set(tag_ids)
    found: dict[int, list[Segment]] = {}
    for segment in Segment.objects.order_by("name"):
        for pk in sorted(query_tag_ids(segment.query) & wanted):
            found.setdefault(pk, []).append(segment)
    return found


# Tag ids looked up per query when checking every segment's filter at once (each filter holds at most
# contacts.search.MAX_QUERY_VALUES values, so one segment's fit in one query).
TAG_LOOKUP_BATCH = 10_000


def segments_deleted_tags(*, segments: Iterable[Segment]) -> dict[int, list[int]]:
    """Segment pk → the ids of the tags its filter names that no longer exist, ascending, for the segments naming
    any: one query for all their tags. Segments are not saved naming a missing tag and a tag a segment names is not
    deleted, but a segment saved before those rules may still name one, and then matches differently (`tag_id != 7`
    holds for everyone once 7 is gone); it is shown, never rewritten."""
    named = {segment.pk: query_tag_ids(segment.query) for segment in segments}
    every = sorted(set().union(*named.values()))
    existing: set[int] = set()
    for start in range(0, len(every), TAG_LOOKUP_BATCH):
        batch = every[start : start + TAG_LOOKUP_BATCH]
        existing.update(Tag.objects.filter(pk__in=batch).values_list("pk", flat=True))
    return {pk: sorted(ids - existing) for pk, ids in named.items() if ids - existing}


def segments_naming_deleted_tags() -> list[tuple[Segment, list[int]]]:
    """Every segment (even past MAX_SEGMENTS) whose filter names a tag that no longer exists, by name, with those
    tags' ids: two queries."""
    every = list(Segment.objects.order_by("name", "pk"))
    missing = segments_deleted_tags(segments=every)
    return [(segment, missing[segment.pk]) for segment in every if segment.pk in missing]
