"""Data events: track (202), list a contact's events, and their summaries."""

import datetime as dt
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import NotFound, ParameterInvalid, ParameterNotFound
from api.fields import int_param
from api.permissions import permissions_require
from api.serializers.events import (
    MAX_SUMMARY_COUNT,
    EventCreateInput,
    EventListOutput,
    EventSummariesInput,
    event_identity,
    event_list_json,
    event_summaries_json,
)
from api.views.base import IntercomView
from contacts.models import Contact
from tracking import services as tracking_services
from tracking.models import EVENT_NAME_MAX_LENGTH
from tracking.payloads import EVENT_MAX_AGE, PayloadError, clean_metadata, clean_text, clean_timestamp

EARLIEST_SUMMARY = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)


def _payload_error(error: PayloadError) -> ParameterInvalid:
    return ParameterInvalid(error.field, error.message)


def _contact_for(values: dict[str, Any], *, id_key: str) -> Contact:
    references = {k: values.get(k) for k in ("user_id", "email", id_key) if values.get(k) not in (None, "")}
    if not references:
        raise ParameterNotFound("user_id", "One of user_id, email or id is required.")
    contact = selectors.contact_get_by_reference(
        user_id=values.get("user_id"), email=values.get("email"), intercom_user_id=values.get(id_key)
    )
    if contact is None:
        raise NotFound("User Not Found", field=next(iter(references)))
    return contact


class EventsView(IntercomView):
    @extend_schema(
        operation_id="ListDataEvents",
        parameters=[
            OpenApiParameter("type", str, required=True, enum=["user"]),
            OpenApiParameter("user_id", str),
            OpenApiParameter("email", str),
            OpenApiParameter("intercom_user_id", str),
            OpenApiParameter("summary", bool),
            OpenApiParameter("per_page", int),
            OpenApiParameter("starting_after", str),
        ],
        responses=EventListOutput,
    )
    def get(self, request: Request) -> Response:
        """A contact's events, newest first; with summary=true, the per-name counts instead."""
        params = request.query_params
        if params.get("type") != "user":
            raise ParameterInvalid("type", "type must be user.")
        contact = _contact_for(params, id_key="intercom_user_id")
        identity = event_identity(contact)
        if params.get("summary", "").lower() in ("true", "1"):
            permissions_require(request, "tracking.view_eventsummary")
            return Response(event_summaries_json(selectors.event_summaries(contact=contact), identity=identity))
        per_page, cursor = self.list_params(request)
        page = selectors.events_page(contact=contact, per_page=per_page, cursor=cursor)
        return Response(event_list_json(page, contact=contact, identity=identity))

    @extend_schema(operation_id="CreateDataEvent", request=EventCreateInput, responses={202: None})
    def post(self, request: Request) -> Response:
        """Track an event for a user (user_id or email) or a lead (id); answers 202 with no body."""
        body = self.body(request)
        now = timezone.now()
        try:
            name = (clean_text(body.get("event_name"), "event_name", max_length=EVENT_NAME_MAX_LENGTH, required=True)
                    or "").strip()  # fmt: skip
            created_at = None
            if body.get("created_at") is not None:
                created_at = clean_timestamp(body["created_at"], "created_at", earliest=now - EVENT_MAX_AGE, now=now)
            metadata = clean_metadata(body.get("metadata"))
        except PayloadError as error:
            raise _payload_error(error) from None
        contact = _contact_for(body, id_key="id")
        tracking_services.event_track(contact=contact, name=name, metadata=metadata, created_at=created_at, now=now)
        return Response(status=202)


class EventSummariesView(IntercomView):
    @extend_schema(operation_id="DataEventSummaries", request=EventSummariesInput, responses={200: None})
    def post(self, request: Request) -> Response:
        """Add counted occurrences of an event to a user's summary (no individual events)."""
        body = self.body(request)
        summary = body.get("event_summaries")
        if not isinstance(summary, dict):
            raise ParameterNotFound("event_summaries")
        contact = _contact_for({"user_id": body.get("user_id")}, id_key="id")
        now = timezone.now()
        try:
            first = clean_timestamp(summary.get("first"), "event_summaries.first", earliest=EARLIEST_SUMMARY, now=now)
            last = clean_timestamp(summary.get("last"), "event_summaries.last", earliest=EARLIEST_SUMMARY, now=now)
            name = clean_text(summary.get("event_name"), "event_summaries.event_name", required=True) or ""
        except PayloadError as error:
            raise _payload_error(error) from None
        tracking_services.event_summary_add(
            contact=contact,
            name=name,
            count=int_param(summary.get("count", 1), field="event_summaries.count", maximum=MAX_SUMMARY_COUNT),
            first_at=first,
            last_at=last,
        )
        return Response(status=200)
