"""Journeys of the messenger as a visitor sees it, with the team acting in the admin meanwhile."""

import datetime as dt
import itertools
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation
from tests.conversations.attachment_samples import png_bytes
from tests.e2e.conftest import BROWSER_CORS_LOG, BROWSER_NETWORK_LOG, parley_outage, visitor_writes_then_has_more
from tracking.page_view_buffer import page_views_flush
from tracking.services import website_create

# Like every browser test module: a transactional database restored from its serialized state, so that
# test order never leaves one test the rows another test's flush re-created (groups, beat entries).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def test_team_events_are_no_bubbles_and_the_greeting_stays(host, make_website, artifacts):
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    greeting = host.page.locator("parley-messenger .m.gr")
    expect(greeting).to_be_visible()
    # The greeting's avatar is the team's chat icon, not an unexplained "T" (the initial of "Team").
    expect(greeting.locator(".av.ti svg")).to_have_count(1)
    expect(greeting.locator(".av")).to_have_text("")
    host.write("Can I change my delivery address?")
    expect(greeting).to_be_visible()  # still there once the first message is sent

    agent = get_user_model().objects.create_user("kim", "kim@parley.test", "x", is_staff=True, first_name="Kim")
    conversation = Conversation.objects.get()
    services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="Yes, until it ships.")
    services.conversation_assign(conversation=conversation, teammate=agent, assignee=None)
    services.conversation_snooze(
        conversation=conversation, teammate=agent, until=conversation.created_at.replace(year=2100)
    )
    services.conversation_reopen(conversation=conversation, teammate=agent)
    services.conversation_close(conversation=conversation, teammate=agent)

    expect(host.page.locator("parley-messenger .nt")).to_be_visible(timeout=10_000)  # "This conversation is closed…"
    bubbles = host.page.locator("parley-messenger .th .bu")
    expect(bubbles).to_have_text(
        [
            "Hi there! Ask us anything. We usually reply within a few hours.",
            "Can I change my delivery address?",
            "Yes, until it ships.",
        ]
    )
    host.screenshot(path=str(artifacts / "messenger-no-empty-bubbles.png"))
    # Back in the list, the conversation says it is closed (it looked like any open one).
    host.page.locator("parley-messenger .bk").click()
    expect(host.page.locator("parley-messenger .ls li.cl .st")).to_have_text("Closed", timeout=10_000)
    expect(host.page.locator("parley-messenger .ls button")).to_have_attribute("aria-label", re.compile(r"\(Closed\)$"))
    host.screenshot(path=str(artifacts / "messenger-list-closed.png"))
    assert host.problems == []


# Records whether the messenger's connection banner (.of) was ever shown, checked on every animation frame.
UNREACHABLE_WATCH = """() => {
  window.unreachableSeen = false;
  const check = () => {
    const host = document.querySelector('parley-messenger');
    const banner = host && host.shadowRoot && host.shadowRoot.querySelector('.of');
    if (banner && !banner.hidden) window.unreachableSeen = true;
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
}"""


def test_a_site_whose_origin_is_not_allowed_is_told_it_is_not_set_up(host, artifacts):
    website = website_create(name="Elsewhere", allowed_origins=["https://shop.example"])
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    # The refused ping's answer is hidden from the page (no CORS header for this origin): the widget tells it from
    # being offline by an opaque request, whenever it comes (before or after the click). Meanwhile it never says
    # "Can't reach the chat" (a walk saw it for a second before "not set up"): watched on every frame.
    host.page.evaluate(UNREACHABLE_WATCH)
    host.launcher().click()
    # Said for the visitor, in words they can act on; nothing about connections or being offline.
    expect(host.page.locator("parley-messenger .ns h3")).to_have_text("Chat isn't set up yet")
    expect(host.page.locator("parley-messenger .ns")).to_contain_text("Please reach the team another way for now.")
    expect(host.page.locator("parley-messenger textarea")).to_have_count(0)  # nothing to type into
    expect(host.page.locator("parley-messenger .of")).to_be_hidden()  # not "You're offline"
    expect(host.page.locator("parley-messenger .bk")).to_be_hidden()  # nowhere to go back to
    assert host.page.evaluate("window.unreachableSeen") is False
    host.screenshot(path=str(artifacts / "messenger-not-set-up.png"))
    warnings = [p for p in host.problems if BROWSER_NETWORK_LOG not in p and BROWSER_CORS_LOG not in p]
    assert len(warnings) == 1
    assert host.origin in warnings[0]
    assert "allowed origins" in warnings[0]

    # Opened only once the widget knows (the panel loaded by the refusal itself): the same words.
    with host.page.expect_console_message(lambda message: "allowed origins" in message.text, timeout=20_000):
        host.page.reload()
    host.launcher().click()
    expect(host.page.locator("parley-messenger .ns h3")).to_have_text("Chat isn't set up yet")
    expect(host.page.locator("parley-messenger .of")).to_be_hidden()


