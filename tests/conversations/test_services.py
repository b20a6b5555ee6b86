import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import Contact
from conversations import services
from conversations.models import Conversation, ConversationPart, MessageDelivery, SavedReply
from tests.contacts.factories import ContactFactory, LeadFactory, TagFactory, UserContactFactory
from tests.conversations.factories import TeammateFactory

pytestmark = pytest.mark.django_db


def _types(conversation):
    return list(conversation.parts.order_by("created_at", "id").values_list("part_type", flat=True))


def test_visitor_who_writes_becomes_lead_and_waits_for_a_reply():
    visitor = ContactFactory()
    conversation = services.conversation_start_by_contact(contact=visitor, body="  Hello, is anyone there?  ")
    visitor.refresh_from_db()
    conversation.refresh_from_db()
    assert visitor.role == Contact.Role.LEAD
    assert visitor.last_replied_at is not None
    assert conversation.state == Conversation.State.OPEN
    assert conversation.waiting_since is not None
    assert conversation.teammate_unread_count == 1
    assert conversation.preview == "Hello, is anyone there?"
    assert conversation.preview_author_type == "contact"
    assert len(conversation.public_id) >= 20
    assert _types(conversation) == ["comment"]


def test_empty_or_oversized_body_is_refused_naming_the_field():
    lead = LeadFactory()
    with pytest.raises(ValidationError) as error:
        services.conversation_start_by_contact(contact=lead, body="   ")
    assert "body" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.conversation_start_by_contact(contact=lead, body="x" * 10_001)
    assert "body" in error.value.message_dict
    with pytest.raises(ValidationError):
        services.conversation_start_by_contact(contact=lead, body=["not", "text"])
    assert not Conversation.objects.exists()


def test_teammate_reply_clears_waiting_sets_last_contacted_and_takes_unassigned():
    lead = LeadFactory()
    agent = TeammateFactory(first_name="Robin")
    conversation = services.conversation_start_by_contact(contact=lead, body="Help")
    part = services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="On it!")
    conversation.refresh_from_db()
    lead.refresh_from_db()
    assert part.author_teammate == agent
    assert conversation.waiting_since is None
    assert conversation.assignee == agent
    assert conversation.contact_unread_count == 1
    assert conversation.teammate_unread_count == 0
    assert conversation.preview_author_name == "Robin"
    assert lead.last_contacted_at is not None


def test_contact_reply_after_teammate_waits_again_and_counts_unread_for_teammates():
    lead = LeadFactory()
    agent = TeammateFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Help")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="Yes?")
    services.conversation_reply_as_contact(conversation=conversation, body="My order")
    services.conversation_reply_as_contact(conversation=conversation, body="is late")
    conversation.refresh_from_db()
    assert conversation.waiting_since is not None
    assert conversation.teammate_unread_count == 2
    assert conversation.contact_unread_count == 0  # writing reads the thread


def test_teammate_can_start_a_conversation_and_nobody_waits():
    user = UserContactFactory()
    agent = TeammateFactory()
    conversation = services.conversation_start_by_teammate(contact=user, teammate=agent, body="Welcome aboard!")
    conversation.refresh_from_db()
    assert conversation.source == Conversation.Source.ADMIN
    assert conversation.waiting_since is None
    assert conversation.assignee == agent
    assert conversation.contact_unread_count == 1


def test_note_is_internal_and_changes_nothing_the_contact_sees():
    lead = LeadFactory()
    agent = TeammateFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Hi")
    conversation.refresh_from_db()
    before = (conversation.updated_at, conversation.preview, conversation.contact_unread_count)
    services.conversation_add_note(conversation=conversation, teammate=agent, body="VIP, be nice")
    conversation.refresh_from_db()
    assert (conversation.updated_at, conversation.preview, conversation.contact_unread_count) == before
    assert conversation.waiting_since is not None
    assert _types(conversation) == ["comment", "note"]


def test_assign_records_a_part_and_same_assignment_changes_nothing():
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    boss, agent = TeammateFactory(), TeammateFactory()
    services.conversation_assign(conversation=conversation, teammate=boss, assignee=agent)
    services.conversation_assign(conversation=conversation, teammate=boss, assignee=agent)
    services.conversation_assign(conversation=conversation, teammate=boss, assignee=None)
    conversation.refresh_from_db()
    assert conversation.assignee is None
    assert _types(conversation) == ["comment", "assignment", "assignment"]


def test_assign_refuses_inactive_or_non_staff_users():
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    outsider = TeammateFactory(is_staff=False)
    with pytest.raises(ValidationError) as error:
        services.conversation_assign(conversation=conversation, teammate=None, assignee=outsider)
    assert "assignee" in error.value.message_dict


