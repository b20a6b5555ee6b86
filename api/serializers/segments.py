"""Segments: Intercom's segment object; `count` is the cached member count (refreshed by Celery beat);
`person_type` says what it holds: contacts ("contact") or companies ("company")."""

from typing import Any

from rest_framework import serializers

from api.fields import unix
from segments.models import Segment


class SegmentOutput(serializers.Serializer):
    type = serializers.CharField(default="segment")
    id = serializers.CharField()
    name = serializers.CharField()
    created_at = serializers.IntegerField()
    updated_at = serializers.IntegerField()
    person_type = serializers.ChoiceField(
        choices=list(Segment.PersonType.values),
        help_text="What the segment holds: contacts (users and leads), or companies. Intercom 2.x documents "
        "contact and user; a company segment says company (its SDKs take any value here).",
    )
    count = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="With include_count=true: members when last counted (every 15 minutes); null before the first count.",
    )  # fmt: skip


class SegmentListOutput(serializers.Serializer):
    type = serializers.CharField(default="segment.list")
    segments = SegmentOutput(many=True)


def segment_json(segment: Segment, *, include_count: bool = False) -> dict[str, Any]:
    """A segment as Intercom shows it."""
    answer = {
        "type": "segment",
        "id": str(segment.pk),
        "name": segment.name,
        "created_at": unix(segment.created_at),
        "updated_at": unix(segment.updated_at),
        "person_type": segment.person_type,
    }
    if include_count:
        answer["count"] = segment.member_count
    return answer


def segment_list_json(segments: list[Segment], *, include_count: bool = False) -> dict[str, Any]:
    return {"type": "segment.list", "segments": [segment_json(s, include_count=include_count) for s in segments]}


def attached_segments_json(segments: list[Segment]) -> dict[str, Any]:
    """GET /contacts/{id}/segments and GET /companies/{id}/segments: Intercom's list of the segments it is in."""
    return {"type": "list", "data": [segment_json(segment) for segment in segments]}
