"""A visitor on a network that loses Parley's answers (the message arrived, the answer did not): the messenger says
"Not sent." with Retry, and the Retry shows the message sent once, to the visitor and to the agent, never twice; the
messages written after a first message whose answer was lost wait for its Retry; a reply the thread shows stored is
drawn once, without Retry."""

import contextlib
import json
import re
import time

import pytest
from django.db import OperationalError
from django.urls import reverse
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation
from privacy.cookie_declaration import cookie_declaration
from tests.e2e.conftest import parley_outage
from tests.e2e.test_messenger_queue_journey import _open_messenger
from tests.faults.support import wait_until
from tracking.models import Website

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


class AnswerLost:
    """The widget's POSTs to one endpoint reach Parley, which stores what they carry and answers; the answer is lost
    on its way back (a connection reset). Its reads fail meanwhile (polls, office hours: the same bad network): the
    messenger, which sends a message with no word from Parley again by itself once Parley answers a call, waits (its
    polls back off), and a test's Retry click is the only resend until stop()."""

    def __init__(self, page, suffix: str) -> None:
        self.page, self.suffix, self.lost = page, suffix, 0
        page.route(self.matches, self.lose)
        page.route(self.reads, self.drop)

    def matches(self, url: str) -> bool:
        return url.endswith(self.suffix)

    @staticmethod
    def reads(url: str) -> bool:
        return "/widget-api/" in url

    def lose(self, route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        route.fetch()  # Parley has it
        self.lost += 1
        route.abort("connectionreset")

    @staticmethod
    def drop(route) -> None:
        if route.request.method == "GET":
            route.abort("connectionreset")
        else:
            route.fallback()  # a write: lost on its way back, or through

    def stop(self) -> None:
        self.page.unroute(self.matches, self.lose)
        self.page.unroute(self.reads, self.drop)


class StartsFail:
    """Parley's outage for a conversation's start, in the server: its 503 (the database down), also to the page's last
    try as it goes, a keepalive request that Playwright's routes do not see. `tries`: the bodies it refused."""

    def __init__(self, monkeypatch) -> None:
        self.monkeypatch, self.tries, self.start = monkeypatch, [], services.conversation_start_by_contact
        monkeypatch.setattr(services, "conversation_start_by_contact", self.fail)

    def fail(self, **kwargs):
        self.tries.append(kwargs["body"])
        raise OperationalError("the database is down")

    def stop(self) -> None:
        self.monkeypatch.setattr(services, "conversation_start_by_contact", self.start)


def _messenger_loaded(page) -> bool:
    return page.evaluate("() => !!document.querySelector('script[src*=\"panel\"]')")


def _bodies(conversation: Conversation) -> list[str]:
    return list(conversation.parts.filter(part_type="comment").order_by("id").values_list("body", flat=True))


def _write_and_lose_the_answer(messenger, page, suffix: str, text: str) -> None:
    lost = AnswerLost(page, suffix)
    messenger.locator("textarea").fill(text)
    # Its way there can be slow on a busy machine (a first message waits for the page's ping): wait for the loss.
    with page.expect_event(
        "requestfailed", lambda request: request.method == "POST" and lost.matches(request.url), timeout=30_000
    ):
        page.keyboard.press("Enter")
    expect(messenger.locator(".m.fail").filter(has_text=text).locator(".fl")).to_have_text("Retry")
    assert lost.lost == 1
    lost.stop()


def test_a_message_whose_answer_was_lost_is_sent_once_by_its_retry(host, make_website, agent_admin, artifacts):
    messenger = _open_messenger(host, make_website)

    # The first message reaches Parley, its answer does not: "Not sent.", and Retry.
    _write_and_lose_the_answer(messenger, host.page, "/conversations", "Where is my parcel?")
    conversation = Conversation.objects.get()
    assert _bodies(conversation) == ["Where is my parcel?"]
    host.screenshot(path=str(artifacts / "messenger-answer-lost.png"))
    messenger.locator(".m.fail .fl").click()
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0)
    expect(messenger.locator(".m.me .bu")).to_have_text(["Where is my parcel?"])
    expect(messenger.locator("textarea")).to_have_attribute("aria-label", "Reply to the team")

    # A reply the same: its Retry shows it sent, once.
    _write_and_lose_the_answer(messenger, host.page, "/reply", "Order #1042")
    messenger.locator(".m.fail .fl").click()
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0)
    expect(messenger.locator(".m.me .bu")).to_have_text(["Where is my parcel?", "Order #1042"])
    host.write("Thanks")
    host.screenshot(path=str(artifacts / "messenger-retry-sent-once.png"))
    assert Conversation.objects.count() == 1
    assert _bodies(conversation) == ["Where is my parcel?", "Order #1042", "Thanks"]

    # The agent sees each message once.
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    expect(agent_admin.page.locator(".parley-part.from-contact .body")).to_have_text(
        ["Where is my parcel?", "Order #1042", "Thanks"]
    )
    agent_admin.page.screenshot(path=str(artifacts / "admin-retried-messages-once.png"), full_page=True)
    # The lost answers were network errors the test made: the page logged them, nothing else.
    assert agent_admin.problems == []
    assert all("ERR_CONNECTION_RESET" in problem or "Failed to fetch" in problem for problem in host.problems), (
        host.problems
    )


