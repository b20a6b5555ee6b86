"""An address typed into a messenger is confirmed before it gets a conversation's emails (services.email_confirmation).

Attack review: a visitor typed a stranger's address and wrote; the team's answer then went to the stranger by email,
from the support address, titled with the visitor's first words, and the stranger's emailed answer landed in the
visitor's conversation, where the visitor read it."""

import datetime as dt
import re

import pytest
from django.core import mail, signing
from django.test import Client

from contacts.models import Contact
from contacts.selectors import contacts_with_email
from conversations import services
from conversations.models import Conversation
from conversations.services import email_confirmation
from tests.contacts.factories import UserContactFactory
from tests.conversations.factories import TeammateFactory
from tests.conversations.test_email import _reply_email
from tests.tracking.conftest import Widget
from tests.tracking.factories import WebsiteFactory, user_hash
from tracking.models import Website

pytestmark = pytest.mark.django_db


def _typed_lead(client, website, email="victim@corp.example", text="URGENT: your account is locked, call 555"):
    """A visitor who gave `email` in the messenger and wrote `text`: the lead and its conversation."""
    visitor = Widget(client, website)
    visitor.ping()
    assert visitor.post("update", {"token": visitor.token, "user": {"email": email}}).status_code == 200
    started = visitor.post("conversations", {"token": visitor.token, "body": text})
    assert started.status_code == 201, started.content
    lead = contacts_with_email(email=email).filter(first_website_id=website.pk).latest("pk")
    return visitor, lead, Conversation.objects.get(contact=lead)


def _answer(conversation, body="We have unlocked it, see below."):
    return services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body=body)


def _link(email) -> str:
    return re.search(r"http://\S+/e/a/\S+", email.body).group(0).removeprefix("http://127.0.0.1:8000")


def test_a_reply_to_an_address_typed_into_a_messenger_waits_for_a_confirmation_that_says_nothing_of_it(client):
    website = WebsiteFactory(name="Acme Shop", email_unread_replies_after_minutes=0)
    _, lead, conversation = _typed_lead(client, website)
    assert lead.email_verified_at is None
    part = _answer(conversation)

    assert services.conversation_reply_email_if_unread(part_id=part.pk) is False
    [confirmation] = mail.outbox
    assert confirmation.to == ["victim@corp.example"]
    assert confirmation.subject == "Confirm your email address for Acme Shop"
    assert confirmation.from_email == "Acme Shop <support@parley.localhost>"
    assert confirmation.extra_headers["Auto-Submitted"] == "auto-generated"
    assert confirmation.reply_to == []  # no address that leads into the conversation
    html = next(content for content, kind in confirmation.alternatives if kind == "text/html")
    for text in (confirmation.subject, confirmation.body, html):  # nothing the typist wrote
        assert "URGENT" not in text and "555" not in text and "unlocked" not in text
    part.refresh_from_db()
    assert part.emailed_at is None

    # The rating request after a closure goes nowhere either (its subject quotes the opening words).
    assert services.conversation_reply_email_send(part_id=part.pk) is False
    assert len(mail.outbox) == 1  # the same day: no second confirmation


