"""POST /messages (through the admin's outbound service) and GET /teams, with the plain HTTP client."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from api.services import api_token_create
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP, ensure_teammate_groups
from conversations import services
from conversations.models import Message, MessageDelivery, Team
from tests.api.test_auth_and_errors import assert_error
from tests.contacts.factories import ContactFactory, LeadFactory, UserContactFactory

pytestmark = pytest.mark.django_db


def _client_for(group: str, username: str) -> tuple[APIClient, object]:
    ensure_teammate_groups()
    user = get_user_model().objects.create_user(username, f"{username}@parley.test", None, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)[1]}")
    return client, user


def _email(to, **extra):
    return {"message_type": "email", "subject": "Hello", "body": "See https://shop.example/sale", "to": to, **extra}


def test_an_in_app_message_to_a_contact_by_id_answers_intercoms_message_object(api, teammate):
    user = UserContactFactory(marketing_consent=True)  # in-app campaigns need the marketing purpose
    response = api.post("/api/messages", {"message_type": "inapp", "body": "Welcome!",
                                          "from": {"type": "admin", "id": str(teammate.pk)},
                                          "to": {"type": "user", "id": str(user.pk)}}, format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    message = Message.objects.get()
    assert body["type"] == "admin_message" and body["id"] == str(message.pk)
    assert (body["message_type"], body["body"], body["subject"], body["conversation_id"]) == (
        "inapp", "Welcome!", None, None,
    )  # fmt: skip
    assert body["owner"]["id"] == str(teammate.pk) and isinstance(body["created_at"], int)
    assert (message.channel, message.sender, message.recipients_count) == ("in_app", teammate, 1)
    assert list(MessageDelivery.objects.values_list("contact_id", flat=True)) == [user.pk]
    # Once delivered, the widget shows it like any in-app message a teammate sent from the admin.
    services.message_deliver_batch(message_id=message.pk)
    assert [m["body"] for m in services.in_app_messages_pending(contact=user)] == ["Welcome!"]


def test_an_email_by_user_id_or_email_goes_out_tracked_with_one_click_unsubscribe(api):
    # Open and click tracking need the marketing purpose (docs/privacy.md).
    user = UserContactFactory(external_id="u-7", email="ada@example.com", marketing_consent=True)
    by_user_id = api.post("/api/messages", _email({"type": "user", "user_id": "u-7"}), format="json")
    by_email = api.post("/api/messages", _email({"type": "user", "email": "ADA@example.com"}), format="json")
    assert by_user_id.status_code == by_email.status_code == 200
    assert set(MessageDelivery.objects.values_list("contact_id", flat=True)) == {user.pk}
    for message in Message.objects.all():
        services.message_deliver_batch(message_id=message.pk)
    assert len(mail.outbox) == 2
    email = mail.outbox[0]
    assert email.to == ["ada@example.com"] and email.subject == "Hello"
    assert re.fullmatch(r"<https?://.+/e/u/.+>", email.extra_headers["List-Unsubscribe"])
    html = next(content for content, mimetype in email.alternatives if mimetype == "text/html")
    assert "/e/o/" in html and "/e/c/" in html


def test_the_same_idempotency_key_answers_the_first_message_and_sends_nothing_again(api):
    user = UserContactFactory()
    first = api.post("/api/messages", _email({"type": "user", "id": str(user.pk)}), format="json",
                     HTTP_IDEMPOTENCY_KEY="order-42")  # fmt: skip
    again = api.post("/api/messages", _email({"type": "user", "id": str(user.pk)}), format="json",
                     HTTP_IDEMPOTENCY_KEY="order-42")  # fmt: skip
    assert first.json()["id"] == again.json()["id"]
    assert Message.objects.count() == 1 and MessageDelivery.objects.count() == 1


def test_two_admins_using_the_same_idempotency_key_send_two_messages():
    user = UserContactFactory()
    robin, _ = _client_for(AGENT_GROUP, "robin")
    sam, _ = _client_for(AGENT_GROUP, "sam")
    for client in (robin, sam):
        response = client.post("/api/messages", _email({"type": "user", "id": str(user.pk)}), format="json",
                               HTTP_IDEMPOTENCY_KEY="k1")  # fmt: skip
        assert response.status_code == 200
    assert Message.objects.count() == 2


def test_a_lead_and_a_visitor_can_be_messaged_in_app(api):
    for contact in (LeadFactory(), ContactFactory()):
        response = api.post("/api/messages", {"message_type": "inapp", "body": "Hi",
                                              "to": {"type": "lead", "id": str(contact.pk)}}, format="json")  # fmt: skip
        assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"message_type": "email", "body": "Hi", "to": {"type": "user", "id": "{user}"}}, 400, "parameter_invalid",
         "subject"),
        ({"message_type": "sms", "body": "Hi", "to": {"type": "user", "id": "{user}"}}, 400, "parameter_invalid",
         "message_type"),
        ({"message_type": "inapp", "to": {"type": "user", "id": "{user}"}}, 400, "parameter_not_found", "body"),
        ({"message_type": "inapp", "body": "   ", "to": {"type": "user", "id": "{user}"}}, 400, "parameter_invalid",
         "body"),
        ({"message_type": "inapp", "body": "Hi"}, 400, "parameter_not_found", "to"),
        ({"message_type": "inapp", "body": "Hi", "to": {"type": "user"}}, 400, "parameter_invalid", "to"),
        ({"message_type": "inapp", "body": "Hi", "to": {"type": "user", "id": "1e400"}}, 404, "not_found", "to"),
        ({"message_type": "inapp", "body": "Hi", "to": {"type": "user", "id": "٣"}}, 404, "not_found", "to"),
        ({"message_type": "inapp", "body": "Hi", "to": {"type": "user", "id": "99999999"}}, 404, "not_found", "to"),
        ({"message_type": "inapp", "body": "Hi", "to": {"type": "user", "email": "nobody@example.com"}}, 404,
         "not_found", "to"),
        ({"message_type": "inapp", "body": "Hi\x00", "to": {"type": "user", "id": "{user}"}}, 400,
         "parameter_invalid", "body"),
        ({"message_type": "inapp", "body": "\ud800", "to": {"type": "user", "id": "{user}"}}, 400,
         "parameter_invalid", "body"),
        ({"message_type": "email", "subject": "Hi\r\nBcc: x@evil.example", "body": "Hi",
          "to": {"type": "user", "id": "{user}"}}, 200, None, None),
        ({"message_type": "inapp", "body": "Hi {{contact.password}}", "to": {"type": "user", "id": "{user}"}}, 400,
         "parameter_invalid", "body"),
        ({"message_type": "inapp", "body": "Hi", "to": {"type": "user", "id": "{user}"},
          "create_conversation_without_contact_reply": "true"}, 400, "parameter_invalid",
         "create_conversation_without_contact_reply"),
        ({"message_type": "inapp", "body": "Hi", "to": {"type": "user", "id": "{user}"},
          "create_conversation_without_contact_reply": 1}, 400, "parameter_invalid",
         "create_conversation_without_contact_reply"),
        ({"message_type": "inapp", "body": "Hi", "to": {"type": "user", "id": "{user}"},
          "create_conversation_without_contact_reply": ["yes"]}, 400, "parameter_invalid",
         "create_conversation_without_contact_reply"),
        ({"message_type": "inapp", "body": "Hi", "to": {"type": "user", "id": "{user}"},
          "create_conversation_without_contact_reply": "\u0000"}, 400, "parameter_invalid",
         "create_conversation_without_contact_reply"),
        ({"message_type": "inapp", "body": "Hi", "from": {"type": "admin", "id": "1e400"},
          "to": {"type": "user", "id": "{user}"}}, 404, "not_found", "from.id"),
    ],
)  # fmt: skip
def test_bad_messages_are_refused_naming_the_field_and_send_nothing(api, body, status, code, field):
    user = UserContactFactory()
    raw = json.dumps(body).replace("{user}", str(user.pk))
    response = api.generic("POST", "/api/messages", raw, content_type="application/json")
    if status == 200:
        assert response.status_code == 200, response.content
        assert "\n" not in Message.objects.get().subject  # a header injection is folded to one line
        return
    assert_error(response, status, code, field)
    assert not Message.objects.exists()


def test_hostile_html_is_kept_as_text_and_answered_verbatim(api):
    user = UserContactFactory()
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    response = api.post("/api/messages", _email({"type": "user", "id": str(user.pk)}, body=hostile), format="json")
    assert response.json()["body"] == hostile
    services.message_deliver_batch(message_id=Message.objects.get().pk)
    html = next(content for content, mimetype in mail.outbox[0].alternatives if mimetype == "text/html")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_viewer_token_cannot_send_and_an_agent_sends_only_as_itself(teammate):
    user = UserContactFactory()
    viewer, _ = _client_for(VIEWER_GROUP, "vera")
    assert_error(viewer.post("/api/messages", _email({"type": "user", "id": str(user.pk)}), format="json"), 403,
                 "forbidden")  # fmt: skip
    agent, agent_user = _client_for(AGENT_GROUP, "robin")
    as_other = _email({"type": "user", "id": str(user.pk)}, **{"from": {"type": "admin", "id": str(teammate.pk)}})
    assert_error(agent.post("/api/messages", as_other, format="json"), 403, "forbidden", "from.id")
    assert not Message.objects.exists()
    as_self = _email({"type": "user", "id": str(user.pk)}, **{"from": {"type": "admin", "id": str(agent_user.pk)}})
    assert agent.post("/api/messages", as_self, format="json").status_code == 200
    assert Message.objects.get().sender == agent_user


def test_an_unsubscribed_contact_is_not_emailed(api):
    user = UserContactFactory(unsubscribed_from_emails=True)
    assert api.post("/api/messages", _email({"type": "user", "id": str(user.pk)}), format="json").status_code == 200
    services.message_deliver_batch(message_id=Message.objects.get().pk)
    assert mail.outbox == []
    assert MessageDelivery.objects.get().skip_reason == "unsubscribed"


def test_a_too_long_or_non_ascii_idempotency_key_is_refused(api):
    user = UserContactFactory()
    for key in ("k" * 65, "ключ"):
        response = api.post("/api/messages", _email({"type": "user", "id": str(user.pk)}), format="json",
                            HTTP_IDEMPOTENCY_KEY=key)  # fmt: skip
        assert_error(response, 400, "parameter_invalid", "Idempotency-Key")


# --- teams ---------------------------------------------------------------------------------------


def test_teams_list_and_get_with_their_active_members(api, teammate):
    away = get_user_model().objects.create_user("away", "away@parley.test", None, is_staff=True, is_active=False)
    support = Team.objects.create(name="Support")
    support.members.add(teammate, away)
    Team.objects.create(name="Billing")
    listed = api.get("/api/teams").json()
    assert listed["type"] == "team.list"
    assert [(t["type"], t["name"]) for t in listed["teams"]] == [("team", "Billing"), ("team", "Support")]
    one = api.get(f"/api/teams/{support.pk}").json()
    assert one == {"type": "team", "id": str(support.pk), "name": "Support", "admin_ids": [teammate.pk]}


@pytest.mark.parametrize("team_id", ["999999", "1e400", "٣", "abc", "-1", "9" * 30])
def test_an_unknown_team_is_404(api, team_id):
    assert_error(api.get(f"/api/teams/{team_id}"), 404, "not_found")


def test_listing_teams_costs_the_same_queries_for_2_or_20_teams(api, teammate):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/api/teams").status_code == 200
        return len(queries)

    for index in range(2):
        Team.objects.create(name=f"t{index}").members.add(teammate)
    api.get("/api/me")  # the token's last use is written once a minute: not part of the count
    small = count()
    for index in range(2, 20):
        Team.objects.create(name=f"t{index}").members.add(teammate)
    assert count() == small


def test_a_viewer_reads_teams_but_a_token_less_call_is_401():
    Team.objects.create(name="Support")
    viewer, _ = _client_for(VIEWER_GROUP, "vera")
    assert viewer.get("/api/teams").status_code == 200
    assert_error(APIClient().get("/api/teams"), 401, "unauthorized")


def test_admins_show_their_team_ids_in_a_fixed_number_of_queries(api, teammate):
    support, billing = Team.objects.create(name="Support"), Team.objects.create(name="Billing")
    support.members.add(teammate)
    billing.members.add(teammate)
    assert sorted(api.get(f"/api/admins/{teammate.pk}").json()["team_ids"]) == sorted([support.pk, billing.pk])
    assert sorted(api.get("/api/me").json()["team_ids"]) == sorted([support.pk, billing.pk])
    with CaptureQueriesContext(connection) as few:
        api.get("/api/admins")
    for index in range(5):
        user = get_user_model().objects.create_user(f"u{index}", f"u{index}@parley.test", None, is_staff=True)
        support.members.add(user)
    with CaptureQueriesContext(connection) as many:
        listed = api.get("/api/admins").json()["admins"]
    assert len(many) == len(few) and len(listed) == 6
