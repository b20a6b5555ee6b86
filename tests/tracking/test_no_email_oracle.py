"""The widget never tells whether an email belongs to a user: given with a user_id, another user's
email is left off exactly as if nobody had it ("An email is not an identity", docs/architecture.md)."""

import pytest

from contacts.models import Contact
from tests.contacts.factories import UserContactFactory
from tests.tracking.conftest import Widget
from tests.tracking.factories import user_hash
from tracking.services.websites import website_update

pytestmark = pytest.mark.django_db


def _answer_shape(response):
    """What the caller learns: status, fields, role and name (the token and ids differ every time)."""
    answer = response.json()
    return response.status_code, sorted(answer), answer.get("contact"), answer.get("warnings")


def _update(widget, user):
    return widget.post("update", {"token": widget.token, "user": user})


@pytest.fixture
def victim(db):
    return UserContactFactory(external_id="u-victim", email="victim@example.com", name="Victim")


def test_update_answers_the_same_for_another_users_email_and_for_an_unknown_one(client, website, victim):
    probes = {}
    for probe, email in (("probe-1", "victim@example.com"), ("probe-2", "nobody@example.com")):
        widget = Widget(client, website)
        widget.ping(user={"user_id": probe})
        probes[email] = _answer_shape(_update(widget, {"user_id": probe, "email": email}))

    assert probes["victim@example.com"] == probes["nobody@example.com"]
    assert probes["victim@example.com"][0] == 200
    assert Contact.objects.get(external_id="u-victim").email == "victim@example.com"
    assert Contact.objects.get(external_id="probe-1").email == ""  # left off: it is someone else's
    assert Contact.objects.get(external_id="probe-2").email == "nobody@example.com"


def test_ping_answers_the_same_for_another_users_email_and_for_an_unknown_one(client, website, victim):
    taken = _answer_shape(Widget(client, website).ping(user={"user_id": "probe-1", "email": "VICTIM@example.com"}))
    free = _answer_shape(Widget(client, website).ping(user={"user_id": "probe-2", "email": "free@example.com"}))

    assert taken == free
    assert Contact.objects.get(external_id="probe-1").email == ""


def test_a_verified_user_cannot_probe_emails_through_update_either(client, enforced_website, victim):
    widget = Widget(client, enforced_website)
    signed = {"user_id": "me", "user_hash": user_hash(enforced_website, "me")}
    widget.ping(user=signed)

    taken = _answer_shape(_update(widget, {**signed, "email": "victim@example.com"}))
    free = _answer_shape(_update(widget, {**signed, "email": "mine@example.com"}))

    assert taken == free
    assert Contact.objects.get(external_id="me").email == "mine@example.com"


def _start_conversation(widget):
    response = widget.post("conversations", {"token": widget.token, "body": "hi"})
    assert response.status_code == 201
    return response.json()["conversation"]


def test_asking_for_an_email_does_not_tell_whether_another_user_has_it(client, website, victim):
    website_update(website=website, ask_email_after_seconds=120)
    asked = {}
    for probe, email in (("probe-1", "victim@example.com"), ("probe-2", "nobody@example.com")):
        widget = Widget(client, website)
        widget.ping(user={"user_id": probe})
        _update(widget, {"user_id": probe, "email": email})
        conversation = _start_conversation(widget)
        asked[email] = conversation["ask_email_after"]
        fetched = client.get(
            f"/widget-api/{website.app_id}/conversations/{conversation['id']}",
            {"token": widget.token},
            HTTP_ORIGIN=widget.origin,
        )
        assert fetched.json()["conversation"]["ask_email_after"] == asked[email]

    assert asked["victim@example.com"] == asked["nobody@example.com"] is None  # a user is never asked


def test_a_visitor_without_an_email_is_still_asked_for_one(client, website):
    website_update(website=website, ask_email_after_seconds=120)
    widget = Widget(client, website)
    widget.ping()

    assert _start_conversation(widget)["ask_email_after"] == 120
