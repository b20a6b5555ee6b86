"""Two clients at once against the real database: counts stay exact, one session is opened."""

import threading

import pytest
from django.db import connection
from django.test import Client

from contacts import services as contacts_services
from contacts.models import Contact
from tests.tracking.conftest import Widget
from tracking import services
from tracking.models import Event, EventSummary, PageView, WebSession
from tracking.page_view_buffer import page_views_flush
from tracking.widget_auth import widget_token_sign

ROUNDS = 15


def _run_in_two_threads(work):
    errors = []
    barrier = threading.Barrier(2)

    def run(index):
        try:
            barrier.wait()
            work(index)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_two_tabs_pinging_at_once_share_one_session_and_count_exactly():
    website = services.website_create(name="Shop", allowed_origins=["https://shop.example"])
    contact = contacts_services.contact_create(role=Contact.Role.VISITOR)
    token = widget_token_sign(contact_id=contact.pk, website_id=website.pk)
    statuses = [[], []]

    def tab(index):
        widget = Widget(Client(), website, ip=f"81.2.69.{140 + index}")
        for n in range(ROUNDS):
            widget.token = token
            statuses[index].append(widget.ping(f"https://shop.example/{index}/{n}").status_code)
            statuses[index].append(widget.event("clicked").status_code)

    _run_in_two_threads(tab)
    page_views_flush()
    assert set(statuses[0] + statuses[1]) <= {200, 202}, statuses
    assert WebSession.objects.count() == 1
    assert WebSession.objects.get().page_views_count == 2 * ROUNDS
    assert PageView.objects.count() == 2 * ROUNDS
    assert Contact.objects.get(pk=contact.pk).web_sessions_count == 1
    assert Event.objects.count() == 2 * ROUNDS
    assert EventSummary.objects.get(contact=contact, name="clicked").count == 2 * ROUNDS


@pytest.mark.django_db(transaction=True)
def test_event_summary_is_exact_under_concurrent_upserts():
    contact = contacts_services.contact_create(role=Contact.Role.VISITOR)
    from django.utils import timezone

    def track(index):
        for _ in range(ROUNDS * 2):
            services.event_track(
                contact=contact, name="tick", metadata={"i": index}, created_at=None, now=timezone.now()
            )

    _run_in_two_threads(track)
    assert EventSummary.objects.get(contact=contact, name="tick").count == 4 * ROUNDS == Event.objects.count()
