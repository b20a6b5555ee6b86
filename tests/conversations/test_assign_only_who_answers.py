"""A conversation is assigned only to a teammate who can answer it (new-user walk: a viewer was offered in the inbox's
and the conversation page's pickers, got "Assigned 1 conversation." and then found no reply box): every way of
assigning refuses a reader, naming the field, and the pickers leave them out."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from api.services import api_token_create
from contacts.permissions import VIEWER_GROUP, ensure_teammate_groups
from conversations import services
from conversations.admin.choices import teammates
from conversations.models import AssignmentRule, Conversation
from conversations.services import routing
from tests.contacts.factories import LeadFactory
from tests.conversations.factories import TeammateFactory

pytestmark = pytest.mark.django_db
INBOX = reverse("admin:conversations_conversation_changelist")


@pytest.fixture
def viewer():
    ensure_teammate_groups()
    vera = TeammateFactory(username="vera", first_name="Vera", agent_group=False)
    vera.groups.add(Group.objects.get(name=VIEWER_GROUP))
    return vera


@pytest.fixture
def conversation():
    return services.conversation_start_by_contact(contact=LeadFactory(name="Anita"), body="Where is my parcel?")


def test_the_service_refuses_a_viewer_and_a_teammate_in_no_group(viewer, conversation):
    for reader in (viewer, TeammateFactory(username="nogroup", agent_group=False)):
        with pytest.raises(ValidationError) as refused:
            services.conversation_assign(conversation=conversation, teammate=None, assignee=reader)
        assert refused.value.message_dict["assignee"] == [
            f"{reader.first_name} can only read conversations: choose a teammate who can answer them."
        ]
    conversation.refresh_from_db()
    assert conversation.assignee is None
    agent = TeammateFactory(first_name="Adam")
    services.conversation_assign(conversation=conversation, teammate=None, assignee=agent)
    assert Conversation.objects.get(pk=conversation.pk).assignee == agent


def test_the_pickers_offer_only_teammates_who_answer(admin_client, superuser, viewer, conversation):
    agent = TeammateFactory(first_name="Adam")
    assert set(teammates()) == {superuser, agent}
    page = admin_client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk])).content.decode()
    inbox = admin_client.get(INBOX).content.decode()
    for shown in (page, inbox):
        assert f'<option value="{agent.pk}"' in shown and f'<option value="{viewer.pk}"' not in shown


def test_the_inbox_bulk_assign_to_a_viewer_assigns_nothing(admin_client, viewer, conversation):
    admin_client.post(
        INBOX, {"action": "assign_selected", "assignee": viewer.pk, "_selected_action": [conversation.pk]}
    )
    assert Conversation.objects.get(pk=conversation.pk).assignee is None


def test_the_api_refuses_a_viewer_as_assignee_naming_the_field(superuser, viewer, conversation):
    _, raw = api_token_create(user=superuser, name="ops")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_INTERCOM_VERSION="2.11")
    answer = api.post(f"/api/conversations/{conversation.pk}/parts", {"message_type": "assignment", "type": "admin",
                      "admin_id": superuser.pk, "assignee_id": str(viewer.pk)}, format="json")  # fmt: skip
    assert answer.status_code == 400, answer.content
    assert "can only read conversations" in answer.content.decode()
    assert Conversation.objects.get(pk=conversation.pk).assignee is None


def test_an_assignment_rule_cannot_name_a_viewer(viewer):
    rule = AssignmentRule(name="To Vera", assign_teammate=viewer)
    with pytest.raises(ValidationError) as refused:
        routing.assignment_rule_save(rule=rule)
    assert "assign_teammate" in refused.value.message_dict


def test_a_macro_cannot_assign_to_a_viewer(viewer):
    from conversations.services.saved_replies import MacroActions, macro_actions_clean

    with pytest.raises(ValidationError) as refused:
        macro_actions_clean(MacroActions(assign="teammate", assignee=viewer))
    assert "can only read conversations" in refused.value.message_dict["assignee"][0]
