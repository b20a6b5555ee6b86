"""Segment writes: create, update (both check the query by compiling it), delete, and the cached counts."""

import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from common.parsing import json_problem, text_problem
from companies.search import company_search_q
from contacts.models import DataAttribute, Tag
from contacts.search import contact_search_q, query_filter_values, query_tag_ids
from segments import selectors
from segments.models import Segment

MAX_NAME_LENGTH = 100
MAX_QUERY_BYTES = 20_000
# Saved from a list, a segment is counted at once when it holds at most this many (one bounded COUNT, the number
# its confirmation shows); a bigger one is counted by the task, as every segment is every 15 minutes.
QUICK_COUNT_LIMIT = 10_000
# Each kind's filter compiles in its own fields (a company filter names no contact field, and the reverse).
_COMPILERS = {Segment.PersonType.CONTACT: contact_search_q, Segment.PersonType.COMPANY: company_search_q}


def _name_clean(name: Any) -> str:
    if not isinstance(name, str) or not " ".join(name.split()):
        raise ValidationError({"name": "A segment needs a name."})
    problem = text_problem(name)
    if problem:
        raise ValidationError({"name": problem})
    name = " ".join(name.split())
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError({"name": f"Must be at most {MAX_NAME_LENGTH} characters."})
    return name


def _person_type_clean(person_type: Any) -> str:
    if person_type not in _COMPILERS:
        raise ValidationError({"person_type": f"Must be one of: {', '.join(_COMPILERS)}."})
    return person_type


def segment_query_check(query: Any, *, person_type: str = Segment.PersonType.CONTACT) -> Any:
    """A query a segment can keep, of a bounded size: what POST /contacts/search accepts for a contact segment,
    the same language over company fields for a company segment; else a refusal naming it."""
    compile_query = _COMPILERS[_person_type_clean(person_type)]
    if query in (None, "", {}, []):
        raise ValidationError({"query": "A segment needs a filter."})
    problem = json_problem(query, root="query")
    if problem is not None:
        raise ValidationError({"query": f"{problem[0]}: {problem[1]}"})
    try:
        compile_query(query)  # every field, operator and value is checked, and the size caps of any search
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        if field == "segment_id":  # the search's field, not a segment's: its members would follow another's filter
            raise ValidationError(
                {"query": "segment_id: a segment cannot name another segment; use its filters."}
            ) from None
        if field == "query":  # the whole filter (over the size caps): nothing more to name
            raise ValidationError({"query": messages[0]}) from None
        raise ValidationError({"query": f"{field}: {messages[0]}"}) from None
    if len(json.dumps(query)) > MAX_QUERY_BYTES:
        raise ValidationError({"query": f"The filter is larger than {MAX_QUERY_BYTES} bytes."})
    return query


def segment_validate(
    *, segment: Segment | None, name: Any, query: Any, person_type: Any = Segment.PersonType.CONTACT
) -> str:
    """Raise the ValidationError saving these would raise (name, uniqueness, the cap, the kind, the query); the
    clean name. An existing segment keeps its kind: its filter is written in that kind's fields."""
    name = _name_clean(name)
    if segment is not None and person_type != segment.person_type:
        raise ValidationError({"person_type": "A segment's kind cannot change; save a new segment instead."})
    person_type = _person_type_clean(person_type)
    others = Segment.objects.exclude(pk=segment.pk) if segment is not None else Segment.objects.all()
    if others.filter(name=name).exists():
        raise ValidationError({"name": "A segment with this name exists."})
    if segment is None and Segment.objects.count() >= selectors.MAX_SEGMENTS:
        raise ValidationError({"name": f"At most {selectors.MAX_SEGMENTS} segments; delete one first."})
    segment_query_check(query, person_type=person_type)
    if segment is None or query != segment.query:  # a filter kept as it was is not checked again (a rename)
        _tags_named_check(query)
    return name


CUSTOM_ATTRIBUTE_PREFIX = "custom_attributes."
# The custom attribute definitions each kind's filter reads.
_ATTRIBUTE_MODEL = {Segment.PersonType.CONTACT: DataAttribute.Model.CONTACT,
                    Segment.PersonType.COMPANY: DataAttribute.Model.COMPANY}  # fmt: skip