def test_messages_written_after_a_first_message_whose_answer_was_lost_wait_for_its_retry(
    host, make_website, agent_admin, artifacts
):
    messenger = _open_messenger(host, make_website)

    # The first message's answer is lost: Parley may hold it, so the next message waits (faded) instead of starting
    # a conversation of its own.
    _write_and_lose_the_answer(messenger, host.page, "/conversations", "My order is late")
    messenger.locator("textarea").fill("It is order #1042")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me.pd .bu")).to_have_text(["It is order #1042"])
    host.screenshot(path=str(artifacts / "messenger-waits-behind-a-lost-first-message.png"))
    assert Conversation.objects.count() == 1

    # Its Retry finds the conversation Parley made, and the waiting one follows it there.
    messenger.locator(".m.fail .fl").click()
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0)
    expect(messenger.locator(".m.me .bu")).to_have_text(["My order is late", "It is order #1042"])
    conversation = Conversation.objects.get()
    assert _bodies(conversation) == ["My order is late", "It is order #1042"]
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    expect(agent_admin.page.locator("#result_list tbody tr")).to_have_count(1)
    assert agent_admin.problems == []


def test_a_reply_whose_answer_was_lost_shows_once_when_the_thread_shows_it_stored(host, make_website, artifacts):
    messenger = _open_messenger(host, make_website)
    host.write("Hello")
    # Lost on its way back: "Not sent." for a moment, until the thread's next poll lists it stored; then one bubble,
    # without Retry.
    _write_and_lose_the_answer(messenger, host.page, "/reply", "Are you there?")
    expect(messenger.locator(".m.fail")).to_have_count(0, timeout=15_000)
    expect(messenger.locator(".m.me .bu")).to_have_text(["Hello", "Are you there?"])
    host.screenshot(path=str(artifacts / "messenger-lost-answer-shown-once.png"))
    assert _bodies(Conversation.objects.get()) == ["Hello", "Are you there?"]


