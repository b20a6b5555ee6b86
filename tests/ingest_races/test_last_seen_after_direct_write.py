"""A steady-state page view whose queueing reply is lost is written directly by _page_view_in_one_statement, which
leaves last_seen_at to the flush while the ingest queue is on; the flush, finding the page view's id taken, still
moves last_seen_at to it."""

import pytest
from django.core.cache import caches

from contacts.models import Contact
from tests.ingest_races.conftest import Widget, consistency_problems, flush, lose_reply
from tracking import page_view_buffer
from tracking.models import PageView, WebSession

pytestmark = pytest.mark.django_db(transaction=True)


def test_last_seen_at_reaches_a_page_view_written_directly(shop, client, monkeypatch):
    _stream, website = shop
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/1").status_code == 200
    flush()
    assert widget.ping("https://shop.example/2").status_code == 200
    flush()
    contact = Contact.objects.get()
    caches["default"].delete(page_view_buffer.fast_ticket_key(contact.pk))  # the first round trip queues nothing
    lost = [
        lose_reply(monkeypatch, script)
        for script in (page_view_buffer._XADD_SCRIPT, page_view_buffer._COUNTED_QUEUE_SCRIPT)
    ]
    assert widget.ping("https://shop.example/3").status_code == 200
    assert any(lost), "Redis queued /3"
    flush()
    contact.refresh_from_db()
    newest = PageView.objects.order_by("-created_at").first()
    session = WebSession.objects.get()
    assert PageView.objects.count() == 3 and session.page_views_count == 3
    assert contact.last_seen_at >= newest.created_at, consistency_problems()
