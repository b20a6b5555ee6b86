"""A visitor who gives only an email becomes a lead; identifying later keeps the person one contact."""

import pytest

from contacts.models import Contact
from conversations import services as conversations
from tests.contacts.factories import UserContactFactory
from tests.tracking.conftest import Widget
from tests.tracking.factories import user_hash
from tracking.models import Event, PageView, WebSession
from tracking.page_view_buffer import page_views_flush

pytestmark = pytest.mark.django_db


def _update(widget, user):
    response = widget.post("update", {"token": widget.token, "user": user})
    if response.status_code == 200:
        widget.token = response.json()["token"]
    return response


def test_a_visitor_who_gives_only_an_email_through_update_becomes_a_lead(widget):
    widget.ping()

    response = _update(widget, {"email": "ada@example.com", "name": "Ada"})

    assert response.status_code == 200
    assert response.json()["contact"] == {"role": "lead", "name": "Ada"}
    contact = Contact.objects.get()
    assert (contact.role, contact.email, contact.external_id, contact.name) == ("lead", "ada@example.com", None, "Ada")


def test_the_lead_identified_later_with_a_user_id_and_another_email_stays_one_contact(widget):
    widget.ping()
    _update(widget, {"email": "ada@home.example"})
    assert widget.event("viewed_pricing").status_code == 202
    lead = Contact.objects.get()
    conversations.conversation_start_by_contact(contact=lead, body="Do you ship to Oslo?", website=widget.website)

    assert widget.ping(user={"user_id": "u-42", "email": "ada@work.example"}).status_code == 200

    page_views_flush()
    person = Contact.objects.get()
    assert person.pk == lead.pk
    assert (person.role, person.external_id, person.email) == ("user", "u-42", "ada@work.example")
    assert PageView.objects.filter(contact=person).count() == 2
    assert WebSession.objects.filter(contact=person).count() == 1
    assert Event.objects.filter(contact=person, name="viewed_pricing").exists()
    assert person.conversations.count() == 1


def test_the_lead_signing_in_as_an_existing_user_merges_into_that_user(widget):
    user = UserContactFactory(external_id="u-42", email="ada@work.example")
    widget.ping()
    _update(widget, {"email": "ada@home.example"})
    lead = Contact.objects.exclude(pk=user.pk).get()

    assert widget.ping(user={"user_id": "u-42"}).status_code == 200

    assert list(Contact.objects.values_list("pk", flat=True)) == [user.pk]
    assert not Contact.objects.filter(pk=lead.pk).exists()
    page_views_flush()
    assert PageView.objects.filter(contact=user).count() == 2


def test_an_email_given_through_update_never_selects_the_user_who_has_it(widget):
    user = UserContactFactory(external_id=None, email="victim@example.com")
    widget.ping()

    response = _update(widget, {"email": "VICTIM@example.com"})

    assert response.status_code == 200
    assert response.json()["contact"]["role"] == "lead"
    assert Contact.objects.count() == 2
    assert Contact.objects.get(pk=user.pk).role == "user"
    assert not PageView.objects.filter(contact=user).exists()


def test_on_a_verifying_website_an_unsigned_email_makes_a_lead_and_a_signed_one_a_user(client, enforced_website):
    widget = Widget(client, enforced_website)
    widget.ping()

    assert _update(widget, {"email": "ada@example.com"}).json()["contact"]["role"] == "lead"
    signed = {"email": "ada@example.com", "user_hash": user_hash(enforced_website, "ada@example.com")}
    assert _update(widget, signed).json()["contact"]["role"] == "user"
    assert Contact.objects.get().role == "user"


def test_a_signed_in_user_changing_nothing_but_the_email_through_update_is_still_refused_unsigned(
    client, enforced_website
):
    widget = Widget(client, enforced_website)
    widget.ping(user={"user_id": "u-1", "user_hash": user_hash(enforced_website, "u-1")})

    response = _update(widget, {"email": "someone@example.com"})

    assert response.status_code == 200
    assert response.json()["contact"]["role"] == "visitor"  # not signed in as anyone: the answer says why
    assert [warning["field"] for warning in response.json()["warnings"]] == ["user.user_hash"]
    assert Contact.objects.get(external_id="u-1").email == ""


def test_a_user_id_given_with_the_email_of_a_user_known_by_email_only_never_takes_that_user(widget):
    victim = UserContactFactory(external_id=None, email="v2.plain@example.com", name="Victim")
    conversations.conversation_start_by_contact(contact=victim, body="My address is …", website=widget.website)
    widget.ping()

    response = _update(widget, {"user_id": "attacker-b2", "email": "V2.plain@example.com"})

    assert response.status_code == 200
    assert response.json()["contact"] == {"role": "user", "name": ""}
    attacker = Contact.objects.get(external_id="attacker-b2")
    assert attacker.pk != victim.pk and attacker.email == ""  # left off: another user has it
    victim.refresh_from_db()
    assert (victim.external_id, victim.email, victim.name) == (None, "v2.plain@example.com", "Victim")
    assert not conversations_of(attacker)
    assert widget.ping(user={"user_id": "attacker-b2"}).json()["conversations"] == []


def test_a_user_known_by_email_only_gets_the_user_id_the_site_sends_with_that_email(widget):
    user = UserContactFactory(external_id=None, email="ada@example.com")
    assert widget.ping(user={"email": "ada@example.com"}).json()["contact"]["role"] == "user"

    assert _update(widget, {"user_id": "u-ada", "email": "ada@example.com"}).status_code == 200

    assert Contact.objects.get(pk=user.pk).external_id == "u-ada"
    assert Contact.objects.filter(role="user").count() == 1


def test_an_identified_user_sending_only_an_email_through_update_stays_that_user(widget):
    victim = UserContactFactory(external_id="u-victim", email="victim@example.com")
    conversations.conversation_start_by_contact(contact=victim, body="Secret", website=widget.website)
    assert widget.ping(user={"user_id": "me"}).status_code == 200
    me = Contact.objects.get(external_id="me")

    taken = _update(widget, {"email": "victim@example.com"})

    assert taken.status_code == 200
    assert widget.ping().json()["conversations"] == []
    assert Contact.objects.get(pk=me.pk).email == ""  # another user's email: left off
    assert Contact.objects.get(pk=victim.pk).email == "victim@example.com"
    # A free email is this user's new email, as Intercom's update does.
    free = _update(widget, {"email": "me@example.com"})
    assert _answer_without_token(free) == _answer_without_token(taken)
    assert Contact.objects.get(pk=me.pk).email == "me@example.com"


def _answer_without_token(response):
    answer = response.json()
    return response.status_code, {key: value for key, value in answer.items() if key != "token"}


def conversations_of(contact):
    from conversations.models import Conversation

    return list(Conversation.objects.filter(contact=contact))
