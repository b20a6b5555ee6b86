import io
import os
import re
import subprocess
import sys
from email.message import EmailMessage

import pytest
from django.conf import settings
from django.core import mail, signing
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from contacts.models import Contact
from contacts.selectors import contacts_with_email
from contacts.services import contact_consent_record
from conversations import email_links, services
from conversations.models import Conversation, DeliveryEvent, Message, MessageDelivery
from conversations.services.outbound import conversation_subject
from tests.contacts.factories import LeadFactory, TagFactory, UserContactFactory
from tests.conversations.factories import TeammateFactory

pytestmark = pytest.mark.django_db


def _send(contacts, body="Hi {name}! See https://parley.example/docs and https://parley.example/pricing.", **extra):
    for contact in contacts:  # open and click tracking need the marketing purpose (tests/privacy covers the rest)
        contact_consent_record(contact_id=contact.pk, analytics=None, marketing=True, source="teammate")
    message = services.message_send(
        sender=TeammateFactory(first_name="Robin"), channel="email", subject="News", body=body,
        contact_ids=[c.pk for c in contacts], **extra,
    )  # fmt: skip
    while services.message_deliver_batch(message_id=message.pk, batch_size=2)[1]:
        pass
    return message


def _html(email):
    return next(content for content, mimetype in email.alternatives if mimetype == "text/html")


def _path(url):
    return url.removeprefix("http://127.0.0.1:8000")


def test_email_is_sent_with_pixel_tracked_links_and_one_click_unsubscribe_headers():
    user = UserContactFactory(email="ada@example.com")
    message = _send([user])
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ada@example.com"]
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<https?://.+/e/u/.+>", email.extra_headers["List-Unsubscribe"])
    assert email.reply_to[0].startswith("reply+d")
    html = _html(email)
    assert "/e/o/" in html
    assert len(re.findall(r'<a href="[^"]+/e/c/[^"]+">https://parley.example/', html)) == 2
    assert len(re.findall(r"https?://\S+/e/c/\S+", email.body)) == 2  # the plain-text part's links: tracked too
    delivery = MessageDelivery.objects.get()
    assert delivery.state == MessageDelivery.State.SENT
    user.refresh_from_db()
    assert user.last_contacted_at is not None
    message.refresh_from_db()
    assert message.state == Message.State.SENT


def test_message_body_is_escaped_in_the_html_email():
    _send([UserContactFactory()], body="<script>alert(1)</script> & <b>hi</b>")
    html = _html(mail.outbox[0])
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_unsubscribed_and_emailless_contacts_are_skipped():
    subscribed = UserContactFactory()
    unsubscribed = UserContactFactory(unsubscribed_from_emails=True)
    no_email = LeadFactory(email="")
    _send([subscribed, unsubscribed, no_email])
    assert [e.to for e in mail.outbox] == [[subscribed.email]]
    states = dict(MessageDelivery.objects.values_list("contact_id", "skip_reason"))
    assert states == {subscribed.pk: "", unsubscribed.pk: "unsubscribed", no_email.pk: "no email address"}


def test_a_retried_send_never_sends_twice():
    contacts = UserContactFactory.create_batch(3)
    message = _send(contacts)
    assert len(mail.outbox) == 3
    # The task runs again (a retry, a duplicate delivery by the broker): nothing more is sent.
    assert services.message_deliver_batch(message_id=message.pk) == (0, False)
    from conversations.tasks import send_message

    assert send_message.run(message.pk) == 0
    assert len(mail.outbox) == 3


def test_a_delivery_claimed_by_another_worker_is_not_sent_again():
    contacts = UserContactFactory.create_batch(2)
    message = services.message_send(
        sender=None, channel="email", subject="S", body="B", contact_ids=[c.pk for c in contacts]
    )
    first = MessageDelivery.objects.order_by("id").first()
    MessageDelivery.objects.filter(pk=first.pk).update(state=MessageDelivery.State.SENDING)  # a worker died mid-send
    services.message_deliver_batch(message_id=message.pk)
    other = MessageDelivery.objects.exclude(pk=first.pk).get()
    assert [e.to for e in mail.outbox] == [[other.contact.email]]
    first.refresh_from_db()
    assert first.state == MessageDelivery.State.SENDING


def test_same_idempotency_key_sends_one_message():
    user = UserContactFactory()
    first = services.message_send(sender=None, channel="in_app", body="Hi", contact_ids=[user.pk], idempotency_key="k1")
    again = services.message_send(sender=None, channel="in_app", body="Hi", contact_ids=[user.pk], idempotency_key="k1")
    assert first.pk == again.pk
    assert MessageDelivery.objects.count() == 1