def test_an_api_blocked_on_the_way_is_said_as_out_of_reach_not_as_not_set_up(host, make_website, artifacts):
    """The walk: a proxy that stopped only /widget-api/ (Parley's /healthz still answering) had the messenger say
    "Chat isn't set up yet" until a reload. It says the chat cannot be reached, and the message goes once it can."""
    website = make_website()
    blocked = [True]
    host.context.route(
        "**/widget-api/**", lambda route: route.abort("connectionrefused") if blocked[0] else route.continue_()
    )
    host.page.goto(host.snippet_page("/home", website.app_id))
    expect(host.launcher()).to_be_visible()
    host.launcher().click()
    messenger = host.page.locator("parley-messenger")
    messenger.locator("textarea").fill("Is anyone there?")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".of")).to_have_text("Can't reach the chat right now. We'll keep trying.")
    expect(messenger.locator(".m.fail")).to_have_count(1)
    expect(messenger.locator(".ns")).to_have_count(0)  # never "Chat isn't set up yet"
    expect(messenger.locator("textarea")).to_be_visible()
    # A file chosen meanwhile cannot be checked against the website's limits: said, not silently dropped.
    receipt = {"name": "receipt.png", "mimeType": "image/png", "buffer": png_bytes(40, 30, (20, 90, 200))}
    messenger.locator("input[type=file]").set_input_files(receipt)
    expect(messenger.locator(".ae")).to_have_text(
        "The file wasn't added: the chat can't be reached right now. Please try again in a moment."
    )
    host.screenshot(path=str(artifacts / "messenger-api-blocked.png"))
    assert not [p for p in host.problems if "allowed origins" in p]  # nor told the site owner it is their origin

    blocked[0] = False
    host.page.evaluate("() => window.dispatchEvent(new Event('online'))")
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0, timeout=15_000)
    expect(messenger.locator(".of")).to_be_hidden()
    expect(messenger.locator(".m.me .bu")).to_have_text(["Is anyone there?"])
    assert list(Conversation.objects.values_list("parts__body", flat=True)) == ["Is anyone there?"]
    messenger.locator("input[type=file]").set_input_files(receipt)  # chosen again, now it can be
    expect(messenger.locator(".ch span")).to_contain_text(["receipt.png"])
    expect(messenger.locator(".ae")).to_have_text("")


def test_a_gateways_error_page_at_load_is_not_set_up_only_until_parley_answers(host, make_website, artifacts):
    """The walk: a proxy's 504 page, without CORS headers, while the page loaded looked like a refused origin; the
    messenger said "Chat isn't set up yet" until a reload, Parley long back. Opened again, it finds Parley answering."""
    website = make_website()

    def gateway(route):
        # An Access-Control-Allow-Origin for no page: Playwright adds one for the page's origin when none is given,
        # and a gateway's error page has none, so the browser hides it as it hides a refused origin's answer.
        headers = {"Access-Control-Allow-Origin": "https://gateway.invalid"}
        route.fulfill(status=504, content_type="text/html", headers=headers, body="<h1>504 Gateway Time-out</h1>")

    host.context.route("**/widget-api/**", gateway)
    with host.page.expect_console_message(lambda message: "allowed origins" in message.text, timeout=20_000):
        host.page.goto(host.snippet_page("/home", website.app_id))
    host.launcher().click()
    messenger = host.page.locator("parley-messenger")
    expect(messenger.locator(".ns h3")).to_have_text("Chat isn't set up yet")
    host.launcher().click()  # closed
    expect(host.panel()).to_be_hidden()

    host.context.unroute("**/widget-api/**", gateway)  # the gateway is back
    host.launcher().click()
    expect(messenger.locator(".ns")).to_have_count(0, timeout=10_000)
    expect(messenger.locator(".cta")).to_be_visible()
    host.screenshot(path=str(artifacts / "messenger-set-up-after-all.png"))
    messenger.locator(".cta").click()
    host.write("Are you open today?")
    assert list(Conversation.objects.values_list("parts__body", flat=True)) == ["Are you open today?"]


def test_parleys_outage_is_said_and_the_first_message_goes_by_itself_once_parley_is_back(host, make_website, artifacts):
    """The walk: Parley's outage (its 503, which the page can read) at the first ping and the first message left "Not
    sent." with Retry and no word of the outage, and the message waited for a click long after Parley was back. The
    greeting kept its fallback "within a few hours" when the team was away."""
    website = make_website()
    opens = (timezone.now() + dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    away = [(day, opens.time(), (opens + dt.timedelta(hours=1)).time()) for day in range(7)]
    services.office_schedule_save(website=website, timezone="UTC", intervals=away)
    host.context.route("**/widget-api/**", parley_outage)
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.launcher().click()
    messenger = host.page.locator("parley-messenger")
    messenger.locator("textarea").fill("Is anyone there?")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".of")).to_have_text("Can't reach the chat right now. We'll keep trying.")
    expect(messenger.locator(".of")).to_be_visible()
    expect(messenger.locator(".m.fail .fl")).to_have_text("Retry")
    expect(messenger.locator(".ns")).to_have_count(0)
    expect(messenger.locator(".gr .bu")).to_have_text("Hi there! Ask us anything. We usually reply within a few hours.")
    host.screenshot(path=str(artifacts / "messenger-parley-outage.png"))

    host.context.unroute("**/widget-api/**", parley_outage)  # Parley is back: no click, no reload
    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0, timeout=20_000)
    expect(messenger.locator(".of")).to_be_hidden()
    expect(messenger.locator(".m.me .bu")).to_have_text(["Is anyone there?"])
    expect(messenger.locator(".gr .bu")).to_contain_text("We're away right now. Back")
    host.screenshot(path=str(artifacts / "messenger-parley-back.png"))
    assert list(Conversation.objects.values_list("parts__body", flat=True)) == ["Is anyone there?"]


def test_a_reply_reaches_the_badge_of_a_page_where_the_panel_was_never_opened(host, make_website, teammate):
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Is the shop open on Sunday?")

    # The visitor moves on; the panel is never opened on the new page.
    listen = "window.unreadSeen = []; Parley('onUnreadCountChange', function (n) { window.unreadSeen.push(n); });"
    host.page.clock.install()
    host.page.goto(host.snippet_page("/about", website.app_id, extra=listen))
    host.wait_booted()
    services.conversation_reply_as_teammate(conversation=Conversation.objects.get(), teammate=teammate, body="Yes!")
    with host.page.expect_response(lambda response: "/poll" in response.url):
        host.page.clock.run_for(21_000)  # the first badge poll comes 20 s after the page loads (page's clock)
    expect(host.page.locator("parley-messenger .b")).to_have_text("1", timeout=10_000)
    assert host.page.evaluate("window.unreadSeen") == [1]
    # The messenger, loaded for the badge, brings the list: the reply shows above the launcher too.
    expect(host.page.locator("parley-messenger .pv .pt span")).to_have_text("Yes!")
    assert host.problems == []


