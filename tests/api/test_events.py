import datetime as dt

import pytest
from django.utils import timezone

from tests.contacts.factories import LeadFactory, UserContactFactory
from tracking.models import Event, EventSummary

pytestmark = pytest.mark.django_db


def test_track_event_by_user_id_email_or_id_answers_202(api):
    user = UserContactFactory(external_id="u-1", email="u1@example.com")
    lead = LeadFactory()
    now = int(timezone.now().timestamp())
    for reference in ({"user_id": "u-1"}, {"email": "U1@example.com"}, {"id": str(lead.pk)}):
        response = api.post("/api/events", {"event_name": "ordered", "created_at": now - 5, "metadata": {"n": 1},
                                            **reference}, format="json")  # fmt: skip
        assert response.status_code == 202, response.content
    assert Event.objects.filter(contact=user).count() == 1  # the same (name, created_at) is counted once
    assert Event.objects.filter(contact=lead).count() == 1
    assert EventSummary.objects.get(contact=user, name="ordered").count == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u-1"}, "event_name"),
        ({"event_name": "x", "user_id": "u-1", "metadata": {str(i): i for i in range(11)}}, "metadata"),
        ({"event_name": "x", "user_id": "u-1", "metadata": {"deep": {"a": 1}}}, "metadata.deep"),
        ({"event_name": "x", "user_id": "u-1", "created_at": "soon"}, "created_at"),
        ({"event_name": "x", "user_id": "u-1", "created_at": 4102444800}, "created_at"),
        ({"event_name": "x"}, "user_id"),
    ],
)
def test_invalid_events_name_the_field(api, body, field):
    UserContactFactory(external_id="u-1")
    response = api.post("/api/events", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field


def test_event_for_an_unknown_user_is_404(api):
    assert api.post("/api/events", {"event_name": "x", "user_id": "ghost"}, format="json").status_code == 404


def test_list_events_and_summaries_for_a_contact(api):
    user = UserContactFactory(external_id="u-2", email="u2@example.com")
    for _ in range(3):
        api.post("/api/events", {"event_name": "viewed", "user_id": "u-2"}, format="json")
    body = api.get("/api/events?type=user&user_id=u-2").json()
    assert body["type"] == "event.list"
    assert [e["event_name"] for e in body["events"]] == ["viewed"] * 3
    assert body["events"][0]["intercom_user_id"] == str(user.pk)
    page = api.get(f"/api/events?type=user&intercom_user_id={user.pk}&per_page=2").json()
    assert len(page["events"]) == 2
    assert "starting_after=" in page["pages"]["next"]
    rest = api.get("/api/" + page["pages"]["next"].lstrip("/")).json()
    assert len(rest["events"]) == 1
    assert "next" not in rest["pages"]
    summary = api.get("/api/events?type=user&email=u2@example.com&summary=true").json()
    assert summary["type"] == "event.summary"
    assert [(e["name"], e["count"]) for e in summary["events"]] == [("viewed", 3)]
    assert api.get("/api/events?type=company&user_id=u-2").json()["errors"][0]["field"] == "type"


def test_post_event_summaries_adds_counts(api):
    user = UserContactFactory(external_id="u-3")
    first = int((timezone.now() - dt.timedelta(days=3)).timestamp())
    last = int(timezone.now().timestamp()) - 10
    response = api.post(
        "/api/events/summaries",
        {"user_id": "u-3", "event_summaries": {"event_name": "imported", "count": 4, "first": first, "last": last}},
        format="json",
    )
    assert response.status_code == 200, response.content
    summary = EventSummary.objects.get(contact=user, name="imported")
    assert (summary.count, int(summary.first_at.timestamp())) == (4, first)
