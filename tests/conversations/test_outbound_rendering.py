"""Outbound messages as each recipient gets them: placeholders, tracked links in both parts, the test send."""

import re

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from conversations import services
from conversations.models import Conversation, Message, MessageDelivery
from conversations.services import placeholders
from conversations.services.outbound import (
    delivery_start_conversation,
    message_draft_clean,
    message_preview,
    message_send_test,
)
from tests.contacts.factories import ContactFactory, TagFactory, UserContactFactory
from tests.conversations.factories import TeammateFactory

pytestmark = pytest.mark.django_db


def _deliver(message):
    while services.message_deliver_batch(message_id=message.pk)[1]:
        pass


def _html(email):
    return next(content for content, mimetype in email.alternatives if mimetype == "text/html")


def test_placeholders_fill_email_subject_and_both_parts_with_fallbacks():
    ada = UserContactFactory(name="Ada Lovelace", email="ada@example.com")
    nameless = UserContactFactory(name="", email="anon@example.com")
    message = services.message_send(
        sender=TeammateFactory(first_name="Robin"), channel="email",
        subject="{{contact.first_name | fallback: \"Friend\"}}, news from {{ teammate.name }}",
        body='Hi {{contact.first_name|fallback:"there"}} ({{contact.email}}), and {{contact.name}}.',
        contact_ids=[ada.pk, nameless.pk],
    )  # fmt: skip
    _deliver(message)
    by_address = {email.to[0]: email for email in mail.outbox}
    assert by_address["ada@example.com"].subject == "Ada, news from Robin"
    assert by_address["anon@example.com"].subject == "Friend, news from Robin"
    assert by_address["ada@example.com"].body.startswith("Hi Ada (ada@example.com), and Ada Lovelace.")
    assert by_address["anon@example.com"].body.startswith("Hi there (anon@example.com), and there.")
    assert "Hi Ada (ada@example.com), and Ada Lovelace." in _html(by_address["ada@example.com"])
    assert "{{" not in str([(e.subject, e.body, _html(e)) for e in mail.outbox])


