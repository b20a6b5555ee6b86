import pytest
from django.core.cache import cache

from contacts.models import Contact
from retention import services
from tests.retention.history import days_ago, orphan_rows
from tests.tracking.conftest import Widget
from tracking.models import PageView, WebSession
from tracking.page_view_buffer import page_views_flush

pytestmark = pytest.mark.django_db


def test_visitor_returning_after_the_ttl_is_a_new_visitor(client, website, ingest_flush):
    browser = Widget(client, website)
    assert browser.ping("https://shop.example/pricing").status_code == 200
    ingest_flush()
    first = Contact.objects.get()
    first_anonymous_id = browser.anonymous_id
    Contact.objects.filter(pk=first.pk).update(last_seen_at=days_ago(271), first_seen_at=days_ago(300))
    cache.clear()  # nine months on, the ping's 30-minute hot-path state is long gone

    run = services.visitors_expire()

    assert run.contacts_deleted == 1
    assert not PageView.objects.exists()
    # The same browser comes back with its old cookie and token.
    response = browser.ping("https://shop.example/")
    assert response.status_code == 200
    ingest_flush()
    returning = Contact.objects.get()
    assert returning.pk != first.pk
    assert returning.role == Contact.Role.VISITOR
    assert browser.anonymous_id != first_anonymous_id
    assert list(PageView.objects.values_list("url", flat=True)) == ["https://shop.example/"]
    assert WebSession.objects.get().contact_id == returning.pk
    assert orphan_rows() == {}


def test_visitor_seen_within_the_ttl_keeps_its_history(client, website):
    browser = Widget(client, website)
    browser.ping()
    Contact.objects.update(last_seen_at=days_ago(269))

    services.visitors_expire()
    browser.ping("https://shop.example/docs")
    page_views_flush()

    assert Contact.objects.count() == 1
    assert PageView.objects.count() == 2