def test_the_link_confirms_only_by_its_button_and_then_emails_the_reply_still_unread(
    client, eager_celery, django_capture_on_commit_callbacks
):
    website = WebsiteFactory(name="Acme Shop", email_unread_replies_after_minutes=0)
    _, lead, conversation = _typed_lead(client, website, email="lin@example.com", text="Where is my parcel?")
    with django_capture_on_commit_callbacks(execute=True):
        _answer(conversation, body="It left today.")
    [confirmation] = mail.outbox  # the reply's task asked for the confirmation
    assert confirmation.subject == "Confirm your email address for Acme Shop"
    link = _link(confirmation)
    mail.outbox.clear()

    # A link scanner's GET confirms nothing.
    page = Client().get(link)
    assert page.status_code == 200
    assert b"Confirm that lin@example.com is yours to get Acme Shop's replies by email" in page.content
    assert b'<form method="post">' in page.content
    lead.refresh_from_db()
    assert lead.email_verified_at is None

    browser = Client(enforce_csrf_checks=True)
    form = browser.get(link)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.content).group(1).decode()
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = browser.post(link, {"csrfmiddlewaretoken": token})
    assert confirmed.status_code == 200
    assert b"Your email address is confirmed" in confirmed.content
    lead.refresh_from_db()
    assert lead.email_verified_at is not None
    [reply] = mail.outbox
    assert reply.to == ["lin@example.com"] and reply.subject == "Re: Where is my parcel?"
    assert "It left today." in reply.body

    # Again: still confirmed, nothing sent twice.
    assert b"Your email address is confirmed" in browser.get(link).content
    with django_capture_on_commit_callbacks(execute=True):
        again = browser.post(link, {"csrfmiddlewaretoken": token})
    assert again.status_code == 200 and len(mail.outbox) == 1
    # From now on, replies go by email as they always did.
    with django_capture_on_commit_callbacks(execute=True):
        later = _answer(conversation, body="It arrives Friday.")
    assert len(mail.outbox) == 2 and "It arrives Friday." in mail.outbox[-1].body
    later.refresh_from_db()
    assert later.emailed_at is not None


def _confirmation_of(lead) -> mail.EmailMessage:
    """A confirmation email for the lead, as the next day's reply would ask (the cache forgets the day's)."""
    from django.core.cache import caches

    for cache in caches.all():
        cache.clear()
    mail.outbox.clear()
    assert (
        email_confirmation.email_confirmed_or_asked(contact=lead, website=Website.objects.get(pk=lead.first_website_id))
        is False
    )
    [confirmation] = mail.outbox
    mail.outbox.clear()
    return confirmation


def test_a_stranger_gets_at_most_three_confirmations_a_day_however_many_leads_type_their_address(client):
    website = WebsiteFactory(email_unread_replies_after_minutes=0)
    for n in range(5):
        _, _, conversation = _typed_lead(client, website, text=f"spam {n}")
        services.conversation_reply_email_if_unread(part_id=_answer(conversation).pk)
    assert [email.to for email in mail.outbox] == [["victim@corp.example"]] * 3


@pytest.mark.parametrize("made_by", ["tampered", "expired", "changed", "erased"])
def test_a_link_that_cannot_confirm_says_why_and_confirms_nothing(client, made_by):
    website = WebsiteFactory(email_unread_replies_after_minutes=0)
    visitor, lead, _ = _typed_lead(client, website, email="lin@example.com")
    link = _link(_confirmation_of(lead))
    status, said = {
        "tampered": (404, b"This link is not valid"),
        "expired": (410, b"This link has expired"),
        "changed": (410, b"This address is no longer used for this chat"),
        "erased": (410, b"This address is no longer used for this chat"),
    }[made_by]
    if made_by == "tampered":
        link = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    elif made_by == "expired":
        token = link.rsplit("/", 1)[1]
        value = signing.TimestampSigner(salt=email_confirmation.CONFIRM_SALT).unsign_object(token)
        old = signing.TimestampSigner(salt=email_confirmation.CONFIRM_SALT)
        old.timestamp = lambda: signing.b62_encode(int((dt.datetime.now() - dt.timedelta(days=8)).timestamp()))
        link = link.rsplit("/", 1)[0] + "/" + old.sign_object(value)
    elif made_by == "changed":  # the visitor gave another address since
        assert (
            visitor.post("update", {"token": visitor.token, "user": {"email": "lin2@example.com"}}).status_code == 200
        )
    else:
        Contact.objects.filter(pk=lead.pk).delete()
    for method in ("get", "post"):
        page = getattr(Client(), method)(link)
        assert page.status_code == status, (method, page.status_code)
        assert said in page.content
    assert not Contact.objects.filter(email_verified_at__isnull=False).exists()
    assert mail.outbox == []


@pytest.mark.parametrize("token", ["x", "a" * 5000, "%00", "\u202e", "1e400", "٣"])
def test_a_hostile_link_is_a_404_page(client, token):
    for method in ("get", "post"):
        response = getattr(client, method)(f"/e/a/{token}")
        assert response.status_code == 404
        assert b"This link is not valid" in response.content


