"""Custom events: record one (widget or REST API) and keep the per-contact summary exact."""

import datetime as dt
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, router, transaction

from contacts.deletion import contact_hold
from contacts.models import Contact
from tracking.models import Event, EventSummary, Website
from tracking.payloads import EventInput
from tracking.services.hot_path import (
    ContactGone,
    RequestFacts,
    WidgetTokenInvalid,
    acting_contact_for,
    consent_remember,
    tracking_allowed,
    usable_identity,
)
from tracking.widget_auth import CacheReader, WidgetIdentity


def event_summary_upsert(
    *, contact_id: int, name: str, count: int, first_at: dt.datetime, last_at: dt.datetime
) -> None:
    """Add to the (contact, name) summary in one atomic statement: exact under concurrency."""
    table = EventSummary._meta.db_table
    connection = connections[router.db_for_write(EventSummary)]
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    sql = f"""
        INSERT INTO {table} (contact_id, name, count, first_at, last_at) VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (contact_id, name) DO UPDATE SET
            count = {table}.count + excluded.count,
            first_at = {least}({table}.first_at, excluded.first_at),
            last_at = {greatest}({table}.last_at, excluded.last_at)
    """  # noqa: S608 - table and function names come from code, values are parameters
    params = [contact_id, name, count, first_at, last_at]
    params[3:] = [connection.ops.adapt_datetimefield_value(v) for v in params[3:]]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@transaction.atomic
def event_track(
    *, contact: Contact, name: str, metadata: dict[str, Any], created_at: dt.datetime | None, now: dt.datetime
) -> Event | None:
    """Record an event and bump its summary; a repeat of (contact, name, created_at) sent by the client is ignored.

    Nothing is recorded for a restricted contact (GDPR Art. 18) or one who refused analytics: the
    REST API (a site's server) obeys the same rule as the widget. Nor for a contact deleted meanwhile
    (erased, expired, merged away): events have no database foreign key, so the contact is held first."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "An event needs a name."})
    if contact.processing_restricted or contact.analytics_consent is False:
        return None
    if not contact_hold(contact_id=contact.pk):
        return None
    event = Event(
        contact=contact,
        name=name,
        metadata=metadata,
        created_at=created_at or now,
        client_timestamp=created_at is not None,
    )
    if created_at is not None:
        try:
            with transaction.atomic():
                event.save()
        except IntegrityError:
            return None  # the same event again (a retried request): counted once
    else:
        event.save()
    event_summary_upsert(contact_id=contact.pk, name=name, count=1, first_at=event.created_at, last_at=event.created_at)
    return event


@transaction.atomic
def event_summary_add(*, contact: Contact, name: str, count: int, first_at: dt.datetime, last_at: dt.datetime) -> None:
    """Add occurrences to a contact's summary of an event without individual events (REST API)."""
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise ValidationError({"event_name": "An event summary needs an event name."})
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValidationError({"count": "Must be a positive integer."})
    if first_at > last_at:
        raise ValidationError({"first": "Must not be after last."})
    if contact.processing_restricted or contact.analytics_consent is False:
        return  # as event_track: a restricted contact, or one who refused analytics, gets no counts
    event_summary_upsert(contact_id=contact.pk, name=name, count=count, first_at=first_at, last_at=last_at)


def widget_event(
    *,
    website: Website,
    event: EventInput,
    identity: WidgetIdentity | None,
    facts: RequestFacts,
    reads: CacheReader = cache,
) -> tuple[bool, bool]:
    """Track an event for the token's contact; returns (tracked, duplicate)."""
    identity = usable_identity(identity, website=website, reads=reads)
    acting, token_consent, state = acting_contact_for(identity, website=website, now=facts.now, reads=reads)
    if acting is None:
        raise WidgetTokenInvalid
    consent_remember(contact=acting.contact, consent=event.consent, state=state, now=facts.now)
    if not tracking_allowed(
        website=website, consent=event.consent, token_consent=token_consent, contact=acting.contact
    ):
        return False, False
    try:
        contact = acting.referable()  # the event references the contact: a first visit still queued is written now
    except ContactGone:
        raise WidgetTokenInvalid from None
    recorded = event_track(
        contact=contact, name=event.name, metadata=event.metadata, created_at=event.created_at, now=facts.now
    )
    return True, recorded is None
