"""Segments: GET /segments, GET /segments/{id}, GET /contacts/{id}/segments and GET /companies/{id}/segments
(saved contact and company filters)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import ParameterInvalid
from api.serializers.segments import (
    SegmentListOutput,
    SegmentOutput,
    attached_segments_json,
    segment_json,
    segment_list_json,
)
from api.views.base import IntercomView
from segments import selectors as segment_selectors
from segments.models import Segment

INCLUDE_COUNT_PARAMETER = OpenApiParameter(
    "include_count", bool, description="true: each segment's member count (cached, refreshed every 15 minutes)."
)

TYPE_PARAMETER = OpenApiParameter(
    "type", str, enum=list(Segment.PersonType.values),
    description="Only the segments of contacts, or only those of companies (Intercom 1.x's type=company); "
    "both kinds when absent.",
)  # fmt: skip
ATTACHED_SEGMENTS = inline_serializer(
    "AttachedSegmentList", {"type": serializers.CharField(default="list"), "data": SegmentOutput(many=True)}
)


def _person_type(request: Request) -> str | None:
    value = request.query_params.get("type")
    if value is not None and value not in Segment.PersonType.values:
        raise ParameterInvalid("type", f"type must be one of: {', '.join(Segment.PersonType.values)}.")
    return value


def _include_count(request: Request) -> bool:
    value = request.query_params.get("include_count", "false")
    if value not in ("true", "false"):
        raise ParameterInvalid("include_count", "include_count must be true or false.")
    return value == "true"


class SegmentsView(IntercomView):
    @extend_schema(
        operation_id="ListSegments", parameters=[INCLUDE_COUNT_PARAMETER, TYPE_PARAMETER], responses=SegmentListOutput
    )
    def get(self, request: Request) -> Response:
        """Every segment by name, of contacts and of companies (a workspace keeps at most 250)."""
        include_count, person_type = _include_count(request), _person_type(request)
        segments = segment_selectors.segment_list(person_type=person_type)
        return Response(segment_list_json(segments, include_count=include_count))


class SegmentView(IntercomView):
    @extend_schema(operation_id="RetrieveSegment", parameters=[INCLUDE_COUNT_PARAMETER], responses=SegmentOutput)
    def get(self, request: Request, segment_id: str) -> Response:
        include_count = _include_count(request)
        return Response(segment_json(selectors.segment_get(segment_id=segment_id), include_count=include_count))


class ContactSegmentsView(IntercomView):
    @extend_schema(operation_id="ListSegmentsForAContact", responses=ATTACHED_SEGMENTS)
    def get(self, request: Request, contact_id: str) -> Response:
        """The contact segments the contact is in now (one query for all of them)."""
        contact = selectors.contact_get(contact_id=contact_id)
        return Response(attached_segments_json(segment_selectors.contact_segments(contact=contact)))


class CompanySegmentsView(IntercomView):
    @extend_schema(operation_id="ListAttachedSegmentsForCompanies", responses=ATTACHED_SEGMENTS)
    def get(self, request: Request, company_id: str) -> Response:
        """The company segments the company is in now (one query for all of them)."""
        company = selectors.company_get(company_id=company_id)
        return Response(attached_segments_json(segment_selectors.company_segments(company=company)))
