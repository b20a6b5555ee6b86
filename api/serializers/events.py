"""Data events: the inputs that track and summarise, Intercom's event and event summary objects."""

import datetime as dt
from typing import Any

from rest_framework import serializers

from api.fields import unix
from api.pagination import Page
from contacts.models import Contact
from tracking.models import EVENT_NAME_MAX_LENGTH, Event, EventSummary

# Summaries add up in a 32-bit column: one call cannot bring a count near its limit.
MAX_SUMMARY_COUNT = 1_000_000


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


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def event_identity(contact: Contact) -> dict[str, Any]:
    """How an event names its contact (user_id, email and intercom_user_id)."""
    return {"user_id": contact.external_id, "email": contact.email or None, "intercom_user_id": str(contact.pk)}


def event_json(event: Event, *, identity: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "event",
        "id": str(event.pk),
        "event_name": event.name,
        "created_at": unix(event.created_at),
        **identity,
        "metadata": event.metadata,
    }


def event_list_json(page: Page, *, contact: Contact, identity: dict[str, Any]) -> dict[str, Any]:
    """Intercom's event list: `pages.next` is the URL of the next page, absent on the last one."""
    pages: dict[str, Any] = {}
    if page.next_cursor:
        pages["next"] = (
            f"/events?type=user&intercom_user_id={contact.pk}&per_page={page.per_page}"
            f"&starting_after={page.next_cursor}"
        )
    return {"type": "event.list", "events": [event_json(e, identity=identity) for e in page.rows], "pages": pages}


def event_summaries_json(summaries: list[EventSummary], *, identity: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "event.summary",
        **identity,
        "events": [
            {"name": s.name, "first": _iso(s.first_at), "last": _iso(s.last_at), "count": s.count, "description": None}
            for s in summaries
        ],
    }