def test_snooze_requires_a_future_aware_time():
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    with pytest.raises(ValidationError):
        services.conversation_snooze(conversation=conversation, teammate=None, until=timezone.now() - dt.timedelta(1))
    with pytest.raises(ValidationError):
        services.conversation_snooze(conversation=conversation, teammate=None, until=dt.datetime(2099, 1, 1))
    until = timezone.now() + dt.timedelta(hours=2)
    services.conversation_snooze(conversation=conversation, teammate=None, until=until)
    conversation.refresh_from_db()
    assert conversation.state == Conversation.State.SNOOZED
    assert conversation.snoozed_until == until


def test_close_is_idempotent_and_reopen_records_who():
    agent = TeammateFactory()
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    services.conversation_close(conversation=conversation, teammate=agent)
    services.conversation_close(conversation=conversation, teammate=agent)
    conversation.refresh_from_db()
    assert conversation.state == Conversation.State.CLOSED
    assert conversation.waiting_since is None
    services.conversation_reopen(conversation=conversation, teammate=agent)
    conversation.refresh_from_db()
    assert conversation.state == Conversation.State.OPEN
    assert _types(conversation) == ["comment", "close", "open"]


def test_reply_and_close_is_one_transaction(monkeypatch):
    agent = TeammateFactory()
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    services.conversation_reply_and_close(conversation=conversation, teammate=agent, body="Fixed, bye")
    conversation.refresh_from_db()
    assert conversation.state == Conversation.State.CLOSED
    assert _types(conversation) == ["comment", "comment", "close"]

    other = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")

    def close_fails(**kwargs):
        raise RuntimeError("the database went away mid-action")

    monkeypatch.setattr("conversations.services.threads.conversation_close", close_fails)
    with pytest.raises(RuntimeError):
        services.conversation_reply_and_close(conversation=other, teammate=agent, body="Fixed, bye")
    other.refresh_from_db()
    assert other.state == Conversation.State.OPEN
    assert _types(other) == ["comment"]  # the reply went back with the failed close


def test_contact_writing_to_a_closed_conversation_reopens_it():
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    services.conversation_close(conversation=conversation, teammate=TeammateFactory())
    services.conversation_reply_as_contact(conversation=conversation, body="Me again")
    conversation.refresh_from_db()
    assert conversation.state == Conversation.State.OPEN
    assert conversation.waiting_since is not None
    assert _types(conversation) == ["comment", "close", "open", "comment"]


def test_due_snoozes_reopen_and_future_ones_stay():
    due = services.conversation_start_by_contact(contact=LeadFactory(), body="a")
    later = services.conversation_start_by_contact(contact=LeadFactory(), body="b")
    soon = timezone.now() + dt.timedelta(minutes=1)
    services.conversation_snooze(conversation=due, teammate=None, until=soon)
    services.conversation_snooze(conversation=later, teammate=None, until=soon + dt.timedelta(days=1))
    assert services.conversations_reopen_due_snoozes(now=soon + dt.timedelta(seconds=1)) == 1
    assert services.conversations_reopen_due_snoozes(now=soon + dt.timedelta(seconds=1)) == 0
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.state == Conversation.State.OPEN and due.snoozed_until is None
    assert later.state == Conversation.State.SNOOZED
    assert due.parts.filter(part_type=ConversationPart.Type.OPEN, author_teammate__isnull=True).exists()


def test_tag_untag_priority_and_mark_read():
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    tag = TagFactory(name="billing")
    kim = TeammateFactory(username="kim")
    assert services.conversation_tag(conversation=conversation, tag=tag, teammate=kim)
    assert not services.conversation_tag(conversation=conversation, tag=tag, teammate=None)  # it has it: no event
    assert list(conversation.tags.all()) == [tag]
    assert services.conversation_untag(conversation=conversation, tag=tag, teammate=None)
    assert not services.conversation_untag(conversation=conversation, tag=tag, teammate=kim)
    assert not conversation.tags.exists()
    # The timeline: who tagged and who took it off (None: a rule, Parley), the tag's name as it was then.
    events = conversation.parts.exclude(part_type=ConversationPart.Type.COMMENT).order_by("id")
    assert list(events.values_list("part_type", "author_teammate", "body")) == [
        (ConversationPart.Type.TAG, kim.pk, "billing"),
        (ConversationPart.Type.UNTAG, None, "billing"),
    ]
    services.conversation_set_priority(conversation=conversation, priority="priority")
    with pytest.raises(ValidationError):
        services.conversation_set_priority(conversation=conversation, priority="urgent!!")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Yes")
    services.conversation_mark_read(conversation=conversation, by_contact=True)
    conversation.refresh_from_db()
    assert conversation.contact_unread_count == 0 and conversation.contact_last_read_at is not None
    assert conversation.priority == "priority"


def test_merge_moves_conversations_and_deliveries_to_the_user():
    lead = LeadFactory()
    user = UserContactFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Hi, I'm new")
    services.message_send(sender=None, channel="in_app", body="Hello both", contact_ids=[lead.pk, user.pk])
    contact_services.contact_merge(source=lead, into=user)
    conversation.refresh_from_db()
    assert conversation.contact == user
    assert conversation.parts.get().author_contact == user
    assert MessageDelivery.objects.filter(contact=user).count() == 1


