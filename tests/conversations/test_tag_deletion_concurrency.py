"""A tag deleted while a saved reply, an assignment rule or a tagging names it, each in its own transaction and
connection: the writer holds the tag (contacts.services.tags_hold) and the deletion locks it, so either the deletion
waits and then sees the new use (refused, or the new link goes with the tag), or the writer waits and is refused
with a message on its field; never a foreign key error (a 500 in the admin and the API). PostgreSQL only: SQLite
serialises every writer, so it could not show a race."""

import pytest
from django.db import connection

from companies import services as company_services
from contacts import services as contact_services
from contacts.models import ContactTag, Tag
from conversations import services
from conversations.models import AssignmentRule, Conversation, SavedReply
from conversations.services import routing
from conversations.services.saved_replies import MacroActions
from tests.companies.factories import CompanyFactory
from tests.concurrency import first_then_second
from tests.contacts.factories import LeadFactory, TagFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def _delete(tag_id):
    return lambda: contact_services.tag_delete(tag=Tag.objects.get(pk=tag_id))


def _save_reply(tag):
    return lambda: services.saved_reply_create(name="Refund", body="Done.", actions=MacroActions(tags=(tag,)))


def _save_rule(tag):
    return lambda: routing.assignment_rule_save(rule=AssignmentRule(name="VIPs", contact_tag=tag, set_priority="high"))


def test_a_tag_deleted_while_a_saved_reply_adding_it_is_saved_is_kept():
    tag = TagFactory(name="refund")
    outcomes = first_then_second(_save_reply(tag), _delete(tag.pk))
    assert outcomes["first"] == "kept"
    assert "the saved reply “Refund”" in str(outcomes["second"])
    assert list(SavedReply.objects.get().tags.all()) == [tag]


def test_a_saved_reply_saved_while_its_tag_is_deleted_is_refused_on_its_tags_field():
    tag = TagFactory(name="refund")
    outcomes = first_then_second(_delete(tag.pk), _save_reply(tag))
    assert outcomes["first"] == "kept"
    assert outcomes["second"].message_dict == {
        "tags": ["The tag “refund” no longer exists: a teammate has just deleted it."]
    }
    assert not SavedReply.objects.exists() and not Tag.objects.exists()


def test_a_tag_deleted_while_an_assignment_rule_naming_it_is_saved_is_kept():
    tag = TagFactory(name="vip")
    outcomes = first_then_second(_save_rule(tag), _delete(tag.pk))
    assert outcomes["first"] == "kept"
    assert "the assignment rule “VIPs”" in str(outcomes["second"])
    assert AssignmentRule.objects.get().contact_tag == tag


def test_an_assignment_rule_saved_while_its_tag_is_deleted_is_refused_on_its_field():
    tag = TagFactory(name="vip")
    outcomes = first_then_second(_delete(tag.pk), _save_rule(tag))
    assert outcomes["first"] == "kept"
    assert list(outcomes["second"].message_dict) == ["contact_tag"]
    assert not AssignmentRule.objects.exists()


@pytest.mark.parametrize("kind", ["contact", "company", "conversation"])
def test_tagging_while_the_tag_is_deleted_is_refused_and_tagging_first_links_what_the_deletion_takes(kind):
    lead = LeadFactory()
    tag = TagFactory(name="vip")
    tagging = {
        "contact": lambda: contact_services.contact_tag(contact=lead, tag=tag),
        "company": lambda: company_services.company_tag(company=CompanyFactory(), tag=tag),
        "conversation": lambda: services.conversation_tag(
            conversation=Conversation.objects.create(contact=lead), tag=tag, teammate=None
        ),
    }[kind]

    outcomes = first_then_second(_delete(tag.pk), tagging)
    assert outcomes == {"first": "kept", "second": outcomes["second"]}
    assert outcomes["second"].message_dict == {
        "tag": ["The tag “vip” no longer exists: a teammate has just deleted it."]
    }

    again = TagFactory(name="vip")
    tag.pk, tag.name = again.pk, again.name
    outcomes = first_then_second(tagging, _delete(again.pk))
    assert outcomes == {"first": "kept", "second": "kept"}  # the link went with the tag
    assert not Tag.objects.exists() and not ContactTag.objects.exists()