def test_send_to_a_tag_reaches_everyone_tagged():
    from contacts import services as contact_services

    tag = TagFactory(name="beta")
    tagged = UserContactFactory.create_batch(3)
    UserContactFactory()
    for contact in tagged:
        contact_services.contact_tag(contact=contact, tag=tag)
    message = services.message_send(sender=None, channel="email", subject="Beta", body="Thanks", tag=tag)
    services.message_deliver_batch(message_id=message.pk)
    assert sorted(e.to[0] for e in mail.outbox) == sorted(c.email for c in tagged)
    assert message.audience == "Tag: beta"


def test_invalid_messages_are_refused_with_the_field_named():
    from django.core.exceptions import ValidationError

    user = UserContactFactory()
    for kwargs, field in [
        ({"channel": "sms", "body": "x", "contact_ids": [user.pk]}, "channel"),
        ({"channel": "email", "body": "x", "contact_ids": [user.pk]}, "subject"),
        ({"channel": "in_app", "body": "", "contact_ids": [user.pk]}, "body"),
        ({"channel": "in_app", "body": "x", "contact_ids": []}, "recipients"),
        ({"channel": "in_app", "body": "x"}, "recipients"),
    ]:
        with pytest.raises(ValidationError) as error:
            services.message_send(sender=None, **kwargs)
        assert field in error.value.message_dict


def test_open_pixel_records_the_open(client):
    user = UserContactFactory()
    _send([user])
    pixel = re.search(r'src="([^"]+/e/o/[^"]+)"', _html(mail.outbox[0])).group(1)
    response = client.get(_path(pixel))
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    user.refresh_from_db()
    assert user.last_email_opened_at is not None
    assert MessageDelivery.objects.get().opened_at is not None
    client.get(_path(pixel))
    assert DeliveryEvent.objects.filter(kind="open").count() == 1


def test_click_redirects_only_to_links_of_the_message(client):
    user = UserContactFactory()
    _send([user])
    links = re.findall(r'href="([^"]+/e/c/[^"]+)"', _html(mail.outbox[0]))
    response = client.get(_path(links[1]))
    assert response.status_code == 302 and response["Location"] == "https://parley.example/pricing"
    user.refresh_from_db()
    assert user.last_email_clicked_at is not None
    delivery = MessageDelivery.objects.get()
    # A forged or out-of-range link index, or a tampered signature, redirects nowhere.
    out_of_range = email_links.tracking_token(purpose=email_links.CLICK, delivery_id=delivery.pk, link_index=7)
    assert client.get(f"/e/c/{out_of_range}").status_code == 404
    assert client.get(_path(links[0]) + "x").status_code == 404
    assert client.get("/e/c/1.0:forged?next=https://evil.example").status_code == 404