def test_plain_text_links_are_click_tracked_like_the_html_ones(client):
    user = UserContactFactory(marketing_consent=True)  # links are tracked only with the marketing purpose
    message = services.message_send(
        sender=None, channel="email", subject="Docs", body="Read https://parley.example/docs.", contact_ids=[user.pk]
    )
    _deliver(message)
    email = mail.outbox[0]
    text_links = [url.rstrip(".") for url in re.findall(r"https?://\S+/e/c/\S+", email.body)]
    assert len(text_links) == 1
    assert "https://parley.example/docs" not in email.body
    response = client.get(text_links[0].removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 302 and response["Location"] == "https://parley.example/docs"
    assert MessageDelivery.objects.get().clicked_at is not None


def test_a_hostile_name_is_escaped_never_a_link_never_a_placeholder_never_a_header():
    hostile = UserContactFactory(
        marketing_consent=True,
        name="<img src=x onerror=alert(1)> https://evil.example {{teammate.name}}\r\nBcc: all@example.com",
        email="mallory@example.com",
    )
    message = services.message_send(
        sender=TeammateFactory(first_name="Robin"), channel="email", subject="For {{contact.name}}",
        body="Dear {{contact.name}}, see https://parley.example/a", contact_ids=[hostile.pk],
    )  # fmt: skip
    _deliver(message)
    email = mail.outbox[0]
    html = _html(email)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="https://evil.example' not in html and "/e/c/" in html  # only the teammate's link is tracked
    assert "{{teammate.name}}" in email.body  # a value is never read as a placeholder
    assert "\n" not in email.subject and "\r" not in email.subject
    message_obj = email.message()
    assert message_obj["Bcc"] is None
    assert MessageDelivery.objects.get().state == MessageDelivery.State.SENT


def test_in_app_messages_render_placeholders_with_fallback_for_the_messenger():
    ada = ContactFactory(name="Ada Lovelace", marketing_consent=True)  # in-app campaigns are marketing
    nameless = ContactFactory(name="", marketing_consent=True)
    message = services.message_send(
        sender=None, channel="in_app", body='Hi {{contact.first_name | fallback: "friend"}}!',
        contact_ids=[ada.pk, nameless.pk],
    )  # fmt: skip
    _deliver(message)
    assert [m["body"] for m in services.in_app_messages_pending(contact=ada)] == ["Hi Ada!"]
    assert [m["body"] for m in services.in_app_messages_pending(contact=nameless)] == ["Hi friend!"]


def test_an_email_answer_opens_the_conversation_with_the_email_as_the_contact_got_it():
    ada = UserContactFactory(name="Ada Lovelace")
    message = services.message_send(sender=None, channel="email", subject="Hi {{contact.first_name}}",
                                    body="How is {{contact.email}}?", contact_ids=[ada.pk])  # fmt: skip
    _deliver(message)
    delivery = MessageDelivery.objects.get()
    conversation = delivery_start_conversation(delivery=delivery)
    assert conversation.parts.get().body == f"Hi Ada\n\nHow is {ada.email}?"
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("S", "Hi {{contact.password}}", "body"),
        ("Hi {{ contact.first_name | upper }}", "B", "subject"),
        ("S", '{{contact.name | fallback: "a"b"}}', "body"),
        ("S", '{{contact.name | fallback: "{{teammate.name}}"}}', "body"),
        ("S", "{% load static %}{{ contact.name }}", None),  # template tags are plain text: accepted
        ("S", "See https://shop.example/?e={{contact.email}}", "body"),
        ("S\ud800", "B", "subject"),
        ("S", "B\ud800", "body"),
    ],
)
def test_unknown_placeholders_placeholders_in_links_and_lone_surrogates_are_refused(subject, body, field):
    if field is None:
        draft = message_draft_clean(channel="email", subject=subject, body=body)
        assert draft.body == body  # never run through a template engine: shown as written
        preview = message_preview(draft=draft, contact=ContactFactory(name="Ada"), sender=None)
        assert preview.text == "{% load static %}Ada"
        return
    with pytest.raises(ValidationError) as error:
        message_draft_clean(channel="email", subject=subject, body=body)
    assert field in error.value.message_dict
    assert not Message.objects.exists()


def test_saved_replies_and_outbound_messages_share_one_renderer_with_fallbacks():
    reply = services.saved_reply_create(name="Hi", body='Hello {{contact.first_name | fallback: "you"}}')
    assert services.placeholders_render(reply.body, contact=ContactFactory(name=""), teammate=None) == "Hello you"
    assert placeholders.placeholders_render(reply.body, contact=ContactFactory(name="Bo Li"), teammate=None) == (
        "Hello Bo"
    )
    with pytest.raises(ValidationError):
        services.saved_reply_create(name="Bad", body="{{contact.first_name | fallback: 'single'}}")


def test_a_nul_or_control_character_in_a_name_never_reaches_the_output():
    contact = ContactFactory.build(name="Ada\x1b[31m\x00 Lovelace")  # unsaved: PostgreSQL refuses NUL
    rendered = placeholders.placeholders_render("{{contact.name}}", contact=contact, teammate=None)
    assert rendered == "Ada [31m Lovelace"


def test_a_test_send_goes_only_to_the_teammate_rendered_for_the_previewed_contact_and_records_nothing():
    teammate = TeammateFactory(first_name="Robin", email="robin@parley.test")
    ada = UserContactFactory(name="Ada Lovelace", email="ada@example.com")
    draft = message_draft_clean(channel="email", subject="Hi {{contact.first_name}}", body="See https://shop.example/x")
    assert message_send_test(draft=draft, contact=ada, sender=teammate) == "robin@parley.test"
    (email,) = mail.outbox
    assert email.to == ["robin@parley.test"]
    assert email.subject == "[Test] Hi Ada"
    assert "https://shop.example/x" in email.body and "/e/c/" not in email.body  # not tracked
    assert "/e/o/" not in _html(email) and "/e/u/" not in _html(email)
    assert not Message.objects.exists() and not MessageDelivery.objects.exists()
    ada.refresh_from_db()
    assert ada.last_contacted_at is None

    with pytest.raises(ValidationError) as error:
        message_send_test(draft=draft, contact=ada, sender=TeammateFactory(email=""))
    assert "recipients" in error.value.message_dict
    in_app = message_draft_clean(channel="in_app", subject="", body="Hi")
    with pytest.raises(ValidationError):
        message_send_test(draft=in_app, contact=ada, sender=teammate)


