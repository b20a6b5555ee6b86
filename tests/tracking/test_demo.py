import random

import pytest
from django.db.models import Count

from contacts import demo as contacts_demo
from tracking import demo, services
from tracking.models import Event, EventSummary, PageView, WebSession

pytestmark = pytest.mark.django_db


def test_demo_history_is_consistent_and_new_rows_still_insert():
    services.website_create(name="Demo", allowed_origins=["http://127.0.0.1:8000"])
    ids = contacts_demo.seed(contacts=60, rng=random.Random(1))
    demo.seed_for_contacts(contact_ids=ids, rng=random.Random(2))
    sessions = WebSession.objects.annotate(views=Count("page_views"))
    assert sessions.count() >= 60
    assert all(session.views == session.page_views_count for session in sessions)
    assert all(s.last_activity_at <= s.contact.last_seen_at for s in sessions.select_related("contact"))
    for summary in EventSummary.objects.all():
        assert Event.objects.filter(contact_id=summary.contact_id, name=summary.name).count() == summary.count
    assert PageView.objects.filter(url__contains="/demo/").count() == PageView.objects.count()
    # Explicit session ids must not break the sequence for live traffic.
    session = WebSession.objects.create(contact_id=ids[0], started_at=sessions[0].started_at,
                                        last_activity_at=sessions[0].started_at)  # fmt: skip
    assert session.pk > max(s.pk for s in sessions)
