"""POST /messages with create_conversation_without_contact_reply: the message opens a conversation at once, in the
inbox and in the messenger, and the answer names it; without the flag nothing changes."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from conversations import selectors as conversation_selectors
from conversations import services
from conversations.models import Conversation, ConversationPart, Message, MessageDelivery
from conversations.services.outbound import delivery_start_conversation
from tests.api.test_auth_and_errors import assert_error
from tests.contacts.factories import LeadFactory, UserContactFactory

pytestmark = pytest.mark.django_db

FLAG = "create_conversation_without_contact_reply"


def _in_app(contact, **extra):
    return {"message_type": "inapp", "body": 'Hi {{contact.first_name | fallback: "there"}}, your invoice is ready',
            "to": {"type": "user", "id": str(contact.pk)}, **extra}  # fmt: skip


def test_an_in_app_message_with_the_flag_opens_a_conversation_in_the_inbox_and_the_messenger(api, teammate, website):
    # No marketing consent: a conversation a teammate starts is support, not an in-app campaign.
    ada = UserContactFactory(name="Ada Lovelace")
    response = api.post("/api/messages", _in_app(ada, **{FLAG: True}), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    conversation = Conversation.objects.get()
    assert body["conversation_id"] == str(conversation.pk) and body["message_type"] == "inapp"
    assert (conversation.contact, conversation.assignee, conversation.source, conversation.state) == (
        ada, teammate, Conversation.Source.ADMIN, Conversation.State.OPEN,
    )  # fmt: skip
    assert [(p.part_type, p.author_teammate, p.body) for p in conversation.parts.all()] == [
        (ConversationPart.Type.COMMENT, teammate, "Hi Ada, your invoice is ready"),
    ]
    assert conversation.preview == "Hi Ada, your invoice is ready" and conversation.contact_unread_count == 1
    delivery = MessageDelivery.objects.get()
    assert (delivery.state, delivery.conversation_id) == (MessageDelivery.State.SENT, conversation.pk)
    # Every website's messenger lists it (it was started on none) as an unread conversation, not a second
    # time as an in-app card.
    listed = conversation_selectors.conversation_list_for_contact(contact_id=ada.pk, website_id=website.pk)
    assert [c.pk for c in listed] == [conversation.pk]
    assert services.in_app_messages_pending(contact=ada) == []
    assert conversation_selectors.contact_unread_count(contact_id=ada.pk, website_id=website.pk) == 1
    services.message_deliver_batch(message_id=Message.objects.get().pk)  # the queued task: nothing left to send
    assert Message.objects.get().state == Message.State.SENT
    # The contact answers in that conversation.
    services.conversation_reply_as_contact(conversation=conversation, body="Thanks!")
    assert conversation.parts.filter(author_contact=ada).count() == 1
    api_view = api.get(f"/api/conversations/{conversation.pk}").json()
    assert api_view["id"] == str(conversation.pk)


def test_an_email_with_the_flag_opens_an_email_conversation_and_still_goes_out(api, teammate):
    ada = UserContactFactory(name="Ada", email="ada@example.com")
    response = api.post("/api/messages", {"message_type": "email", "subject": "Your invoice", "body": "It is ready.",
                                          "to": {"type": "user", "email": "ada@example.com"}, FLAG: True},
                        format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    conversation = Conversation.objects.get(pk=response.json()["conversation_id"])
    assert (conversation.source, conversation.contact) == (Conversation.Source.EMAIL, ada)
    assert conversation.parts.get().body == "Your invoice\n\nIt is ready."
    delivery = MessageDelivery.objects.get()
    assert (delivery.state, delivery.conversation_id) == (MessageDelivery.State.PENDING, conversation.pk)
    services.message_deliver_batch(message_id=delivery.message_id)
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    # An answer by email continues that conversation rather than opening another.
    assert delivery_start_conversation(delivery=MessageDelivery.objects.get()) == conversation
    assert Conversation.objects.count() == 1


def test_an_email_the_send_would_skip_opens_no_conversation(api):
    unsubscribed = UserContactFactory(unsubscribed_from_emails=True)
    response = api.post("/api/messages", {"message_type": "email", "subject": "Hi", "body": "Hi",
                                          "to": {"type": "user", "id": str(unsubscribed.pk)}, FLAG: True},
                        format="json")  # fmt: skip
    assert_error(response, 400, "parameter_invalid", "to")
    assert "unsubscribed" in response.json()["errors"][0]["message"]
    assert not Message.objects.exists() and not Conversation.objects.exists()


@pytest.mark.parametrize("message_type", ["inapp", "email"])
def test_a_restricted_contact_gets_no_conversation_in_app_or_by_email(api, message_type):
    restricted = UserContactFactory(email="r@example.com", processing_restricted=True)
    response = api.post("/api/messages", {"message_type": message_type, "subject": "Hi", "body": "Hi",
                                          "to": {"type": "user", "id": str(restricted.pk)}, FLAG: True},
                        format="json")  # fmt: skip
    assert_error(response, 400, "parameter_invalid", "to")
    assert "restricted" in response.json()["errors"][0]["message"]
    assert not Message.objects.exists() and not Conversation.objects.exists()


def test_without_the_flag_or_with_false_nothing_opens_until_the_contact_answers(api):
    lead = LeadFactory(marketing_consent=True)
    for extra in ({}, {FLAG: False}):
        response = api.post("/api/messages", _in_app(lead, **extra), format="json")
        assert response.status_code == 200 and response.json()["conversation_id"] is None
    assert not Conversation.objects.exists()


def test_the_same_idempotency_key_answers_the_same_conversation(api):
    ada = UserContactFactory()
    answers = [
        api.post("/api/messages", _in_app(ada, **{FLAG: True}), format="json", HTTP_IDEMPOTENCY_KEY="k-1").json()
        for _ in range(2)
    ]
    assert answers[0]["conversation_id"] == answers[1]["conversation_id"] is not None
    assert Conversation.objects.count() == 1 and Message.objects.count() == 1


def test_the_flag_opens_a_conversation_with_one_contact_only(teammate):
    contacts = UserContactFactory.create_batch(2)
    with pytest.raises(ValidationError) as refused:
        services.message_send(sender=teammate, channel="in_app", body="Hi", contact_ids=[c.pk for c in contacts],
                              open_conversation=True)  # fmt: skip
    assert "recipients" in refused.value.message_dict
    assert not Message.objects.exists() and not Conversation.objects.exists()
