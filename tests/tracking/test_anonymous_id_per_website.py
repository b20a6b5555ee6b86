"""An anonymous visitor or lead belongs to the website that created it: its anonymous_id means nothing on
another website of the install, and a contact's conversations are read only through the website they were
started on (a user verified where verification is enforced excepted). docs/architecture.md, "Widget trust rules"."""

import pytest
from django.core.cache import cache

from contacts import services as contacts_services
from contacts.models import Contact, PrivacyAuditEntry
from conversations import services as conversations
from conversations.attachment_links import attachment_link_query, contact_holder
from conversations.models import Conversation
from tests.conversations.attachment_samples import png_bytes, upload
from tests.tracking.conftest import ORIGIN, Widget
from tests.tracking.factories import user_hash
from tracking import services
from tracking.models import Website
from tracking.page_view_buffer import page_views_flush_before_reading
from tracking.widget_auth import widget_token_read

pytestmark = pytest.mark.django_db


def _website(name, verification=Website.IdentityVerification.OFF):
    return services.website_create(name=name, allowed_origins=[ORIGIN], identity_verification=verification)


@pytest.fixture
def shop(db):
    return _website("Shop")


@pytest.fixture
def forum(db):
    return _website("Forum")


def _get(client, website, endpoint, token, **params):
    return client.get(f"/widget-api/{website.app_id}/{endpoint}", {"token": token, **params}, HTTP_ORIGIN=ORIGIN)


def _lead_with_a_conversation(client, website):
    """A visitor of `website` writes: a lead with one conversation there (and its file)."""
    browser = Widget(client, website)
    assert browser.ping().status_code == 200
    picture = upload("receipt.png", png_bytes(), "image/png")
    response = browser.post(
        "conversations",
        {"token": browser.token, "body": "My order 4417 never arrived"},
    )
    assert response.status_code == 201, response.content
    lead = Contact.objects.get(anonymous_id=browser.anonymous_id)
    conversation = Conversation.objects.get(contact=lead)
    conversations.conversation_reply_as_contact(conversation=conversation, body="Here is the receipt", files=[picture])
    return browser, lead, conversation


def test_a_visitors_anonymous_id_is_unknown_on_another_website(client, shop, forum):
    visitor = Widget(client, shop)
    visitor.ping()
    stranger = Widget(client, forum)
    stranger.anonymous_id = visitor.anonymous_id

    answer = stranger.ping().json()

    mine = Contact.objects.get(anonymous_id=visitor.anonymous_id)
    assert answer["anonymous_id"] != visitor.anonymous_id
    assert widget_token_read(token=answer["token"], website_id=forum.pk).contact_id != mine.pk
    assert Contact.objects.filter(role=Contact.Role.VISITOR).count() == 2


def test_an_anonymous_id_keeps_working_on_the_website_that_created_it(client, shop, forum):
    visitor = Widget(client, shop)
    visitor.ping()
    Widget(client, forum).ping()  # the same person elsewhere changes nothing
    returning = Widget(client, shop)
    returning.anonymous_id = visitor.anonymous_id

    answer = returning.ping().json()

    assert answer["anonymous_id"] == visitor.anonymous_id
    mine = Contact.objects.get(anonymous_id=visitor.anonymous_id)
    assert widget_token_read(token=answer["token"], website_id=shop.pk).contact_id == mine.pk


def test_a_leads_anonymous_id_reads_nothing_on_another_website(client, shop, forum):
    owner, lead, conversation = _lead_with_a_conversation(client, shop)
    stranger = Widget(client, forum)
    stranger.anonymous_id = owner.anonymous_id

    answer = stranger.ping().json()

    assert answer["conversations"] == []
    assert widget_token_read(token=answer["token"], website_id=forum.pk).contact_id != lead.pk
    assert _get(client, forum, "conversations", answer["token"]).json()["conversations"] == []
    assert _get(client, forum, f"conversations/{conversation.public_id}", answer["token"]).status_code == 404


def test_a_leads_anonymous_id_starts_a_new_leads_conversation_on_another_website(client, shop, forum):
    owner, lead, _conversation = _lead_with_a_conversation(client, shop)
    stranger = Widget(client, forum)

    response = stranger.post("conversations", {"anonymous_id": owner.anonymous_id, "body": "Hi, it's me"})

    assert response.status_code == 201
    token = response.json()["token"]
    assert widget_token_read(token=token, website_id=forum.pk).contact_id != lead.pk
    listed = _get(client, forum, "conversations", token).json()["conversations"]
    assert [c["id"] for c in listed] == [response.json()["conversation"]["id"]]
    assert lead.conversations.count() == 1


def test_the_anonymous_id_starts_a_conversation_on_its_own_website(client, shop):
    visitor = Widget(client, shop)
    visitor.ping()

    response = visitor.post("conversations", {"anonymous_id": visitor.anonymous_id, "body": "Hello"})

    assert response.status_code == 201
    lead = Contact.objects.get(anonymous_id=visitor.anonymous_id)
    assert widget_token_read(token=response.json()["token"], website_id=shop.pk).contact_id == lead.pk
    assert lead.role == Contact.Role.LEAD


