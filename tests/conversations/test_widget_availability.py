"""The messenger's availability endpoint and the widget side of routing (page URL, email asked at once when closed)."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import services
from conversations.models import AssignmentRule, Conversation, Team
from tests.contacts.factories import ContactFactory
from tests.conversations.factories import AgentFactory
from tests.tracking.factories import WebsiteFactory
from tracking.widget_auth import widget_token_sign

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"


def _closed_now(website):
    """Office hours that never include now: one hour, starting two hours from now, every day (UTC)."""
    from django.utils import timezone

    start = (timezone.now() + dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(hours=1)).time()
    services.office_schedule_save(
        website=website, timezone="UTC",
        intervals=[(d, start.time(), end if end != dt.time(0) else dt.time(0)) for d in range(7)],
    )  # fmt: skip
    return start


def test_availability_inside_hours_gives_the_reply_time_and_is_cached(client, website):
    url = f"/widget-api/{website.app_id}/availability"
    response = client.get(url, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response.json() == {"open": True, "reply_seconds": None, "back_at": None}
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, HTTP_ORIGIN=ORIGIN).status_code == 200
    assert len(captured) == 0  # website and answer both cached


def test_availability_outside_hours_says_when_the_team_is_back(client):
    website = WebsiteFactory(allowed_origins=[ORIGIN])
    start = _closed_now(website)
    answer = client.get(f"/widget-api/{website.app_id}/availability", HTTP_ORIGIN=ORIGIN).json()
    assert answer["open"] is False and answer["reply_seconds"] is None
    assert answer["back_at"] == start.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def test_availability_refuses_other_origins_and_methods(client, website):
    url = f"/widget-api/{website.app_id}/availability"
    assert client.get(url, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert client.post(url, "{}", content_type="text/plain", HTTP_ORIGIN=ORIGIN).status_code == 405
    assert client.get("/widget-api/nope/availability", HTTP_ORIGIN=ORIGIN).status_code == 404


def test_outside_hours_the_email_is_asked_for_at_once(client):
    website = WebsiteFactory(allowed_origins=[ORIGIN], ask_email_after_seconds=120)
    visitor = ContactFactory()
    token = widget_token_sign(contact_id=visitor.pk, website_id=website.pk)
    url = f"/widget-api/{website.app_id}/conversations"
    body = json.dumps({"token": token, "body": "Hello"})
    opened = client.post(url, body, content_type="text/plain", HTTP_ORIGIN=ORIGIN).json()
    assert opened["conversation"]["ask_email_after"] == 120
    _closed_now(website)
    from conversations.services.expectations import availability_forget

    availability_forget(website_id=website.pk)
    closed = client.post(url, body, content_type="text/plain", HTTP_ORIGIN=ORIGIN).json()
    assert closed["conversation"]["ask_email_after"] == 0


def test_a_conversation_started_in_the_messenger_is_routed_by_its_page(client, website):
    team = Team.objects.create(name="Sales")
    seller = AgentFactory()
    team.members.add(seller)
    services.assignment_rule_save(
        rule=AssignmentRule(name="pricing", page_url_prefix="https://shop.example/pricing", assign_team=team)
    )
    token = widget_token_sign(contact_id=ContactFactory().pk, website_id=website.pk)
    payload = {"token": token, "body": "How much?", "page_url": "https://shop.example/pricing"}
    response = client.post(f"/widget-api/{website.app_id}/conversations", json.dumps(payload),
                           content_type="text/plain", HTTP_ORIGIN=ORIGIN)  # fmt: skip
    assert response.status_code == 201
    conversation = Conversation.objects.get()
    assert (conversation.team, conversation.assignee) == (team, seller)
    assert conversation.started_on_url == "https://shop.example/pricing"
    # The widget's answer shows nothing of the routing.
    assert "Sales" not in response.content.decode() and seller.username not in response.content.decode()
