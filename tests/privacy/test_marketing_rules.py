"""Marketing rules the attacker found holes in: an unsubscribe under legitimate interest, consent
stated for an email address by an unverified browser, hidden in-app campaigns, restricted contacts."""

from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from conversations import services as conversation_services
from conversations.models import DeliveryEvent, MessageDelivery
from conversations.selectors import contacts_marketing_allowed, in_app_unseen_count
from tests.contacts.factories import LeadFactory, UserContactFactory
from tests.tracking.conftest import Widget
from tests.tracking.factories import ORIGIN
from tracking import services as tracking_services
from tracking.models import WebSession, Website


def _send(channel, contact, body="Read https://shop.example/new"):
    message = conversation_services.message_send(
        sender=None, channel=channel, subject="News" if channel == "email" else "", body=body, contact_ids=[contact.pk]
    )
    while conversation_services.message_deliver_batch(message_id=message.pk)[1]:
        pass
    return message.deliveries.get()


def _legitimate_interest_shop():
    return tracking_services.website_create(
        name="Shop", allowed_origins=[ORIGIN], marketing_basis=Website.MarketingBasis.LEGITIMATE_INTEREST
    )


def test_one_click_unsubscribe_stops_tracking_on_a_legitimate_interest_website(db):
    shop = _legitimate_interest_shop()
    lead = LeadFactory(email="lia@example.com")
    WebSession.objects.create(contact=lead, website=shop, started_at=lead.first_seen_at,
                              last_activity_at=lead.first_seen_at)  # fmt: skip
    delivery = _send("email", lead)
    assert "/o/" in str(mail.outbox[-1].alternatives) or contacts_marketing_allowed(contact_ids=[lead.pk])

    assert conversation_services.delivery_record_unsubscribe(delivery_id=delivery.pk) is True
    assert contacts_marketing_allowed(contact_ids=[lead.pk]) == set()
    conversation_services.delivery_record_open(delivery_id=delivery.pk)
    conversation_services.delivery_record_click(delivery_id=delivery.pk, link_index=0)
    assert not DeliveryEvent.objects.filter(kind__in=["open", "click"]).exists()


def test_an_unverified_browsers_marketing_consent_does_not_outweigh_the_addresses_refusal(client, website):
    UserContactFactory(email="Zoe@Example.com", marketing_consent=False)
    widget = Widget(client, website)
    widget.ping()
    widget.post("update", {"token": widget.token, "user": {"email": "zoe@example.com"}, "consent": {"marketing": True}})
    lead = Contact.objects.exclude(role="user").get()
    assert (lead.email, lead.marketing_consent) == ("zoe@example.com", True)

    assert contacts_marketing_allowed(contact_ids=[lead.pk]) == set()
    # A typed address gets no campaign before its owner confirms it (services.email_confirmation)…
    assert _send("email", lead).skip_reason == "email not confirmed" and mail.outbox == []
    # …and once confirmed, the browser's consent still does not outweigh the address's refusal.
    Contact.objects.filter(pk=lead.pk).update(email_verified_at=lead.created_at)
    _send("email", lead)
    html = next(c for c, kind in mail.outbox[-1].alternatives if kind == "text/html")
    assert "/o/" not in html and "https://shop.example/new" in html  # untracked: no pixel, the link as written
    everyone = list(Contact.objects.values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries:
        contacts_marketing_allowed(contact_ids=everyone)
    assert len(queries) == 1


def test_hidden_in_app_campaigns_are_neither_counted_nor_answerable(client, website, ingest_flush):
    widget = Widget(client, website)
    widget.ping()
    ingest_flush()
    contact = Contact.objects.get()  # no marketing consent, no legitimate interest: campaigns hidden
    delivery = _send("in_app", contact, body="Secret offer")
    assert in_app_unseen_count(contact_id=contact.pk) == 0

    poll = client.get(f"/widget-api/{website.app_id}/poll?token={widget.token}", HTTP_ORIGIN=ORIGIN)
    assert poll.status_code == 200 and poll.json()["unread_count"] == 0
    reply = widget.post(f"messages/{delivery.pk}/reply", {"token": widget.token, "body": "Tell me more"})
    assert reply.status_code == 404 and "Secret offer" not in reply.content.decode()
    delivery.refresh_from_db()
    assert delivery.seen_at is None and delivery.conversation_id is None


def test_in_app_messages_to_a_restricted_contact_are_skipped_not_sent(db):
    lead = LeadFactory(processing_restricted=True, marketing_consent=True)
    delivery = _send("in_app", lead, body="Hello")
    lead.refresh_from_db()
    assert (delivery.state, delivery.skip_reason) == (MessageDelivery.State.SKIPPED, "processing restricted")
    assert lead.last_contacted_at is None