def test_an_emailed_answer_from_an_address_not_confirmed_opens_a_conversation_of_its_own(client):
    """The stranger answers the reply address (of an email sent before this change, or forwarded): their mail never
    lands in the typist's conversation."""
    from conversations import email_links

    website = WebsiteFactory(email_unread_replies_after_minutes=0)
    visitor, lead, conversation = _typed_lead(client, website)
    reply_to = email_links.reply_address(conversation_id=conversation.pk)
    response = client.post("/email/inbound", data=_reply_email(to=reply_to, sender="Vic <victim@corp.example>",
                                                              text="My reset code is zebra-quartz"),
                           content_type="message/rfc822")  # fmt: skip
    assert response.status_code == 201, response.content
    assert not conversation.parts.filter(body__contains="zebra-quartz").exists()
    own = Conversation.objects.exclude(pk=conversation.pk).get()
    assert own.contact != lead and own.contact.email == "victim@corp.example"
    assert own.contact.email_verified_at is not None  # mail came from it
    listed = client.get(f"/widget-api/{website.app_id}/conversations", {"token": visitor.token},
                        HTTP_ORIGIN=visitor.origin, REMOTE_ADDR=visitor.ip)  # fmt: skip
    assert listed.status_code == 200 and b"zebra-quartz" not in listed.content

    # Once the typist's address is confirmed (by its owner), their answers join the thread again.
    Contact.objects.filter(pk=lead.pk).update(email_verified_at=lead.created_at)
    client.post("/email/inbound", data=_reply_email(to=reply_to, sender="victim@corp.example", text="Thanks"),
                content_type="message/rfc822")  # fmt: skip
    assert conversation.parts.filter(body="Thanks").exists()


def test_no_rating_request_goes_to_an_address_not_confirmed(client):
    from conversations.models import ConversationRating

    website = WebsiteFactory(email_unread_replies_after_minutes=0, conversation_ratings_enabled=True)
    _, lead, conversation = _typed_lead(client, website)
    _answer(conversation)
    services.conversation_close(conversation=conversation, teammate=TeammateFactory())
    row = ConversationRating.objects.get(conversation=conversation)
    assert services.conversation_rating_email_send(rating_id=row.pk) is False
    assert mail.outbox == []
    Contact.objects.filter(pk=lead.pk).update(email_verified_at=lead.created_at)
    assert services.conversation_rating_email_send(rating_id=row.pk) is True


def test_a_site_that_signs_the_email_shows_the_address_and_one_that_signs_the_user_id_does_not(client):
    website = WebsiteFactory()
    signed_email = Widget(client, website)
    response = signed_email.ping(
        user={"email": "kim@shop.example", "user_hash": user_hash(website, "kim@shop.example")}
    )
    assert response.status_code == 200
    assert Contact.objects.get(email="kim@shop.example").email_verified_at is not None

    signed_id = Widget(client, website)
    user = {"user_id": "u-7", "email": "lee@shop.example", "user_hash": user_hash(website, "u-7")}
    assert signed_id.ping(user=user).status_code == 200
    assert Contact.objects.get(external_id="u-7").email_verified_at is None
    # A known user whose address a teammate or the API gave keeps it shown.
    UserContactFactory(external_id="u-8", email="ann@shop.example")
    Widget(client, website).ping(
        user={"user_id": "u-8", "email": "ann@shop.example", "user_hash": user_hash(website, "u-8")}
    )
    assert Contact.objects.get(external_id="u-8").email_verified_at is not None