def test_an_in_app_test_is_shown_to_the_chosen_contact_marked_and_apart_from_the_real_send():
    from contacts import services as contact_services
    from conversations.services.in_app import in_app_messages_pending
    from conversations.services.outbound import message_send_test_in_app

    teammate = TeammateFactory(first_name="Robin", email="robin@parley.test")
    # In-app messages are marketing (docs/privacy.md): the tester agreed, as a real recipient must.
    robin_contact = UserContactFactory(name="Robin Teammate", email="robin@parley.test", marketing_consent=True)
    tag = TagFactory()
    recipients = UserContactFactory.create_batch(2, marketing_consent=True)
    for contact in recipients:
        contact_services.contact_tag(contact=contact, tag=tag)
    draft = message_draft_clean(channel="in_app", subject="", body="Hi {{contact.first_name}}, new plans are out")

    test = message_send_test_in_app(draft=draft, contact=robin_contact, sender=teammate)
    assert test.is_test and str(test).startswith("[Test] ") and test.audience == "Test to Robin Teammate"
    (shown,) = in_app_messages_pending(contact=robin_contact)
    assert shown["test"] is True and shown["body"] == "Hi Robin, new plans are out"  # filled for who sees it
    assert shown["author_name"] == "Robin"
    robin_contact.refresh_from_db()
    assert robin_contact.last_contacted_at is None  # a test is not contact
    assert all(in_app_messages_pending(contact=c) == [] for c in recipients)

    # The real send afterwards: its own message, the audience's count, nothing for the tester.
    real = services.message_send(sender=teammate, channel="in_app", body=draft.body, tag=tag,
                                 idempotency_key="k1", expected_recipients=2)  # fmt: skip
    _deliver(real)
    real.refresh_from_db()
    assert not real.is_test and real.recipients_count == 2 and real.deliveries.count() == 2
    assert [m["test"] for m in in_app_messages_pending(contact=recipients[0])] == [False]
    assert len(in_app_messages_pending(contact=robin_contact)) == 1  # still only the test
    assert Message.objects.filter(is_test=True).count() == 1

    with pytest.raises(ValidationError) as error:
        message_send_test_in_app(
            draft=message_draft_clean(channel="email", subject="S", body="B"), contact=robin_contact, sender=teammate
        )
    assert "channel" in error.value.message_dict


@pytest.mark.parametrize(
    ("reference", "found"),
    [("ROBIN@parley.test ", "user"), ("{lead_id}", "lead"), ("", None), ("robin", None), ("\x00@x", None),
     ("1e400", None), ("\uff11", None), ("nobody@parley.test", None), ("-1", None), (None, None), ("99999999999", None)],
)  # fmt: skip
def test_the_in_app_test_goes_to_a_contact_named_by_id_or_email_a_user_first(reference, found):
    from conversations.selectors import message_test_recipient
    from tests.contacts.factories import LeadFactory

    user = UserContactFactory(email="robin@parley.test")
    lead = LeadFactory(email="robin@parley.test")
    if isinstance(reference, str):
        reference = reference.replace("{lead_id}", str(lead.pk))
    expected = {"user": user, "lead": lead, None: None}[found]
    assert message_test_recipient(reference=reference) == expected


def test_a_confirmed_count_that_no_longer_matches_the_audience_is_refused():
    tag = TagFactory()
    from contacts import services as contact_services

    for contact in ContactFactory.create_batch(2):
        contact_services.contact_tag(contact=contact, tag=tag)
    with pytest.raises(ValidationError) as error:
        services.message_send(sender=None, channel="in_app", body="Hi", tag=tag, expected_recipients=3)
    assert "now 2 contacts" in str(error.value.message_dict["recipients"])
    message = services.message_send(sender=None, channel="in_app", body="Hi", tag=tag, expected_recipients=2)
    assert message.recipients_count == 2
