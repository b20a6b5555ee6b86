"""Journey: the visitor sees when each message was written, and the dots of a teammate writing them a reply (never
those of an internal note), while the agent works in the admin; the agent sees the visitor writing. The messenger's
heading names the teammate answering, and follows a reassignment."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conversations.models import Conversation
from conversations.services.teammates import teammate_profile_update
from tests.e2e.conftest import agent_teammate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]
# The agent's page tells a change of state within 1.5 s; the open messenger polls every 4 s.
TYPING_SHOWN_MS = 12_000
TIME = re.compile(r"^\d{1,2}:\d{2}(\s?[AP]M)?$")


def test_the_visitor_sees_the_team_writing_a_reply_then_the_reply_with_its_time(
    host, make_website, agent_admin, artifacts
):
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Do you ship to Canada?")
    messenger = host.page.locator("parley-messenger")
    # When: under the visitor's message, in the browser's language, and said by its label.
    expect(messenger.locator(".m.me .ts")).to_have_text(TIME)
    expect(messenger.locator(".m.me")).to_have_attribute("aria-label", re.compile(r"^You, \d{1,2}:\d{2}"))

    conversation = Conversation.objects.get()
    admin = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    admin.locator("#parley-body").press_sequentially("Yes, we ship to Canada in 3 to 5 days")
    dots = messenger.locator(".m.ty")
    expect(dots).to_be_visible(timeout=TYPING_SHOWN_MS)
    expect(dots).to_have_attribute("aria-label", "The team is writing a reply")
    expect(dots).not_to_contain_text("boss")  # never who
    host.screenshot(path=str(artifacts / "messenger-team-writing.png"))

    admin.get_by_role("button", name="Send reply").click()
    reply = messenger.locator(".m:not(.me):not(.gr):not(.ty)")
    expect(reply.locator(".bu")).to_have_text("Yes, we ship to Canada in 3 to 5 days", timeout=TYPING_SHOWN_MS)
    expect(dots).to_have_count(0)
    expect(reply.locator(".ts")).to_have_text(TIME)
    # One time per run of messages by one author: the visitor's two quick lines share the last one's.
    host.write("Great, and to Mexico?")
    host.write("Thanks!")
    expect(messenger.locator(".m.me")).to_have_count(3)
    expect(messenger.locator(".m.me .ts")).to_have_count(2)
    expect(messenger.locator(".m.me").last.locator(".ts")).to_have_text(TIME)
    host.screenshot(path=str(artifacts / "messenger-reply-with-times.png"))

    # The other way: the agent sees the visitor writing, under the last message, until it is sent.
    visitor_typing = admin.locator("#parley-contact-typing")
    expect(visitor_typing).to_be_hidden()
    composer = messenger.locator("textarea")
    composer.press_sequentially("Also, can I pay by invoice")
    expect(visitor_typing).to_be_visible(timeout=TYPING_SHOWN_MS)
    expect(visitor_typing).to_have_text(re.compile(r"^.+ is typing…$"))
    admin.screenshot(path=str(artifacts / "admin-visitor-typing.png"), full_page=True)
    composer.press("Enter")
    expect(admin.locator("#parley-thread")).to_contain_text("Also, can I pay by invoice", timeout=TYPING_SHOWN_MS)
    expect(visitor_typing).to_be_hidden()

    # An internal note is never the visitor's to know of: no dots while the agent writes one.
    admin.locator("#parley-mode-note").click()
    admin.locator("#parley-body").press_sequentially("Check the Mexico rates with the warehouse")
    expect(admin.locator("#parley-mode-note")).to_have_attribute("aria-selected", "true")
    for _ in range(2):  # two of the messenger's polls after the agent's page told it is writing a note
        with host.page.expect_response(lambda response: "/poll" in response.url, timeout=TYPING_SHOWN_MS):
            pass
    expect(dots).to_have_count(0)
    admin.screenshot(path=str(artifacts / "admin-writing-a-note.png"), full_page=True)
    assert agent_admin.problems == []
    assert host.problems == []


@pytest.mark.parametrize(
    ("locale", "time"),
    [
        ("en-GB", r"^\d{2}:\d{2}$"),  # a British visitor: 23:10 (00:23 after midnight), in the English messenger
        ("en-US", r"^[1-9]\d?:\d{2}\s[AP]M$"),  # 8:10 AM, no leading zero
        ("de-DE", r"^\d{2}:\d{2}$"),
    ],
)
def test_times_follow_the_visitors_own_conventions_and_a_run_shows_its_author_once(
    chromium, parley_url, locale, time, artifacts
):
    from conversations.services import conversation_reply_as_teammate
    from tests.conversations.factories import TeammateFactory
    from tests.e2e.conftest import HostSite
    from tracking.services import website_create

    site = HostSite(chromium, parley_url, locale=locale)
    try:
        website = website_create(name="Shop", allowed_origins=[site.origin])
        site.page.goto(site.snippet_page("/home", website.app_id))
        site.wait_booted()
        site.launcher().click()
        site.page.locator("parley-messenger textarea").fill("Hello")
        site.page.keyboard.press("Enter")
        expect(site.page.locator("parley-messenger .m.me .ts")).to_have_count(1)  # stored: its time shows
        sam = TeammateFactory(first_name="Sam", last_name="Lee")
        conversation = Conversation.objects.get()
        for body in ("Hi!", "Let me check your order."):
            conversation_reply_as_teammate(conversation=conversation, teammate=sam, body=body)
        messenger = site.page.locator("parley-messenger")
        team = messenger.locator(".m:not(.me):not(.gr)")
        expect(team.locator(".bu")).to_have_text(["Hi!", "Let me check your order."], timeout=TYPING_SHOWN_MS)
        # One run: Sam's name above its first message, Sam's face and the time beside and under its last.
        expect(team.locator(".au")).to_have_text(["Sam Lee"])
        expect(team.first.locator(".av.sp")).to_be_hidden()
        expect(team.last.locator(".av")).to_be_visible()
        expect(team.locator(".ts")).to_have_count(1)
        expect(team.last.locator(".ts")).to_have_text(re.compile(time))
        expect(messenger.locator(".m.me .ts")).to_have_text(re.compile(time))
        site.screenshot(path=str(artifacts / f"messenger-times-{locale}.png"))
    finally:
        site.close()


def test_no_email_ask_while_the_team_writes_and_no_dots_under_a_closed_notice(
    host, make_website, agent_admin, artifacts
):
    """Found by walks: the ask for an email ("Get notified…") came while the dots said a teammate was writing the
    answer, and the dots showed under "This conversation is closed"."""
    website = make_website()
    website.ask_email_after_seconds = 6
    website.save()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Do you ship to Canada?")
    messenger = host.page.locator("parley-messenger")
    conversation = Conversation.objects.get()
    asked_at_ms = 1000 * (conversation.parts.get().created_at.timestamp() + website.ask_email_after_seconds)

    admin = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    admin.locator("#parley-body").press_sequentially("Yes, we do")
    dots, ask = messenger.locator(".m.ty"), messenger.locator("form.ask")
    expect(dots).to_be_visible(timeout=TYPING_SHOWN_MS)
    host.page.wait_for_function("at => Date.now() > at + 1000", arg=asked_at_ms, timeout=TYPING_SHOWN_MS)
    with host.page.expect_response(lambda response: "/poll" in response.url, timeout=TYPING_SHOWN_MS):
        pass  # a poll past the ask's time, the teammate still writing
    expect(dots).to_be_visible()
    expect(ask).to_have_count(0)
    host.screenshot(path=str(artifacts / "messenger-team-writing-no-ask.png"))

    # The teammate stops without sending: the dots go, and the ask comes.
    admin.locator("#parley-body").fill("")
    expect(dots).to_have_count(0, timeout=TYPING_SHOWN_MS)
    expect(ask).to_contain_text("Get notified by email when the team replies")

    # Closed, with a teammate writing in it again: the notice, no dots under it.
    admin.get_by_role("button", name="Close", exact=True).click()
    expect(messenger.locator(".nt")).to_contain_text("This conversation is closed.", timeout=TYPING_SHOWN_MS)
    admin.locator("#parley-body").press_sequentially("One more thing about your order")
    for _ in range(2):  # two of the messenger's polls after the agent's page told it is writing
        with host.page.expect_response(lambda response: "/poll" in response.url, timeout=TYPING_SHOWN_MS):
            pass
    expect(dots).to_have_count(0)
    host.screenshot(path=str(artifacts / "messenger-closed-no-dots.png"))
    assert host.problems == []


def test_the_messengers_heading_names_the_teammate_answering_and_follows_a_reassignment(
    host, make_website, agent_admin, artifacts
):
    leo = agent_teammate("leo", "Leo")
    teammate_profile_update(teammate=leo, display_name="Leo")  # the name visitors see, before he writes
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Can I change my delivery address?")
    heading = host.page.locator("parley-messenger #pt")
    expect(heading).to_have_text("Conversation")  # nobody answered yet

    conversation = Conversation.objects.get()
    admin = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    admin.locator("#parley-body").fill("Let me ask our delivery expert.")
    admin.get_by_role("button", name="Send reply").click()
    expect(admin.locator(".messagelist")).to_contain_text("Reply sent.")
    expect(heading).to_have_text("boss", timeout=TYPING_SHOWN_MS)

    # The agent hands it to Leo: the open messenger names him, though the agent wrote last.
    admin.get_by_label("Assign to").select_option(str(leo.pk))
    admin.get_by_role("button", name="Assign", exact=True).click()
    expect(admin.locator("body")).to_contain_text("Assigned to Leo")
    expect(heading).to_have_text("Leo", timeout=TYPING_SHOWN_MS)
    expect(host.page.locator("parley-messenger .m:not(.me) .bu").last).to_have_text("Let me ask our delivery expert.")
    host.screenshot(path=str(artifacts / "messenger-heading-reassigned.png"))
    assert agent_admin.problems == []
    assert host.problems == []
