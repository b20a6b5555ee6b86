"""The messenger shows that a teammate is writing a reply: the widget's poll names the conversations, never who
writes, and never a note. And the other way: the conversation page shows the contact writing."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from conversations import services
from conversations.services.presence import CONTACT_TYPING_SECONDS, TYPING_TO_CONTACT_SECONDS
from tests.contacts.factories import LeadFactory
from tests.redis_round_trips import RedisRoundTrips
from tests.tracking.factories import WebsiteFactory
from tracking.widget_auth import widget_token_sign

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"


def _teammate(group: str, username: str) -> Client:
    user = get_user_model().objects.create_user(username, f"{username}@parley.test", "x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def _admin_poll(client: Client, conversation, presence: str, **params) -> None:
    url = reverse("admin:conversations_conversation_poll", args=[conversation.pk])
    assert client.get(url, {"after": 0, "presence": presence, **params}).status_code == 200


def _typing(client: Client, website, contact, *, verified: bool = False, writing_in: str = "") -> list[str]:
    """The messenger's poll: who writes to the contact; `writing_in`, the conversation the contact writes in."""
    token = widget_token_sign(contact_id=contact.pk, website_id=website.pk, verified=verified)
    params = {"token": token, **({"typing": writing_in} if writing_in else {})}
    response = client.get(f"/widget-api/{website.app_id}/poll", params, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 200
    return response.json()["typing"]


def _contact_typing(client: Client, conversation) -> bool:
    url = reverse("admin:conversations_conversation_poll", args=[conversation.pk])
    return client.get(url, {"after": 0, "presence": "viewing"}).json()["contact_typing"]


def test_the_messenger_shows_a_teammate_writing_a_reply_until_it_is_sent(
    client, website, django_capture_on_commit_callbacks
):
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Where is my parcel?", website=website)
    other = services.conversation_start_by_contact(contact=lead, body="And my invoice?", website=website)
    alex = _teammate(AGENT_GROUP, "alex")
    assert _typing(client, website, lead) == []

    _admin_poll(alex, conversation, "viewing")
    assert _typing(client, website, lead) == []
    _admin_poll(alex, conversation, "typing")
    assert _typing(client, website, lead) == [conversation.public_id]
    # Stopped writing (the page says "viewing" again): gone at once, not at the entry's end.
    _admin_poll(alex, conversation, "viewing")
    assert _typing(client, website, lead) == []

    _admin_poll(alex, conversation, "typing")
    _admin_poll(alex, other, "typing")
    assert _typing(client, website, lead) == sorted([conversation.public_id, other.public_id])
    # The reply sent: that conversation's dots go; the other's stay.
    alex_user = get_user_model().objects.get(username="alex")
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_reply_as_teammate(conversation=conversation, teammate=alex_user, body="Tomorrow.")
    assert _typing(client, website, lead) == [other.public_id]


def test_a_note_a_viewer_and_a_teammate_who_left_never_show_as_writing(client, website):
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Hello", website=website)
    alex, val = _teammate(AGENT_GROUP, "alex"), _teammate(VIEWER_GROUP, "val")
    _admin_poll(alex, conversation, "noting")  # an internal note is never the contact's to know of
    _admin_poll(val, conversation, "typing")  # a viewer has no composer, whatever its page sends
    assert _typing(client, website, lead) == []
    _admin_poll(alex, conversation, "typing")
    _admin_poll(alex, conversation, "gone")
    assert _typing(client, website, lead) == []


def test_two_teammates_writing_show_until_the_last_one_stops(client, website):
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Hello", website=website)
    alex, sam = _teammate(AGENT_GROUP, "alex"), _teammate(AGENT_GROUP, "sam")
    _admin_poll(alex, conversation, "typing")
    _admin_poll(sam, conversation, "typing")
    _admin_poll(alex, conversation, "viewing")
    assert _typing(client, website, lead) == [conversation.public_id]
    _admin_poll(sam, conversation, "viewing")
    assert _typing(client, website, lead) == []


def test_a_writer_whose_page_stopped_polling_shows_no_longer_than_the_entry_lasts(client, website):
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Hello", website=website)
    _admin_poll(_teammate(AGENT_GROUP, "alex"), conversation, "typing")  # then the laptop's lid closes
    later = timezone.now() + dt.timedelta(seconds=TYPING_TO_CONTACT_SECONDS - 1)
    with time_machine.travel(later, tick=False):
        assert _typing(client, website, lead) == [conversation.public_id]
    with time_machine.travel(later + dt.timedelta(seconds=2), tick=False):
        assert _typing(client, website, lead) == []


def test_another_websites_messenger_learns_nothing_of_a_conversation_it_does_not_show(client, website):
    lead = LeadFactory()
    elsewhere = WebsiteFactory(name="Blog")
    conversation = services.conversation_start_by_contact(contact=lead, body="Hello", website=elsewhere)
    _admin_poll(_teammate(AGENT_GROUP, "alex"), conversation, "typing")
    assert _typing(client, elsewhere, lead) == [conversation.public_id]
    # An anonymous or unverified token of another website: nothing. A sign-in that website verified: all of them.
    assert _typing(client, website, lead) == []
    assert _typing(client, website, lead, verified=True) == [conversation.public_id]
    # Another contact's messenger, on the same website: nothing.
    assert _typing(client, elsewhere, LeadFactory()) == []


def test_a_late_poll_of_a_page_already_left_or_behind_its_own_reply_brings_no_dots_back(
    client, website, django_capture_on_commit_callbacks
):
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Hello", website=website)
    alex = _teammate(AGENT_GROUP, "alex")
    # Left: the page's "gone" came first, its last "typing" poll after.
    _admin_poll(alex, conversation, "typing", visit="v1")
    _admin_poll(alex, conversation, "gone", visit="v1")
    _admin_poll(alex, conversation, "typing", visit="v1")
    assert _typing(client, website, lead) == []
    # Sent: the page that sent the reply comes back showing it; a poll it sent before, answered after, is behind it.
    last_seen = conversation.parts.get().pk
    _admin_poll(alex, conversation, "typing", visit="v2", after=last_seen)
    with django_capture_on_commit_callbacks(execute=True):
        alex_user = get_user_model().objects.get(username="alex")
        services.conversation_reply_as_teammate(conversation=conversation, teammate=alex_user, body="Hi!")
    _admin_poll(alex, conversation, "typing", visit="v2", after=last_seen)
    assert _typing(client, website, lead) == []
    # Writing the next reply, on the page that shows the first: the dots again.
    _admin_poll(alex, conversation, "typing", visit="v3", after=conversation.parts.latest("id").pk)
    assert _typing(client, website, lead) == [conversation.public_id]


def test_the_poll_reads_who_writes_in_the_round_trip_of_its_token_checks(client, website, monkeypatch, settings):
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("the Redis cache of the production shape")
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Hello", website=website)
    assert _typing(client, website, lead) == []  # the scripts loaded, the connections open
    _admin_poll(_teammate(AGENT_GROUP, "alex"), conversation, "typing")
    round_trips = RedisRoundTrips(monkeypatch)
    assert _typing(client, website, lead) == [conversation.public_id]
    assert "GET" not in round_trips.commands  # read by the script that checks the token


def test_the_conversation_page_shows_the_contact_writing_until_they_send_or_stop(client, website):
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Hello", website=website)
    other = services.conversation_start_by_contact(contact=lead, body="And my invoice?", website=website)
    alex, val = _teammate(AGENT_GROUP, "alex"), _teammate(VIEWER_GROUP, "val")
    assert _contact_typing(alex, conversation) is False
    _typing(client, website, lead, writing_in=conversation.public_id)
    assert _contact_typing(alex, conversation) is True
    assert _contact_typing(val, conversation) is True  # a viewer reads the conversation as it is
    assert _contact_typing(alex, other) is False
    # Sent: gone at once, not when the mark runs out.
    services.conversation_reply_as_contact(conversation=conversation, body="It's order 1234")
    assert _contact_typing(alex, conversation) is False
    # Stopped (the messenger's polls no longer say so): gone once the mark runs out.
    _typing(client, website, lead, writing_in=other.public_id)
    later = timezone.now() + dt.timedelta(seconds=CONTACT_TYPING_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert _contact_typing(alex, other) is False


def test_a_messenger_cannot_show_another_contacts_conversation_as_written_in_and_a_bad_id_is_refused(client, website):
    lead, intruder = LeadFactory(), LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Hello", website=website)
    alex = _teammate(AGENT_GROUP, "alex")
    _typing(client, website, intruder, writing_in=conversation.public_id)
    assert _contact_typing(alex, conversation) is False
    # One entry per contact (attack review: a new id each poll filled the file cache, whose culling dropped the
    # other entries): the contact's conversation it names last is the one.
    _typing(client, website, lead, writing_in=conversation.public_id)
    assert _contact_typing(alex, conversation) is True
    _typing(client, website, lead, writing_in="Made-up-id-of-22-chars")
    assert _contact_typing(alex, conversation) is False
    token = widget_token_sign(contact_id=lead.pk, website_id=website.pk, verified=False)
    poll = f"/widget-api/{website.app_id}/poll?token={token}&typing="
    # HTML, too long, NUL, a lone surrogate (as a browser sends its bytes), full-width digits, a space.
    for hostile in ["%3Cb%3Ex%3C%2Fb%3E", "a" * 33, "id%00", "%ED%A0%80", "%EF%BC%91%EF%BC%92", "a%20b"]:
        response = client.get(poll + hostile, HTTP_ORIGIN=ORIGIN)
        assert (response.status_code, response.json()["error"]["field"]) == (400, "typing"), hostile