def _ask_then_close(host, website, question: str) -> None:
    """The visitor opens the messenger on the shop's home page, asks, and closes it again."""
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write(question)
    host.page.keyboard.press("Escape")
    expect(host.panel()).to_be_hidden()


@pytest.mark.parametrize("next_page", [None, "/shoes"], ids=["stays_on_the_page", "moves_on_to_another_page"])
def test_a_reply_soon_after_the_visitor_asked_and_closed_the_messenger_shows_its_badge_within_seconds(
    host, make_website, agent_admin, artifacts, next_page
):
    """Ask, close the messenger, read on (or keep browsing: the usual case). The closed panel polled once a minute,
    and a new page's loader 20 s after it loaded, then once a minute; opening then went to the list. While a reply is
    awaited, the messenger (loaded on every page for that) polls every 8 s, shows the reply above the launcher, and
    opens on it."""
    from django.urls import reverse

    website = make_website()
    _ask_then_close(host, website, "Do you have this in blue?")
    if next_page:
        host.page.goto(host.snippet_page(next_page, website.app_id))
        host.wait_booted()

    conversation = Conversation.objects.get()
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    agent_admin.page.locator("#parley-body").fill("Yes, in sizes 38 to 44.")
    agent_admin.page.get_by_role("button", name="Send reply").click()
    expect(agent_admin.page.locator(".parley-part.from-teammate .body").last).to_have_text("Yes, in sizes 38 to 44.")
    badge = host.page.locator("parley-messenger .b")
    expect(badge).to_have_text("1", timeout=20_000)  # within the 8 s polls (a minute's poll would miss this wait)
    # Above the launcher, the reply itself: who wrote and its first lines.
    preview = host.page.locator("parley-messenger .pv")
    expect(preview.locator(".pt b")).to_have_text("boss")
    expect(preview.locator(".pt span")).to_have_text("Yes, in sizes 38 to 44.")
    host.screenshot(path=str(artifacts / f"messenger-reply-badge-{'next-page' if next_page else 'same-page'}.png"))
    if next_page:  # put away, it stays away, on the next page too; the badge stays
        preview.get_by_role("button", name="Close messages").click()
        expect(preview).to_be_hidden()
        expect(badge).to_have_text("1")
        host.page.goto(host.snippet_page("/socks", website.app_id))
        host.wait_booted()
        expect(badge).to_have_text("1")
        expect(preview).to_be_hidden()
        host.launcher().click()
    else:
        preview.locator(".pt").click()
    # Opening goes straight to the conversation with the reply, not to the list.
    expect(host.page.locator("parley-messenger .m:not(.me) .bu").last).to_have_text("Yes, in sizes 38 to 44.")
    expect(badge).to_be_hidden()
    expect(preview).to_be_hidden()
    assert agent_admin.problems == []
    assert host.problems == []


def test_the_closed_messenger_polls_less_while_parley_refuses_or_fails_its_polls(host, make_website):
    """The closed panel's quick polls after the visitor wrote back off on a 429 or a 5xx, as they do offline: a
    limit shared by an office's visitors, or an outage, is not met with every such visitor's poll every 8 s."""
    website = make_website()
    host.page.clock.install()
    _ask_then_close(host, website, "Is the shop open on Sunday?")
    polls = []

    def refuse(route):
        polls.append(route.request.url)
        route.fulfill(status=503, content_type="application/json", body='{"error": {"code": "unavailable"}}')

    host.page.route("**/poll?*", refuse)
    for _ in range(13):  # 65 s of the page's clock, 5 s at a time (each poll's answer settles between steps)
        host.page.clock.run_for(5_000)
        host.page.wait_for_timeout(50)
    # Every 8 s would be 8 polls; backing off (8, 16, 32 s) leaves 3.
    assert 2 <= len(polls) <= 4, polls
    host.page.unroute("**/poll?*")


def test_the_open_messenger_looks_for_parley_at_least_every_16_seconds_while_it_cannot_be_reached(host, make_website):
    """The walk: backing off, the open messenger asked again a minute or more apart: the visitor looking at "Can't
    reach the chat" waited that long after Parley was back."""
    website = make_website()
    host.page.clock.install()
    _ask_then_close(host, website, "Is the shop open on Sunday?")
    host.launcher().click()
    polls = []

    def unreachable(route):
        if "/poll?" in route.request.url:
            polls.append(host.page.evaluate("Date.now()"))
        route.abort("connectionrefused")

    host.page.route("**/widget-api/**", unreachable)
    for _ in range(120):  # 120 s of the page's clock, 1 s at a time (each poll's failure settles between steps)
        host.page.clock.run_for(1_000)
        host.page.wait_for_timeout(20)
    expect(host.panel().locator(".of")).to_have_text("Can't reach the chat right now. We'll keep trying.")
    gaps = [later - earlier for earlier, later in itertools.pairwise(polls)]
    # 8, then 16 s apart (read when Playwright handles the route: a loaded machine adds a few steps of the page's clock):
    # never the 32 s, then the minute and more, it backed off to.
    assert len(polls) >= 6 and max(gaps) <= 22_000, gaps
    host.page.unroute("**/widget-api/**")


