"""Holes an outside attacker found in the first review of the journeys and security work, kept closed."""

import time
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.test import APIClient

from api.services import api_token_create
from contacts.models import Contact, DataAttribute
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from tests.tracking.conftest import ORIGIN, Widget
from tests.tracking.factories import user_hash
from tracking import widget_auth
from tracking.widget_auth import widget_token_read

pytestmark = pytest.mark.django_db


def _teammate(name, group):
    user = get_user_model().objects.create_user(name, f"{name}@parley.test", "x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def test_an_unsigned_claim_in_the_same_instant_as_the_verified_sign_in_loses_its_token(client, bank, blog, monkeypatch):
    instant = time.time() + 10
    monkeypatch.setattr(widget_auth, "time", SimpleNamespace(time=lambda: instant))
    attacker = Widget(client, blog)
    assert attacker.ping(user={"user_id": "victim"}).status_code == 200  # before the victim ever came
    victim = Widget(client, bank)
    assert victim.ping(user={"user_id": "victim", "user_hash": user_hash(bank, "victim")}).status_code == 200
    poll = client.get(f"/widget-api/{blog.app_id}/poll", {"token": attacker.token}, HTTP_ORIGIN=ORIGIN)
    assert poll.status_code == 403


def test_a_verified_sign_in_without_a_page_still_protects_the_user_everywhere(client, bank, blog):
    victim = Widget(client, bank)
    signed = {"user_id": "vip", "user_hash": user_hash(bank, "vip")}
    assert victim.post("ping", {"consent": True, "user": signed}).status_code == 200  # no page: no web session
    contact = Contact.objects.get(external_id="vip")
    assert contact.identity_verified_at is not None

    attacker = Widget(client, blog)
    refused = attacker.post("ping", {"consent": True, "user": {"user_id": "vip"}})
    assert refused.status_code == 200
    assert refused.json()["contact"]["role"] == "visitor"  # the claim is ignored, and the answer says why
    assert [warning["field"] for warning in refused.json()["warnings"]] == ["user.user_hash"]
    assert widget_token_read(token=refused.json()["token"], website_id=blog.pk).contact_id != contact.pk


@pytest.mark.parametrize("group", [VIEWER_GROUP, AGENT_GROUP])
def test_only_who_may_change_a_website_reads_its_identity_secret(client, bank, group):
    client.force_login(_teammate("reader", group))
    page = client.get(reverse("admin:tracking_website_change", args=[bank.pk])).content.decode()
    assert bank.name in page
    assert bank.identity_secret not in page
    # The lists in words, not as stored (a walk read `["http://127.0.0.1:8098", …]` and a JSON list of file types).
    origins = '<div class="readonly">' + "<br>".join(bank.allowed_origins) + "</div>"
    assert origins in page
    assert '<div class="readonly">PNG image, JPEG image, ' in page
    assert '["' not in page.split('id="website_form"')[1]


def test_an_agent_writes_defined_custom_attributes_but_defines_none_through_contacts(db):
    DataAttribute.objects.create(name="plan", data_type="string")
    _, token = api_token_create(user=_teammate("agent1", AGENT_GROUP), name="t")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    made = api.post("/api/contacts", {"email": "a@example.com", "custom_attributes": {"plan": "pro"}}, format="json")
    assert made.status_code == 200, made.content
    contact_id = made.json()["id"]
    for method, url, body in (
        ("post", "/api/contacts", {"email": "b@example.com", "custom_attributes": {"agent_made": 5}}),
        ("put", f"/api/contacts/{contact_id}", {"custom_attributes": {"agent_made": "x"}}),
    ):
        refused = getattr(api, method)(url, body, format="json")
        assert refused.status_code == 400, refused.content
        assert "agent_made" in str(refused.json())
    assert not DataAttribute.objects.filter(name="agent_made").exists()


# Requests the attacker saw answer 500 before the hostile-input work landed: each must now be a 4xx.
API_ODD_REQUESTS = [
    ("get", "/api/contacts/²", None),
    ("get", "/api/admins/²", None),
    ("delete", "/api/contacts/{contact}/tags/²", None),
    ("put", "/api/data_attributes/²", {"description": "x"}),
    ("post", "/api/conversations", {"from": {"type": "user", "id": "²"}, "body": "hi"}),
    ("post", "/api/conversations/{conversation}/tags", {"id": "²", "admin_id": "{me}"}),
    (
        "post",
        "/api/conversations/{conversation}/reply",
        {"message_type": "comment", "type": "admin", "admin_id": "²", "body": "x"},
    ),
    ("post", "/api/conversations/{conversation}/parts", {"message_type": "assignment", "assignee_id": "²"}),
    ("post", "/api/tags", {"name": "t", "users": [{"id": "²"}]}),
    ("post", "/api/contacts/merge", {"from": "²", "into": "{contact}"}),
    ("post", "/api/visitors/convert", {"visitor": {"id": "²"}, "user": {"email": "x@example.com"}, "type": "user"}),
    ("post", "/api/contacts/{contact}/notes", {"body": "x", "admin_id": "²"}),
    ("post", "/api/contacts/search", {"query": {"field": "name", "operator": "=", "value": "\ud800x"}}),
    ("post", "/api/contacts/search", {"query": {"field": "name", "operator": "=", "value": "\x00"}}),
    ("post", "/api/contacts/search", {"query": {"field": "id", "operator": "=", "value": "99999999999999999999"}}),
    ("post", "/api/conversations/search", {"query": {"field": "id", "operator": "=", "value": "99999999999999999999"}}),
    ("post", "/api/contacts", {"email": "s@example.com", "custom_attributes": {"plan": "\ud800x"}}),
    ("post", "/api/contacts", {"email": "n@example.com", "custom_attributes": {"n\x00": 1}}),
    (
        "post",
        "/api/data_attributes",
        {"name": "tier", "model": "contact", "data_type": "string", "options": [{"value": "\ud800x"}]},
    ),
    ("get", "/api/events?type=user&user_id=%00", None),
    ("get", "/api/events?type=user&intercom_user_id=²", None),
    ("get", "/api/contacts/find_by_external_id/%00", None),
]


@pytest.mark.parametrize(("method", "path", "body"), API_ODD_REQUESTS)
def test_odd_api_input_is_refused_in_the_envelope_never_a_500(superuser, method, path, body):
    import json

    from conversations import services as conversation_services
    from tests.contacts.factories import UserContactFactory

    DataAttribute.objects.get_or_create(name="plan", defaults={"data_type": "string"})
    contact = UserContactFactory()
    conversation = conversation_services.conversation_start_by_contact(contact=contact, body="Hello")
    ids = {"{contact}": str(contact.pk), "{conversation}": str(conversation.pk), "{me}": str(superuser.pk)}
    for name, value in ids.items():
        path = path.replace(name, value)
    raw = json.dumps(body) if body is not None else None
    for name, value in ids.items():
        raw = raw.replace(name, value) if raw else raw
    _, token = api_token_create(user=superuser, name="odd")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = getattr(api, method)(path, raw, content_type="application/json") if raw else getattr(api, method)(path)
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert response.json()["type"] == "error.list"


def test_odd_widget_input_is_refused_as_json_never_a_500(client, blog):
    import json

    from conversations import services as conversation_services
    from tests.contacts.factories import LeadFactory
    from tracking.widget_auth import widget_token_sign

    lead = LeadFactory()
    conversation = conversation_services.conversation_start_by_contact(contact=lead, body="Hi")
    token = widget_token_sign(contact_id=lead.pk, website_id=blog.pk)
    base = f"/widget-api/{blog.app_id}"
    surrogate = json.dumps({"token": token, "body": "\ud800x"})
    for path, raw in (
        (f"{base}/conversations", surrogate),
        (f"{base}/conversations/{conversation.public_id}/reply", surrogate),
        (f"{base}/messages/1/reply", surrogate),
        (f"{base}/events", json.dumps({"token": token, "name": "e", "metadata": {"k": 1}}).replace("1}", "1e400}")),
        ("/widget-api/%00/ping", "{}"),
    ):
        response = client.post(path, raw, content_type="text/plain", HTTP_ORIGIN=ORIGIN)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.content[:200])
        assert "error" in response.json()
    odd_get = client.get(f"{base}/conversations/%00", {"token": token}, HTTP_ORIGIN=ORIGIN)
    assert 400 <= odd_get.status_code < 500
    assert "error" in odd_get.json()


def test_odd_admin_input_is_a_clear_refusal_never_a_500(admin_client):
    from conversations import services as conversation_services
    from tests.contacts.factories import LeadFactory

    conversation = conversation_services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    change = reverse("admin:conversations_conversation_change", args=[conversation.pk])
    assert admin_client.post(change, {"do": "assign", "assignee": "²"}).status_code == 302  # a form error, shown
    odd_poll = admin_client.get(change.replace("/change/", "/poll/"), {"after": "²"})
    assert odd_poll.status_code == 400 and odd_poll.json()["field"] == "after"  # refused naming it, not read as 0
    assert admin_client.get("/admin/conversations/conversation/²/change/").status_code in (302, 404)
    refused = admin_client.get("/admin/conversations/conversation/", {"state": "\x00"})
    assert refused.status_code == 400
    assert b"state" in refused.content
    assert admin_client.get("/admin/contacts/contact/", {"q": "Ada\x00"}).status_code == 400
