"""Consent by purpose on the server: what the widget states, what is stored on the contact, and
what each purpose switches on or off (page views and events, email tracking, in-app campaigns)."""

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import services as contact_services
from contacts.models import Contact
from conversations import services as conversation_services
from conversations.models import DeliveryEvent, MessageDelivery
from conversations.selectors import contacts_marketing_allowed
from tests.contacts.factories import LeadFactory
from tests.tracking.conftest import Widget
from tests.tracking.factories import ORIGIN
from tracking import services as tracking_services
from tracking.models import Event, PageView, WebSession, Website


@pytest.fixture
def clinic(db):
    return tracking_services.website_create(
        name="Clinic", allowed_origins=[ORIGIN], tracking_mode=Website.TrackingMode.SUPPORT_ONLY
    )


def test_analytics_consent_from_a_cmp_is_stored_with_its_purposes_time_and_source(client, clinic, ingest_flush):
    widget = Widget(client, clinic)
    assert widget.ping(consent={"marketing": True}).json()["tracked"] is False
    ingest_flush()
    assert not Contact.objects.exists()  # nothing recorded, nobody to store a choice on

    answer = widget.ping(consent={"analytics": True, "marketing": False, "source": "tcf"}).json()

    ingest_flush()  # with the ingest queue on, the new visitor's row (and its choice) is written by the flush
    contact = Contact.objects.get()
    assert answer["tracked"] is True and PageView.objects.count() == 1
    assert (contact.analytics_consent, contact.marketing_consent, contact.consent_source) == (True, False, "tcf")
    assert contact.consent_updated_at is not None


def test_the_boolean_form_still_means_analytics_consent(client, clinic, ingest_flush):
    widget = Widget(client, clinic)
    assert widget.ping(consent=False).json()["tracked"] is False  # older loaders always send false
    assert widget.ping(consent=True).json()["tracked"] is True
    ingest_flush()
    assert Contact.objects.get().analytics_consent is True


def test_a_refusal_holds_on_a_full_tracking_website_and_is_remembered_for_the_next_pages(client, website, ingest_flush):
    widget = Widget(client, website)
    assert widget.ping().json()["tracked"] is True
    assert widget.ping(consent={"analytics": False}).json()["tracked"] is False
    assert widget.ping().json()["tracked"] is False  # the stored refusal wins over the website's default
    assert widget.event("clicked").json()["tracked"] is False
    ingest_flush()
    assert PageView.objects.count() == 1 and not Event.objects.exists()
    assert Contact.objects.get().analytics_consent is False


def test_the_same_choice_on_every_page_writes_nothing_more(client, clinic, ingest_flush):
    widget = Widget(client, clinic)
    widget.ping(consent={"analytics": True, "marketing": True})
    ingest_flush()
    first = Contact.objects.get().consent_updated_at
    widget.ping(consent={"analytics": True, "marketing": True})
    with CaptureQueriesContext(connection) as queries:
        widget.ping(consent={"analytics": True, "marketing": True})
    assert Contact.objects.get().consent_updated_at == first
    assert not [q for q in queries.captured_queries if "consent_source" in q["sql"] and "UPDATE" in q["sql"]]


@pytest.mark.parametrize(
    ("consent", "field"),
    [
        ("yes", "consent"),
        (1, "consent"),
        ({"analytics": "yes"}, "consent.analytics"),
        ({"marketing": 1}, "consent.marketing"),
        ({"analytics": True, "source": "cmp"}, "consent.source"),
        ({"analytics": True, "source": ["tcf"]}, "consent.source"),
        ({"analytics": True, "source": "\x00"}, "consent.source"),
        ({"analytics": True, "default": "yes"}, "consent.default"),
    ],
)
def test_a_bad_consent_is_a_400_naming_its_field(client, clinic, consent, field):
    response = Widget(client, clinic).ping(consent=consent)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_the_sites_own_purposes_in_the_consent_object_are_ignored(client, clinic):
    response = Widget(client, clinic).ping(consent={"analytics": True, "ads": True, "functional": "yes"})
    assert response.status_code == 200 and response.json()["tracked"] is True