def test_an_in_app_message_seen_on_a_page_the_visitor_left_waits_in_the_list_to_be_answered(
    host, make_website, agent_admin, artifacts
):
    from contacts.models import Contact
    from conversations.models import MessageDelivery
    from tests.conversations.factories import in_app_delivery
    from tracking.page_view_buffer import page_views_flush

    website = make_website(marketing_basis=Website.MarketingBasis.LEGITIMATE_INTEREST)
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    page_views_flush()
    in_app_delivery(Contact.objects.get(), body="Our winter sale starts today!")

    # The next page shows it by itself; the visitor moves on without answering.
    host.page.goto(host.snippet_page("/sale", website.app_id))
    expect(host.page.locator("parley-messenger .th .bu")).to_have_text("Our winter sale starts today!", timeout=10_000)
    wait_until(lambda: MessageDelivery.objects.filter(seen_at__isnull=False).exists(), what="the message marked seen")
    host.page.goto(host.snippet_page("/checkout", website.app_id))
    host.wait_booted()
    expect(host.page.locator("parley-messenger .p")).to_be_hidden()  # shown once: it does not open again

    # It waits in the list, from Kim, and is answered from there into a conversation.
    host.launcher().click()
    messenger = host.page.locator("parley-messenger")
    row = messenger.locator(".ls li button", has_text="Our winter sale starts today!")
    expect(row.locator(".nm")).to_have_text("Kim")
    host.screenshot(path=str(artifacts / "messenger-in-app-kept-in-list.png"))
    row.click()
    expect(messenger.locator(".th .bu")).to_have_text("Our winter sale starts today!")
    messenger.locator("textarea").fill("Does it include kettles?")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me .bu")).to_have_text(["Does it include kettles?"])
    expect(messenger.locator(".m.pd, .m.fail")).to_have_count(0)
    conversation = Conversation.objects.get()
    assert list(conversation.parts.values_list("body", flat=True)) == [
        "Our winter sale starts today!", "Does it include kettles?",
    ]  # fmt: skip
    messenger.locator(".bk").click()
    expect(messenger.locator(".ls li")).to_have_count(1)  # the conversation, not the message as well
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    expect(agent_admin.page.locator("#result_list")).to_contain_text("Does it include kettles?")
    assert agent_admin.problems == []


def test_messages_held_behind_a_first_message_keep_the_order_written_whatever_comes_during_its_retry(
    host, make_website, artifacts
):
    from tests.e2e.test_messenger_queue_journey import Held

    messenger = _open_messenger(host, make_website)
    _write_and_lose_the_answer(messenger, host.page, "/conversations", "One")
    messenger.locator("textarea").fill("Two")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me.pd .bu")).to_have_text(["Two"])
    # Its Retry on a slow network, and a third message written while it is on its way.
    held = Held(host.page, "/conversations")
    messenger.locator(".m.fail .fl").click()
    messenger.locator("textarea").fill("Three")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me.pd .bu")).to_have_text(["One", "Two", "Three"])
    held.release()
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0)
    expect(messenger.locator(".m.me .bu")).to_have_text(["One", "Two", "Three"])
    assert _bodies(Conversation.objects.get()) == ["One", "Two", "Three"]
    host.screenshot(path=str(artifacts / "messenger-held-in-order.png"))


def test_messages_held_behind_a_first_message_of_a_visitor_erased_meanwhile_go_back_to_the_composer_in_order(
    host, make_website, artifacts
):
    from contacts.models import Contact
    from contacts.services import contact_erase
    from tracking.page_view_buffer import page_views_flush

    messenger = _open_messenger(host, make_website)
    _write_and_lose_the_answer(messenger, host.page, "/conversations", "One")
    for text in ("Two", "Three"):
        messenger.locator("textarea").fill(text)
        host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me.pd .bu")).to_have_text(["Two", "Three"])
    # The visitor is erased meanwhile (a GDPR request): the Retry finds the token's contact gone.
    page_views_flush()
    contact_erase(contact=Contact.objects.get(), actor=None, source="admin")
    messenger.locator(".m.fail .fl").click()
    # Nothing leaves as the next visitor: the three go back to a new thread's composer, in the order written.
    expect(messenger.locator("textarea")).to_have_value("One\nTwo\nThree")
    expect(messenger.locator(".m.me")).to_have_count(0)
    host.screenshot(path=str(artifacts / "messenger-erased-held-redrafted.png"))
    assert not Conversation.objects.exists()