def _attributes_named_lock(query: Any, *, person_type: str) -> None:
    """Lock the custom attribute definitions the filter compiles (checked by segment_query_check a moment before)
    until the segment's transaction commits, as contacts.services.data_attribute_delete locks the one it deletes:
    either the deletion sees this segment, or this finds the definition gone (the filter would no longer compile)."""
    names = {
        field.removeprefix(CUSTOM_ATTRIBUTE_PREFIX)
        for field, _value in query_filter_values(query)
        if isinstance(field, str) and field.startswith(CUSTOM_ATTRIBUTE_PREFIX)
    }
    if not names:
        return
    definitions = DataAttribute.objects.select_for_update().filter(model=_ATTRIBUTE_MODEL[person_type], name__in=names)
    missing = names - set(definitions.values_list("name", flat=True))
    if missing:
        field = f"{CUSTOM_ATTRIBUTE_PREFIX}{min(missing)}"
        raise ValidationError({"query": f"{field}: {field} is not a field you can search on."})


def _tags_named_check(query: Any, *, lock: bool = False) -> None:
    """Every tag the filter names exists (`tag_id != 7` without a tag 7 holds for everyone). With `lock`, they
    stay locked until the segment's transaction commits, as contacts.services.tag_delete locks the tag it deletes:
    either the deletion sees this segment, or this finds the tag gone."""
    named = query_tag_ids(query)
    if not named:
        return
    tags = Tag.objects.select_for_update() if lock else Tag.objects.all()
    missing = named - set(tags.filter(pk__in=named).values_list("pk", flat=True))
    if missing:
        raise ValidationError({"query": f"tag_id: No tag has the id {min(missing)}."})


@transaction.atomic
def segment_create(
    *,
    name: Any,
    query: Any,
    teammate: AbstractBaseUser | None,
    person_type: Any = Segment.PersonType.CONTACT,
    count_now: bool = False,
) -> Segment:
    """Save a contact (or company) filter as a segment; its count follows from a Celery task once committed, or
    with `count_now` is taken at once when it is at most QUICK_COUNT_LIMIT (a teammate waits for it)."""
    name = segment_validate(segment=None, name=name, query=query, person_type=person_type)
    _tags_named_check(query, lock=True)
    _attributes_named_lock(query, person_type=person_type)
    segment = Segment.objects.create(name=name, query=query, person_type=person_type, created_by=teammate)
    if count_now:
        count = selectors.segment_rows(segment=segment).order_by().values("pk")[: QUICK_COUNT_LIMIT + 1].count()
        if count <= QUICK_COUNT_LIMIT:
            segment.member_count, segment.counted_at = count, timezone.now()
            segment.save(update_fields=["member_count", "counted_at"])
            return segment
    _count_later(segment)
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, name: Any = None, query: Any = None) -> Segment:
    """Rename a segment or change its filter (then its count is refreshed)."""
    name = segment_validate(segment=segment, name=segment.name if name is None else name,
                            query=segment.query if query is None else query,
                            person_type=segment.person_type)  # fmt: skip
    changed = []
    if name != segment.name:
        segment.name = name
        changed.append("name")
    if query is not None and query != segment.query:
        _tags_named_check(query, lock=True)
        _attributes_named_lock(query, person_type=segment.person_type)
        segment.query = query
        segment.member_count = segment.counted_at = None
        changed += ["query", "member_count", "counted_at"]
    if changed:
        segment.save(update_fields=[*changed, "updated_at"])
        if "query" in changed:
            _count_later(segment)
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment) -> None:
    """Delete a segment (its contacts or companies are untouched)."""
    segment.delete()


def _count_later(segment: Segment) -> None:
    from segments import tasks

    transaction.on_commit(lambda: tasks.refresh_segment_count.delay(segment.pk))


def segment_count_refresh(*, segment_id: int) -> int | None:
    """Count one segment's contacts or companies now and keep the number (a COUNT in a task, never in a page view)."""
    segment = selectors.segment_find(segment_id=segment_id)
    if segment is None:
        return None
    count = selectors.segment_rows(segment=segment).count()
    Segment.objects.filter(pk=segment.pk).update(member_count=count, counted_at=timezone.now())
    return count


def segment_counts_refresh() -> int:
    """Beat: recount every segment, one COUNT each, each saved as it is done; returns how many were counted."""
    counted = 0
    for segment in selectors.segment_list():
        if segment_count_refresh(segment_id=segment.pk) is not None:
            counted += 1
    return counted