def test_a_signed_email_never_selects_the_user_who_typed_that_address_unsigned(client):
    """Attack review: a signed-in user typed a guest's address beside their own signed user_id; the site's signed
    sign-in of the guest by email then merged the guest's visitor, and what they wrote, into that user, and marked the
    address confirmed there: replies and the guest's mail went to the attacker's conversations."""
    from tests.tracking.factories import WebsiteFactory as Websites

    website = Websites(identity_verification=Website.IdentityVerification.ENFORCED)
    attacker = Widget(client, website)
    signed_id = {"user_id": "att-2", "user_hash": user_hash(website, "att-2")}
    assert attacker.ping(user={**signed_id, "email": "guest@corp.example"}).status_code == 200
    claimer = Contact.objects.get(external_id="att-2")
    assert (claimer.email, claimer.email_verified_at) == ("guest@corp.example", None)

    guest = Widget(client, website)
    guest.ping()
    assert guest.post("conversations", {"token": guest.token, "body": "GUEST PRIVATE order 991"}).status_code == 201
    signed_email = {"email": "guest@corp.example", "user_hash": user_hash(website, "guest@corp.example")}
    response = guest.ping(user=signed_email)
    assert response.status_code == 200, response.content

    claimer.refresh_from_db()
    assert (claimer.email, claimer.email_verified_at) == ("", None)  # the address was someone else's: taken back
    owner = Contact.objects.get(email="guest@corp.example")
    assert owner.role == Contact.Role.USER and owner.email_verified_at is not None
    assert Conversation.objects.get().contact == owner
    assert attacker.ping(user=signed_id).json()["conversations"] == []
    # The next signed sign-in by that email finds the owner, whose address is shown.
    again = Widget(client, website)
    assert again.ping(user=signed_email).status_code == 200
    assert Contact.objects.filter(email="guest@corp.example").count() == 1
    assert len(again.ping(user=signed_email).json()["conversations"]) == 1


def test_a_teammate_saving_a_stale_contact_page_keeps_the_address_the_messenger_gave_meanwhile(client, admin_client):
    """Attack review: a visitor changed the address in the messenger while a teammate had the contact open; saving a
    new name put the old address back, confirmed as a teammate's word."""
    from django.urls import reverse

    website = WebsiteFactory()
    visitor, lead, _ = _typed_lead(client, website, email="victim.stale@corp.example")
    page = reverse("admin:contacts_contact_change", args=[lead.pk])
    shown = admin_client.get(page).content.decode()
    assert 'name="email_as_shown" value="victim.stale@corp.example"' in shown
    assert visitor.post("update", {"token": visitor.token, "user": {"email": "other@evil.example"}}).status_code == 200
    form = {
        "name": "New name", "email": "victim.stale@corp.example", "email_as_shown": "victim.stale@corp.example",
        "external_id": "", "avatar": "", "owner": "", "signed_up_at_0": "", "signed_up_at_1": "",
        "language_override": "", "phone": "", "tag_links-TOTAL_FORMS": "0", "tag_links-INITIAL_FORMS": "0",
    }  # fmt: skip
    assert admin_client.post(page, form).status_code == 302
    lead.refresh_from_db()
    assert (lead.name, lead.email, lead.email_verified_at) == ("New name", "other@evil.example", None)

    # An address the teammate types is theirs to give: written, and shown.
    assert (
        admin_client.post(
            page, {**form, "email": "lin@example.com", "email_as_shown": "other@evil.example"}
        ).status_code
        == 302
    )
    lead.refresh_from_db()
    assert lead.email == "lin@example.com" and lead.email_verified_at is not None


def test_an_email_campaign_skips_an_address_not_confirmed_and_its_preview_says_why(client, admin_client):
    """Walk and attack review: a visitor could sign a stranger up for the team's campaigns by typing their address,
    with a name of their choosing in its greeting ("Hi URGENT-visit-evil.example/refund")."""
    from django.urls import reverse

    from conversations.models import Message, MessageDelivery

    website = WebsiteFactory()
    _, typed, _ = _typed_lead(client, website, email="ceo@bigcorp.example")
    shown = UserContactFactory(email="anna@example.com")
    draft = {"action": "send_message_to_contacts", "_selected_action": [typed.pk, shown.pk], "compose": "yes",
             "channel": "email", "subject": "Winter sale", "body": "Hi {{contact.name}}"}  # fmt: skip
    changelist = reverse("admin:contacts_contact_changelist")
    preview = admin_client.post(changelist, draft).content.decode()
    assert "email not confirmed" in preview and "Send: 1 of 2 will get it" in preview
    sent = admin_client.post(changelist, {**draft, "_send": "Send", "expected_recipients": "2",
                                          "idempotency_key": "k-1"}, follow=True)  # fmt: skip
    assert "1 of 2 contacts will get it" in sent.content.decode()
    message = Message.objects.get()
    while services.message_deliver_batch(message_id=message.pk)[1]:
        pass
    assert [email.to for email in mail.outbox] == [["anna@example.com"]]
    skipped = MessageDelivery.objects.get(contact=typed)
    assert (skipped.state, skipped.skip_reason) == (MessageDelivery.State.SKIPPED, "email not confirmed")


