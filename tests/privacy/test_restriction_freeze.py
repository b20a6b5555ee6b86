"""A restriction freezes the contact everywhere: REST API events, the widget's /update, the visitor
expiry job (Art. 18: the data is kept, not processed)."""

import datetime as dt

from django.test import TestCase
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import Contact
from retention.services import contacts_stale
from tests.contacts.factories import LeadFactory, UserContactFactory
from tests.tracking.conftest import Widget
from tracking import services as tracking_services
from tracking.models import Event, EventSummary


def test_rest_api_events_are_not_stored_for_a_restricted_user_nor_one_who_refused(db):
    now = timezone.now()
    restricted = UserContactFactory(processing_restricted=True)
    refused = UserContactFactory(analytics_consent=False)
    for contact in (restricted, refused):
        assert (
            tracking_services.event_track(contact=contact, name="bought", metadata={}, created_at=None, now=now) is None
        )
        tracking_services.event_summary_add(contact=contact, name="bought", count=3, first_at=now, last_at=now)
    assert not Event.objects.exists() and not EventSummary.objects.exists()


def test_rest_api_post_events_for_a_restricted_user_answers_202_and_stores_nothing(client, db):
    from django.contrib.auth import get_user_model

    from api.services import api_token_create

    user = UserContactFactory(external_id="r-1", processing_restricted=True)
    admin = get_user_model().objects.create_superuser("root", "root@parley.test", "pw")
    _, token = api_token_create(user=admin, name="t")
    answer = client.post("/api/events", {"event_name": "bought", "user_id": user.external_id},
                         content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
    assert answer.status_code == 202 and not Event.objects.exists()


def test_the_widgets_update_does_not_write_a_restricted_contacts_fields(client, website, ingest_flush):
    widget = Widget(client, website)
    widget.ping()
    ingest_flush()
    contact = Contact.objects.get()
    with TestCase.captureOnCommitCallbacks(execute=True):
        contact_services.contact_processing_restrict(contact=contact, restricted=True)
    answer = widget.post("update", {"token": widget.token, "user": {"name": "New Name", "phone": "+33 1 23"}})
    assert answer.status_code == 200
    contact.refresh_from_db()
    assert (contact.name, contact.phone) == ("", "")


def test_the_visitor_expiry_keeps_a_restricted_contact(db):
    old = timezone.now() - dt.timedelta(days=400)
    kept = LeadFactory(role="visitor", processing_restricted=True, last_seen_at=old)
    gone = LeadFactory(role="visitor", last_seen_at=old)
    stale = set(
        contacts_stale(role="visitor", cutoff=timezone.now() - dt.timedelta(days=270)).values_list("pk", flat=True)
    )
    assert gone.pk in stale and kept.pk not in stale
