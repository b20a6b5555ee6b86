"""CSAT in the admin: every way of closing asks, the rating on the conversation page (thread and side panel,
refreshed by its poll), in the inbox and on the contact page, each at a fixed query count; the website's switch."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conversations import services
from conversations.models import Conversation, ConversationRating
from tests.contacts.factories import LeadFactory
from tests.conversations.factories import TeammateFactory
from tests.tracking.factories import WebsiteFactory

pytestmark = pytest.mark.django_db
INBOX = reverse("admin:conversations_conversation_changelist")
HOSTILE = '<script>alert("x")</script> & "quotes"'


def _answered(website=None, contact=None):
    website = website or WebsiteFactory(conversation_ratings_enabled=True)
    conversation = services.conversation_start_by_contact(
        contact=contact or LeadFactory(name="Ada"), body="My order is late", website=website
    )
    services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Sorry!")
    return conversation


def _rated(rating=4, remark="Quick and kind", **options):
    conversation = _answered(**options)
    services.conversation_close(conversation=conversation, teammate=None)
    request = ConversationRating.objects.get(conversation=conversation)
    services.conversation_rating_give(request=request, rating=rating, remark=remark)
    return conversation


def _page(conversation):
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response.content.decode()


@pytest.mark.parametrize("action", ["close", "reply_close"])
def test_closing_from_the_conversation_page_asks_for_a_rating(admin_client, action):
    conversation = _answered()
    response = admin_client.post(_page(conversation), {"do": action, "body": "All done!"})
    assert response.status_code == 302
    assert ConversationRating.objects.filter(conversation=conversation).count() == 1


def _bulk(client, action, conversations, **extra):
    selected = {"action": action, "_selected_action": [c.pk for c in conversations], **extra}
    assert client.post(INBOX, selected).status_code == 302


def test_a_bulk_close_of_several_asks_no_rating_unless_the_teammate_ticks_ask_for_ratings(admin_client):
    stale = [_answered() for _ in range(3)]
    _bulk(admin_client, "close_selected", stale)
    assert Conversation.objects.filter(state=Conversation.State.CLOSED).count() == 3
    assert not ConversationRating.objects.exists()

    asked = [_answered() for _ in range(2)]
    _bulk(admin_client, "close_selected", asked, ask_ratings="on")
    assert set(ConversationRating.objects.values_list("conversation", flat=True)) == {c.pk for c in asked}

    alone = _answered()
    _bulk(admin_client, "close_selected", [alone])  # one conversation: a close like the page's
    assert ConversationRating.objects.filter(conversation=alone).exists()


def test_a_closing_macro_run_on_several_conversations_asks_only_when_ticked(admin_client):
    from conversations.models import SavedReply

    macro = SavedReply.objects.create(name="Solved", body="Glad it worked out!", close=True)
    several = [_answered() for _ in range(2)]
    _bulk(admin_client, "run_macro_selected", several, macro=macro.pk, confirm="yes")
    assert Conversation.objects.filter(state=Conversation.State.CLOSED).count() == 2
    assert not ConversationRating.objects.exists()
    ticked = [_answered(), _answered()]
    # The confirmation page ("what it will do, to how many") carries the ticked box through to the run.
    selected = {"action": "run_macro_selected", "_selected_action": [c.pk for c in ticked], "macro": macro.pk}
    confirmation = admin_client.post(INBOX, {**selected, "ask_ratings": "on"}).content.decode()
    assert '<input type="hidden" name="ask_ratings" value="1">' in confirmation
    assert not ConversationRating.objects.exists()
    _bulk(admin_client, "run_macro_selected", ticked, macro=macro.pk, ask_ratings="1", confirm="yes")
    assert ConversationRating.objects.count() == 2


def test_the_inbox_offers_the_ask_for_ratings_box_unticked(admin_client):
    page = admin_client.get(INBOX).content.decode()
    box = page[page.index('name="ask_ratings"') - 200 : page.index('name="ask_ratings"') + 100]
    assert "Ask for ratings" in page and 'type="checkbox"' in box and "checked" not in box


def test_the_conversation_page_shows_the_rating_in_the_thread_and_the_side_panel_escaped(admin_client):
    conversation = _rated(rating=4, remark=HOSTILE)
    page = admin_client.get(_page(conversation)).content.decode()
    assert page.count("★★★★☆") == 2 and page.count("Rated 4/5 by the contact") == 2
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    assert '<script>alert("x")' not in page


def test_an_unanswered_request_says_so(admin_client):
    conversation = _answered()
    services.conversation_close(conversation=conversation, teammate=None)
    page = admin_client.get(_page(conversation)).content.decode()
    assert "Rating asked, no answer yet" in page


def test_the_conversation_pages_poll_brings_a_new_or_changed_rating(admin_client):
    conversation = _answered()
    services.conversation_close(conversation=conversation, teammate=None)
    poll = reverse("admin:conversations_conversation_poll", args=[conversation.pk])
    request = ConversationRating.objects.get()
    (shown,) = admin_client.get(poll, {"after": 0}).json()["ratings"]
    assert (shown["id"], shown["rating"], shown["stars"]) == (request.pk, None, "")
    services.conversation_rating_give(request=request, rating=5, remark="Great")
    (shown,) = admin_client.get(poll, {"after": 10**9}).json()["ratings"]
    assert (shown["rating"], shown["stars"], shown["label"], shown["remark"]) == (
        5, "★★★★★", "Rated 5/5 by the contact", "Great"
    )  # fmt: skip


def test_the_conversation_page_and_its_poll_run_a_fixed_number_of_queries_whatever_the_closures(admin_client):
    conversation = _rated()
    poll = reverse("admin:conversations_conversation_poll", args=[conversation.pk])
    admin_client.get(_page(conversation))  # warm caches (content types, the teammate's activity)
    page_few, _ = _queries(admin_client, _page(conversation))
    poll_few, _ = _queries(admin_client, poll + "?after=0")
    for _ in range(4):  # each closure rated before the next reopening withdraws its request
        services.conversation_reopen(conversation=conversation, teammate=None)
        services.conversation_close(conversation=conversation, teammate=None)
        services.conversation_rating_give(request=ConversationRating.objects.order_by("-id").first(), rating=3)
    assert _queries(admin_client, _page(conversation))[0] == page_few
    assert _queries(admin_client, poll + "?after=0")[0] == poll_few


def test_the_inbox_shows_each_rating_with_a_fixed_number_of_queries(admin_client):
    _rated(rating=2)
    admin_client.get(INBOX + "?view=closed")
    few, _ = _queries(admin_client, INBOX + "?view=closed")
    for score in (5, 4, 1):
        _rated(rating=score)
    many, page = _queries(admin_client, INBOX + "?view=closed")
    assert few == many
    for stars in ("★★☆☆☆", "★★★★★", "★★★★☆", "★☆☆☆☆"):
        assert stars in page


def test_the_contact_pages_conversations_show_their_ratings_without_a_query_more(admin_client):
    contact = LeadFactory(name="Ada")
    _rated(rating=5, remark=HOSTILE, contact=contact)
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    admin_client.get(url)
    few, page = _queries(admin_client, url)
    assert "5/5" in page and "&lt;script&gt;alert(&quot;x&quot;)" in page and '<script>alert("x")' not in page
    unrated = _answered(contact=contact)  # another conversation, asked and not answered
    services.conversation_close(conversation=unrated, teammate=None)
    _rated(rating=2, remark="Slow", contact=contact)
    many, page = _queries(admin_client, url)
    assert many == few
    assert "2/5" in page and "Slow" in page


def test_the_website_page_switches_ratings_on(admin_client):
    website = WebsiteFactory()
    assert website.conversation_ratings_enabled is False  # off until the owner asks for ratings
    url = reverse("admin:tracking_website_change", args=[website.pk])
    form = admin_client.get(url).context["adminform"].form
    assert "Ask for conversation ratings (CSAT)" in str(form["conversation_ratings_enabled"].label_tag())
    data = {name: value for name, value in form.initial.items() if name in form.fields and value is not None}
    data["allowed_origins"] = "\n".join(website.allowed_origins)
    data["conversation_ratings_enabled"] = "on"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    website.refresh_from_db()
    assert website.conversation_ratings_enabled is True
    conversation = _answered(website=website)
    services.conversation_close(conversation=conversation, teammate=None)
    assert Conversation.objects.get(pk=conversation.pk).ratings.count() == 1


def test_the_inbox_says_a_reopened_conversations_rating_is_its_earlier_closures(admin_client):
    """New-user walk: a conversation opened again showed its old stars under "Open" as if it were rated now."""
    conversation = _rated(rating=2)
    row = _inbox_row(admin_client, conversation, "?view=closed")
    assert "Rated 2 out of 5'" in row.replace('"', "'") and "earlier" not in row
    services.conversation_reopen(conversation=conversation, teammate=None)
    row = _inbox_row(admin_client, conversation, "?view=all")
    assert "★★☆☆☆" in row and "earlier" in row and "when it was last closed" in row


def _inbox_row(client, conversation, query):
    page = client.get(INBOX + query).content.decode()
    start = page.index(f'name="_selected_action" value="{conversation.pk}"')
    return page[start : page.index("</tr>", start)]