def test_variants_of_one_mailbox_share_its_allowance_and_a_link_never_shows_the_address(client):
    """Attack review: the same mailbox in full-width letters got three more confirmations a day for each variant; a
    link carried the address (in logs and proxies), and a long one made a link too long to work."""
    website = WebsiteFactory(email_unread_replies_after_minutes=0)
    variants = ["bomb@corp.example", "BOMB@corp.example", "bomb@\uff43orp.example", "bomb@co\uff52p.example",
                "bomb@corp.\uff45xample", '"bomb"@corp.example', '"b\\omb"@corp.example', "bomb+1@corp.example",
                '"bomb+2"@corp.example']  # fmt: skip
    # Re-attack: subaddresses, and dots at Gmail, reach one inbox too.
    gmail = ["lin.wei@gmail.com", "linwei+a@gmail.com", "L.I.N.W.E.I@googlemail.com", "lin.wei+b@googlemail.com"]
    # Re-attack: an IP literal reaches the server's own bomb@ (never asked), a Fastmail subdomain the mailbox it names.
    variants.append("bomb@[93.184.216.34]")
    fastmail = ["me@fastmail.com", "a@me.fastmail.com", "b@me.fastmail.com", "c@Me.Fastmail.com"]
    # Left open, then done: Proton's transparent dots, hyphens and underscores (and its four domains), Yahoo's "-".
    proton = ["ann.lee@proton.me", "ann-lee@protonmail.com", "ann_lee+x@pm.me", "a.n.n.l.e.e@protonmail.ch"]
    yahoo = ["joe@yahoo.com", "joe-shop@yahoo.com", "joe-bank@yahoo.com", "joe-news@yahoo.com"]
    for email in variants + gmail + fastmail + proton + yahoo:
        _, _, conversation = _typed_lead(client, website, email=email)
        services.conversation_reply_email_if_unread(part_id=_answer(conversation).pk)
    assert [email.to for email in mail.outbox] == [
        [variants[0]],
        [variants[1]],
        [variants[2]],
        *([address] for address in gmail[:3] + fastmail[:3] + proton[:3] + yahoo[:3]),
    ]
    assert "bomb" not in _link(mail.outbox[0]) and "corp" not in _link(mail.outbox[0])

    long_local = "a" * 64 + "." + "b" * 60 + "." + "c" * 60
    _, long_lead, _ = _typed_lead(client, website, email=f"{long_local}@corp.example")
    link = _link(_confirmation_of(long_lead))
    assert len(link) < 200
    assert b"Confirm your email address" in Client().get(link).content


def test_an_address_no_mail_server_takes_asks_nothing_and_raises_nothing(client):
    website = WebsiteFactory(email_unread_replies_after_minutes=0)
    domain = "".join(chr(0x4E00 + 7 * i) for i in range(40)) + ".example"  # a label longer than IDNA allows
    _, _, conversation = _typed_lead(client, website, email=f"li.wei@{domain}")
    assert services.conversation_reply_email_if_unread(part_id=_answer(conversation).pk) is False
    assert mail.outbox == []


def test_a_reply_comes_from_the_websites_name_as_its_confirmation_did(client):
    """Walk: the confirmation came from "Demo shop", the reply after it from "Parley", a name customers never saw."""
    website = WebsiteFactory(name="Demo shop", email_unread_replies_after_minutes=0)
    _, lead, conversation = _typed_lead(client, website, email="lin@example.com")
    Contact.objects.filter(pk=lead.pk).update(email_verified_at=lead.created_at)
    services.conversation_reply_email_if_unread(part_id=_answer(conversation).pk)
    assert mail.outbox[0].from_email == "Demo shop <support@parley.localhost>"