@pytest.mark.celery
def test_an_in_app_message_to_a_tag_is_shown_with_the_name_and_its_answer_opens_a_conversation(
    host, make_website, agent_admin, celery_worker_factory, artifacts
):
    """Journey 3: the agent previews and confirms an in-app message to a tag, with a placeholder; the
    signed-in visitor on another origin sees it with their name on the next page, and answers into the inbox."""
    import hashlib
    import hmac

    from django.urls import reverse

    from contacts import services as contact_services
    from contacts.models import Contact, Tag
    from conversations.models import Message
    from tracking.models import Website

    # In-app messages are marketing: this shop's basis is legitimate interest (as the demo's), so a signed-in
    # customer who made no choice sees them; on a "Consent" website the send would skip her, and say so.
    website = make_website(
        identity_verification=Website.IdentityVerification.ENFORCED,
        marketing_basis=Website.MarketingBasis.LEGITIMATE_INTEREST,
    )
    signed_in = {
        "user_id": "ada-1", "name": "Ada Lovelace", "email": "ada@example.com",
        "user_hash": hmac.new(website.identity_secret.encode(), b"ada-1", hashlib.sha256).hexdigest(),
    }  # fmt: skip
    host.page.goto(host.snippet_page("/home", website.app_id, signed_in))
    host.wait_booted()
    page_views_flush()  # her session follows the sign-in through the ingest queue: the flush a worker runs
    visitor = Contact.objects.get()
    assert (visitor.role, visitor.external_id, visitor.name) == (Contact.Role.USER, "ada-1", "Ada Lovelace")
    contact_services.contact_tag(contact=visitor, tag=Tag.objects.create(name="vip"))
    worker = celery_worker_factory()
    # The sender's avatar cannot be loaded: the messenger shows their initials instead of a broken image.
    from conversations.services import teammate_profile_update

    teammate_profile_update(teammate=get_user_model().objects.get(username="boss"),
                            avatar_url="https://127.0.0.1:1/missing-avatar.png")  # fmt: skip

    # The agent writes to the tag, with a placeholder, from the admin: a preview for a real recipient first.
    compose = agent_admin.page
    agent_admin.open(reverse("admin:conversations_message_add"))
    compose.select_option("#id_channel", "in_app")
    compose.fill("#id_body", 'Hi {{contact.first_name | fallback: "there"}}, our winter sale starts today!')
    compose.select_option("#id_tag", label="vip")
    compose.get_by_role("button", name="Preview").click()
    expect(compose.locator("#parley-preview")).to_contain_text("Hi Ada, our winter sale starts today!")
    expect(compose.locator("#id_preview_contact option:checked")).to_contain_text("Ada Lovelace")
    send = compose.get_by_role("button", name="Send to 1 contact")
    expect(send).to_be_visible()
    # An in-app test goes to a contact the teammate names (their own, by default): not used here.
    expect(compose.locator("#id_test_contact")).to_have_value("boss@parley.test")
    compose.screenshot(path=str(artifacts / "outbound-preview.png"), full_page=True)
    assert not Message.objects.exists()  # nothing goes out before the confirmation
    send.click()
    expect(compose.locator(".messagelist")).to_contain_text("is being sent to 1 contact.")
    worker.wait_until(
        lambda: visitor.message_deliveries.filter(state="sent").exists(), what="the in-app message delivered"
    )

    # The visitor's next page view shows it, rendered for them, without their asking (in-app campaigns
    # are the marketing purpose: this site passes the visitor's consent in its settings).
    host.page.goto(host.snippet_page("/sale", website.app_id, {**signed_in, "consent": {"marketing": True}}))
    card = host.page.locator("parley-messenger .th .bu")
    expect(card).to_have_text("Hi Ada, our winter sale starts today!", timeout=10_000)
    expect(host.page.locator("parley-messenger .p")).to_be_visible()
    host.screenshot(path=str(artifacts / "messenger-in-app-message.png"))
    worker.wait_until(
        lambda: visitor.message_deliveries.filter(seen_at__isnull=False).exists(), what="the message marked seen"
    )

    expect(host.page.locator("parley-messenger .th span.av")).to_have_text("B")  # boss's initials
    expect(host.page.locator("parley-messenger .th img.av")).to_have_count(0)

    host.page.locator("parley-messenger textarea").fill("Does it include kettles?")
    host.page.keyboard.press("Enter")
    expect(host.page.locator("parley-messenger .m.me .bu")).to_have_text("Does it include kettles?")
    # The conversation opens with the teammate's message, not the team's generic greeting above it.
    expect(host.page.locator("parley-messenger .th .bu").first).to_have_text("Hi Ada, our winter sale starts today!")
    expect(host.page.locator("parley-messenger .m.gr")).to_have_count(0)
    worker.wait_until(lambda: Conversation.objects.filter(contact=visitor).exists(), what="the conversation")
    conversation = Conversation.objects.get(contact=visitor)
    assert list(conversation.parts.values_list("body", flat=True)) == [
        "Hi Ada, our winter sale starts today!",
        "Does it include kettles?",
    ]

    # Seen once: the next page shows the conversation's badge state, not the message again.
    host.page.goto(host.snippet_page("/after", website.app_id, signed_in))
    host.wait_booted()
    expect(host.page.locator("parley-messenger .p")).to_be_hidden()

    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    expect(compose.locator("#result_list")).to_contain_text("Does it include kettles?")
    compose.screenshot(path=str(artifacts / "outbound-answer-in-inbox.png"), full_page=True)

    # The sent message's page: who got it, saw it, answered it.
    agent_admin.open(reverse("admin:conversations_message_change", args=[Message.objects.get().pk]))
    for stat, count in (("all", "1"), ("sent", "1"), ("seen", "1"), ("replied", "1")):
        expect(compose.locator(f'[data-stat="{stat}"] strong')).to_have_text(count)
    expect(compose.locator("#parley-recipients tbody tr")).to_have_count(1)
    expect(compose.locator("#parley-recipients")).to_contain_text("Ada Lovelace")
    compose.screenshot(path=str(artifacts / "outbound-sent-message.png"), full_page=True)
    assert host.problems == [] and agent_admin.problems == []