def test_one_click_unsubscribe_by_post_and_confirmation_page_by_get(client):
    user = UserContactFactory()
    _send([user])
    url = _path(mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>"))
    page = client.get(url)
    assert page.status_code == 200 and b"<form" in page.content
    user.refresh_from_db()
    assert not user.unsubscribed_from_emails  # link scanners' GETs change nothing
    response = client.post(url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.unsubscribed_from_emails
    assert client.post("/e/u/1:forged").status_code == 404
    mail.outbox.clear()
    _send([user])
    assert mail.outbox == []


def _token(url):
    return url.rsplit("/", 1)[1].removesuffix(".gif")


def test_the_open_pixel_and_link_tokens_cannot_unsubscribe():
    """Finding 13: an image proxy or a forwarded email sees the pixel URL; it must not unsubscribe."""
    user = UserContactFactory()
    _send([user])
    html = _html(mail.outbox[0])
    pixel = _token(re.search(r'src="([^"]+/e/o/[^"]+)"', html).group(1))
    link = _token(re.search(r'href="([^"]+/e/c/[^"]+)"', html).group(1))
    unsubscribe = _token(mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>"))
    assert len({pixel, link, unsubscribe}) == 3
    client = Client()
    for token in (pixel, link):
        assert client.get(f"/e/u/{token}").status_code == 404
        assert client.post(f"/e/u/{token}", data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded").status_code == 404  # fmt: skip
    user.refresh_from_db()
    assert not user.unsubscribed_from_emails
    # Nor does any token act for another purpose: the unsubscribe token records no open or click.
    assert client.get(f"/e/c/{unsubscribe}").status_code == 404
    assert client.get(f"/e/o/{unsubscribe}.gif").status_code == 200  # the pixel always answers the image…
    assert not DeliveryEvent.objects.exists()  # …but records nothing
    assert client.post(f"/e/u/{unsubscribe}").status_code == 200
    user.refresh_from_db()
    assert user.unsubscribed_from_emails


def test_links_of_emails_sent_before_the_split_still_open_and_click_but_never_unsubscribe():
    user = UserContactFactory()
    _send([user])
    delivery = MessageDelivery.objects.get()
    legacy = signing.Signer(salt=email_links.LEGACY_TRACKING_SALT)
    client = Client()
    assert client.get(f"/e/o/{legacy.sign(str(delivery.pk))}.gif").status_code == 200
    assert client.get(f"/e/c/{legacy.sign(f'{delivery.pk}.0')}").status_code == 302
    assert set(DeliveryEvent.objects.values_list("kind", flat=True)) == {"open", "click"}
    # The old pixel and the old unsubscribe link were the same token: it is refused.
    assert client.post(f"/e/u/{legacy.sign(str(delivery.pk))}").status_code == 404
    user.refresh_from_db()
    assert not user.unsubscribed_from_emails


def _reply_email(*, to, sender, text="Thanks, that works!\n\nOn Mon, Robin wrote:\n> Hi there"):
    email = EmailMessage()
    email["From"] = sender
    email["To"] = to
    email["Subject"] = "Re: News"
    email.set_content(text)
    return email.as_bytes()


def test_emailed_reply_to_an_outbound_message_opens_a_conversation(client):
    user = UserContactFactory(email="ada@example.com")
    _send([user])
    reply_to = mail.outbox[0].reply_to[0]
    response = client.post("/email/inbound", data=_reply_email(to=reply_to, sender="Ada <ADA@example.com>"),
                           content_type="message/rfc822")  # fmt: skip
    assert response.status_code == 201
    conversation = Conversation.objects.get()
    assert conversation.source == Conversation.Source.EMAIL
    assert conversation.waiting_since is not None
    bodies = list(conversation.parts.values_list("body", flat=True))
    assert bodies[-1] == "Thanks, that works!"  # the quoted history is dropped
    user.refresh_from_db()
    assert user.last_replied_at is not None
    # A second reply to the same email continues the same conversation.
    client.post("/email/inbound", data=_reply_email(to=reply_to, sender="ada@example.com", text="One more thing"),
                content_type="message/rfc822")  # fmt: skip
    assert Conversation.objects.count() == 1


def test_an_answer_to_a_message_whose_sender_can_no_longer_answer_is_assigned_to_nobody(client):
    """Attack review: the answer was assigned to the message's sender, a viewer by then, who cannot reply."""
    user = UserContactFactory(email="ada@example.com")
    message = _send([user])
    assert Conversation.objects.count() == 0
    message.sender.groups.clear()  # the sender is a viewer now (in no group: reads only)
    reply_to = mail.outbox[0].reply_to[0]
    response = client.post("/email/inbound", data=_reply_email(to=reply_to, sender="ada@example.com"),
                           content_type="message/rfc822")  # fmt: skip
    assert response.status_code == 201
    assert Conversation.objects.get().assignee is None

    other = UserContactFactory(email="bo@example.com")
    answering = _send([other])
    client.post("/email/inbound", data=_reply_email(to=mail.outbox[-1].reply_to[0], sender="bo@example.com"),
                content_type="message/rfc822")  # fmt: skip
    assert Conversation.objects.get(contact=other).assignee == answering.sender


def test_teammate_reply_in_an_email_conversation_is_emailed_and_its_answer_comes_back():
    user = UserContactFactory(email="ada@example.com")
    conversation = services.conversation_start_by_contact(
        contact=user, body="Invoice 42 is wrong\nIt lists two lamps.", source=Conversation.Source.EMAIL
    )
    part = services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Hello!")
    assert services.conversation_reply_email_send(part_id=part.pk)
    email = mail.outbox[0]
    assert "Hello!" in email.body
    # Threaded like a person's reply: the conversation's subject, a thread id, no Auto-Submitted.
    assert email.subject == "Re: Invoice 42 is wrong"
    message = email.message()
    assert (
        message["In-Reply-To"] == message["References"] == f"<parley.conversation.{conversation.pk}@parley.localhost>"
    )
    assert message["Message-ID"] == f"<parley.part.{part.pk}@parley.localhost>"
    assert "Auto-Submitted" not in message
    out = io.StringIO()
    call_command("receive_email", stdin=io.BytesIO(_reply_email(to=email.reply_to[0], sender="ada@example.com")),
                 stdout=out)  # fmt: skip
    # One line, saying what each number is (a bare public id used to follow, unexplained).
    (line,) = out.getvalue().strip().splitlines()
    assert line.endswith(f"to conversation {conversation.pk} (API id {conversation.public_id})")
    assert conversation.parts.count() == 3
    second = services.conversation_reply_as_teammate(
        conversation=conversation, teammate=TeammateFactory(), body="Fixed"
    )
    assert services.conversation_reply_email_send(part_id=second.pk)
    assert mail.outbox[-1].message()["References"] == message["References"]  # the same thread
    assert mail.outbox[-1].subject == email.subject


def test_forged_unknown_or_foreign_reply_addresses_are_refused(client):
    user = UserContactFactory(email="ada@example.com")
    conversation = services.conversation_start_by_contact(contact=user, body="Hi")
    good = email_links.reply_address(conversation_id=conversation.pk)
    forged = good.replace(good.split("-")[1][:4], "0000")
    other_id = email_links.reply_address(conversation_id=conversation.pk).replace(f"c{conversation.pk}-", "c999-")
    for to, sender, status in [
        (forged, "ada@example.com", 403),
        (other_id, "ada@example.com", 403),
        ("support@parley.example", "ada@example.com", 403),
        (email_links.reply_address(conversation_id=987654), "ada@example.com", 403),
        (good, "mallory@example.com", 403),
    ]:
        response = client.post("/email/inbound", data=_reply_email(to=to, sender=sender), content_type="message/rfc822")
        assert response.status_code == status, to
    assert client.post("/email/inbound", data=b"", content_type="message/rfc822").status_code == 400
    assert conversation.parts.count() == 1


def test_receive_email_command_refuses_forged_addresses_with_non_zero_exit():
    with pytest.raises(CommandError, match="Refused"):
        call_command("receive_email", stdin=io.BytesIO(_reply_email(to="reply+c1-" + "0" * 32 + "@x", sender="a@b.c")))


def test_inbound_secret_is_enforced_when_configured(client, settings):
    settings.PARLEY_INBOUND_EMAIL_SECRET = "s3cret"
    response = client.post("/email/inbound", data=b"x", content_type="message/rfc822")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def _conversation_reply(*, charset="x-unknown-charset"):
    user = UserContactFactory(email="ada@example.com")
    conversation = services.conversation_start_by_contact(contact=user, body="Hi")
    to = email_links.reply_address(conversation_id=conversation.pk)
    raw = (
        f"From: =?{charset}?q?Ad=E9?= <ada@example.com>\r\nTo: {to}\r\nSubject: =?{charset}?q?R=E9?=\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="{charset}"\r\n'
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + b"Caf\xe9 au lait, merci\r\n"
    return conversation, raw


def test_an_unknown_charset_is_decoded_with_replacement_and_a_warning(client, caplog):
    """Finding 14: Python has no codec for the charset; the reply still lands, marked as damaged."""
    conversation, raw = _conversation_reply()
    response = client.post("/email/inbound", data=raw, content_type="message/rfc822")
    assert response.status_code == 201, response.content
    assert "Unknown charset" in response.json()["warnings"][0]
    part = conversation.parts.order_by("-id").first()
    assert part.body == "Caf\ufffd au lait, merci"
    assert any("unknown charset" in record.getMessage() for record in caplog.records)


def test_receive_email_takes_an_unknown_charset_without_a_traceback():
    conversation, raw = _conversation_reply(charset="klingon-8")
    out, err = io.StringIO(), io.StringIO()
    call_command("receive_email", stdin=io.BytesIO(raw), stdout=out, stderr=err)
    assert conversation.public_id in out.getvalue()
    assert "Unknown charset 'klingon-8'" in err.getvalue()


def test_inbound_endpoint_needs_a_secret_or_an_allowed_source_when_required(client, settings):
    settings.PARLEY_INBOUND_EMAIL_REQUIRE_AUTH = True
    settings.PARLEY_INBOUND_EMAIL_SECRET = ""
    conversation, raw = _conversation_reply(charset="utf-8")
    # Nothing configured: refused, whatever is sent.
    response = client.post("/email/inbound?secret=", data=raw, content_type="message/rfc822")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    settings.PARLEY_INBOUND_EMAIL_SECRET = "s3cret-of-the-mta"
    wrong = client.post("/email/inbound", data=raw, content_type="message/rfc822", HTTP_X_PARLEY_INBOUND_SECRET="no")
    assert wrong.status_code == 403
    assert conversation.parts.count() == 1
    right = client.post("/email/inbound", data=raw, content_type="message/rfc822",
                        HTTP_X_PARLEY_INBOUND_SECRET="s3cret-of-the-mta")  # fmt: skip
    assert right.status_code == 201
    # Or the mail server's address, without any secret.
    settings.PARLEY_INBOUND_EMAIL_SECRET = ""
    settings.PARLEY_INBOUND_EMAIL_ALLOWED_SOURCES = ["192.0.2.0/24"]
    assert client.post("/email/inbound", data=raw, content_type="message/rfc822").status_code == 403
    allowed = client.post("/email/inbound", data=raw, content_type="message/rfc822", REMOTE_ADDR="192.0.2.25")
    assert allowed.status_code == 201


def test_production_settings_require_inbound_authentication_by_default():
    """Secure by default: with a real database configured, the endpoint needs its secret or a source."""
    code = "from django.conf import settings; print(settings.PARLEY_INBOUND_EMAIL_REQUIRE_AUTH)"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_INBOUND")}
    for database, expected in (("postgres://u@127.0.0.1:1/x", "True"), (None, "False")):
        env = {**environment, "DJANGO_SETTINGS_MODULE": "config.settings"}
        env.pop("DATABASE_URL", None)
        if database:
            env["DATABASE_URL"] = database
        result = subprocess.run(  # noqa: S603 - our own interpreter and a constant program
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env=env, capture_output=True, text=True, check=True, cwd=settings.BASE_DIR,
        )  # fmt: skip
        assert result.stdout.strip() == expected


def test_unsubscribe_survives_a_contact_being_erased(client):
    user = UserContactFactory()
    _send([user])
    url = _path(mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>"))
    Contact.objects.filter(pk=user.pk).delete()
    assert client.post(url).status_code == 404


def test_a_provider_backend_through_anymail_sends_the_same_email(settings):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}
    _send([UserContactFactory(email="grace@example.com")])
    email = mail.outbox[0]
    assert email.to == ["grace@example.com"]
    assert email.anymail_status.status == {"sent"}
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_html_only_reply_is_stored_as_plain_text_without_markup():
    user = UserContactFactory(email="ada@example.com")
    conversation = services.conversation_start_by_contact(contact=user, body="Hi")
    email = EmailMessage()
    email["From"] = "ada@example.com"
    email["To"] = email_links.reply_address(conversation_id=conversation.pk)
    email["Subject"] = "Re"
    email.set_content("<p>Fine <script>x()</script><b>thanks</b></p>", subtype="html")
    result = services.email_reply_receive(raw=email.as_bytes())
    assert "<" not in result.part.body and "thanks" in result.part.body


def test_mail_to_the_support_address_opens_a_conversation_from_its_sender(client):
    from contacts.models import Contact

    user = UserContactFactory(email="ada@example.com")
    for sender, text in (("Grace Hopper <Grace@Example.com>", "My lamp flickers."), ("ada@example.com", "Hello")):
        response = client.post("/email/inbound", data=_reply_email(to="Parley <support@parley.localhost>",
                                                                  sender=sender, text=text),
                               content_type="message/rfc822")  # fmt: skip
        assert response.status_code == 201, response.content
    grace = contacts_with_email(email="grace@example.com").get()
    assert (grace.role, grace.name) == (Contact.Role.LEAD, "Grace Hopper")
    conversation = Conversation.objects.get(contact=grace)
    assert conversation.source == Conversation.Source.EMAIL
    assert list(conversation.parts.values_list("body", flat=True)) == ["Re: News\n\nMy lamp flickers."]
    assert Conversation.objects.filter(contact=user).count() == 1  # a known user's mail joins the user

    # The teammate's answer goes back by email, threaded, with the reply address that routes it here.
    part = services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="On it")
    assert services.conversation_reply_email_send(part_id=part.pk)
    assert mail.outbox[-1].to == ["grace@example.com"]
    assert mail.outbox[-1].subject == "Re: News"  # one "Re:", however many the contact's subject had

    refused = client.post("/email/inbound", data=_reply_email(to="support@parley.localhost", sender="not an address"),
                          content_type="message/rfc822")  # fmt: skip
    assert refused.status_code in (400, 403)
    assert not Contact.objects.filter(email__icontains="not an address").exists()


def test_mail_to_the_support_address_never_joins_a_lead_whose_address_was_typed_into_a_messenger(client):
    """Attacker review: a visitor who gave a stranger's address in the messenger read the stranger's first email to
    support, and the team's answers, in their own messenger (an email's conversation belongs to no website)."""
    from tests.tracking.conftest import Widget
    from tests.tracking.factories import WebsiteFactory

    attacker = Widget(client, WebsiteFactory())
    attacker.ping()
    claimed = attacker.post("update", {"token": attacker.token, "user": {"email": "victim@corp.example"}})
    assert claimed.status_code == 200, claimed.content
    claimer = contacts_with_email(email="victim@corp.example").get()
    assert claimer.role == Contact.Role.LEAD

    for text in ("My card ends 4242.", "And my address is 1 Secret Lane."):
        response = client.post("/email/inbound", data=_reply_email(to="support@parley.localhost",
                                                                  sender="Vic <victim@corp.example>", text=text),
                               content_type="message/rfc822")  # fmt: skip
        assert response.status_code == 201, response.content
    sender = contacts_with_email(email="victim@corp.example").exclude(pk=claimer.pk).get()
    assert (sender.role, sender.name) == (Contact.Role.LEAD, "Vic")
    assert Conversation.objects.filter(contact=sender).count() == 2  # the second email found the lead the first made
    assert not Conversation.objects.filter(contact=claimer).exists()
    assert attacker.ping().json()["conversations"] == []
    listed = client.get(f"/widget-api/{attacker.website.app_id}/conversations", {"token": attacker.token},
                        HTTP_ORIGIN=attacker.origin, REMOTE_ADDR=attacker.ip)  # fmt: skip
    assert listed.status_code == 200 and b"4242" not in listed.content


@pytest.mark.parametrize("made_by", ["widget", "api"])
def test_mail_to_the_support_address_never_joins_a_user_whose_address_came_unsigned_from_a_messenger(client, made_by):
    """Attack review: a signed-in user sent a stranger's address beside their own signed user_id (the hash signs the
    id, not the email), and the stranger's mail to support showed in that user's messenger, on every website."""
    from tests.tracking.conftest import Widget
    from tests.tracking.factories import WebsiteFactory, user_hash

    website = WebsiteFactory()
    if made_by == "api":  # made by the site's server (its address shown): the messenger changes it afterwards
        UserContactFactory(external_id="att3", email="att3@shop.example")
    attacker = Widget(client, website)
    signed = {"user_id": "att3", "user_hash": user_hash(website, "att3")}
    assert attacker.ping(user={**signed, "email": "buyer@bigcorp.example"}).status_code == 200
    claimer = Contact.objects.get(external_id="att3")
    assert (claimer.email, claimer.email_verified_at) == ("buyer@bigcorp.example", None)

    response = client.post("/email/inbound", data=_reply_email(to="support@parley.localhost",
                                                              sender="buyer@bigcorp.example", text="reset code 999"),
                           content_type="message/rfc822")  # fmt: skip
    assert response.status_code == 201, response.content
    assert not Conversation.objects.filter(contact=claimer).exists()
    sender = Conversation.objects.get().contact
    assert (sender.role, sender.email) == (Contact.Role.LEAD, "buyer@bigcorp.example")
    assert attacker.ping(user=signed).json()["conversations"] == []
    # The next mail finds the lead the first one made (its address: the one mail came from).
    services.email_reply_receive(raw=_reply_email(to="support@parley.localhost", sender="buyer@bigcorp.example"))
    assert Conversation.objects.filter(contact=sender).count() == 2


def test_an_address_typed_as_a_lead_stays_unshown_when_that_browser_signs_in(client):
    """Re-attack: a visitor typed a stranger's address, then signed in with their own user_id: the lead became a user
    with the typed address."""
    from tests.tracking.conftest import Widget
    from tests.tracking.factories import WebsiteFactory, user_hash

    website = WebsiteFactory()
    attacker = Widget(client, website)
    attacker.ping()
    assert (
        attacker.post("update", {"token": attacker.token, "user": {"email": "victim3@corp.example"}}).status_code == 200
    )
    attacker.ping(user={"user_id": "att-b", "user_hash": user_hash(website, "att-b")})
    claimer = Contact.objects.get(external_id="att-b")
    assert (claimer.role, claimer.email, claimer.email_verified_at) == ("user", "victim3@corp.example", None)
    services.email_reply_receive(raw=_reply_email(to="support@parley.localhost", sender="victim3@corp.example"))
    assert Conversation.objects.get().contact != claimer


def test_an_address_a_teammate_gives_a_user_takes_their_mail_and_a_merge_keeps_it(admin_client):
    from contacts import services as contacts_services

    user = contacts_services.contact_create(role=Contact.Role.USER, external_id="u-1", email="old@shop.example")
    assert user.email_verified_at is None  # a service caller says where an address came from: unsaid, not shown
    page = reverse("admin:contacts_contact_change", args=[user.pk])
    response = admin_client.post(page, {
        "name": "", "email": "kim@shop.example", "external_id": "u-1", "avatar": "", "owner": "", "signed_up_at_0": "",
        "signed_up_at_1": "", "language_override": "", "phone": "",
        "tag_links-TOTAL_FORMS": "0", "tag_links-INITIAL_FORMS": "0",
    })  # fmt: skip
    assert response.status_code == 302, response.content
    user.refresh_from_db()
    assert user.email == "kim@shop.example" and user.email_verified_at is not None
    services.email_reply_receive(raw=_reply_email(to="support@parley.localhost", sender="kim@shop.example"))
    assert Conversation.objects.get().contact == user

    # A lead whose shown address a user without one takes in a merge: the mark goes with it.
    lead = LeadFactory(email="lee@shop.example")
    bare = contacts_services.contact_create(role=Contact.Role.USER, external_id="u-2")
    merged = contacts_services.contact_merge(source=lead, into=bare)
    assert merged.email == "lee@shop.example" and merged.email_verified_at == lead.email_verified_at


def test_mail_to_the_support_address_joins_a_lead_a_teammate_made():
    lead = LeadFactory(email="lin@example.com")
    assert lead.first_website_id is None
    services.email_reply_receive(raw=_reply_email(to="support@parley.localhost", sender="LIN@example.com"))
    assert Conversation.objects.get().contact == lead


def _chat_with_email(website_minutes=5):
    from tests.tracking.factories import WebsiteFactory

    website = WebsiteFactory(email_unread_replies_after_minutes=website_minutes)
    lead = LeadFactory(email="lin@example.com")
    conversation = services.conversation_start_by_contact(contact=lead, body="Where is my parcel?", website=website)
    return conversation


@pytest.mark.parametrize(
    ("body", "subject"),
    [
        # New-user walk: the first line alone gave "Re: Hi,".
        ("Hi,\nDoes the Arc desk lamp come in blue?", "Hi, Does the Arc desk lamp come in blue?"),
        ("re: Re:  Where   is my parcel?", "Where is my parcel?"),
        (
            "My order 1042 arrived yesterday but the lamp's base is cracked and the shade has a dent in it, what now?",
            "My order 1042 arrived yesterday but the lamp's base is cracked and the shade…",
        ),
        ("x" * 120, "x" * 77 + "…"),
    ],
)
def test_a_chats_email_subject_is_its_opening_words_on_one_line(body, subject):
    lead = LeadFactory(email="lin@example.com")
    conversation = services.conversation_start_by_contact(contact=lead, body=body)
    assert conversation_subject(conversation) == subject
    assert len(subject) <= 78


def test_a_messenger_reply_the_contact_has_not_read_is_emailed_once():
    conversation = _chat_with_email()
    part = services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Today!")
    assert services.conversation_reply_email_if_unread(part_id=part.pk) is True
    assert services.conversation_reply_email_if_unread(part_id=part.pk) is False  # a rerun sends nothing
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["lin@example.com"]
    assert "Today!" in mail.outbox[0].body
    assert mail.outbox[0].subject == "Re: Where is my parcel?"
    part.refresh_from_db()
    assert part.emailed_at is not None  # the inbox says the reply went by email


def test_the_conversation_page_says_which_replies_were_emailed(admin_client):
    conversation = _chat_with_email()
    emailed = services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="A")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="B")
    services.conversation_reply_email_if_unread(part_id=emailed.pk)

    page = admin_client.get(f"/admin/conversations/conversation/{conversation.pk}/change/").content.decode()

    assert page.count("not read in the messenger: emailed") == 1


def test_reading_the_reply_in_the_messenger_cancels_its_email():
    conversation = _chat_with_email()
    part = services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Today!")
    services.conversation_mark_read(conversation=conversation, by_contact=True)
    assert services.conversation_reply_email_if_unread(part_id=part.pk) is False
    assert mail.outbox == []


def test_no_email_is_planned_when_the_website_switched_it_off_or_the_contact_has_no_email(
    django_capture_on_commit_callbacks,
):
    from conversations.services.presence import teammate_typing_tell
    from reports.services import now_counts_changed

    def emails(planned: list) -> list:  # the reports' "now" counts and the contact's messenger (no more dots) are
        # also told of every reply, on commit
        told = (now_counts_changed, teammate_typing_tell)
        return [callback for callback in planned if getattr(callback, "func", callback) not in told]

    quiet = _chat_with_email(website_minutes=None)
    with django_capture_on_commit_callbacks() as planned:
        services.conversation_reply_as_teammate(conversation=quiet, teammate=TeammateFactory(), body="Hi")
    assert emails(planned) == []
    noisy = _chat_with_email()
    with django_capture_on_commit_callbacks() as planned:
        services.conversation_reply_as_teammate(conversation=noisy, teammate=TeammateFactory(), body="Hi")
    assert len(emails(planned)) == 1


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_emails_an_unread_messenger_reply(celery_worker_factory):
    conversation = _chat_with_email(website_minutes=0)  # no wait, for the test
    worker = celery_worker_factory(extra_env={"EMAIL_URL": "consolemail://"})
    services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Shipped!")
    worker.wait_for_log("Subject: Re: Where is my parcel?", timeout=60)


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        # Comments inside comments in an address, a thousand deep: the header parser recursed into a 500.
        ("From: " + "(" * 1000 + ")" * 1000 + " <x@example.com>\r\nTo: support@parley.example\r\nSubject: t\r\n\r\nhi",
         "nested too deeply"),
        # Parts inside parts, three thousand deep: the MIME parser did.
        ("From: x@example.com\r\nTo: support@parley.example\r\n"
         + "Content-Type: message/rfc822\r\n\r\n" * 3000 + "Subject: t\r\n\r\nhi", "nested too deeply"),
        # A header whose parsing time grows with the square of its length (12 s for 40 KB): refused unread.
        ('From: ' + '"a\\"' * 10_000 + " <x@example.com>\r\nTo: support@parley.example\r\n\r\nhi", "From header is too long"),
        ("From: x@example.com\r\nTo: support@parley.example\r\nSubject: " + "=?utf-8?q?a?= " * 10_000 + "\r\n\r\nhi",
         "Subject header is too long"),
        ("From: x@example.com\r\nTo: support@parley.example\r\n"
         + "".join(f"X-Pad-{i}: {'p' * 8000}\r\n" for i in range(9)) + "\r\nhi", "headers are too long"),
        # Re-attack: a part's type is read while the parts are split, before any check that parses: 32,000 ";" took
        # 22 s, and twenty parts of 7,900 each 25 s.
        ("From: x@example.com\r\nTo: support@parley.example\r\nContent-Type: text/plain" + ";" * 32_000 + "\r\n\r\nhi",
         "Content-Type header is too long"),
        ("From: x@example.com\r\nTo: support@parley.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
         + "".join(f"--b\r\nContent-Type: text/plain{';' * 2000}\r\n\r\nx\r\n" for _ in range(20)) + "--b--\r\n",
         "parts' headers are too long"),
    ],
)  # fmt: skip
def test_an_email_too_deep_or_with_headers_too_long_to_read_is_a_400_naming_why(client, settings, raw, said):
    """Attack review: these were 500s, or held a worker for seconds to minutes each."""
    settings.PARLEY_SUPPORT_EMAIL = "Support <support@parley.example>"
    response = client.post("/email/inbound", data=raw.encode(), content_type="message/rfc822")
    assert response.status_code == 400, response.content
    assert said in response.content.decode()
    assert not Conversation.objects.exists()
    with pytest.raises(CommandError, match=said):
        call_command("receive_email", stdin=io.BytesIO(raw.encode()))


def test_an_address_the_api_gives_takes_the_mail_it_sends(superuser):
    from rest_framework.test import APIClient

    from api.services import api_token_create

    _, raw = api_token_create(user=superuser, name="crm")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_INTERCOM_VERSION="2.11")
    created = api.post(
        "/api/contacts", {"role": "user", "external_id": "crm-1", "email": "old@crm.example"}, format="json"
    )
    assert created.status_code == 200, created.content
    moved = api.put(f"/api/contacts/{created.json()['id']}", {"email": "new@crm.example"}, format="json")
    assert moved.status_code == 200, moved.content
    services.email_reply_receive(raw=_reply_email(to="support@parley.localhost", sender="new@crm.example"))
    assert Conversation.objects.get().contact.external_id == "crm-1"
