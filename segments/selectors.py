"""Reads of segments: the list, one segment, its members, and the segments a contact belongs to."""

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from contacts.models import Contact
from contacts.search import contacts_matching
from segments.models import Segment

# A workspace keeps tens of segments; the sidebar, the API list and the membership check read them all.
MAX_SEGMENTS = 250


def segment_list() -> list[Segment]:
    """Every segment by name (at most MAX_SEGMENTS, which segment_create enforces)."""
    return list(Segment.objects.order_by("name")[:MAX_SEGMENTS])


def segment_find(*, segment_id: int) -> Segment | None:
    """A segment by id, or None."""
    return Segment.objects.filter(pk=segment_id).first()


def segment_members(*, segment: Segment, queryset: QuerySet[Contact] | None = None) -> QuerySet[Contact]:
    """The contacts in a segment now: exactly what POST /contacts/search with its query returns."""
    return contacts_matching(segment.query, queryset=queryset)


def contact_segments(*, contact: Contact) -> list[Segment]:
    """The segments a contact is in: one query for every segment together (an EXISTS per segment)."""
    segments = segment_list()
    if not segments:
        return []
    checks: dict[str, Any] = {
        f"in_{segment.pk}": Exists(segment_members(segment=segment).filter(pk=OuterRef("pk"))) for segment in segments
    }
    row = Contact.objects.filter(pk=contact.pk).values(**checks).first() or {}
    return [segment for segment in segments if row.get(f"in_{segment.pk}")]