def test_erase_deletes_conversations_parts_and_deliveries():
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Hi")
    services.conversation_tag(conversation=conversation, tag=TagFactory(), teammate=None)
    services.message_send(sender=None, channel="in_app", body="Hello", contact_ids=[lead.pk])
    contact_services.contact_erase(contact=lead, actor=None, source="admin")
    assert not Conversation.objects.exists()
    assert not ConversationPart.objects.exists()
    assert not MessageDelivery.objects.exists()


def test_export_contains_conversations_without_notes_and_messages():
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Public words")
    services.conversation_add_note(conversation=conversation, teammate=TeammateFactory(), body="secret note")
    # The team's labels, as its notes: their events in the timeline are the team's alone.
    services.conversation_tag(conversation=conversation, tag=TagFactory(name="difficult-customer"), teammate=None)
    document = contact_services.contact_export(contact=lead, actor=None, source="admin")
    assert [part["body"] for part in document["conversations"][0]["parts"]] == ["Public words"]
    assert "secret note" not in str(document) and "difficult-customer" not in str(document)


def test_export_holds_a_conversations_title_and_custom_attributes():
    from contacts.models import DataAttribute

    lead = LeadFactory()
    DataAttribute.objects.create(model="conversation", name="order_ref", label="Order", data_type="string")
    conversation = services.conversation_start_by_contact(contact=lead, body="Where is it?")
    services.conversation_update(conversation=conversation, title="Late order", custom_attributes={"order_ref": "A-1"})
    exported = contact_services.contact_export(contact=lead, actor=None, source="admin")["conversations"][0]
    assert (exported["title"], exported["custom_attributes"]) == ("Late order", {"order_ref": "A-1"})


def test_export_holds_each_message_as_its_contact_got_it_not_its_template():
    """New-user walk: the export gave an in-app message as `Hi {{contact.first_name | fallback: "there"}}`."""
    from tests.conversations.factories import in_app_delivery

    lead = LeadFactory(name="Ada Lovelace")
    in_app_delivery(lead, body='Hi {{contact.first_name | fallback: "there"}}, meet {{teammate.name}}.')
    exported = contact_services.contact_export(contact=lead, actor=None, source="admin")["messages"]
    assert [(m["channel"], m["body"]) for m in exported] == [("in_app", "Hi Ada, meet Kim.")]


def test_export_reads_the_messages_in_the_same_queries_however_many():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.integration import _export_messages
    from tests.conversations.factories import in_app_delivery

    lead = LeadFactory(name="Ada Lovelace")
    in_app_delivery(lead, body="Hi, {{teammate.name}} here.")
    with CaptureQueriesContext(connection) as one:
        assert len(_export_messages(lead)) == 1
    for _ in range(3):
        in_app_delivery(lead, body="Hi, {{teammate.name}} here.")
    with CaptureQueriesContext(connection) as four:
        assert len(_export_messages(lead)) == 4
    assert len(four) == len(one)


def test_saved_reply_placeholders_are_filled_and_unknown_ones_refused():
    agent = TeammateFactory(first_name="Robin")
    reply = services.saved_reply_create(name="Thanks", body="Hi {{contact.first_name}}, {{ teammate.name }} here.")
    lead = LeadFactory(name="Ada Lovelace")
    text = services.placeholders_render(reply.body, contact=lead, teammate=agent)
    assert text == "Hi Ada, Robin here."
    assert services.placeholders_render(reply.body, contact=ContactFactory(), teammate=None) == (
        "Hi there, Support here."
    )
    with pytest.raises(ValidationError) as error:
        services.saved_reply_create(name="Bad", body="{{contact.password}}")
    assert "body" in error.value.message_dict
    with pytest.raises(ValidationError):
        services.saved_reply_create(name="thanks", body="dup")
    assert SavedReply.objects.count() == 1


def test_reopening_a_closed_conversation_waits_again_from_the_unanswered_message():
    lead = LeadFactory()
    agent = TeammateFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Help")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="Yes?")
    services.conversation_reply_as_contact(conversation=conversation, body="Is the cable 2 m?")
    services.conversation_reply_as_contact(conversation=conversation, body="Or 3?")
    first_unanswered = conversation.parts.filter(body="Is the cable 2 m?").get().created_at
    services.conversation_close(conversation=conversation, teammate=agent)
    conversation.refresh_from_db()
    assert conversation.waiting_since is None
    services.conversation_reopen(conversation=conversation, teammate=agent)
    conversation.refresh_from_db()
    assert conversation.waiting_since == first_unanswered

    services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="2 m.")
    services.conversation_close(conversation=conversation, teammate=agent)
    services.conversation_reopen(conversation=conversation, teammate=agent)
    conversation.refresh_from_db()
    assert conversation.waiting_since is None  # answered: nobody waits