def test_a_message_whose_answer_was_lost_goes_again_by_itself_once_parley_answers(host, make_website, agent_admin):
    """No Retry clicked (the walk's visitor wrote on, and the next message hung faded): once the network is back, the
    first message goes again with its key, is found stored, and the message held behind it follows, each once."""
    messenger = _open_messenger(host, make_website)
    lost = AnswerLost(host.page, "/conversations")
    messenger.locator("textarea").fill("Is this thing on?")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.fail .fl")).to_have_text("Retry")  # Parley has it, the answer is lost
    assert lost.lost == 1
    messenger.locator("textarea").fill("Hello?")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me.pd .bu").last).to_have_text("Hello?")  # waits behind the first
    lost.stop()

    # The network is back: the next poll (backed off meanwhile) or, sooner, the visitor opening the messenger again.
    host.launcher().click()
    host.launcher().click()
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0)
    expect(messenger.locator(".m.me .bu")).to_have_text(["Is this thing on?", "Hello?"])
    expect(messenger.locator(".sr")).not_to_have_text("Not sent.")
    conversation = Conversation.objects.get()
    assert _bodies(conversation) == ["Is this thing on?", "Hello?"]
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    expect(agent_admin.page.locator(".parley-thread")).to_contain_text("Hello?")


def test_replies_kept_through_an_outage_on_the_next_page_go_once_parley_is_back(host, make_website, artifacts):
    """The attack review: replies that failed in an outage, kept when the visitor moved on, failed again from the next
    page's closed messenger; once Parley was back they showed "Not sent." with a Retry that sent nothing, and the page
    after lost them. No thread was on screen to send them from."""
    messenger = _open_messenger(host, make_website)
    host.write("First, this went through")
    conversation = Conversation.objects.get()
    tries = []

    def outage(route):
        tries.append(route.request.post_data_json["body"])
        parley_outage(route)

    host.page.route("**/reply", outage)
    for text in ("It was due on Monday", "Can you check?"):
        messenger.locator("textarea").fill(text)
        host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.fail")).to_have_count(2)
    host.page.keyboard.press("Escape")  # closed: the next page's messenger stays closed, no thread on screen
    tries.clear()

    # The next page's messenger (its visitor awaits a reply: it loads, closed) tries both, in vain.
    host.page.goto(host.snippet_page("/orders", conversation.website.app_id))
    for _ in range(150):  # (the route's handler runs while Playwright waits: not in wait_until's sleep)
        if tries[-2:] == ["It was due on Monday", "Can you check?"]:
            break
        host.page.wait_for_timeout(100)
    assert tries[-2:] == ["It was due on Monday", "Can you check?"], tries
    host.page.unroute("**/reply", outage)  # Parley is back
    host.page.evaluate("() => window.dispatchEvent(new Event('online'))")
    wait = "both replies, once each"
    wait_until(lambda: _bodies(conversation)[1:] == ["It was due on Monday", "Can you check?"], what=wait)
    host.launcher().click()
    expect(messenger.locator(".m.me .bu")).to_have_text(
        ["First, this went through", "It was due on Monday", "Can you check?"]
    )
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0)
    host.screenshot(path=str(artifacts / "messenger-kept-replies-sent-after-outage.png"))
    assert _bodies(conversation) == ["First, this went through", "It was due on Monday", "Can you check?"]


