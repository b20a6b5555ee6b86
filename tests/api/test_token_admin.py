"""The API-token admin: teammates hold tokens for themselves only, a raw token shows once; the webhook log's retry."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from api.models import ApiToken, WebhookDelivery, WebhookSubscription, hash_token
from api.services import api_token_create
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP, ensure_teammate_groups

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:api_apitoken_add")
CHANGELIST_URL = reverse("admin:api_apitoken_changelist")
RAW_TOKEN_RE = re.compile(r"pk_[A-Za-z0-9_-]{40,}")


def teammate_in(group: str, username: str):
    ensure_teammate_groups()
    user = get_user_model().objects.create_user(username, f"{username}@parley.test", None, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def agent():
    return teammate_in(AGENT_GROUP, "robin")


@pytest.fixture
def boss():
    return get_user_model().objects.create_superuser("boss", "boss@parley.test", None)


def raw_token_in(response) -> str:
    match = RAW_TOKEN_RE.search(response.content.decode())
    assert match, response.content.decode()[:2000]
    return match.group(0)


def test_an_agent_posting_the_superuser_as_owner_still_gets_a_token_for_itself(client, agent, boss):
    client.force_login(agent)
    response = client.post(ADD_URL, {"user": boss.pk, "name": "mine"})
    assert response.status_code == 200
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (agent, "mine")
    assert token.key_hash == hash_token(raw_token_in(response))


def test_the_add_form_offers_a_teammate_no_owner_to_choose(client, agent):
    client.force_login(agent)
    form = client.get(ADD_URL).context["adminform"].form
    assert list(form.fields) == ["name"]


def test_a_superuser_creates_a_token_for_another_teammate(client, agent, boss):
    client.force_login(boss)
    response = client.post(ADD_URL, {"user": agent.pk, "name": "for robin"})
    assert ApiToken.objects.get().user == agent
    assert ApiToken.objects.get().key_hash == hash_token(raw_token_in(response))


def test_a_superuser_cannot_give_a_token_to_a_non_staff_user(client, boss):
    outsider = get_user_model().objects.create_user("outsider", "o@example.com", None)
    client.force_login(boss)
    response = client.post(ADD_URL, {"user": outsider.pk, "name": "nope"})
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    assert not ApiToken.objects.exists()


def test_the_raw_token_is_shown_once_and_stored_nowhere(client, agent):
    client.force_login(agent)
    raw = raw_token_in(client.post(ADD_URL, {"name": "once"}))
    token = ApiToken.objects.get()
    # Not in a message waiting in the cookie or the session, not on any later page.
    assert raw not in str(client.cookies)
    assert raw not in str(dict(client.session))
    for url in (CHANGELIST_URL, reverse("admin:api_apitoken_change", args=[token.pk])):
        page = client.get(url)
        assert page.status_code == 200
        assert raw not in page.content.decode()
    assert raw not in str(ApiToken.objects.values().get())


def test_a_token_never_changes_hands(client, agent, boss):
    token, _raw = api_token_create(user=agent, name="robin's")
    client.force_login(boss)
    url = reverse("admin:api_apitoken_change", args=[token.pk])
    response = client.post(url, {"user": boss.pk, "name": "renamed"})
    assert response.status_code == 302
    token.refresh_from_db()
    assert (token.user, token.name) == (agent, "renamed")


def test_an_agent_sees_and_revokes_only_its_own_tokens(client, agent, boss):
    own, _ = api_token_create(user=agent, name="own")
    bosses, _ = api_token_create(user=boss, name="boss's")
    client.force_login(agent)
    listed = client.get(CHANGELIST_URL)
    assert [t.pk for t in listed.context["cl"].result_list] == [own.pk]
    other_page = client.get(reverse("admin:api_apitoken_change", args=[bosses.pk]))
    assert other_page.status_code == 302  # "doesn't exist", as for any object out of reach
    client.post(CHANGELIST_URL, {"action": "revoke", "_selected_action": [bosses.pk, own.pk], "index": "0"})
    own.refresh_from_db()
    bosses.refresh_from_db()
    assert own.revoked_at is not None
    assert bosses.revoked_at is None


def test_a_viewer_creates_no_tokens(client):
    viewer = teammate_in(VIEWER_GROUP, "vic")
    client.force_login(viewer)
    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


@pytest.fixture
def failed_delivery():
    subscription = WebhookSubscription.objects.create(url="https://hooks.example.com/p", topics=["contact.created"])
    return WebhookDelivery.objects.create(
        subscription=subscription, topic="contact.created", notification_id="n-1", payload={},
        status=WebhookDelivery.Status.FAILED, attempts=6,
    )  # fmt: skip


def _retry(client, delivery):
    url = reverse("admin:api_webhookdelivery_changelist")
    return client.post(url, {"action": "retry", "_selected_action": [delivery.pk], "index": "0"})


def test_a_viewer_cannot_send_webhook_deliveries_again(client, failed_delivery):
    client.force_login(teammate_in(VIEWER_GROUP, "vic"))
    _retry(client, failed_delivery)
    failed_delivery.refresh_from_db()
    assert (failed_delivery.status, failed_delivery.attempts) == ("failed", 6)


def test_a_superuser_sends_webhook_deliveries_again(client, boss, failed_delivery):
    client.force_login(boss)
    assert _retry(client, failed_delivery).status_code == 302
    failed_delivery.refresh_from_db()
    assert (failed_delivery.status, failed_delivery.attempts) == ("pending", 0)


def test_a_viewer_reads_a_webhook_subscription_but_not_its_signing_secret(client, boss):
    subscription = WebhookSubscription.objects.create(
        url="https://hooks.example.com/p", topics=["contact.created"], secret="s3cret-signing-key"
    )
    url = reverse("admin:api_webhooksubscription_change", args=[subscription.pk])
    client.force_login(teammate_in(VIEWER_GROUP, "vic"))
    page = client.get(url)
    assert page.status_code == 200
    assert "hooks.example.com" in page.content.decode()
    assert "s3cret-signing-key" not in page.content.decode()
    client.force_login(boss)
    assert "s3cret-signing-key" in client.get(url).content.decode()
