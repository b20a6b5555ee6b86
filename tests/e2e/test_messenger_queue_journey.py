"""Journeys of a visitor who writes again before the messages before have arrived (a slow network), found by a new
user's walk and an attacker's review: what is written in one thread goes to one conversation, in order, whatever the
visitor opens meanwhile; a message not sent yet stays with its conversation; and after the site logs its user out,
nothing waiting leaves under the next visitor's name."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conversations.models import Conversation
from tests.faults.support import wait_until
from tracking.models import Website

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


class Held:
    """The widget's requests to one endpoint, held until released (a slow network)."""

    def __init__(self, page, suffix: str) -> None:
        self.page, self.suffix, self.routes = page, suffix, []
        page.route(self.matches, self.hold)

    def matches(self, url: str) -> bool:
        return url.endswith(self.suffix)

    def hold(self, route) -> None:
        self.routes.append(route)

    def release(self) -> None:
        """The held request goes on (one: the widget sends the next only once it has its answer), and the ones after
        go straight through (unroute lets one that came in meanwhile go too)."""
        assert len(self.routes) == 1, self.routes
        self.routes[0].continue_()
        self.page.unroute(self.matches, self.hold)


def _open_messenger(host, make_website):
    """A visitor on a page of a new website, the messenger open."""
    website = make_website()
    host.page.goto(host.snippet_page("/help", website.app_id))
    host.wait_booted()
    host.launcher().click()
    return host.page.locator("parley-messenger")


def _replies_held_and_back_to_the_list(host, make_website, first: str, *replies: str):
    """A conversation started with `first`, then `replies` written on a network that holds them, and the visitor back
    on the list: (the messenger, the conversation, the held replies)."""
    messenger = _open_messenger(host, make_website)
    host.write(first)
    conversation = Conversation.objects.get()
    held = Held(host.page, "/reply")
    for reply in replies:
        _write(messenger, host.page, reply)
    messenger.locator(".bk").click()
    return messenger, conversation, held


def _write(messenger, page, text: str) -> None:
    messenger.locator("textarea").fill(text)
    page.keyboard.press("Enter")
    expect(messenger.locator("textarea")).to_have_value("")


def _bodies(conversation: Conversation) -> list[str]:
    return list(conversation.parts.filter(part_type="comment").order_by("id").values_list("body", flat=True))


def test_a_new_thread_opened_while_the_first_messages_wait_takes_them_over_as_one_conversation(
    host, make_website, agent_admin, artifacts
):
    messenger = _open_messenger(host, make_website)
    held = Held(host.page, "/conversations")
    _write(messenger, host.page, "First: my parcel is late")
    _write(messenger, host.page, "Second: order #1042")

    # Back to the list, and "Send us a message" again before the network caught up: the two waiting messages are in
    # the new thread, which is theirs.
    messenger.locator(".bk").click()
    messenger.get_by_role("button", name="Send us a message").click()
    expect(messenger.locator(".m.me.pd .bu")).to_have_text(["First: my parcel is late", "Second: order #1042"])
    held.release()
    expect(messenger.locator(".m.pd, .m.fail")).to_have_count(0)
    _write(messenger, host.page, "Third: anyone?")
    expect(messenger.locator(".m.me .bu")).to_have_text(
        ["First: my parcel is late", "Second: order #1042", "Third: anyone?"]
    )
    expect(messenger.locator(".m.pd")).to_have_count(0)
    conversation = Conversation.objects.get()  # one, not one per message
    assert _bodies(conversation) == ["First: my parcel is late", "Second: order #1042", "Third: anyone?"]
    host.screenshot(path=str(artifacts / "messenger-queue-one-conversation.png"))

    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    expect(agent_admin.page.locator("#result_list tbody tr")).to_have_count(1)
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    expect(agent_admin.page.locator(".parley-part.from-contact .body")).to_have_text(_bodies(conversation))
    assert agent_admin.problems == [] and host.problems == []


def test_replies_waiting_when_the_visitor_goes_back_reach_their_conversation_and_a_failed_one_waits_there(
    host, make_website, artifacts
):
    # Two replies on a slow network, and back to the list before they arrive: both reach this conversation.
    messenger, conversation, held = _replies_held_and_back_to_the_list(
        host, make_website, "Hello, about my order", "It was due yesterday", "Can you check?"
    )
    held.release()
    expect(messenger.locator(".ls li")).to_have_count(1)
    wait_until(lambda: len(_bodies(conversation)) == 3, what="both replies")
    assert Conversation.objects.count() == 1
    assert _bodies(conversation) == ["Hello, about my order", "It was due yesterday", "Can you check?"]

    # A reply that fails in Parley (a 500: not sent again by itself, as a 502-504's would be once Parley answers),
    # then back to the list: coming back, it is still there with its Retry, which sends it.
    messenger.locator(".ls li button").click()
    expect(messenger.locator(".m.me .bu")).to_have_count(3)
    host.page.route(
        "**/reply",
        lambda route: route.fulfill(status=500, body="Server Error", headers={"Access-Control-Allow-Origin": "*"}),
    )
    _write(messenger, host.page, "Hello?")
    expect(messenger.locator(".m.fail .fl")).to_have_text("Retry")
    messenger.locator(".bk").click()
    host.page.unroute("**/reply")
    messenger.locator(".ls li button").click()
    failed = messenger.locator(".m.fail").filter(has_text="Hello?")
    expect(failed.locator(".fl")).to_have_text("Retry")
    expect(messenger.locator(".m.me .bu")).to_have_count(4)  # drawn after the conversation's three
    host.screenshot(path=str(artifacts / "messenger-failed-kept-after-leaving.png"))
    failed.locator(".fl").click()
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0)
    expect(messenger.locator(".m.me .bu").last).to_have_text("Hello?")
    assert _bodies(conversation)[-1] == "Hello?" and Conversation.objects.count() == 1
    assert host.problems == []