def test_a_first_message_kept_through_an_outage_goes_from_the_next_page_without_opening_the_messenger(
    host, make_website, agent_admin, artifacts, monkeypatch
):
    """The recheck of the attack review: a visitor with no conversation yet, whose first message met an outage and was
    kept when they moved on, sent it only once they opened the messenger again. The next page's loader loaded no
    messenger: it does so for a reply unread or awaited, and this visitor had none."""
    messenger = _open_messenger(host, make_website)
    outage = StartsFail(monkeypatch)
    messenger.locator("textarea").fill("Do you ship to Iceland?")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".of")).to_be_visible()  # "Can't reach the chat right now. We'll keep trying."
    host.page.keyboard.press("Escape")
    outage.tries.clear()

    # The next page, the messenger closed: it loads by itself and tries again, in vain while the outage lasts.
    app_id = Website.objects.get().app_id
    with host.page.expect_response(
        lambda response: response.url.endswith("/conversations") and response.status == 503, timeout=30_000
    ):
        host.page.goto(host.snippet_page("/shipping", app_id))
    wait = "the page's last try as it went, then the next page's messenger's"
    wait_until(lambda: outage.tries[:2] == ["Do you ship to Iceland?"] * 2, what=wait)
    expect(host.panel()).to_be_hidden()
    # What had it load: the session cookie the cookie declaration lists (gone when the browser closes).
    declared = {item["name"]: item for item in cookie_declaration(website=Website.objects.get())["items"]}
    mark = host.cookies()[f"parley-kept-{app_id}"]
    assert re.fullmatch(r"[a-z\d]{1,8}_[a-z\d]+", mark["value"]), mark  # this tab's mark (its id, the minute)
    assert (mark["expires"], mark["path"], mark["sameSite"]) == (-1, "/", "Lax")
    assert declared[mark["name"]]["storage"] == "cookie" and declared[mark["name"]]["session"]

    outage.stop()  # Parley is back
    # The browser says it is online: every message that failed goes again at once. A try of the page's own, sent on its
    # back-off, can be on its way then and fail after (it reached the server before the outage ended): that one goes
    # at the next word from Parley, or when the browser says it again. (Seen on a loaded machine: a third try left
    # waiting for the closed messenger's next poll, 40 s away.)
    for _ in range(3):
        host.page.evaluate("() => window.dispatchEvent(new Event('online'))")
        with contextlib.suppress(AssertionError):
            wait_until(lambda: Conversation.objects.exists(), timeout=5, what="the kept first message")
            break
    assert Conversation.objects.exists(), "the kept first message was not sent once Parley was back"
    conversation = Conversation.objects.get()
    assert _bodies(conversation) == ["Do you ship to Iceland?"]

    # The agent has it; the visitor finds it sent, once, when they open the messenger.
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    expect(agent_admin.page.locator("#result_list tbody tr")).to_have_count(1)
    expect(agent_admin.page.locator("#result_list")).to_contain_text("Do you ship to Iceland?")
    agent_admin.page.screenshot(path=str(artifacts / "admin-kept-first-message-arrived.png"), full_page=True)
    host.launcher().click()
    expect(messenger.locator(".m.me .bu")).to_have_text(["Do you ship to Iceland?"])
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0)
    host.screenshot(path=str(artifacts / "messenger-kept-first-message-sent.png"))

    # Nothing is kept now: the page after loads no messenger for it.
    host.page.goto(host.snippet_page("/about", app_id))
    host.wait_booted()
    assert "parley-kept-" not in host.page.evaluate("() => document.cookie")
    assert Conversation.objects.count() == 1


