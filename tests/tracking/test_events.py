import datetime as dt

import pytest
from django.utils import timezone

from contacts import services as contacts_services
from contacts.models import Contact, PrivacyAuditEntry
from tests.contacts.factories import ContactFactory
from tracking import services
from tracking.models import Event, EventSummary, PageView, WebSession
from tracking.services.hot_path import HotPathState

pytestmark = pytest.mark.django_db


def test_event_is_recorded_with_summary(widget):
    widget.ping()
    response = widget.event("bought", {"plan": "pro", "seats": 3, "trial": False})
    assert response.status_code == 202
    assert response.json() == {"tracked": True, "duplicate": False}
    event = Event.objects.get()
    assert (event.name, event.metadata) == ("bought", {"plan": "pro", "seats": 3, "trial": False})
    summary = EventSummary.objects.get()
    assert (summary.name, summary.count, summary.first_at, summary.last_at) == (
        "bought",
        1,
        event.created_at,
        event.created_at,
    )


def test_repeated_events_count_up_and_move_last_seen_of_the_event(widget):
    widget.ping()
    widget.event("opened")
    widget.event("opened")
    widget.event("closed")
    assert Event.objects.filter(name="opened").count() == 2
    assert dict(EventSummary.objects.values_list("name", "count")) == {"opened": 2, "closed": 1}


def test_event_with_client_created_at_is_deduplicated(widget):
    widget.ping()
    sent_at = int(timezone.now().timestamp()) - 60
    first = widget.event("bought", created_at=sent_at)
    again = widget.event("bought", created_at=sent_at)  # a retried request
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert Event.objects.count() == 1
    assert EventSummary.objects.get().count == 1
    assert Event.objects.get().created_at == dt.datetime.fromtimestamp(sent_at, tz=dt.UTC)
    widget.event("bought", created_at=sent_at + 1)
    assert EventSummary.objects.get().count == 2


def test_summary_keeps_earliest_and_latest_whatever_the_arrival_order():
    contact = ContactFactory()
    now = timezone.now()
    for minutes in (10, 30, 20):
        services.event_track(
            contact=contact, name="x", metadata={}, created_at=now - dt.timedelta(minutes=minutes), now=now
        )
    summary = EventSummary.objects.get()
    assert (summary.count, summary.first_at, summary.last_at) == (
        3,
        now - dt.timedelta(minutes=30),
        now - dt.timedelta(minutes=10),
    )


def test_eleven_metadata_keys_are_refused_not_truncated(widget):
    widget.ping()
    response = widget.event("x", {f"k{n}": n for n in range(11)})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["field"], error["code"]) == ("metadata", "too_many_keys")
    assert "10" in error["message"]
    assert not Event.objects.exists() and not EventSummary.objects.exists()


def test_ten_metadata_keys_are_accepted(widget):
    widget.ping()
    assert widget.event("x", {f"k{n}": n for n in range(10)}).status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x", "metadata": {"nested": {"a": 1}}}, "metadata.nested"),
        ({"name": "x", "metadata": {"list": [1]}}, "metadata.list"),
        ({"name": "x", "metadata": {"long": "y" * 256}}, "metadata.long"),
        ({"name": "x", "metadata": "flat please"}, "metadata"),
        ({"name": "x", "created_at": "soon"}, "created_at"),
    ],
)
def test_invalid_events_are_refused_naming_the_field(widget, body, field):
    widget.ping()
    response = widget.post("events", {"token": widget.token, **body})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert not Event.objects.exists()


def test_name_of_255_characters_is_accepted(widget):
    widget.ping()
    assert widget.event("n" * 255).status_code == 202


def test_gdpr_export_has_sessions_page_views_and_events(widget):
    widget.ping("https://shop.example/a")
    widget.event("bought", {"plan": "pro"})
    contact = Event.objects.get().contact
    document = contacts_services.contact_export(contact=contact, actor=None, source=PrivacyAuditEntry.Source.API)
    assert document["page_views"][0]["url"] == "https://shop.example/a"
    assert document["web_sessions"][0]["page_views_count"] == 1
    assert document["events"][0]["name"] == "bought"
    assert isinstance(document["events"][0]["created_at"], str)


def test_gdpr_erase_deletes_the_whole_tracking_history(widget):
    widget.ping()
    widget.event("bought")
    contact = Event.objects.get().contact
    contacts_services.contact_erase(contact=contact, actor=None, source=PrivacyAuditEntry.Source.API)
    for model in (WebSession, PageView, Event, EventSummary):
        assert not model.objects.exists()


def test_erased_contact_pinging_again_becomes_a_new_visitor(widget, django_capture_on_commit_callbacks, ingest_flush):
    widget.ping()
    ingest_flush()
    contact = PageView.objects.get().contact
    with django_capture_on_commit_callbacks(execute=True):  # the erase commits: its clean-up runs
        contacts_services.contact_erase(contact=contact, actor=None, source=PrivacyAuditEntry.Source.API)
    response = widget.ping()
    assert response.status_code == 200
    ingest_flush()
    assert PageView.objects.get().contact_id != contact.pk


def test_ping_in_flight_during_an_erase_cannot_bring_the_contact_back(widget, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    widget.ping(user={"user_id": "u-erased", "name": "Erin Erased"})
    widget.ping()
    contact = Contact.objects.get()
    key = HotPathState.key(contact.pk)
    stale_state = cache.get(key)  # what a ping that read before the erase holds, and may save back
    with django_capture_on_commit_callbacks(execute=True):
        contacts_services.contact_erase(contact=contact, actor=None, source=PrivacyAuditEntry.Source.API)
    cache.set(key, stale_state)

    answer = widget.ping().json()
    assert answer["contact"] == {"role": "visitor", "name": ""}  # a new visitor, not the erased user
    assert not Contact.objects.filter(pk=contact.pk).exists()