def test_a_restricted_contact_is_not_tracked_but_keeps_chatting(client, website, ingest_flush):
    widget = Widget(client, website)
    widget.ping(consent={"analytics": True})
    ingest_flush()
    contact = Contact.objects.get()
    contact_services.contact_processing_restrict(contact=contact, restricted=True)
    from django.core.cache import cache

    cache.clear()  # the hot path's one-minute snapshot, as if a minute passed
    assert widget.ping(consent={"analytics": True}).json()["tracked"] is False
    assert widget.event("clicked").json()["tracked"] is False
    reply = widget.post("conversations", {"token": widget.token, "body": "Still there?"})
    assert reply.status_code in (200, 201)
    assert contact.conversations.count() == 1


def test_a_withdrawal_in_an_update_is_stored_at_once_and_the_answer_drops_the_anonymous_id(client, website):
    widget = Widget(client, website)
    answer = widget.ping(consent={"analytics": True, "marketing": True}).json()
    assert "forget" not in answer and answer["consent"] == {"analytics": True, "marketing": True}

    response = widget.post("update", {"token": widget.token, "consent": {"analytics": False, "marketing": False}})

    answer = response.json()
    assert answer["tracked"] is False and answer["forget"] is True and answer["token"]
    contact = Contact.objects.get()
    assert (contact.analytics_consent, contact.marketing_consent) == (False, False)
    # The next page says nothing: the token is enough for the server to hold the withdrawal.
    widget.anonymous_id = None
    answer = widget.ping().json()
    assert answer["tracked"] is False and answer["forget"] is True and answer["anonymous_id"] is None


def test_a_restricted_contacts_answer_tells_the_browser_to_drop_its_anonymous_id(client, website, ingest_flush):
    widget = Widget(client, website)
    widget.ping()
    ingest_flush()
    contact_services.contact_processing_restrict(contact=Contact.objects.get(), restricted=True)
    from django.core.cache import cache

    cache.clear()  # the hot path's one-minute snapshot, as if a minute passed
    answer = widget.ping(consent={"analytics": True}).json()
    assert answer["tracked"] is False and answer["forget"] is True


def test_a_pages_default_is_not_the_visitors_choice(client, website, ingest_flush):
    """Consent Mode's `default`: applies where the visitor chose nothing, is never stored, never drops a cookie."""
    denied = {"analytics": False, "marketing": False, "source": "consent_mode", "default": True}
    widget = Widget(client, website)
    answer = widget.ping(consent=denied).json()
    assert answer["tracked"] is False and "forget" not in answer  # nobody's choice yet: the default holds
    ingest_flush()
    assert not Contact.objects.exists()

    widget.ping(consent={"analytics": True, "marketing": True, "source": "consent_mode"})
    ingest_flush()
    contact = Contact.objects.get()
    chosen_at = contact.consent_updated_at
    answer = widget.ping(consent=denied).json()  # the returning visitor's next page: default first
    assert answer["tracked"] is True and "forget" not in answer  # the stored choice beats the page's default
    contact.refresh_from_db()
    assert (contact.analytics_consent, contact.marketing_consent, contact.consent_updated_at) == (True, True, chosen_at)


def test_identity_is_support_it_goes_through_before_analytics_consent(client, clinic):
    tracking_services.website_update(website=clinic, identity_verification=Website.IdentityVerification.OFF)
    widget = Widget(client, clinic)
    answer = widget.ping(user={"email": "ada@example.com", "name": "Ada"}).json()

    assert answer["tracked"] is False and answer["token"] and answer["anonymous_id"] is None
    contact = Contact.objects.get()
    assert (contact.email, contact.name) == ("ada@example.com", "Ada")
    assert not PageView.objects.exists() and not WebSession.objects.exists()
    assert contact.browser == "" and contact.browser_language == ""  # device fields wait for analytics
    assert contact.analytics_consent is None  # identifying someone is not a consent


def test_an_anonymous_ping_before_consent_still_creates_nobody(client, clinic):
    assert Widget(client, clinic).ping(user={"custom_attributes": {"plan": "pro"}}).json()["token"] is None
    assert not Contact.objects.exists()


# --- marketing: email tracking and in-app campaigns ---------------------------------------------------


def _email_to(contact):
    message = conversation_services.message_send(
        sender=None, channel="email", subject="News", body="Read https://shop.example/new", contact_ids=[contact.pk]
    )
    while conversation_services.message_deliver_batch(message_id=message.pk)[1]:
        pass
    email = mail.outbox[-1]
    return message.deliveries.get(), email.body, next(c for c, kind in email.alternatives if kind == "text/html")


