"""PUT /conversations/{id}: read, title, custom_attributes (model=conversation) and display_as."""

import pytest
from django.test.utils import override_settings

from contacts.models import DataAttribute
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from conversations import services
from conversations.models import Conversation
from tests.api.test_auth_and_errors import assert_error
from tests.api.test_messages_teams import _client_for
from tests.contacts.factories import UserContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation():
    conversation = services.conversation_start_by_contact(contact=UserContactFactory(), body="Line one\nLine <two>")
    DataAttribute.objects.create(model="conversation", name="order_ref", label="Order", data_type="string")
    DataAttribute.objects.create(model="conversation", name="items", label="Items", data_type="integer")
    DataAttribute.objects.create(model="contact", name="plan", label="Plan", data_type="string")
    return conversation


def test_title_custom_attributes_and_read_are_written_and_shown(api, conversation):
    assert conversation.teammate_unread_count == 1
    response = api.put(f"/api/conversations/{conversation.pk}", {
        "title": "Refund for A-17", "read": True, "custom_attributes": {"order_ref": "A-17", "items": 3},
    }, format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["title"], body["read"], body["custom_attributes"]) == (
        "Refund for A-17", True, {"order_ref": "A-17", "items": 3},
    )  # fmt: skip
    stored = Conversation.objects.get()
    assert (stored.title, stored.teammate_unread_count) == ("Refund for A-17", 0)
    # null removes one attribute, the others stay; read false marks it unread again
    again = api.put(f"/api/conversations/{conversation.pk}", {"custom_attributes": {"items": None}, "read": False},
                    format="json").json()  # fmt: skip
    assert (again["custom_attributes"], again["read"], again["title"]) == (
        {"order_ref": "A-17"},
        False,
        "Refund for A-17",
    )
    assert api.get(f"/api/conversations/{conversation.pk}").json()["custom_attributes"] == {"order_ref": "A-17"}


def test_display_as_plaintext_shows_bodies_as_stored(api, conversation):
    html = api.get(f"/api/conversations/{conversation.pk}").json()
    assert html["source"]["body"] == "<p>Line one</p><p>Line &lt;two&gt;</p>"
    plain = api.get(f"/api/conversations/{conversation.pk}?display_as=plaintext").json()
    assert plain["source"]["body"] == "Line one\nLine <two>"
    assert plain["conversation_parts"]["conversation_parts"][0]["body"] == "Line one\nLine <two>"
    updated = api.put(f"/api/conversations/{conversation.pk}?display_as=plaintext", {"title": "t"}, format="json")
    assert updated.json()["source"]["body"] == "Line one\nLine <two>"
    assert_error(
        api.get(f"/api/conversations/{conversation.pk}?display_as=html"), 400, "parameter_invalid", "display_as"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"custom_attributes": {"items": "three"}}, "custom_attributes.items"),
        ({"custom_attributes": {"items": 1e300 * 10}}, "custom_attributes.items"),
        ({"custom_attributes": {"items": 10**30}}, "custom_attributes.items"),
        ({"custom_attributes": {"plan": "pro"}}, "custom_attributes.plan"),  # a contact attribute, not a conversation's
        ({"custom_attributes": {"order_ref": {"nested": 1}}}, "custom_attributes.order_ref"),
        ({"custom_attributes": {"order_ref": "x" * 256}}, "custom_attributes.order_ref"),
        ({"custom_attributes": ["order_ref"]}, "custom_attributes"),
        ({"title": "x" * 256}, "title"),
        ({"read": "maybe"}, "read"),
    ],
)
def test_bad_updates_are_refused_naming_the_field_and_change_nothing(api, conversation, body, field):
    with override_settings(PARLEY_AUTO_CREATE_CUSTOM_ATTRIBUTES=False):
        response = api.put(f"/api/conversations/{conversation.pk}", body, format="json")
    assert response.status_code == 400, response.content
    assert field in [error.get("field") for error in response.json()["errors"]]
    stored = Conversation.objects.get()
    assert (stored.title, stored.custom_attributes) == ("", {})


@pytest.mark.parametrize(
    "raw", ['{"title": "a\\u0000b"}', '{"title": "\\ud800"}', '{"custom_attributes": {"items": 1e400}}']
)
def test_nul_lone_surrogates_and_1e400_are_400(api, conversation, raw):
    response = api.generic("PUT", f"/api/conversations/{conversation.pk}", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert Conversation.objects.get().title == ""


def test_hostile_title_is_kept_as_text(api, conversation):
    title = "<img src=x onerror=alert(1)>\"'&"
    assert api.put(f"/api/conversations/{conversation.pk}", {"title": title}, format="json").json()["title"] == title


@pytest.mark.parametrize("conversation_id", ["999999", "1e400", "٣", "²", "9" * 30])
def test_unknown_conversations_are_404(api, conversation, conversation_id):
    assert_error(api.put(f"/api/conversations/{conversation_id}", {"title": "x"}, format="json"), 404, "not_found")


def test_a_viewer_cannot_update_and_an_agent_can(conversation):
    viewer, _ = _client_for(VIEWER_GROUP, "vera")
    assert_error(viewer.put(f"/api/conversations/{conversation.pk}", {"title": "x"}, format="json"), 403, "forbidden")
    assert Conversation.objects.get().title == ""
    agent, _ = _client_for(AGENT_GROUP, "robin")
    assert agent.put(f"/api/conversations/{conversation.pk}", {"title": "x"}, format="json").status_code == 200


def test_unknown_attributes_are_defined_for_conversations_only_when_the_setting_allows(api, conversation):
    with override_settings(PARLEY_AUTO_CREATE_CUSTOM_ATTRIBUTES=True):
        response = api.put(f"/api/conversations/{conversation.pk}", {"custom_attributes": {"channel": "phone"}},
                           format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert DataAttribute.objects.get(name="channel").model == "conversation"


def test_an_agent_cannot_define_a_new_conversation_attribute_by_writing_it(conversation):
    agent, _ = _client_for(AGENT_GROUP, "robin")
    with override_settings(PARLEY_AUTO_CREATE_CUSTOM_ATTRIBUTES=True):
        response = agent.put(f"/api/conversations/{conversation.pk}", {"custom_attributes": {"channel": "phone"}},
                             format="json")  # fmt: skip
        assert_error(response, 400, "parameter_invalid", "custom_attributes.channel")
        assert not DataAttribute.objects.filter(name="channel").exists()
        defined = agent.put(f"/api/conversations/{conversation.pk}", {"custom_attributes": {"order_ref": "A-1"}},
                            format="json")  # fmt: skip
        assert defined.json()["custom_attributes"] == {"order_ref": "A-1"}