def test_a_tab_keeping_a_first_message_is_not_forgotten_when_the_visitor_opens_the_messenger_in_another_tab(
    host, make_website, monkeypatch
):
    """The attack review: a second tab's messenger, finding nothing kept in its own tab, cleared the mark of the first,
    whose page had no messenger (Parley's outage answered its ping too): that tab's next page loaded none, and its
    kept message waited until the visitor opened the messenger there (lost if they closed the tab)."""
    messenger = _open_messenger(host, make_website)
    outage = StartsFail(monkeypatch)
    messenger.locator("textarea").fill("Do you ship to Iceland?")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".of")).to_be_visible()
    host.page.keyboard.press("Escape")
    # The outage reaches the whole first tab now: its next page's ping fails, and no messenger loads there.
    host.page.route("**/widget-api/**", parley_outage)
    app_id = Website.objects.get().app_id
    outage.tries.clear()
    with host.page.expect_response(lambda response: response.url.endswith("/ping") and response.status == 503):
        host.page.goto(host.snippet_page("/shipping", app_id))
    # The page's last try as it went, a keepalive request the routes do not see, refused before Parley is back (CI:
    # under load it came after, and the message was sent then, where this journey has it kept).
    wait_until(lambda: "Do you ship to Iceland?" in outage.tries, what="the page's last try as it went")
    marked = host.cookies()[f"parley-kept-{app_id}"]["value"]

    # Parley is back for a second tab, where the visitor opens the messenger: nothing is kept in that tab.
    outage.stop()
    other = host.context.new_page()
    other.goto(host.snippet_page("/home", app_id))
    other.wait_for_function("() => !!document.querySelector('parley-messenger')")
    other.locator("parley-messenger button.l").click()
    expect(other.locator("parley-messenger textarea")).to_be_visible()
    other.wait_for_load_state("networkidle")
    assert host.cookies()[f"parley-kept-{app_id}"]["value"] == marked  # the first tab's mark stays

    # Back in the first tab, Parley answers again: its next page loads the messenger, which sends the message.
    host.page.unroute("**/widget-api/**", parley_outage)
    host.page.goto(host.snippet_page("/checkout", app_id))
    wait_until(lambda: Conversation.objects.exists(), what="the first tab's kept message")
    assert _bodies(Conversation.objects.get()) == ["Do you ship to Iceland?"]
    other.close()


def test_a_visitor_parley_does_not_know_yet_gets_no_kept_mark(host, make_website, monkeypatch):
    """The attack review: on a "support only until consent" site, a visitor who has not consented has no messenger
    token until their first message reaches Parley; nothing of theirs is kept (a logout could hand it to the next
    person on the browser), yet the mark was set, and the next page loaded the messenger for nothing."""
    website = make_website(tracking_mode=Website.TrackingMode.SUPPORT_ONLY)
    host.page.goto(host.snippet_page("/help", website.app_id))
    host.wait_booted()
    host.launcher().click()
    StartsFail(monkeypatch)
    messenger = host.page.locator("parley-messenger")
    messenger.locator("textarea").fill("Do you ship to Iceland?")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".of")).to_be_visible()
    host.page.keyboard.press("Escape")
    assert not [name for name in host.cookies() if name.startswith("parley-")]