def test_without_marketing_consent_emails_go_out_untracked(db):
    lead = LeadFactory()
    delivery, text, html = _email_to(lead)
    assert "<img" not in html and 'href="https://shop.example/new"' in html and "https://shop.example/new" in text
    assert delivery.state == MessageDelivery.State.SENT


def test_with_marketing_consent_emails_carry_the_pixel_and_tracked_links(db):
    lead = LeadFactory(marketing_consent=True)
    _delivery, text, html = _email_to(lead)
    assert "<img" in html and 'href="https://shop.example/new"' not in html
    assert "https://shop.example/new" not in text


def test_a_websites_explicit_legitimate_interest_tracks_contacts_who_made_no_choice(db):
    shop = tracking_services.website_create(
        name="Shop", allowed_origins=[ORIGIN], marketing_basis=Website.MarketingBasis.LEGITIMATE_INTEREST
    )
    silent, refused, elsewhere, restricted = (
        LeadFactory(), LeadFactory(marketing_consent=False), LeadFactory(), LeadFactory(processing_restricted=True),
    )  # fmt: skip
    for contact in (silent, refused, restricted):
        WebSession.objects.create(contact=contact, website=shop, started_at=contact.first_seen_at,
                                  last_activity_at=contact.first_seen_at)  # fmt: skip

    allowed = contacts_marketing_allowed(contact_ids=[silent.pk, refused.pk, elsewhere.pk, restricted.pk])

    assert allowed == {silent.pk}


def test_an_open_or_click_after_consent_was_withdrawn_records_nothing(client, db):
    lead = LeadFactory(marketing_consent=True)
    delivery, _text, _html = _email_to(lead)
    contact_services.contact_consent_record(contact_id=lead.pk, analytics=None, marketing=False, source="teammate")

    assert conversation_services.delivery_record_open(delivery_id=delivery.pk) is True
    assert (
        conversation_services.delivery_record_click(delivery_id=delivery.pk, link_index=0) == "https://shop.example/new"
    )
    delivery.refresh_from_db()
    assert delivery.opened_at is None and delivery.clicked_at is None and not DeliveryEvent.objects.exists()


def test_a_restricted_contact_gets_no_email(db):
    lead = LeadFactory(marketing_consent=True, processing_restricted=True)
    message = conversation_services.message_send(
        sender=None, channel="email", subject="News", body="Hi", contact_ids=[lead.pk]
    )
    conversation_services.message_deliver_batch(message_id=message.pk)
    delivery = message.deliveries.get()
    assert (delivery.state, delivery.skip_reason) == (MessageDelivery.State.SKIPPED, "processing restricted")
    assert mail.outbox == []


def test_in_app_campaigns_need_the_marketing_purpose(db):
    lead = LeadFactory()
    message = conversation_services.message_send(
        sender=None, channel="in_app", body="Dark mode!", contact_ids=[lead.pk]
    )
    conversation_services.message_deliver_batch(message_id=message.pk)
    assert conversation_services.in_app_messages_pending(contact=lead) == []
    # The send says so: skipped with the reason, never counted as sent (issue 12's walk).
    assert list(message.deliveries.values_list("state", "skip_reason")) == [("skipped", "no marketing consent")]

    contact_services.contact_consent_record(contact_id=lead.pk, analytics=None, marketing=True, source="widget")
    lead.refresh_from_db()
    again = conversation_services.message_send(sender=None, channel="in_app", body="Dark mode!", contact_ids=[lead.pk])
    conversation_services.message_deliver_batch(message_id=again.pk)
    assert [m["body"] for m in conversation_services.in_app_messages_pending(contact=lead)] == ["Dark mode!"]


def test_a_merge_keeps_the_most_protective_choice_and_any_restriction(db):
    import datetime as dt

    from django.utils import timezone

    from tests.contacts.factories import UserContactFactory

    earlier = timezone.now() - dt.timedelta(days=3)
    user = UserContactFactory(
        analytics_consent=False, marketing_consent=True, consent_source="teammate", consent_updated_at=earlier
    )
    visitor = LeadFactory(analytics_consent=True, consent_source="tcf", consent_updated_at=timezone.now(),
                          processing_restricted=True)  # fmt: skip
    merged = contact_services.contact_merge(source=visitor, into=user)
    assert (merged.analytics_consent, merged.marketing_consent, merged.consent_source) == (False, True, "tcf")
    assert merged.processing_restricted is True
