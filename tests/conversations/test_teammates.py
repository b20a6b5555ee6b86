"""Teammate profiles (what contacts see) and the email that reaches an assignee who is away."""

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, TeammateProfile
from conversations.selectors import conversation_visible_parts
from tests.contacts.factories import LeadFactory
from tests.conversations.factories import TeammateFactory
from widget.attachment_http import FileLinks
from widget.chat_views import part_shape

pytestmark = pytest.mark.django_db


def _contact_part(conversation):
    return conversation.parts.filter(author_contact__isnull=False).last()


def _assigned_conversation(assignee, body="Hello?"):
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body=body)
    services.conversation_assign(conversation=conversation, teammate=assignee, assignee=assignee)
    return conversation


def test_contacts_see_the_display_name_and_avatar_a_teammate_chose():
    agent = TeammateFactory(first_name="Alexandra")
    services.teammate_profile_update(teammate=agent, display_name="Alex", avatar_url="https://cdn.example/alex.png")
    conversation = _assigned_conversation(agent)
    services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="Hi Grace")
    links = FileLinks(base="https://parley.example/widget-api/app/attachments/", contact_id=conversation.contact_id,
                      website_id=1)  # fmt: skip
    reply = part_shape(conversation_visible_parts(conversation=conversation).last(), links=links)
    assert (reply["author_name"], reply["author_avatar"]) == ("Alex", "https://cdn.example/alex.png")
    conversation.refresh_from_db()
    assert conversation.preview_author_name == "Alex"


def test_a_profile_refuses_an_avatar_that_is_not_https_and_unknown_fields():
    agent = TeammateFactory()
    with pytest.raises(ValidationError) as error:
        services.teammate_profile_update(teammate=agent, avatar_url="http://cdn.example/a.png")
    assert "avatar_url" in error.value.message_dict
    with pytest.raises(ValidationError):
        services.teammate_profile_update(teammate=agent, last_active_at=timezone.now())


def test_each_teammate_edits_only_their_own_profile_in_the_admin(client):
    agent, other = TeammateFactory(), TeammateFactory()
    other_profile = services.teammate_profile_update(teammate=other, display_name="Other")
    client.force_login(agent)
    mine = client.get(reverse("admin:conversations_teammateprofile_changelist"))
    assert mine.status_code == 302
    assert mine.url == reverse("admin:conversations_teammateprofile_change", args=[agent.pk])
    response = client.post(mine.url, {"display_name": "Ally", "avatar_url": "", "email_when_away_minutes": "5"})
    assert response.status_code == 302
    assert TeammateProfile.objects.get(pk=agent.pk).display_name == "Ally"
    refused = client.post(
        mine.url, {"display_name": "Ally", "avatar_url": "javascript:alert(1)", "email_when_away_minutes": "5"}
    )
    assert refused.status_code == 200
    other_url = reverse("admin:conversations_teammateprofile_change", args=[other.pk])
    assert client.get(other_url).status_code in (302, 403, 404)
    client.post(other_url, {"display_name": "Hacked", "avatar_url": "", "email_when_away_minutes": ""})
    assert TeammateProfile.objects.get(pk=other.pk).display_name == other_profile.display_name


def test_an_away_assignee_is_emailed_once_per_unanswered_message():
    agent = TeammateFactory(email="alex@parley.test")
    conversation = _assigned_conversation(agent, body="Where is my parcel?")
    part = _contact_part(conversation)
    assignment = conversation.parts.last()
    assert services.assignee_email_if_away(part_id=assignment.pk) is False  # only a contact's message
    assert services.assignee_email_if_away(part_id=part.pk) is True
    assert services.assignee_email_if_away(part_id=part.pk) is False  # a rerun sends nothing
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alex@parley.test"]
    assert mail.outbox[0].subject == "New message from Grace"
    assert "Where is my parcel?" in mail.outbox[0].body
    assert f"/admin/conversations/conversation/{conversation.pk}/change/" in mail.outbox[0].body
    assert "away from Parley for 10 minutes;" in mail.outbox[0].body

    # Answered, then the contact writes again: a new waiting episode, a new email.
    services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="Let me check")
    later = services.conversation_reply_as_contact(
        conversation=Conversation.objects.get(pk=conversation.pk), body="Any news?"
    )
    assert services.assignee_email_if_away(part_id=later.pk, now=timezone.now() + dt.timedelta(seconds=1)) is True
    assert len(mail.outbox) == 2


def test_the_away_email_says_one_minute_in_the_singular():
    agent = TeammateFactory(email="alex@parley.test")
    TeammateProfile.objects.update_or_create(teammate=agent, defaults={"email_when_away_minutes": 1})
    part = _contact_part(_assigned_conversation(agent))
    assert services.assignee_email_if_away(part_id=part.pk) is True
    assert "away from Parley for 1 minute;" in mail.outbox[0].body


def test_no_email_when_the_assignee_was_active_read_it_or_switched_it_off():
    active = TeammateFactory()
    part = _contact_part(_assigned_conversation(active))
    services.teammate_mark_active(teammate=active, at=timezone.now() + dt.timedelta(seconds=1))
    assert services.assignee_email_if_away(part_id=part.pk) is False

    reader = TeammateFactory()
    conversation = _assigned_conversation(reader)
    part = _contact_part(conversation)
    services.conversation_mark_read(conversation=conversation, by_contact=False)
    assert services.assignee_email_if_away(part_id=part.pk) is False

    quiet = TeammateFactory()
    services.teammate_profile_update(teammate=quiet, email_when_away_minutes=None)
    part = _contact_part(_assigned_conversation(quiet))
    assert services.assignee_email_if_away(part_id=part.pk) is False
    assert mail.outbox == []


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_emails_the_away_assignee_when_their_delay_has_passed(celery_worker_factory):
    agent = TeammateFactory(email="alex@parley.test")
    services.teammate_profile_update(teammate=agent, email_when_away_minutes=0)  # no wait, for the test
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Hello?")
    services.conversation_assign(conversation=conversation, teammate=agent, assignee=agent)
    worker = celery_worker_factory(extra_env={"EMAIL_URL": "consolemail://"})
    services.conversation_reply_as_contact(conversation=conversation, body="Anyone there?")
    worker.wait_until(
        lambda: Conversation.objects.get(pk=conversation.pk).assignee_emailed_at is not None,
        timeout=60,
        what="the assignee emailed",
    )
    worker.wait_for_log("Subject: New message from Grace")
