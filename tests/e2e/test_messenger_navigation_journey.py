"""A visitor who sends a message and leaves the page at once (follows a link, a form's redirect): the message still
reaches the team; the next page's messenger lists it."""

import base64
import json

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conversations.models import Conversation
from privacy.cookie_declaration import cookie_declaration
from tests.e2e.test_messenger_queue_journey import Held, _open_messenger
from tests.e2e.test_widget_browser import quiet_network
from tests.faults.support import wait_until
from tests.tracking.factories import user_hash

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def _bodies(conversation: Conversation) -> list[str]:
    return list(conversation.parts.filter(part_type="comment").order_by("id").values_list("body", flat=True))


def test_a_message_on_its_way_when_the_visitor_follows_a_link_reaches_the_team(
    host, make_website, agent_admin, artifacts
):
    messenger = _open_messenger(host, make_website)
    host.write("Is the blue one in stock?")
    conversation = Conversation.objects.get()
    website = conversation.website

    held = Held(host.page, "/reply")  # a slow network: the reply is on its way when the visitor leaves
    messenger.locator("textarea").fill("Size 42, please")
    with host.page.expect_request(lambda request: request.url.endswith("/reply")):
        host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.pd")).to_have_text("Size 42, please")
    host.page.goto(host.snippet_page("/checkout", website.app_id))
    held.release()

    wait_until(
        lambda: _bodies(conversation) == ["Is the blue one in stock?", "Size 42, please"], what="the reply stored"
    )
    host.wait_booted()
    host.launcher().click()  # in the conversation the visitor left the page in
    expect(messenger.locator(".m.me .bu")).to_have_text(["Is the blue one in stock?", "Size 42, please"])
    host.screenshot(path=str(artifacts / "messenger-sent-while-leaving.png"))
    messenger.locator("button.bk").click()
    row = messenger.locator("li").filter(has_text="Size 42, please")
    expect(row).to_have_count(1)  # the list: its last message, the one sent while leaving

    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    expect(agent_admin.page.locator(".parley-thread")).to_contain_text("Size 42, please")
    assert not host.problems


def _storage(host) -> dict:
    return host.page.evaluate("Object.assign({}, sessionStorage)")


def test_words_written_and_not_sent_come_back_on_the_next_page(host, make_website, agent_admin, artifacts):
    messenger = _open_messenger(host, make_website)
    host.write("Do you ship to Norway?")
    conversation = Conversation.objects.get()
    website = conversation.website
    draft_key = cookie_declaration(website=website)["session_storage"][0]

    # Half a reply, a look at the list (the conversation says "Draft"), then a link: the next page keeps the words
    # (the declared key). The messenger opens where the visitor left it, on the list, and the words wait in their
    # conversation.
    messenger.locator("textarea").fill("And how long does it")
    messenger.locator("button.bk").click()
    draft_tag = messenger.locator("li").filter(has_text="Do you ship to Norway?").locator(".st")
    expect(draft_tag).to_have_text("Draft")
    host.page.goto(host.snippet_page("/shipping", website.app_id))
    host.wait_booted()
    assert list(_storage(host)) == [draft_key]
    host.launcher().click()
    expect(draft_tag).to_have_text("Draft")
    messenger.locator("li").filter(has_text="Do you ship to Norway?").locator("button").click()
    expect(messenger.locator(".m.me .bu")).to_have_text(["Do you ship to Norway?"])
    expect(messenger.locator("textarea")).to_have_value("And how long does it")
    assert json.loads(_storage(host)[draft_key])["t"] == {}  # put back: the composer has them now
    host.screenshot(path=str(artifacts / "messenger-draft-back.png"))
    messenger.locator("textarea").fill("And how long does it take?")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me .bu")).to_have_text(["Do you ship to Norway?", "And how long does it take?"])

    # A new conversation begun on the list, then another page: its words wait under "Send us a message".
    messenger.locator("button.bk").click()
    messenger.locator("button.cta").click()
    messenger.locator("textarea").fill("Separate question: gift wrapping?")
    messenger.locator("button.bk").click()  # back to the list first: the words are kept all the same
    expect(messenger.locator("button.cta .st")).to_have_text("Draft")
    host.screenshot(path=str(artifacts / "messenger-draft-tags.png"))
    host.page.goto(host.snippet_page("/gifts", website.app_id))
    host.wait_booted()
    host.launcher().click()
    messenger.locator("button.cta").click()
    expect(messenger.locator("textarea")).to_have_value("Separate question: gift wrapping?")
    expect(messenger.locator(".m.me")).to_have_count(0)
    host.page.keyboard.press("Enter")
    expect(messenger.locator("textarea")).to_have_attribute("aria-label", "Reply to the team")

    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    expect(agent_admin.page.locator(".parley-thread")).to_contain_text("And how long does it take?")
    assert sorted(Conversation.objects.values_list("parts__body", flat=True)) == [
        "And how long does it take?", "Do you ship to Norway?", "Separate question: gift wrapping?"
    ]  # fmt: skip
    assert not host.problems