@pytest.mark.celery
def test_a_visitor_who_leaves_an_email_confirms_it_then_gets_the_reply_by_email_and_answers_into_the_conversation(
    host, make_website, agent_admin, celery_worker_factory, parley_url, artifacts
):
    """An address typed into a messenger may be anyone's: the first reply it would get is a confirmation link instead
    (nothing of the conversation in it); once its owner confirms, the reply follows, and their answer joins the
    thread (services.email_confirmation)."""
    from django.test import Client
    from django.urls import reverse

    from contacts.models import Contact
    from tests.conversations.test_email import _reply_email

    website = make_website(name="Nordic Lamps")
    website.ask_email_after_seconds, website.email_unread_replies_after_minutes = 1, 0  # no waiting, for the test
    website.save()
    worker = celery_worker_factory(extra_env={"EMAIL_URL": "consolemail://", "PUBLIC_URL": parley_url})
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Do you deliver to Oslo?")

    # Nobody answers: the messenger asks for an email.
    ask = host.page.locator("parley-messenger form.ask")
    expect(ask).to_contain_text("Get notified by email when the team replies", timeout=10_000)
    ask.locator("input").fill("not-an-email")
    ask.get_by_role("button", name="Notify me").click()
    expect(ask).to_contain_text("Enter a valid email address.")
    ask.locator("input").fill("ola@exmaple.com")
    ask.get_by_role("button", name="Notify me").click()
    # The messenger says a confirmation comes first, and lets a typo be corrected.
    thanks = host.page.locator("parley-messenger .nt")
    expect(thanks).to_have_text("Thanks! Our first email to ola@exmaple.com will ask you to confirm it. Change")
    host.screenshot(path=str(artifacts / "messenger-email-capture.png"))
    thanks.get_by_role("button", name="Change").click()
    expect(ask.locator("input")).to_have_value("ola@exmaple.com")
    expect(ask.locator("input")).to_be_focused()
    ask.locator("input").fill("ola@example.com")
    ask.get_by_role("button", name="Notify me").click()
    expect(thanks).to_contain_text("Our first email to ola@example.com will ask you to confirm it.")
    visitor = Contact.objects.get(email="ola@example.com")
    assert not Contact.objects.filter(email="ola@exmaple.com").exists()
    assert visitor.role == Contact.Role.LEAD
    host.page.goto("about:blank")  # the visitor leaves

    # The agent answers in the admin, told that the address waits for its owner's confirmation.
    conversation = Conversation.objects.get(contact=visitor)
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    expect(agent_admin.page.locator("#parley-email-unconfirmed")).to_contain_text("ola@example.com is not confirmed")
    agent_admin.page.screenshot(path=str(artifacts / "inbox-email-not-confirmed.png"))
    agent_admin.page.locator("#parley-body").fill("Yes, in two days.")
    agent_admin.page.get_by_role("button", name="Send reply").click()

    # The address gets a confirmation link, with nothing of the conversation in it.
    worker.wait_for_log("Subject: Confirm your email address for Nordic Lamps", timeout=60)
    confirmation = worker.log[worker.log.index("Subject: Confirm your email address") :]
    assert "Oslo" not in confirmation and "two days" not in confirmation
    link = re.search(r"http://\S+/e/a/\S+", confirmation).group(0)
    inbox = host.context.browser.new_context()  # the visitor, in their mail, another day
    page = inbox.new_page()
    page.goto(link)
    expect(page.get_by_role("heading")).to_have_text("Confirm your email address")
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("status")).to_have_text("Your email address is confirmed")
    page.screenshot(path=str(artifacts / "email-address-confirmed.png"))
    inbox.close()

    # Then the reply goes out by email.
    worker.wait_for_log("Subject: Re: Do you deliver to Oslo?", timeout=60)
    reply_to = re.search(r"Reply-To: (\S+)", worker.log).group(1)

    # The visitor answers by email; the agent's open page shows it in the same conversation.
    inbound = Client().post("/email/inbound", data=_reply_email(to=reply_to, sender="ola@example.com",
                                                             text="Great, I'll order today."),
                            content_type="message/rfc822")  # fmt: skip
    assert inbound.status_code == 201, inbound.content
    expect(agent_admin.page.locator(".parley-part.from-contact .body").last).to_have_text(
        "Great, I'll order today.", timeout=15_000
    )
    agent_admin.page.screenshot(path=str(artifacts / "inbox-email-answer.png"), full_page=True)
    assert Conversation.objects.filter(contact=visitor).count() == 1
    agent_admin.page.reload()
    expect(agent_admin.page.locator("#parley-email-unconfirmed")).to_have_count(0)