def _signed_in(client, website, user_id, *, signed):
    browser = Widget(client, website)
    user = {"user_id": user_id}
    if signed:
        user["user_hash"] = user_hash(website, user_id)
    answer = browser.ping(user=user)
    assert answer.status_code == 200 and answer.json()["contact"]["role"] == "user", answer.content
    return browser


def test_a_users_conversation_is_not_read_through_another_website_without_verification(client, shop, forum):
    on_shop = _signed_in(client, shop, "u-7", signed=False)
    user = Contact.objects.get(external_id="u-7")
    conversation = conversations.conversation_start_by_contact(contact=user, body="Refund my card", website=shop)

    on_forum = _signed_in(client, forum, "u-7", signed=False)
    answer = on_forum.ping().json()

    assert answer["conversations"] == [] and answer["unread_count"] == 0
    assert _get(client, forum, "conversations", on_forum.token).json()["conversations"] == []
    assert _get(client, forum, f"conversations/{conversation.public_id}", on_forum.token).status_code == 404
    poll = _get(client, forum, "poll", on_forum.token).json()
    assert poll["changed"] == [] and poll["unread_count"] == 0
    reply = on_forum.post(f"conversations/{conversation.public_id}/reply", {"token": on_forum.token, "body": "x"})
    assert reply.status_code == 404
    # Through the website it was started on, it is there.
    listed = _get(client, shop, "conversations", on_shop.token).json()["conversations"]
    assert [c["id"] for c in listed] == [conversation.public_id]


def test_a_verified_user_reads_every_conversation_where_verification_is_enforced(client, bank):
    other_bank = _website("Insurer", Website.IdentityVerification.ENFORCED)
    _signed_in(client, bank, "u-9", signed=True)
    user = Contact.objects.get(external_id="u-9")
    conversation = conversations.conversation_start_by_contact(contact=user, body="Card stolen", website=bank)

    elsewhere = _signed_in(client, other_bank, "u-9", signed=True)

    listed = _get(client, other_bank, "conversations", elsewhere.token).json()["conversations"]
    assert [c["id"] for c in listed] == [conversation.public_id]
    assert _get(client, other_bank, f"conversations/{conversation.public_id}", elsewhere.token).status_code == 200
    assert _get(client, other_bank, "poll", elsewhere.token).json()["changed"] == [conversation.public_id]


def test_a_file_link_made_for_another_website_does_not_open_the_file(client, shop, forum):
    _owner, lead, conversation = _lead_with_a_conversation(client, shop)
    attachment = conversation.parts.get(attachments__isnull=False).attachments.get()

    def download(website):
        holder = contact_holder(contact_id=lead.pk, website_id=website.pk)
        query = attachment_link_query(attachment=attachment, holder=holder)
        return client.get(f"/widget-api/{website.app_id}/attachments/{attachment.public_id}{query}", HTTP_ORIGIN=ORIGIN)

    assert download(forum).status_code == 403
    assert download(shop).status_code == 200


def test_a_visitor_older_than_the_record_belongs_to_the_website_of_its_first_session(client, shop, forum):
    visitor = Widget(client, shop)
    visitor.ping()
    page_views_flush_before_reading()  # (a first visit may still be queued)
    Contact.objects.filter(anonymous_id=visitor.anonymous_id).update(first_website_id=None)  # a row from before
    mine = Contact.objects.get(anonymous_id=visitor.anonymous_id)

    elsewhere = Widget(client, forum)
    elsewhere.anonymous_id = visitor.anonymous_id
    at_home = Widget(client, shop)
    at_home.anonymous_id = visitor.anonymous_id

    assert widget_token_read(token=elsewhere.ping().json()["token"], website_id=forum.pk).contact_id != mine.pk
    assert widget_token_read(token=at_home.ping().json()["token"], website_id=shop.pk).contact_id == mine.pk


@pytest.mark.parametrize("how", ["erased", "merged", "erased_long_ago"])
def test_the_poll_refuses_a_token_of_a_contact_that_no_longer_exists_like_every_chat_endpoint(
    client, shop, how, django_capture_on_commit_callbacks
):
    browser, lead, _conversation = _lead_with_a_conversation(client, shop)
    with django_capture_on_commit_callbacks(execute=True):  # the hot path learns it after the commit
        if how == "merged":
            user = contacts_services.contact_create(role=Contact.Role.USER, external_id="u-1")
            contacts_services.contact_merge(source=lead, into=user)
        else:
            contacts_services.contact_erase(contact=lead, actor=None, source=PrivacyAuditEntry.Source.API)
    if how == "erased_long_ago":
        cache.clear()  # the hot path's marks have expired: the database answers

    poll = _get(client, shop, "poll", browser.token)
    listing = _get(client, shop, "conversations", browser.token)

    assert (poll.status_code, poll.json()) == (listing.status_code, listing.json())
    assert poll.status_code == 403 and "no longer exists" in poll.content.decode()