def test_a_logout_or_another_visitor_drops_the_words_left_unsent(host, make_website):
    messenger = _open_messenger(host, make_website)
    host.write("My order number is 1042")
    website = Conversation.objects.get().website
    draft_key = cookie_declaration(website=website)["session_storage"][0]
    messenger.locator("textarea").fill("My card ends in 4242")
    messenger.locator("button.bk").click()  # kept, as the visitor leaves the thread
    assert list(_storage(host)) == [draft_key]

    # The site logs its user out where the messenger is loaded: the words go at once.
    host.page.evaluate("Parley('shutdown')")
    assert _storage(host) == {}

    # Left on a page where the messenger was never opened, then a logout there (the panel not loaded): the next
    # visitor's messenger shows none of them, and drops them.
    host.page.goto(host.snippet_page("/account", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Hello again")
    messenger.locator("textarea").fill("My address is 1 Fjord Road")
    host.page.goto(host.snippet_page("/logout", website.app_id, extra="Parley('shutdown');"))
    assert list(_storage(host)) == [draft_key]  # nothing of the messenger here to drop them
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    expect(messenger.locator("textarea")).to_be_visible()
    expect(messenger.locator("textarea")).to_have_value("")
    expect(messenger.locator(".m.me")).to_have_count(0)
    assert _storage(host) == {}
    assert not host.problems


def test_words_kept_that_the_pages_own_scripts_tampered_with_stay_text_and_break_nothing(host, make_website):
    messenger = _open_messenger(host, make_website)
    host.write("Hello")
    conversation = Conversation.objects.get()
    website = conversation.website
    draft_key = cookie_declaration(website=website)["session_storage"][0]
    token = host.cookies()[f"parley-session-{website.app_id}"]["value"]
    payload = json.loads(base64.urlsafe_b64decode(token.split(":")[0] + "=="))
    hostile = "<img src=x onerror=window.pwned=1>"
    kept = {"by": f"{payload['c']}.{payload['w']}", "t": {"new": 5, conversation.public_id: hostile, "x": {"a": 1}}}

    for stored in ("not json", json.dumps({"by": kept["by"], "t": ["abc"]}), json.dumps(kept)):
        host.page.goto(host.snippet_page("/next", website.app_id))
        host.wait_booted()
        host.page.evaluate("([key, value]) => sessionStorage.setItem(key, value)", [draft_key, stored])
        host.launcher().click()
        expect(messenger.locator(".p")).to_be_visible()
    expect(messenger.locator("textarea")).to_have_value(hostile)  # as text, in its conversation
    expect(messenger.locator(".m.me .bu")).to_have_text(["Hello"])
    assert host.page.evaluate("window.pwned") is None
    assert not host.problems


def test_a_site_that_signs_in_another_user_without_a_logout_shows_them_none_of_the_words_before(host, make_website):
    """The site boots Bob where Alice's messenger token is still in the cookie (no shutdown) and the messenger opens
    before Bob's ping has answered: Alice's words stay hers (before, they filled Bob's composer, then were his)."""
    website = make_website()
    alice, bob = ({"user_id": f"u-{name}", "user_hash": user_hash(website, f"u-{name}")} for name in ("alice", "bob"))
    host.page.goto(host.snippet_page("/account", website.app_id, alice))
    host.wait_booted()
    host.launcher().click()
    host.write("Alice's question")
    messenger = host.page.locator("parley-messenger")
    messenger.locator("textarea").fill("Alice's unsent words")

    held = Held(host.page, "/ping")  # Bob's ping, slow
    host.page.goto(host.snippet_page("/account", website.app_id, bob))
    host.launcher().click()
    expect(messenger.locator("textarea")).to_have_value("")
    held.release()
    quiet_network(host)
    expect(messenger.locator("textarea")).to_have_value("")
    expect(messenger.locator(".m.me")).to_have_count(0)
    assert _storage(host) == {}  # dropped, as another contact's
    assert not host.problems


def test_the_sites_prefilled_words_stay_as_written_with_the_words_kept_before_them(host, make_website):
    """showNewMessage("… about "): the visitor types on after the space (kept words were trimmed with it, and every
    demo question began "aboutdelivery")."""
    messenger = _open_messenger(host, make_website)
    host.write("First question")
    website = Conversation.objects.get().website
    host.page.goto(host.snippet_page("/faq", website.app_id))
    host.wait_booted()
    host.page.evaluate("Parley('showNewMessage', 'Hi! I have a question about ')")
    expect(messenger.locator("textarea")).to_have_value("Hi! I have a question about ")
    quiet_network(host)  # its ping answered: any kept words would be back by now
    messenger.locator("textarea").press("End")
    messenger.locator("textarea").press_sequentially("delivery")
    expect(messenger.locator("textarea")).to_have_value("Hi! I have a question about delivery")
    assert not host.problems
