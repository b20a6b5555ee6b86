"""Data events: track (202), list a contact's events, and their summaries."""

import datetime as dt
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import NotFound, ParameterInvalid, ParameterNotFound
from api.fields import int_param, unix
from api.pagination import Cursor, cursor_decode, cursor_encode, per_page_clean
from api.permissions import permissions_require
from api.views.base import IntercomView
from contacts.models import Contact
from tracking import services as tracking_services
from tracking.models import EVENT_NAME_MAX_LENGTH, Event, EventSummary
from tracking.payloads import EVENT_MAX_AGE, PayloadError, clean_metadata, clean_text, clean_timestamp

# Summaries add up in a 32-bit column: one call cannot bring a count near its limit.
MAX_SUMMARY_COUNT = 1_000_000
EARLIEST_SUMMARY = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)


class EventCreateInput(serializers.Serializer):
    event_name = serializers.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    created_at = serializers.IntegerField(required=False, help_text="Unix seconds; defaults to now")
    user_id = serializers.CharField(required=False)
    email = serializers.CharField(required=False)
    id = serializers.CharField(required=False, help_text="The contact's id (needed for leads)")
    metadata = serializers.DictField(required=False, help_text="At most 10 flat keys")


class EventSummaryInput(serializers.Serializer):
    event_name = serializers.CharField()
    count = serializers.IntegerField(min_value=1, max_value=MAX_SUMMARY_COUNT)
    first = serializers.IntegerField()
    last = serializers.IntegerField()


class EventSummariesInput(serializers.Serializer):
    user_id = serializers.CharField()
    event_summaries = EventSummaryInput()


class EventOutput(serializers.Serializer):
    type = serializers.CharField(default="event")
    id = serializers.CharField()
    event_name = serializers.CharField()
    created_at = serializers.IntegerField()
    user_id = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    intercom_user_id = serializers.CharField()
    metadata = serializers.DictField()


class EventListOutput(serializers.Serializer):
    type = serializers.CharField(default="event.list")
    events = EventOutput(many=True)
    pages = serializers.DictField()


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


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


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
        identity = {
            "user_id": contact.external_id,
            "email": contact.email or None,
            "intercom_user_id": str(contact.pk),
        }
        if params.get("summary", "").lower() in ("true", "1"):
            permissions_require(request, "tracking.view_eventsummary")
            summaries = EventSummary.objects.filter(contact=contact).order_by("-last_at")
            return Response(
                {
                    "type": "event.summary",
                    **identity,
                    "events": [
                        {"name": s.name, "first": _iso(s.first_at), "last": _iso(s.last_at), "count": s.count,
                         "description": None}
                        for s in summaries
                    ],
                }
            )  # fmt: skip
        per_page = per_page_clean(params.get("per_page"))
        cursor = cursor_decode(params.get("starting_after"))
        events = Event.objects.filter(contact=contact).order_by("-id")
        if cursor is not None:
            events = events.filter(pk__lt=cursor.after_pk)
        rows = list(events[: per_page + 1])
        pages: dict[str, Any] = {}
        if len(rows) > per_page:
            rows = rows[:per_page]
            after = cursor_encode(Cursor(after_pk=rows[-1].pk, page=(cursor.page if cursor else 1) + 1))
            pages["next"] = (
                f"/events?type=user&intercom_user_id={contact.pk}&per_page={per_page}&starting_after={after}"
            )
        return Response(
            {
                "type": "event.list",
                "events": [
                    {"type": "event", "id": str(e.pk), "event_name": e.name, "created_at": unix(e.created_at),
                     **identity, "metadata": e.metadata}
                    for e in rows
                ],
                "pages": pages,
            }
        )  # fmt: skip

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