def test_a_long_reply_shows_from_its_first_line(host, make_website, teammate, agent_admin, artifacts):
    """A walk found a reply taller than the thread shown from its end: the visitor had to scroll up to find where it
    began. Now the thread stops at its first line; read down to the end, the next reply comes into view."""
    from django.urls import reverse

    website = make_website()
    host.page.set_viewport_size({"width": 1280, "height": 640})
    host.page.goto(host.snippet_page("/orders", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("How do I return my order?")
    conversation = Conversation.objects.get()
    messenger = host.page.locator("parley-messenger")
    body, below = messenger.locator(".bd"), messenger.locator(".nw")

    steps = "\n".join(f"{n}. Step {n} of the return: read this before the next one." for n in range(1, 31))
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    agent_admin.page.locator("#parley-body").fill("Here is how returns work:\n" + steps)
    agent_admin.page.get_by_role("button", name="Send reply").click()
    reply = messenger.locator(".m:not(.me) .bu").filter(has_text="Here is how returns work:")
    expect(reply).to_have_count(1, timeout=15_000)
    # Its first line at the top of the thread, the reply running on below; no "New message" button for it.
    host.page.wait_for_function(
        """() => { const root = document.querySelector('parley-messenger').shadowRoot;
          const bubble = [...root.querySelectorAll('.m:not(.me) .bu')].pop(), pane = root.querySelector('.bd');
          const top = bubble.getBoundingClientRect().top - pane.getBoundingClientRect().top;
          return top >= 0 && top < 40 && bubble.getBoundingClientRect().bottom > pane.getBoundingClientRect().bottom; }"""
    )
    expect(below).to_be_hidden()
    host.screenshot(path=str(artifacts / "messenger-long-reply-from-its-start.png"))

    body.evaluate("(b) => { b.scrollTop = b.scrollHeight; }")  # read to the end
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Any questions?")
    last = messenger.locator(".m:not(.me) .bu").last
    expect(last).to_have_text("Any questions?", timeout=15_000)
    expect(last).to_be_in_viewport()
    expect(below).to_be_hidden()
    assert host.problems == []


def test_a_reply_that_comes_while_the_visitor_reads_further_up_waits_below_a_button(
    host, make_website, teammate, agent_admin, artifacts
):
    """The visitor scrolls up to reread the start of a long conversation; a reply comes. Before, the thread jumped to
    its end; now it stays where they read, and "New message ↓" takes them to the reply when they want it."""
    from django.urls import reverse

    website = make_website()
    host.page.set_viewport_size({"width": 1280, "height": 640})
    host.page.goto(host.snippet_page("/orders", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Where is order 1042?")
    conversation = Conversation.objects.get()
    for step in range(1, 13):
        services.conversation_reply_as_teammate(
            conversation=conversation, teammate=teammate, body=f"Step {step}: we are looking into your order."
        )
    messenger = host.page.locator("parley-messenger")
    body, below = messenger.locator(".bd"), messenger.locator(".nw")
    expect(messenger.locator(".m:not(.me) .bu").last).to_have_text("Step 12: we are looking into your order.")
    expect(messenger.locator(".m:not(.me) .bu").last).to_be_in_viewport()  # still pinned: the new ones came into view
    expect(below).to_be_hidden()

    body.evaluate("(b) => { b.scrollTop = 0; }")
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    agent_admin.page.locator("#parley-body").fill("It ships today.")
    agent_admin.page.get_by_role("button", name="Send reply").click()
    reply = messenger.locator(".m:not(.me) .bu").filter(has_text="It ships today.")
    expect(reply).to_have_count(1, timeout=15_000)
    expect(below).to_be_visible()
    expect(below).to_have_text("New message ↓")
    assert body.evaluate("(b) => b.scrollTop") == 0  # left where they were reading
    expect(messenger.locator(".m.me .bu").first).to_be_in_viewport()
    expect(reply).not_to_be_in_viewport()
    host.screenshot(path=str(artifacts / "messenger-new-message-below.png"))
    # More while they still read: the button counts them.
    for more in ("The courier is DHL.", "It should arrive Friday."):
        services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body=more)
    expect(below).to_have_text("3 new messages ↓", timeout=15_000)
    assert body.evaluate("(b) => b.scrollTop") == 0

    below.click()
    expect(messenger.locator(".m:not(.me) .bu").last).to_be_in_viewport()
    expect(below).to_be_hidden()
    # At the end again, the next reply comes into view with no button.
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Tracking: PL-77.")
    last = messenger.locator(".m:not(.me) .bu").last
    expect(last).to_have_text("Tracking: PL-77.", timeout=15_000)
    expect(last).to_be_in_viewport()
    expect(below).to_be_hidden()

    # By the keyboard: Enter on the button goes to the reply, and the focus on to the composer (not lost with it).
    body.evaluate("(b) => { b.scrollTop = 0; }")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Delivered Friday.")
    expect(below).to_be_visible(timeout=15_000)
    messenger.locator("textarea").focus()
    for _ in range(10):  # from the composer: Send, Back, Close, then the button
        if below.evaluate("(b) => b.getRootNode().activeElement === b"):
            break
        host.page.keyboard.press("Tab")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m:not(.me) .bu").last).to_be_in_viewport()
    expect(messenger.locator("textarea")).to_be_focused()
    assert agent_admin.problems == []
    assert host.problems == []


def test_the_launcher_opens_the_conversation_the_visitor_was_in_not_a_question_left_unsent(
    host, make_website, artifacts
):
    """A question begun under "Ask a question" and left unsent took the launcher over: the messenger opened on it,
    even when the visitor had gone back to their conversation since. It opens where they were, on this page and the
    next; the question waits, with its words, under "Ask a question"."""
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Where is order 1042?")
    messenger = host.page.locator("parley-messenger")
    messenger.locator("button.bk").click()
    messenger.locator("button.cta").click()
    messenger.locator("textarea").fill("Another thing: do you sell gift cards?")
    messenger.locator("button.bk").click()
    expect(messenger.locator("button.cta .st")).to_have_text("Draft")
    messenger.locator("li").filter(has_text="Where is order 1042?").locator("button").click()
    expect(messenger.locator(".m.me .bu")).to_have_text(["Where is order 1042?"])
    host.page.keyboard.press("Escape")
    expect(host.panel()).to_be_hidden()

    def opens_in_the_conversation() -> None:
        host.launcher().click()
        expect(messenger.locator(".m.me .bu")).to_have_text(["Where is order 1042?"])
        expect(messenger.locator("textarea")).to_have_value("")
        expect(messenger.locator("textarea")).to_have_attribute("aria-label", "Reply to the team")

    opens_in_the_conversation()
    host.screenshot(path=str(artifacts / "messenger-reopens-where-the-visitor-was.png"))
    host.page.goto(host.snippet_page("/shoes", website.app_id))  # the next page: the same
    host.wait_booted()
    opens_in_the_conversation()

    # The question is where it was left, and once the visitor was in it last, the launcher opens on it.
    messenger.locator("button.bk").click()
    messenger.locator("button.cta").click()
    expect(messenger.locator("textarea")).to_have_value("Another thing: do you sell gift cards?")
    host.page.keyboard.press("Escape")
    host.launcher().click()
    expect(messenger.locator("textarea")).to_have_value("Another thing: do you sell gift cards?")
    expect(messenger.locator(".m.me")).to_have_count(0)
    # Closed on the list, it opens on the list, the question's words waiting under "Send us a message".
    messenger.locator("button.bk").click()
    expect(messenger.locator("button.cta .st")).to_have_text("Draft")
    host.page.keyboard.press("Escape")
    host.launcher().click()
    expect(messenger.locator(".ls li")).to_have_count(1)
    expect(messenger.locator("button.cta .st")).to_have_text("Draft")
    assert host.problems == []


def test_older_conversations_are_listed_on_demand_with_an_unread_reply_in_one(
    host, make_website, teammate, agent_admin, artifacts
):
    """The walk: the messenger listed the 20 newest conversations only; an unread reply in an older one showed on
    the badge and could not be reached. "Older conversations" lists the next ones, and that one opens."""
    from django.urls import reverse

    website = make_website()
    oldest = visitor_writes_then_has_more(
        host, website, "/help", "My first question", [f"Question {n}" for n in range(21)]
    )
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[oldest.pk]))
    agent_admin.page.locator("#parley-body").fill("Answered at last")
    agent_admin.page.get_by_role("button", name="Send reply").click()
    expect(agent_admin.page.locator(".parley-part.from-teammate .body")).to_have_text("Answered at last")
    # The reply made it the newest: it goes back among the older ones, as a long quiet one would be.
    Conversation.objects.filter(pk=oldest.pk).update(updated_at=oldest.created_at)

    messenger = host.page.locator("parley-messenger")
    host.page.reload()
    host.wait_booted()
    host.launcher().click()
    expect(host.panel()).to_be_visible()
    if messenger.locator(".bk").is_visible():  # opened in a thread: back to the list
        messenger.locator(".bk").click()
    rows = messenger.locator(".ls li")
    older = messenger.get_by_role("button", name="Older conversations")
    expect(older).to_be_visible()
    expect(rows).to_have_count(21)  # the 20 newest, and the button
    older.click()
    expect(older).to_have_count(0)
    expect(rows).to_have_count(22)
    answered = messenger.locator(".ls li.u")
    expect(answered).to_contain_text("Answered at last")
    host.screenshot(path=str(artifacts / "messenger-older-conversations.png"))
    answered.locator("button").click()
    expect(messenger.locator(".m:not(.me) .bu").last).to_have_text("Answered at last")
    assert host.problems == []


def test_older_conversations_shown_stay_when_the_first_poll_brings_the_same_list_again(host, make_website, teammate):
    """CI: the visitor opened "Older conversations" in the first seconds after a page load; the open messenger's first
    poll (no cursor yet: every conversation counts as changed) fetched the list again and dropped the older ones
    from under the visitor's click. The same newest 20 keep the older ones shown."""
    website = make_website()
    visitor_writes_then_has_more(host, website, "/help", "Question zero", [f"Question {n}" for n in range(1, 22)])
    held = []

    def hold_the_first_poll(route):
        if held:
            route.continue_()
        else:
            held.append(route)

    host.page.reload()
    host.wait_booted()
    host.page.route("**/poll?*", hold_the_first_poll)
    messenger = host.page.locator("parley-messenger")
    host.launcher().click()
    if messenger.locator(".bk").is_visible():  # opened in a thread: back to the list
        messenger.locator(".bk").click()
    older = messenger.get_by_role("button", name="Older conversations")
    older.click()
    rows = messenger.locator(".ls li .sn")
    expect(rows).to_have_count(22)
    assert len(held) == 1 and "since=" not in held[0].request.url  # the first poll, on its way all this time

    with host.page.expect_response(lambda r: "/conversations?" in r.url and "before=" not in r.url):
        held[0].continue_()  # every conversation "changed": the list comes again, the same
    expect(rows).to_have_count(22)
    expect(older).to_have_count(0)
    host.page.unroute("**/poll?*")
    assert host.problems == []


def test_the_older_list_stays_and_neither_loses_nor_repeats_a_conversation_when_one_changes(
    host, make_website, teammate, artifacts
):
    """The attack review: once "Older conversations" was open, a change (a new conversation, a reply in an older one)
    dropped the one pushed out of the newest 20, or listed one twice. A walk: a reply elsewhere collapsed the list to
    the newest 20 under the visitor's eyes. The list keeps all it showed, the changed one on top."""
    website = make_website()
    more = [f"Question {n}" for n in range(1, 25)]
    first = visitor_writes_then_has_more(host, website, "/help", "Question zero", more)
    messenger = host.page.locator("parley-messenger")
    messenger.locator(".bk").click()
    older = messenger.get_by_role("button", name="Older conversations")
    older.click()
    rows = messenger.locator(".ls li .sn")
    expect(rows).to_have_count(25)
    newest_first = [f"Question {n}" for n in range(24, 0, -1)] + ["Question zero"]

    services.conversation_start_by_contact(contact=first.contact, body="Question 25", website=website)
    expect(rows.first).to_have_text("Question 25", timeout=15_000)
    expect(rows).to_have_text(["Question 25", *newest_first])  # pushed out of the newest 20, and still listed
    expect(older).to_have_count(0)

    services.conversation_reply_as_teammate(conversation=first, teammate=teammate, body="Sorry for the wait")
    expect(rows.first).to_have_text("Sorry for the wait", timeout=15_000)  # the oldest, up on top
    expect(rows).to_have_text(["Sorry for the wait", "Question 25", *newest_first[:-1]])
    host.screenshot(path=str(artifacts / "messenger-older-list-after-a-reply.png"))
    assert host.problems == []


def test_a_reply_while_the_older_page_is_on_its_way_loses_no_conversation(host, make_website, teammate):
    """A re-check: a reply that pushed a conversation out of the newest 20 while "Older conversations" was loading
    lost that conversation for good (the page came from the list's old end). It comes from the new end instead."""
    website = make_website()
    first = visitor_writes_then_has_more(
        host, website, "/help", "Question zero", [f"Question {n}" for n in range(1, 30)]
    )
    fifth = Conversation.objects.get(parts__body="Question 5")
    messenger = host.page.locator("parley-messenger")
    messenger.locator(".bk").click()
    held = []
    host.page.route("**/conversations?*before=*", lambda route: held.append(route) if not held else route.continue_())
    older = messenger.get_by_role("button", name="Older conversations")
    older.click()
    rows = messenger.locator(".ls li .sn")
    expect(rows).to_have_count(20)
    assert len(held) == 1  # the older page, on its way

    services.conversation_reply_as_teammate(conversation=fifth, teammate=teammate, body="Sorry for the wait")
    expect(rows.first).to_have_text("Sorry for the wait", timeout=15_000)  # the newest 20 came again meanwhile
    held[0].continue_()
    newest_first = [f"Question {n}" for n in range(29, 0, -1) if n != 5] + ["Question zero"]
    expect(rows).to_have_text(["Sorry for the wait", *newest_first])  # "Question 10", pushed out, is there
    expect(older).to_have_count(0)
    host.page.unroute("**/conversations?*before=*")
    assert first.contact_id == fifth.contact_id and host.problems == []


def test_web_addresses_in_messages_are_links_on_both_sides_and_nothing_else_is(
    host, make_website, agent_admin, artifacts
):
    """New-user walk: an address in a reply was plain text in the messenger and in the admin's thread. Now each
    address opens in a new tab on both sides, the sentence's punctuation left out of it and the rest kept as text."""
    from django.urls import reverse

    website = make_website()
    host.page.goto(host.snippet_page("/care", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write('Is <b>this</b> the guide? https://shop.example/care?x=1&y=2" onmouseover="alert(1)')
    conversation = Conversation.objects.get()
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    thread = agent_admin.page.locator("#parley-thread")
    asked = thread.locator(".parley-part .body").filter(has_text="the guide?")
    expect(asked).to_have_text('Is <b>this</b> the guide? https://shop.example/care?x=1&y=2" onmouseover="alert(1)')
    expect(asked.locator("a")).to_have_attribute("href", "https://shop.example/care?x=1&y=2")
    expect(asked.locator("b")).to_have_count(0)

    written = "Yes: https://shop.example/care. Also see (https://shop.example/faq), www.shop.example/help or me@www.shop.example!"
    agent_admin.page.locator("#parley-body").fill(written)
    agent_admin.page.get_by_role("button", name="Send reply").click()
    messenger = host.page.locator("parley-messenger")
    reply = messenger.locator(".m:not(.me) .bu").filter(has_text="Yes:")
    expect(reply).to_have_text(written, timeout=15_000)
    links = reply.locator("a")
    expect(links).to_have_count(3)  # not the email address
    expect(links.nth(0)).to_have_attribute("href", "https://shop.example/care")
    expect(links.nth(1)).to_have_attribute("href", "https://shop.example/faq")
    expect(links.nth(2)).to_have_attribute("href", "https://www.shop.example/help")
    expect(links.nth(2)).to_have_text("www.shop.example/help")
    for attribute, value in (("target", "_blank"), ("rel", "noopener noreferrer nofollow")):
        expect(links.nth(0)).to_have_attribute(attribute, value)
    mine = messenger.locator(".m.me .bu").first
    expect(mine.locator("a")).to_have_attribute("href", "https://shop.example/care?x=1&y=2")
    expect(mine.locator("b")).to_have_count(0)
    expect(thread.locator(".body a[href='https://shop.example/faq']")).to_have_count(1)
    expect(thread.locator(".body a[href='https://www.shop.example/help']")).to_have_text("www.shop.example/help")
    expect(thread.locator(".body a")).to_have_count(4)  # the visitor's one and the reply's three: no email address

    # A part the agent's open page gets from its poll is linked too.
    host.write("And returns? https://shop.example/returns")
    expect(thread.locator(".body a[href='https://shop.example/returns']")).to_have_count(1, timeout=15_000)
    host.screenshot(path=str(artifacts / "messenger-links.png"))
    agent_admin.page.screenshot(path=str(artifacts / "admin-thread-links.png"))
    assert host.problems == []


def test_the_agents_open_page_names_the_visitor_once_they_give_an_email(host, make_website, agent_admin, artifacts):
    """A walk: the agent's page kept "Conversation with Lead 2002" after the visitor gave an email, until reloaded."""
    from django.urls import reverse

    website = make_website(name="Nordic Lamps")
    website.ask_email_after_seconds = 1  # no waiting, for the test
    website.save()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Do you deliver to Oslo?")
    conversation = Conversation.objects.get()
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    heading = agent_admin.page.locator("#parley-live-heading")
    expect(heading).to_have_text(f"Conversation with {conversation.contact}")
    expect(agent_admin.page.locator("#parley-live-email")).to_have_text("—")

    ask = host.page.locator("parley-messenger form.ask")
    expect(ask).to_contain_text("Get notified by email when the team replies", timeout=10_000)
    ask.locator("input").fill("ola@example.com")
    ask.get_by_role("button", name="Notify me").click()

    expect(heading).to_have_text("Conversation with ola@example.com", timeout=15_000)
    expect(agent_admin.page.locator("#parley-live-email")).to_have_text("ola@example.com")
    expect(agent_admin.page.locator("#parley-live-contact")).to_have_text("ola@example.com")
    agent_admin.page.screenshot(path=str(artifacts / "inbox-heading-after-email.png"))
    assert host.problems == [] and agent_admin.problems == []