def test_marks_of_tabs_closed_a_day_ago_and_marks_from_nowhere_go_when_a_messenger_loads(host, make_website):
    """The recheck: a mark left by a tab closed with messages kept was never dropped (only a tab keeping messages of
    its own pruned the marks), and one from the future stayed for good: every page loaded the
    messenger until the browser closed."""
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    name, minute = f"parley-kept-{website.app_id}", int(time.time() // 60)

    def mark(value: str) -> None:
        host.page.evaluate(f"() => {{ document.cookie = '{name}=' + {json.dumps(value)} + ';path=/'; }}")

    def held() -> str | None:
        cookie = host.cookies().get(name)
        return cookie and cookie["value"]

    recent, old, future = (
        f"{tab}_{_base36(at)}" for tab, at in (("a1", minute - 5), ("b2", minute - 2000), ("c3", minute + 9))
    )
    mark(".".join((old, "notanidatall_" + _base36(minute), future, "x_y_z", recent)))
    host.page.goto(host.snippet_page("/next", website.app_id))
    host.wait_booted()
    wait_until(lambda: held() == recent, what="the marks pruned to the other tab's")
    assert _messenger_loaded(host.page)

    mark(old)  # only a tab closed two days ago: the next messenger drops it, and the page after loads none
    host.page.goto(host.snippet_page("/again", website.app_id))
    host.wait_booted()
    wait_until(lambda: held() is None, what="the stale mark gone")
    host.page.goto(host.snippet_page("/last", website.app_id))
    host.wait_booted()
    host.page.wait_for_load_state("networkidle")
    assert not _messenger_loaded(host.page)


def _base36(number: int) -> str:
    """`number` in base 36, as JavaScript's toString(36) writes it."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, digit = divmod(number, 36)
        out = digits[digit] + out
    return out or "0"


def test_a_first_message_kept_for_one_visitor_never_goes_as_the_next_and_stops_loading_the_messenger(
    host, make_website, monkeypatch
):
    """The mark that has the next page load the messenger for kept messages is the tab's: a page of another visitor
    (here the site's own cookies cleared) loads it once, sends nothing, and clears the mark."""
    messenger = _open_messenger(host, make_website)
    outage = StartsFail(monkeypatch)
    messenger.locator("textarea").fill("My card number is private")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".of")).to_be_visible()
    # Another visitor on this browser: the site forgot the first (its cookies gone), not by a logout.
    host.page.evaluate(
        "() => document.cookie.split('; ').filter(c => !c.startsWith('parley-kept-'))"
        ".forEach(c => { document.cookie = c.split('=')[0] + '=;path=/;max-age=0'; })"
    )
    app_id = Website.objects.get().app_id
    host.page.goto(host.snippet_page("/home", app_id))
    host.wait_booted()
    wait_until(lambda: "parley-kept-" not in host.page.evaluate("() => document.cookie"), what="the mark cleared")
    outage.stop()  # Parley is back
    host.page.reload()
    host.wait_booted()
    host.page.wait_for_load_state("networkidle")
    assert not _messenger_loaded(host.page)
    assert not Conversation.objects.exists()
    assert outage.tries and set(outage.tries) == {"My card number is private"}  # the first visitor's tries only


def test_one_endpoint_failing_alone_is_tried_again_on_a_back_off_and_office_hours_say_nothing(host, make_website):
    """The attack review: with only the replies failing (a 503) while the polls answered, each poll sent every failed
    reply again, every 4 s, for ever; with only the office hours failing, the banner flickered and they were asked
    again on every poll."""
    asked = {"availability": 0, "reply": 0}

    def fails(route):
        asked["availability" if "/availability" in route.request.url else "reply"] += 1
        parley_outage(route)

    host.page.clock.install()
    host.page.route("**/availability*", fails)
    messenger = _open_messenger(host, make_website)  # the new thread asks the office hours
    host.write("Hello")
    messenger.locator(".bk").click()  # the list asks them again: once more, not on every poll
    for _ in range(30):
        host.page.clock.run_for(1_000)
        host.page.wait_for_timeout(20)
    expect(messenger.locator(".of")).to_be_hidden()  # the chat works: no "Can't reach the chat"
    assert asked["availability"] <= 3, asked  # once per view drawn (the thread, the list, the list again), not per poll
    host.page.unroute("**/availability*", fails)

    messenger.locator(".ls li button").click()
    host.page.route("**/reply", fails)
    messenger.locator("textarea").fill("Are you there?")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.fail")).to_have_count(1)
    for _ in range(60):  # a minute of polls that answer (every 4 s)
        host.page.clock.run_for(1_000)
        host.page.wait_for_timeout(20)
    # The first try, then again after 0 (the first answer), 4, 8, 16 and 32 s: not 15 more, one per poll.
    assert 3 <= asked["reply"] <= 7, asked
    # Parley answers again, and the visitor writes on before the failed reply's next try (up to a minute away): the
    # reply written first is stored first (the walk's thread showed them swapped).
    host.page.unroute("**/reply", fails)
    messenger.locator("textarea").fill("Hello again?")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0)
    conversation = Conversation.objects.get()
    assert _bodies(conversation) == ["Hello", "Are you there?", "Hello again?"]
    expect(messenger.locator(".m.me .bu")).to_have_text(["Hello", "Are you there?", "Hello again?"])
