"""A message sent again with its key (the messenger's Retry after a lost answer) is stored once: the server answers
with what the first request stored. The key never reaches another contact's message, nor a token it should not."""

import datetime as dt
import json
import uuid

import pytest
from django.db import connection

from contacts import services as contact_services
from contacts.models import Contact
from conversations import services
from conversations.models import Attachment, Conversation, ConversationPart
from tests.concurrency import first_then_second
from tests.contacts.factories import ContactFactory, LeadFactory
from tests.conversations.attachment_samples import png_bytes, upload
from tests.conversations.factories import in_app_delivery
from tests.tracking.factories import WebsiteFactory
from tracking.widget_auth import widget_token_read, widget_token_sign

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"


def _token(contact, website):
    return widget_token_sign(contact_id=contact.pk, website_id=website.pk)


def _post(client, url, payload):
    return client.post(url, data=json.dumps(payload), content_type="text/plain;charset=UTF-8", HTTP_ORIGIN=ORIGIN)


def _start(client, website, **payload):
    return _post(client, f"/widget-api/{website.app_id}/conversations", payload)


def test_a_first_message_sent_twice_with_its_key_starts_one_conversation(client, website):
    visitor = ContactFactory()
    key = str(uuid.uuid4())
    first = _start(client, website, token=_token(visitor, website), body="Hello?", idempotency_key=key)
    again = _start(client, website, token=_token(visitor, website), body="Hello?", idempotency_key=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["conversation"]["id"] == first.json()["conversation"]["id"]
    assert [p["body"] for p in again.json()["conversation"]["parts"]] == ["Hello?"]
    assert Conversation.objects.count() == 1
    assert list(ConversationPart.objects.values_list("body", "idempotency_key")) == [("Hello?", uuid.UUID(key))]
    # Without a key (an older messenger, an integration), each request is a message of its own.
    _start(client, website, token=_token(visitor, website), body="Hello?")
    assert Conversation.objects.count() == 2


def test_a_writer_without_a_token_gets_the_same_contact_and_its_token_back(client, website):
    key = str(uuid.uuid4())
    first = _start(client, website, body="Support-only hello", idempotency_key=key)
    again = _start(client, website, body="Support-only hello", idempotency_key=key)
    assert first.status_code == again.status_code == 201
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1
    lead = Contact.objects.get()
    assert widget_token_read(token=again.json()["token"], website_id=website.pk).contact_id == lead.pk
    assert again.json()["conversation"]["id"] == first.json()["conversation"]["id"]


def test_a_known_anonymous_writer_sending_again_continues_its_conversation(client, website):
    visitor = ContactFactory(first_website_id=website.pk)
    payload = {"anonymous_id": str(visitor.anonymous_id), "body": "Hi", "idempotency_key": str(uuid.uuid4())}
    first, again = _start(client, website, **payload), _start(client, website, **payload)
    assert again.json()["conversation"]["id"] == first.json()["conversation"]["id"]
    assert Conversation.objects.get().contact == visitor
    assert Contact.objects.count() == 1


def test_a_reply_sent_twice_with_its_key_is_one_message(client, website):
    visitor = ContactFactory()
    token = _token(visitor, website)
    public_id = _start(client, website, token=token, body="Question").json()["conversation"]["id"]
    url = f"/widget-api/{website.app_id}/conversations/{public_id}/reply"
    key = str(uuid.uuid4())
    first = _post(client, url, {"token": token, "body": "More details", "idempotency_key": key})
    again = _post(client, url, {"token": token, "body": "More details", "idempotency_key": key})
    assert first.status_code == again.status_code == 201
    assert again.json()["part"] == first.json()["part"]
    assert again.json()["conversation"]["id"] == public_id
    assert list(Conversation.objects.get().parts.values_list("body", flat=True)) == ["Question", "More details"]
    assert Conversation.objects.get().teammate_unread_count == 2  # counted once


def test_a_message_with_files_sent_again_stores_its_files_once(client, website):
    visitor = ContactFactory()
    token = _token(visitor, website)
    key = str(uuid.uuid4())

    def send():
        files = [upload("shot.png", png_bytes())]
        data = {"token": token, "body": "See this", "idempotency_key": key, "files": files}
        return client.post(f"/widget-api/{website.app_id}/conversations", data=data, HTTP_ORIGIN=ORIGIN)

    first, again = send(), send()
    assert first.status_code == again.status_code == 201, again.content
    assert again.json()["conversation"]["parts"] == first.json()["conversation"]["parts"]
    assert Attachment.objects.count() == 1
    assert ConversationPart.objects.count() == 1


def test_an_answer_to_an_in_app_message_sent_twice_is_one_message(client, website):
    lead = LeadFactory(name="Ada Lovelace")
    delivery = in_app_delivery(lead, body="Hi!")
    url = f"/widget-api/{website.app_id}/messages/{delivery.pk}/reply"
    payload = {"token": _token(lead, website), "body": "Thanks!", "idempotency_key": str(uuid.uuid4())}
    first, again = _post(client, url, payload), _post(client, url, payload)
    assert first.status_code == again.status_code == 201
    assert again.json()["conversation"]["id"] == first.json()["conversation"]["id"]
    assert list(Conversation.objects.get().parts.values_list("body", flat=True)) == ["Hi!", "Thanks!"]


def test_another_contacts_key_is_refused_and_tells_nothing_of_its_message(client, website):
    # (A user's: a visitor's first message is its new writer's, below, as its key alone gives it.)
    owner, other = ContactFactory(role=Contact.Role.USER, external_id="u-owner"), ContactFactory()
    key = str(uuid.uuid4())
    started = _start(client, website, token=_token(owner, website), body="Mine", idempotency_key=key)
    public_id = started.json()["conversation"]["id"]
    other_id = _start(client, website, token=_token(other, website), body="Theirs").json()["conversation"]["id"]
    reply_url = f"/widget-api/{website.app_id}/conversations/{other_id}/reply"
    for response in (
        _start(client, website, token=_token(other, website), body="Copy", idempotency_key=key),
        _post(client, reply_url, {"token": _token(other, website), "body": "Copy", "idempotency_key": key}),
    ):
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "idempotency_key"
        assert public_id not in response.content.decode() and "Mine" not in response.content.decode()
    assert list(ConversationPart.objects.order_by("pk").values_list("body", flat=True)) == ["Mine", "Theirs"]


def test_a_first_message_sent_before_the_slow_ping_answered_and_again_with_its_token_is_one_message(client, website):
    """The boot ping answered after the messenger's 2 s wait: the first try went without a token (a new lead), its
    answer was lost, and the Retry carries the token the ping gave meanwhile. It is the lead's message, with the lead's
    token (as when the first answer arrives): before, "This key names another message", and no way to send it."""
    pinged = ContactFactory(first_website_id=website.pk)
    key = str(uuid.uuid4())
    first = _start(client, website, body="Hello?", anonymous_id=str(uuid.uuid4()), idempotency_key=key)
    lead = Contact.objects.get(conversations__isnull=False)
    for retry in (
        {"token": _token(pinged, website)},
        {"anonymous_id": str(pinged.anonymous_id)},  # once the ping recorded the visitor, and the token was lost too
    ):
        again = _start(client, website, body="Hello?", idempotency_key=key, **retry)
        assert again.status_code == 201, again.content
        assert again.json()["conversation"]["id"] == first.json()["conversation"]["id"]
        assert widget_token_read(token=again.json()["token"], website_id=website.pk).contact_id == lead.pk
    assert list(ConversationPart.objects.values_list("body", "author_contact")) == [("Hello?", lead.pk)]
    assert not pinged.conversations.exists()


def test_a_key_answers_only_where_its_message_went(client, website):
    """A reply's key in another conversation, a first message's key as a reply, a reply's as a first message, one of
    another website's conversation: refused, each telling nothing of the message."""
    visitor = ContactFactory()
    token = _token(visitor, website)
    first_key, reply_key = str(uuid.uuid4()), str(uuid.uuid4())
    one = _start(client, website, token=token, body="One", idempotency_key=first_key).json()["conversation"]["id"]
    two = _start(client, website, token=token, body="Two").json()["conversation"]["id"]
    base = f"/widget-api/{website.app_id}/conversations"
    assert (
        _post(client, f"{base}/{one}/reply", {"token": token, "body": "R", "idempotency_key": reply_key}).status_code
        == 201
    )
    other_site = WebsiteFactory(name="Other", allowed_origins=[ORIGIN], identity_verification=False)
    elsewhere = [
        _post(client, f"{base}/{two}/reply", {"token": token, "body": "R", "idempotency_key": reply_key}),
        _post(client, f"{base}/{two}/reply", {"token": token, "body": "One", "idempotency_key": first_key}),
        _start(client, website, token=token, body="R", idempotency_key=reply_key),
        _start(client, other_site, token=_token(visitor, other_site), body="One", idempotency_key=first_key),
    ]
    for response in elsewhere:
        assert response.status_code == 400, response.content
        assert response.json()["error"]["field"] == "idempotency_key"
        assert one not in response.content.decode()
    assert ConversationPart.objects.count() == 3


def test_a_new_writers_first_message_is_written_by_one_request_at_a_time(client, website, settings):
    """Its Retry while the first try is still on its way: "try again in a moment" (a 409 the messenger retries),
    not a second lead; once the first is written, the Retry gets its conversation and token."""
    from django.core.cache import cache

    key = str(uuid.uuid4())
    claim = f"widget:first-message:{website.pk}:{key}"
    cache.add(claim, 1, 60)  # the first try, still on its way
    waiting = _start(client, website, body="Hello?", idempotency_key=key)
    assert waiting.status_code == 409
    assert waiting.json()["error"] == {
        "code": "in_progress", "field": "idempotency_key", "message": "This message is still on its way; try again in a moment."
    }  # fmt: skip
    assert not Contact.objects.exists()
    cache.delete(claim)
    first, again = (
        _start(client, website, body="Hello?", idempotency_key=key),
        _start(client, website, body="Hello?", idempotency_key=key),
    )
    assert first.status_code == again.status_code == 201
    assert Contact.objects.count() == 1 and Conversation.objects.count() == 1
    assert cache.get(claim) is None  # let go once written


def test_a_key_gives_a_token_back_only_for_a_new_writers_first_message_of_that_website_and_day(client, website):
    def first_message(contact, *, on=website, body="Hi"):
        key = uuid.uuid4()
        services.conversation_start_by_contact(contact=contact, body=body, website=on, idempotency_key=key)
        return str(key)

    lead = LeadFactory()
    user = ContactFactory(role=Contact.Role.USER, external_id="u-1")
    other_site = WebsiteFactory(name="Other", allowed_origins=["https://other.example"])
    old = first_message(LeadFactory())
    ConversationPart.objects.filter(idempotency_key=old).update(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    conversation = Conversation.objects.get(parts__idempotency_key=first_message(lead))
    reply_key = uuid.uuid4()
    services.conversation_reply_as_contact(conversation=conversation, body="Later", idempotency_key=reply_key)
    refused = {
        "a user's": first_message(user),
        "another website's": first_message(LeadFactory(), on=other_site),
        "a day old": old,
        "not the first message": str(reply_key),
    }
    contacts = Contact.objects.count()
    for why, key in refused.items():
        response = _start(client, website, body="Hi", idempotency_key=key)
        assert response.status_code == 400, why
        assert response.json()["error"]["field"] == "idempotency_key", why
        assert "token" not in response.json(), why
    assert Contact.objects.count() == contacts


def test_a_merged_visitors_message_sent_again_as_the_user_is_still_one_message(client, website):
    visitor = ContactFactory()
    key = str(uuid.uuid4())
    _start(client, website, token=_token(visitor, website), body="Before sign-in", idempotency_key=key)
    user = ContactFactory(role=Contact.Role.USER, external_id="u-2")
    contact_services.contact_merge(source=visitor, into=user)
    again = _start(client, website, token=_token(user, website), body="Before sign-in", idempotency_key=key)
    assert again.status_code == 201
    assert list(ConversationPart.objects.values_list("body", flat=True)) == ["Before sign-in"]


@pytest.mark.parametrize(
    "key",
    ['""', '"not-a-uuid"', "123", "1e400", '["x"]', '{"a": 1}', "null", '"' + "\\ud800" * 36 + '"',
     '"' + "\u0661" * 32 + '----"', '"{' + "a" * 34 + '}"', '"<script>alert(1)</script>' + "0" * 11 + '"',
     '"' + str(uuid.uuid4()) + '\\u0000"', '"' + str(uuid.uuid4()).upper() + ' "', '"urn:' + "a" * 32 + '"',
     '"{' + "a" * 8 + "-" + "a" * 4 + "-" + "a" * 20 + '}"', '"0x' + "a" * 30 + '----"', '"+' + "a" * 31 + '----"',
     '"----' + "a" * 32 + '"', '"' + str(uuid.UUID(int=0)) + '"', '"' + "f" * 8 + "-ffff" * 3 + "-" + "f" * 12 + '"'],
)  # fmt: skip
def test_a_key_of_the_wrong_shape_is_refused_naming_the_field(client, website, key):
    """`key`: the field's JSON text, as a hostile client writes it."""
    visitor = ContactFactory()
    body = f'{{"token": "{_token(visitor, website)}", "body": "Hi", "idempotency_key": {key}}}'
    response = client.post(
        f"/widget-api/{website.app_id}/conversations", data=body, content_type="text/plain", HTTP_ORIGIN=ORIGIN
    )
    if key == "null":  # no key: a message of its own
        assert response.status_code == 201
        return
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == "idempotency_key"
    assert not Conversation.objects.exists()


def test_a_key_sent_twice_in_one_upload_is_refused(client, website):
    key = str(uuid.uuid4())
    data = {"token": _token(ContactFactory(), website), "body": "Hi", "idempotency_key": [key, key]}
    response = client.post(f"/widget-api/{website.app_id}/conversations", data=data, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "idempotency_key"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the second waits on the first's row: PostgreSQL's locks")
@pytest.mark.parametrize("write", ["start", "reply"])
def test_two_requests_carrying_one_message_at_once_store_it_once(write):
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Question")
    key = uuid.uuid4()
    answers = {}

    def send(name):
        def run():
            if write == "start":
                answers[name] = services.conversation_start_by_contact(contact=lead, body="Again", idempotency_key=key)
            else:
                answers[name] = services.conversation_reply_as_contact(
                    conversation=conversation, body="Again", idempotency_key=key
                )

        return run

    outcomes = first_then_second(send("first"), send("second"))
    assert outcomes == {"first": "kept", "second": "kept"}
    assert answers["first"].pk == answers["second"].pk
    assert ConversationPart.objects.filter(body="Again").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the second waits on the first's row: PostgreSQL's locks")
def test_two_answers_to_an_in_app_message_at_once_open_one_conversation():
    lead = LeadFactory()
    delivery = in_app_delivery(lead, body="Hi!")
    answers = {}

    def answer(name, body, key):
        def run():
            answers[name] = services.in_app_message_reply(
                contact=lead, delivery_id=delivery.pk, body=body, idempotency_key=key
            )

        return run

    key = uuid.uuid4()
    # The same answer twice (a Retry), then two different answers, each pair at once.
    assert first_then_second(answer("first", "Thanks!", key), answer("second", "Thanks!", key)) == {
        "first": "kept", "second": "kept",
    }  # fmt: skip
    assert answers["first"].pk == answers["second"].pk
    assert first_then_second(answer("third", "And one more", uuid.uuid4()), answer("fourth", "Last", None)) == {
        "first": "kept", "second": "kept",
    }  # fmt: skip
    delivery.refresh_from_db()
    assert Conversation.objects.count() == 1
    assert delivery.conversation_id == answers["first"].pk == answers["fourth"].pk
    assert list(Conversation.objects.get().parts.values_list("body", flat=True)) == [
        "Hi!", "Thanks!", "And one more", "Last",
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the second waits on the first's row: PostgreSQL's locks")
def test_a_first_message_sent_at_once_with_a_token_and_without_answers_both_as_its_writer():
    """The tokenless try loses the race to the try with the ping's token: it answers with that conversation and its
    writer's token (before, a token for the lead it had just made, which could not read the conversation shown)."""
    from django.test import Client

    website = WebsiteFactory(allowed_origins=[ORIGIN], identity_verification=False)
    visitor = ContactFactory(first_website_id=website.pk)
    key = str(uuid.uuid4())
    answers = {}

    def send(name, **identity):
        def run():
            answers[name] = _start(Client(), website, body="Hello?", idempotency_key=key, **identity)

        return run

    outcomes = first_then_second(send("with token", token=_token(visitor, website)), send("without"))
    assert outcomes == {"first": "kept", "second": "kept"}
    first, second = answers["with token"].json(), answers["without"].json()
    assert answers["without"].status_code == 201, second
    assert second["conversation"]["id"] == first["conversation"]["id"]
    assert widget_token_read(token=second["token"], website_id=website.pk).contact_id == visitor.pk
    assert ConversationPart.objects.count() == 1
