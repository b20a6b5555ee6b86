"""A first visit whose queueing reply is lost is written directly (page_view_write_now) while its creating entry
still sits in the stream; the contact is erased, or merged away, before the flush: the flush must not insert the
contact again under the same id, with its session and page view (an erased person coming back). Also: a first
visit at its IP limit whose counted script ran but answered too late is not counted a second time."""

import pytest

from contacts import services as contact_services
from contacts.models import Contact, PrivacyAuditEntry
from tests.ingest_races.conftest import Widget, flush, lose_reply
from tracking import page_view_buffer
from tracking.models import PageView, WebSession

pytestmark = pytest.mark.django_db(transaction=True)


def _first_visit_written_directly(client, website, monkeypatch) -> tuple[Widget, Contact]:
    lost = lose_reply(monkeypatch, page_view_buffer._COUNTED_QUEUE_SCRIPT)
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/landing?utm_source=ads").status_code == 200
    assert lost and lost[0][0] == 1, "Redis queued the first visit"
    contact = Contact.objects.get(role=Contact.Role.VISITOR)  # written directly, before any flush
    return widget, contact


def test_an_erased_first_visitor_written_directly_is_not_brought_back_by_its_queued_entry(shop, client, monkeypatch):
    stream, website = shop
    _, contact = _first_visit_written_directly(client, website, monkeypatch)
    assert stream.length() == 1  # its creating entry is still queued
    contact_services.contact_erase(contact=contact, actor=None, source=PrivacyAuditEntry.Source.ADMIN)
    assert not Contact.objects.filter(pk=contact.pk).exists()
    flush()
    assert PrivacyAuditEntry.objects.filter(contact_id=contact.pk, action=PrivacyAuditEntry.Action.ERASE).exists()
    assert not Contact.objects.filter(pk=contact.pk).exists(), "the erased contact is back"
    assert not WebSession.objects.exists() and not PageView.objects.exists()


def test_a_merged_first_visitor_written_directly_is_not_brought_back_by_its_queued_entry(shop, client, monkeypatch):
    _stream, website = shop
    user = contact_services.contact_create(role=Contact.Role.USER, external_id="u-1", email="ada@example.com")
    _, visitor = _first_visit_written_directly(client, website, monkeypatch)
    contact_services.contact_merge(source=visitor, into=user)  # e.g. the site's sign-in a moment later
    flush()
    assert list(Contact.objects.values_list("pk", flat=True)) == [user.pk], "the merged visitor is back"


def test_a_first_visit_whose_counted_script_answered_too_late_is_not_counted_twice(shop, client, monkeypatch, settings):
    """The counted script counted the IP (within its limit) and queued the first visit, and its reply is lost: the ping
    does not count the IP again (it would be refused, 429 without a token, while the flush writes the contact: the
    browser's retry a second contact)."""
    settings.PARLEY_WIDGET_RATE_PER_IP = 1
    _stream, website = shop
    lose_reply(monkeypatch, page_view_buffer._COUNTED_QUEUE_SCRIPT)
    widget = Widget(client, website)
    response = widget.ping("https://shop.example/landing")
    flush()
    assert not (response.status_code == 429 and Contact.objects.exists()), "refused, yet written"