def test_after_the_site_logs_its_user_out_nothing_waiting_leaves_as_the_next_visitor(host, make_website):
    messenger = _open_messenger(host, make_website)
    held = Held(host.page, "/conversations")
    _write(messenger, host.page, "My address is 1 Main St")
    _write(messenger, host.page, "and my phone is 555-0100")

    # The site logs its user out and boots the messenger for whoever comes next, while the first message is on its way.
    app_id = Website.objects.get().app_id
    host.page.evaluate(f"Parley('shutdown'); Parley('boot', {{app_id: '{app_id}'}})")
    held.release()
    wait_until(lambda: Conversation.objects.exists(), what="the first message's conversation")
    host.page.wait_for_load_state("networkidle")
    first = Conversation.objects.get()
    assert _bodies(first) == ["My address is 1 Main St"]  # sent before the logout; the second never left

    # The next visitor, on this page and the next, sees none of it: the first message's answer did not bring the
    # previous visitor back.
    for _ in range(2):
        host.launcher().click()
        expect(host.panel()).to_be_visible()
        host.page.wait_for_load_state("networkidle")
        expect(messenger.locator(".ls li, .m.me")).to_have_count(0)
        host.page.reload()
        host.wait_booted()
    assert Conversation.objects.count() == 1 and first.contact.conversations.count() == 1
    assert host.problems == []


def test_a_site_that_boots_the_messenger_again_without_a_logout_loses_nothing_the_visitor_wrote(host, make_website):
    """Single-page sites call boot again (a route change, new settings): the messenger dropped the message that had not
    gone yet and the words in its composer."""
    messenger = _open_messenger(host, make_website)
    host.write("Hello, about my order")
    conversation = Conversation.objects.get()
    host.page.route("**/reply", lambda route: route.abort("connectionrefused"))
    _write(messenger, host.page, "It was due on Monday")
    expect(messenger.locator(".m.fail .fl")).to_have_text("Retry")
    messenger.locator("textarea").fill("The tracking number is")

    app_id = Website.objects.get().app_id
    host.page.evaluate(f"Parley('boot', {{app_id: '{app_id}'}})")
    host.page.unroute("**/reply")  # Parley is reachable again
    # The booted messenger (its visitor awaits a reply: it loads) sends the message with its key.
    wait_until(lambda: _bodies(conversation) == ["Hello, about my order", "It was due on Monday"], what="the reply")
    host.launcher().click()
    expect(messenger.locator(".m.me .bu")).to_have_text(["Hello, about my order", "It was due on Monday"])
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0)
    expect(messenger.locator("textarea")).to_have_value("The tracking number is")
    assert _bodies(conversation) == ["Hello, about my order", "It was due on Monday"]
    assert host.problems == []


def test_messages_written_offline_go_by_themselves_once_the_visitor_is_back_online(host, make_website):
    """The banner said "We'll keep trying", and nothing did: each message waited for its Retry."""
    messenger = _open_messenger(host, make_website)
    host.write("Hello")
    conversation = Conversation.objects.get()

    host.context.set_offline(True)
    _write(messenger, host.page, "On the train, signal comes and goes")
    _write(messenger, host.page, "Is my order shipped?")
    expect(messenger.locator(".m.fail .nf span")).to_have_text(["Not sent.", "Not sent."])
    expect(messenger.locator(".of")).to_have_text("You're offline. We'll keep trying.")

    host.context.set_offline(False)
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0)
    expect(messenger.locator(".m.me .bu")).to_have_text(
        ["Hello", "On the train, signal comes and goes", "Is my order shipped?"]
    )
    assert _bodies(conversation) == ["Hello", "On the train, signal comes and goes", "Is my order shipped?"]

    # A thread opened offline loads its history once the connection is back (it said "Loading…" until a send).
    messenger.locator(".bk").click()
    host.context.set_offline(True)
    messenger.locator(".ls li button").click()
    expect(messenger.locator(".th .em")).to_have_text("Loading…")
    host.context.set_offline(False)
    expect(messenger.locator(".m.me .bu")).to_have_text(_bodies(conversation))
    assert host.problems == []


def test_messages_waiting_when_their_contact_is_erased_come_back_in_the_next_new_thread(host, make_website):
    """The visitor went back to the list while two replies waited, and their contact was erased meanwhile: the words
    went into a composer no longer on screen, lost."""
    from contacts.services import contact_erase

    messenger, conversation, held = _replies_held_and_back_to_the_list(
        host, make_website, "Hello", "A: my order number is 1042", "B: and I paid twice"
    )
    contact_erase(contact=conversation.contact, actor=None, source="admin")
    held.release()
    expect(messenger.locator(".ls li")).to_have_count(0)  # the erased visitor's conversations are gone from view
    messenger.get_by_role("button", name="Send us a message").click()
    expect(messenger.locator("textarea")).to_have_value("A: my order number is 1042\nB: and I paid twice")
    assert not Conversation.objects.exists()
    # Sent now, as the new visitor who wrote them: one new conversation.
    messenger.locator("textarea").press("Enter")
    expect(messenger.locator(".m.pd, .m.fail")).to_have_count(0)
    assert _bodies(Conversation.objects.get()) == ["A: my order number is 1042\nB: and I paid twice"]
    assert host.problems == []
