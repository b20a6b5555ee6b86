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
from tests.tracking.conftest import ORIGIN, Widget, user_hash
from tracking import services, widget_auth
from tracking.models import Website
from tracking.widget_auth import widget_token_read

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank(db):
    return services.website_create(
        name="Bank", allowed_origins=[ORIGIN], identity_verification=Website.IdentityVerification.ENFORCED
    )


@pytest.fixture
def blog(db):
    return services.website_create(name="Blog", allowed_origins=[ORIGIN])


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
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "identity_verification_failed"
    assert attacker.token is None or widget_token_read(token=attacker.token, website_id=blog.pk) is None


@pytest.mark.parametrize("group", [VIEWER_GROUP, AGENT_GROUP])
def test_only_who_may_change_a_website_reads_its_identity_secret(client, bank, group):
    client.force_login(_teammate("reader", group))
    page = client.get(reverse("admin:tracking_website_change", args=[bank.pk])).content.decode()
    assert bank.name in page
    assert bank.identity_secret not in page


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
