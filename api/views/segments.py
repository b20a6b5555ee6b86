"""Segments: GET /segments, GET /segments/{id} and GET /contacts/{id}/segments (saved contact filters)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import ParameterInvalid
from api.serializers.segments import (
    SegmentListOutput,
    SegmentOutput,
    contact_segments_json,
    segment_json,
    segment_list_json,
)
from api.views.base import IntercomView
from segments import selectors as segment_selectors

INCLUDE_COUNT_PARAMETER = OpenApiParameter(
    "include_count", bool, description="true: each segment's member count (cached, refreshed every 15 minutes)."
)


def _include_count(request: Request) -> bool:
    value = request.query_params.get("include_count", "false")
    if value not in ("true", "false"):
        raise ParameterInvalid("include_count", "include_count must be true or false.")
    return value == "true"


class SegmentsView(IntercomView):
    @extend_schema(operation_id="ListSegments", parameters=[INCLUDE_COUNT_PARAMETER], responses=SegmentListOutput)
    def get(self, request: Request) -> Response:
        """Every segment by name (a workspace keeps at most 250)."""
        include_count = _include_count(request)
        return Response(segment_list_json(segment_selectors.segment_list(), include_count=include_count))


class SegmentView(IntercomView):
    @extend_schema(operation_id="RetrieveSegment", parameters=[INCLUDE_COUNT_PARAMETER], responses=SegmentOutput)
    def get(self, request: Request, segment_id: str) -> Response:
        include_count = _include_count(request)
        return Response(segment_json(selectors.segment_get(segment_id=segment_id), include_count=include_count))


class ContactSegmentsView(IntercomView):
    @extend_schema(
        operation_id="ListSegmentsForAContact",
        responses=inline_serializer(
            "ContactSegmentList", {"type": serializers.CharField(default="list"), "data": SegmentOutput(many=True)}
        ),
    )
    def get(self, request: Request, contact_id: str) -> Response:
        """The segments the contact is in now (one query for all of them)."""
        contact = selectors.contact_get(contact_id=contact_id)
        return Response(contact_segments_json(segment_selectors.contact_segments(contact=contact)))
