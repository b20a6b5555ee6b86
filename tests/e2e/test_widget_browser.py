"""The messenger widget in a real Chromium, against the real Parley server (pytest-django live server)."""

import re

import pytest
from playwright.sync_api import expect

from contacts.models import Contact
from contacts.services import contact_erase, data_attribute_create
from conversations.models import Conversation
from conversations.services import conversation_reply_as_teammate
from tests.e2e.conftest import ARTIFACTS, HostSite, needs_endpoints
from tests.tracking.factories import user_hash
from tracking.models import Event, PageView, WebSession, Website
from tracking.page_view_buffer import page_views_flush
from tracking.services import website_create
from tracking.widget_auth import widget_token_read

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]

TRACKING = ("ping", "update", "events", "shutdown")
CHAT = ("conversations", "conversations/c1", "conversations/c1/reply", "conversations/c1/read", "poll")
# Intercom's documented "basic JavaScript" install, verbatim except for the script URL.
INTERCOM_SNIPPET = """
<script>
  window.intercomSettings = {
    api_base: "https://api-iam.intercom.io",
    app_id: "%(app_id)s",
    name: "Nikola Tesla",
    email: "nikola@example.com",
    created_at: 1312182000
  };
</script>
<script>
// We pre-filled your app ID in the widget URL: 'https://widget.intercom.io/widget/%(app_id)s'
(function(){var w=window;var ic=w.Intercom;if(typeof ic==="function"){ic('reattach_activator');ic('update',w.intercomSettings);}else{var d=document;var i=function(){i.c(arguments);};i.q=[];i.c=function(args){i.q.push(args);};w.Intercom=i;var l=function(){var s=d.createElement('script');s.type='text/javascript';s.async=true;s.src='%(script_url)s';var x=d.getElementsByTagName('script')[0];x.parentNode.insertBefore(s,x);};if(document.readyState==='complete'){l();}else if(w.attachEvent){w.attachEvent('onload',l);}else{w.addEventListener('load',l,false);}}})();
</script>
"""


def network_requests(page, action) -> list[str]:
    """Requests that really left the browser during `action` (cache hits excluded), via the DevTools protocol."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    sent: dict[str, str] = {}
    cached: set[str] = set()
    cdp.on("Network.requestWillBeSent", lambda e: sent.setdefault(e["requestId"], e["request"]["url"]))
    cdp.on("Network.requestServedFromCache", lambda e: cached.add(e["requestId"]))
    cdp.on(
        "Network.responseReceived",
        lambda e: cached.add(e["requestId"]) if e["response"].get("fromDiskCache") else None,
    )
    action()
    page.wait_for_load_state("networkidle")
    cdp.detach()
    return [url for request_id, url in sent.items() if request_id not in cached]


def quiet_network(host, quiet_ms: int = 1500) -> None:
    """Wait until the page has sent no request for `quiet_ms` (the widget chains its calls)."""
    seen = -1
    while seen != len(host.requests):
        seen = len(host.requests)
        host.page.wait_for_timeout(quiet_ms)


# --- tracking -------------------------------------------------------------------------------------


@needs_endpoints(*TRACKING)
def test_boot_creates_a_visitor_and_one_page_view_with_exactly_one_request(chromium, parley_url, settings):
    settings.PARLEY_DEMO_PAGES = True
    demo = website_create(name="Demo shop", allowed_origins=[parley_url])
    site = HostSite(chromium, parley_url)
    try:
        page = site.page
        first = network_requests(page, lambda: page.goto(f"{parley_url}/demo/"))
        expect(site.launcher()).to_be_visible()
        second = network_requests(page, lambda: page.goto(f"{parley_url}/demo/?from=nav"))
        expect(site.launcher()).to_be_visible()
    finally:
        site.close()

    page_views_flush()  # what the Celery worker does when the page-view buffer is on (Redis)
    contact = Contact.objects.get()
    assert contact.role == Contact.Role.VISITOR
    assert PageView.objects.filter(contact=contact).count() == 2
    assert [u for u in first if "/widget-api/" in u] == [f"{parley_url}/widget-api/{demo.app_id}/ping"]
    # Second page view: the document, then only the ping; the script comes from the browser cache.
    assert [u for u in second if "/demo/" not in u] == [f"{parley_url}/widget-api/{demo.app_id}/ping"]


@needs_endpoints(*TRACKING)
def test_reload_keeps_the_same_contact_and_session(host, make_website):
    website = make_website()
    url = host.snippet_page("/pricing", website.app_id)

    host.page.goto(url)
    host.wait_booted()
    visitor_id = host.page.evaluate("Parley('getVisitorId')")
    host.page.reload()
    host.wait_booted()
    page_views_flush()

    contact = Contact.objects.get()
    assert str(contact.anonymous_id) == visitor_id == host.page.evaluate("Parley('getVisitorId')")
    assert WebSession.objects.get().contact == contact
    assert PageView.objects.filter(contact=contact).count() == 2
    cookies = host.cookies()
    assert cookies[f"parley-id-{website.app_id}"]["value"] == visitor_id
    assert cookies[f"parley-id-{website.app_id}"]["sameSite"] == "Lax"
    assert f"parley-session-{website.app_id}" in cookies
    assert host.problems == []


@needs_endpoints(*TRACKING)
def test_identify_with_a_valid_hash_merges_the_visitor_into_the_user(host, make_website):
    website = make_website(identity_verification=Website.IdentityVerification.ENFORCED)
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    page_views_flush()  # the first ping's rows are queued (the ingest queue), written by the flush
    visitor = Contact.objects.get()
    signed_in = {"user_id": "u-42", "email": "ada@example.com", "name": "Ada", "user_hash": user_hash(website, "u-42")}

    host.page.goto(host.snippet_page("/account", website.app_id, signed_in))
    host.wait_booted()
    page_views_flush()

    user = Contact.objects.get()
    assert user.role == Contact.Role.USER
    assert (user.external_id, user.email) == ("u-42", "ada@example.com")
    assert not Contact.objects.filter(pk=visitor.pk).exclude(pk=user.pk).exists()
    assert PageView.objects.filter(contact=user).count() == 2
    assert host.problems == []


@needs_endpoints(*TRACKING)
def test_a_wrong_hash_with_enforcement_leaves_the_visitor_anonymous_and_shows_no_user_data(host, make_website):
    website = make_website(identity_verification=Website.IdentityVerification.ENFORCED)
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    forged = {"user_id": "u-1", "email": "ceo@example.com", "name": "The CEO", "user_hash": "0" * 64}

    host.page.goto(host.snippet_page("/account", website.app_id, forged))
    host.wait_booted()
    host.launcher().click()
    expect(host.panel()).to_be_visible()

    page_views_flush()  # the first ping's rows are queued (the ingest queue), written by the flush
    contact = Contact.objects.get()
    assert contact.role == Contact.Role.VISITOR
    assert contact.email in (None, "") and contact.external_id is None
    shadow_text = host.page.locator("parley-messenger").inner_text()
    assert "CEO" not in shadow_text and "ceo@example.com" not in shadow_text
    assert len(host.problems) == 1  # the console says why the user was not signed in
    assert host.problems[0].startswith("console.warning: Parley: Not signed in") and "user_hash" in host.problems[0]


@needs_endpoints(*TRACKING)
def test_track_event_lands_with_its_metadata(host, make_website):
    website = make_website()
    host.page.goto(
        host.snippet_page("/home", website.app_id, extra="Parley('trackEvent', 'ordered', {plan: 'pro', seats: 3});")
    )
    host.wait_booted()

    event = Event.objects.get()
    assert event.name == "ordered"
    assert event.metadata == {"plan": "pro", "seats": 3}
    assert event.contact == Contact.objects.get()


@needs_endpoints(*TRACKING)
def test_single_page_app_navigation_records_page_views_and_updates_are_throttled(host, make_website):
    website = make_website()
    # Defined by the owner: an unverified visitor's update may set it (else each is refused, with a warning).
    data_attribute_create(name="plan", data_type="string")
    host.page.goto(host.snippet_page("/app", website.app_id))
    host.wait_booted()

    host.page.evaluate("history.pushState({}, '', '/app/settings'); Parley('update')")
    quiet_network(host)
    host.requests.clear()
    host.page.evaluate("for (let i = 0; i < 30; i++) Parley('update', {plan: 'p' + i})")
    quiet_network(host)
    page_views_flush()

    urls = sorted(PageView.objects.values_list("url", flat=True))
    assert urls == [f"{host.origin}/_host/app", f"{host.origin}/app/settings"]
    assert len([r for r in host.requests if r.endswith("/update")]) == 20
    assert host.problems == []


@needs_endpoints(*TRACKING)
def test_shutdown_forgets_the_visitor_on_this_browser(host, make_website):
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    assert f"parley-id-{website.app_id}" in host.cookies()

    host.page.evaluate("Parley('shutdown')")
    quiet_network(host)

    assert not [name for name in host.cookies() if name.startswith("parley-")]
    assert host.page.locator("parley-messenger").count() == 0
    assert host.page.evaluate("Parley('getVisitorId')") is None


@needs_endpoints(*TRACKING)
@pytest.mark.parametrize("then", ["", "Parley('boot', {app_id: '%s'});"], ids=["shutdown", "shutdown-and-boot"])
def test_a_logout_while_the_pages_ping_is_on_its_way_is_not_undone_by_its_answer(host, make_website, then):
    """A logout page calls shutdown at once (Intercom's logout: shutdown, then boot anonymous): the boot's ping, sent
    with the signed-in visitor's token, answered after it. Its answer wrote their token back into the cookie, and the
    next person on this browser read their conversations."""
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    before = _parley_cookies(host)
    assert set(before) == {f"parley-id-{website.app_id}", f"parley-session-{website.app_id}"}

    pings = []
    host.page.route(
        lambda url: url.endswith("/ping"), lambda route: pings.append(route)
    )  # the logout page's ping, held
    with host.page.expect_request(lambda request: request.url.endswith("/ping")):
        host.page.goto(host.snippet_page("/logout", website.app_id))
    host.page.evaluate("Parley('shutdown');" + (then % website.app_id if then else ""))
    host.page.wait_for_timeout(0)  # the route's handler has run
    for ping in pings:
        ping.continue_()
    quiet_network(host)

    assert not set(_parley_cookies(host).items()) & set(before.items())  # neither their token nor their id
    assert host.page.evaluate("Parley('getVisitorId')") != before[f"parley-id-{website.app_id}"]
    assert host.problems == []


@needs_endpoints(*TRACKING)
def test_an_update_queued_behind_a_slow_ping_never_goes_out_as_the_next_user_after_a_logout(host, make_website):
    """Alice's page: her ping is slow, the single-page app navigates (an update waits for the ping), she logs out and
    Bob signs in. Before, the waiting update went out when her ping answered, with her identity and Bob's token: the
    server moved the messenger to Alice, and Bob read her conversations."""
    website = make_website()
    alice, bob = ({"user_id": f"u-{name}", "user_hash": user_hash(website, f"u-{name}")} for name in ("alice", "bob"))
    held = []
    host.page.route(lambda url: url.endswith("/ping"), lambda route: route.continue_() if held else held.append(route))
    with host.page.expect_request(lambda request: request.url.endswith("/ping")):
        host.page.goto(host.snippet_page("/app", website.app_id, alice))
    host.page.evaluate(
        "([app, bob]) => { history.pushState({}, '', '/app/orders'); Parley('update');"
        " Parley('trackEvent', 'alice-only'); Parley('shutdown'); Parley('boot', {app_id: app, ...bob}); }",
        [website.app_id, bob],
    )
    expect(host.launcher()).to_be_attached()
    host.page.wait_for_function(f"document.cookie.includes('parley-session-{website.app_id}=')")  # Bob's ping
    held[0].continue_()  # Alice's, answered last
    quiet_network(host)

    token = host.cookies()[f"parley-session-{website.app_id}"]["value"]
    assert (
        widget_token_read(token=token, website_id=website.pk).contact_id == Contact.objects.get(external_id="u-bob").pk
    )
    assert not [r for r in host.requests if r.endswith(("/update", "/events"))]  # what waited for her ping: gone
    assert not Event.objects.exists()
    assert host.problems == []


def _parley_cookies(host) -> dict[str, str]:
    return {name: cookie["value"] for name, cookie in host.cookies().items() if name.startswith("parley-")}


# --- consent --------------------------------------------------------------------------------------


@needs_endpoints(*TRACKING)
def test_support_only_mode_tracks_nothing_until_consent(host, make_website):
    website = make_website(tracking_mode=Website.TrackingMode.SUPPORT_ONLY)
    host.page.goto(host.snippet_page("/home", website.app_id, extra="Parley('trackEvent', 'browsed');"))
    host.wait_booted()

    assert not [name for name in host.cookies() if name.startswith("parley-")]
    assert PageView.objects.count() == 0 and Event.objects.count() == 0
    expect(host.launcher()).to_be_visible()

    host.page.evaluate("Parley('consent', true)")
    quiet_network(host)

    assert f"parley-id-{website.app_id}" in host.cookies()
    page_views_flush()  # the first ping's rows are queued (the ingest queue), written by the flush
    assert PageView.objects.count() == 1
    assert host.problems == []


@needs_endpoints(*TRACKING, *CHAT)
def test_support_only_visitors_can_still_chat_before_consent(host, make_website):
    website = make_website(tracking_mode=Website.TrackingMode.SUPPORT_ONLY)
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()

    host.launcher().click()
    host.page.locator("parley-messenger textarea").fill("Can I book an appointment?")
    host.page.keyboard.press("Enter")
    expect(host.page.locator("parley-messenger .m.me .bu")).to_have_text("Can I book an appointment?")
    quiet_network(host)

    conversation = Conversation.objects.get()
    assert conversation.contact.role == Contact.Role.LEAD
    assert PageView.objects.count() == 0
    assert f"parley-id-{website.app_id}" not in host.cookies()


# --- chat -----------------------------------------------------------------------------------------


@needs_endpoints(*TRACKING, *CHAT)
def test_visitor_starts_a_conversation_and_sees_the_teammates_reply_and_unread_badge(
    host, make_website, teammate, artifacts
):
    website = make_website()
    listen = "window.unreadSeen = []; Parley('onUnreadCountChange', function (n) { window.unreadSeen.push(n); });"
    host.page.goto(host.snippet_page("/home", website.app_id, extra=listen))
    host.wait_booted()

    host.launcher().click()
    composer = host.page.locator("parley-messenger textarea")
    expect(composer).to_be_focused()
    composer.fill("Do you ship to Canada?")
    host.page.keyboard.press("Enter")
    expect(host.page.locator("parley-messenger .m.me .bu")).to_have_text("Do you ship to Canada?")
    quiet_network(host)
    conversation = Conversation.objects.get()
    assert conversation.contact.role == Contact.Role.LEAD

    conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Yes, in 3 to 5 days.")
    reply = host.page.locator("parley-messenger .m:not(.me) .bu", has_text="Yes, in 3 to 5 days.")
    expect(reply).to_be_visible(timeout=10_000)  # the open panel polls every few seconds
    expect(host.page.locator("parley-messenger .au").last).to_have_text("Alex")

    host.page.keyboard.press("Escape")
    expect(host.panel()).to_be_hidden()
    conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Anything else?")
    host.page.reload()
    badge = host.page.locator("parley-messenger .b")
    expect(badge).to_have_text("1", timeout=10_000)
    expect(host.launcher()).to_have_attribute("aria-label", re.compile(r"1 unread"))
    host.page.wait_for_function("window.unreadSeen.length >= 1")  # listeners run on their own turn
    assert host.page.evaluate("window.unreadSeen") == [1]
    host.screenshot(path=str(artifacts / "widget-unread-badge.png"))
    assert host.problems == []


@needs_endpoints(*TRACKING, *CHAT)
def test_a_visitor_erased_while_the_messenger_is_open_starts_over_as_a_new_visitor(host, make_website, artifacts):
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Please delete my data.")
    mine = host.page.locator("parley-messenger .m.me .bu")
    quiet_network(host)
    erased = Conversation.objects.get().contact
    contact_erase(contact=erased, actor=None, source="admin")  # the team carries out the request

    # The open messenger's next poll: the erased person's conversation leaves the screen, it starts over.
    expect(mine).to_have_count(0, timeout=15_000)
    expect(host.page.locator("parley-messenger .em")).to_have_text("No conversations yet.")
    host.screenshot(path=str(artifacts / "widget-erased-starts-over.png"))

    # Writing again: a new conversation of a new contact, which the team sees.
    host.page.locator("parley-messenger button.cta").click()
    host.write("One more question.")
    expect(mine).to_have_text("One more question.")  # the only message on screen: the erased one stays gone
    quiet_network(host)
    conversation = Conversation.objects.get()
    assert conversation.contact_id != erased.pk and not Contact.objects.filter(pk=erased.pk).exists()
    assert host.problems == []


def test_a_message_written_before_the_boot_ping_answers_belongs_to_the_visitor_the_ping_recorded(host, make_website):
    website = make_website()
    held = []  # the boot ping, kept on its way until the visitor has written
    host.page.route("**/ping", lambda route: held.append(route))
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.launcher().click()
    host.page.locator("parley-messenger textarea").fill("Is the shop open on Sunday?")
    host.page.keyboard.press("Enter")
    assert len(held) == 1  # the ping answers only now, after the message was sent
    held[0].continue_()

    expect(host.page.locator("parley-messenger .m.me .bu")).to_have_text("Is the shop open on Sunday?")
    expect(host.page.locator("parley-messenger textarea")).to_have_attribute("aria-label", "Reply to the team")

    contact = Contact.objects.get()  # one person: the ping's visitor, now a lead with the conversation
    assert contact.role == Contact.Role.LEAD
    assert Conversation.objects.get().contact == contact
    assert WebSession.objects.get().contact == contact
    assert host.problems == []


def test_a_boot_ping_slower_than_the_messengers_wait_leaves_the_visitor_reading_the_teams_replies(
    host, make_website, teammate, artifacts
):
    """The first message waits 2 s at most for the boot ping; a ping slower than that (a loaded server) answered
    afterwards with the token of the visitor it recorded, which replaced the chat's: the messenger then polled as
    a contact without the conversation and the team's reply never showed (found by a make run journey on a
    loaded machine)."""
    website = make_website()
    held = []  # the boot ping, kept on its way until the message went without it
    host.page.route("**/ping", lambda route: held.append(route))
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.launcher().click()
    with host.page.expect_response(lambda answer: answer.url.endswith("/conversations") and answer.status == 201):
        host.page.locator("parley-messenger textarea").fill("Do you deliver to Porto?")
        host.page.keyboard.press("Enter")
    with host.page.expect_response(lambda answer: answer.url.endswith("/ping") and answer.status == 200):
        held[0].continue_()  # answers now, with another visitor's token

    conversation = Conversation.objects.get()
    conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Yes, in two days.")
    expect(host.page.locator("parley-messenger .m .bu", has_text="Yes, in two days.")).to_be_visible(timeout=15_000)
    host.screenshot(path=str(artifacts / "widget-slow-boot-ping-reply.png"))
    # The next page's ping carries the chat's token: its page view goes to the contact with the conversation.
    host.page.unroute("**/ping")
    host.page.goto(host.snippet_page("/contact", website.app_id))
    host.wait_booted()
    page_views_flush()  # (queued with the ingest queue on)
    assert PageView.objects.filter(contact=conversation.contact, url__endswith="/contact").exists()
    assert host.problems == []


@needs_endpoints(*TRACKING, *CHAT)
def test_intercom_snippet_from_the_docs_works_unchanged_apart_from_the_script_url(host, make_website):
    # Intercom's basic snippet sends an email without user_hash: its owner switched verification off.
    website = make_website(identity_verification=Website.IdentityVerification.OFF)
    html = INTERCOM_SNIPPET % {"app_id": website.app_id, "script_url": f"{host.parley}/widget/{website.app_id}"}
    url = host.add_page("/home", html + "<script>Intercom('onShow', function () { window.shown = true; });</script>")

    host.page.goto(url)
    host.wait_booted()
    host.page.evaluate("Intercom('trackEvent', 'invited-friend', {count: 2})")
    host.page.evaluate("Intercom('show')")
    expect(host.panel()).to_be_visible()

    contact = Contact.objects.get()
    assert (contact.name, contact.email) == ("Nikola Tesla", "nikola@example.com")
    host.page.wait_for_function("window.shown === true")  # listeners run on their own turn
    assert host.page.evaluate("window.shown") is True
    assert host.page.evaluate("Intercom('getVisitorId')") == str(contact.anonymous_id)
    assert host.page.evaluate("window.Intercom === window.Parley")
    quiet_network(host)
    assert Event.objects.get().name == "invited-friend"
    assert host.problems == []


# --- never breaks the host page -------------------------------------------------------------------


@needs_endpoints(*TRACKING)
def test_server_down_or_slow_produces_no_errors_on_the_host_page(host, make_website):
    website = make_website()
    url = host.snippet_page("/home", website.app_id, extra="Parley('trackEvent', 'x'); Parley('update', {plan: 'a'});")
    # The API refuses connections, and so does the rest of Parley; the script and the panel still load from the
    # cache/CDN.
    host.context.route("**/widget-api/**", lambda route: route.abort("connectionrefused"))
    host.context.route("**/healthz", lambda route: route.abort("connectionrefused"))

    host.page.goto(url)
    expect(host.launcher()).to_be_visible()
    host.launcher().click()
    expect(host.panel()).to_be_visible()
    host.page.locator("parley-messenger textarea").fill("Hello?")
    host.page.keyboard.press("Enter")
    # The visitor's own connection works: Parley is what cannot be reached, not the visitor who is offline.
    expect(host.page.locator("parley-messenger .of")).to_have_text("Can't reach the chat right now. We'll keep trying.")
    expect(host.page.locator("parley-messenger .fl")).to_be_visible()  # "Not sent. Select to retry."
    host.context.set_offline(True)  # now the browser itself is offline: said as it is
    host.page.locator("parley-messenger .fl").click()
    expect(host.page.locator("parley-messenger .of")).to_have_text("You're offline. We'll keep trying.")
    host.context.set_offline(False)
    host.page.keyboard.press("Escape")

    # Slow server: answers after the widget's time limit.
    host.context.unroute("**/widget-api/**")
    host.context.unroute("**/healthz")
    host.context.route("**/widget-api/**", lambda route: None)  # never answers: the widget's time limit ends it
    host.page.clock.install()  # the 8-second limit passes on a fake clock, not in real time
    host.page.reload()
    expect(host.launcher()).to_be_visible()
    with host.page.expect_event("requestfailed", predicate=lambda request: "/widget-api/" in request.url):
        host.page.clock.run_for(9500)

    # The whole Parley server is down: the script never arrives; queued calls stay harmless.
    host.context.route(f"{host.parley}/**", lambda route: route.abort("connectionrefused"))
    host.page.reload()
    host.page.evaluate("Parley('show'); Parley('trackEvent', 'y'); Parley('boot', {app_id: 'x'})")
    host.page.wait_for_timeout(500)

    assert host.problems == []


def test_widget_defines_only_its_two_globals_and_styles_nothing_on_the_page(host, make_website):
    website = make_website()
    head = "<style>button { background: rgb(255, 0, 0) !important; font-size: 40px; } div { padding: 9px; }</style>"
    url = host.snippet_page(
        "/home",
        website.app_id,
        head=head + "<script>window.before = Object.keys(window);</script>",
        body='<button id="own">Buy</button>',
    )

    host.page.goto(url)
    host.wait_booted()
    host.page.wait_for_timeout(300)

    before_keys = set(host.page.evaluate("window.before"))
    new_globals = set(host.page.evaluate("Object.keys(window)")) - before_keys - {"before", "parleySettings"}
    assert new_globals <= {"Parley", "Intercom"}
    launcher_background = host.launcher().evaluate("el => getComputedStyle(el).backgroundColor")
    assert launcher_background != "rgb(255, 0, 0)"
    assert host.page.locator("#own").evaluate("el => getComputedStyle(el).fontSize") == "40px"
    position = host.page.locator("parley-messenger").evaluate("el => getComputedStyle(el).position")
    assert position == "fixed"  # out of the page flow: no layout shift


def test_the_sites_own_launcher_replaces_the_default_one(host, make_website):
    website = make_website()
    settings = {"hide_default_launcher": True, "custom_launcher_selector": ".help"}
    listen = "window.seen = []; Parley('onShow', () => seen.push('show')); Parley('onHide', () => seen.push('hide'));"
    url = host.snippet_page(
        "/home", website.app_id, settings, body='<a class="help" href="#help">Help</a>', extra=listen
    )

    host.page.goto(url)
    host.wait_booted()
    expect(host.launcher()).to_be_hidden()
    host.page.click("a.help")
    expect(host.panel()).to_be_visible()
    host.page.keyboard.press("Escape")

    expect(host.panel()).to_be_hidden()
    # Listeners run on their own turn (a site's error in one never breaks the widget): wait for the second.
    host.page.wait_for_function("window.seen.length >= 2")
    assert host.page.evaluate("window.seen") == ["show", "hide"]
    assert host.page.evaluate("location.hash") == ""  # the link's own navigation was prevented


def test_the_demo_page_runs_under_its_strict_content_security_policy(chromium, parley_url, settings):
    settings.PARLEY_DEMO_PAGES = True
    website_create(name="Demo shop", allowed_origins=[parley_url])
    site = HostSite(chromium, parley_url)
    try:
        site.page.add_init_script(
            "window.cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        site.page.goto(f"{parley_url}/demo/")
        site.wait_booted()
        site.launcher().click()
        expect(site.panel()).to_be_visible()
        quiet_network(site)

        assert site.page.evaluate("window.cspViolations") == []
        # The shop's other pages (those its seeded page views visit), from its menu: the widget boots on each too.
        site.page.get_by_role("link", name="Pricing").click()
        expect(site.page.locator("h1")).to_have_text("Pricing")
        site.wait_booted()
        site.page.screenshot(path=str(ARTIFACTS / "demo-pricing.png"))
        assert site.page.evaluate("window.cspViolations") == []
        # On a phone (390 px) the shop fits its width: the launcher stays on screen (the walk found it 546 px wide).
        site.page.set_viewport_size({"width": 390, "height": 800})
        site.page.goto(f"{parley_url}/demo/")
        site.wait_booted()
        assert site.page.evaluate("document.documentElement.scrollWidth") <= 390
        launcher = site.launcher().bounding_box()
        assert launcher["x"] + launcher["width"] <= 390
        site.page.screenshot(path=str(ARTIFACTS / "demo-phone.png"))
        assert site.problems == []
    finally:
        site.close()


# --- accessibility, languages, looks --------------------------------------------------------------


def test_keyboard_users_open_the_panel_stay_trapped_in_it_and_escape_back(host, make_website):
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()

    host.launcher().focus()
    host.page.keyboard.press("Enter")
    expect(host.panel()).to_be_visible()
    expect(host.panel()).to_have_attribute("role", "dialog")
    expect(host.launcher()).to_have_attribute("aria-expanded", "true")
    for _ in range(8):
        host.page.keyboard.press("Tab")
        inside = host.page.evaluate(
            "() => { const root = document.querySelector('parley-messenger').shadowRoot;"
            " return !!root.activeElement && root.querySelector('.p').contains(root.activeElement); }"
        )
        assert inside
    host.page.keyboard.press("Escape")

    expect(host.panel()).to_be_hidden()
    expect(host.launcher()).to_be_focused()
    expect(host.launcher()).to_have_attribute("aria-expanded", "false")


@pytest.mark.parametrize(
    ("locale", "override", "expected"),
    [
        ("de-DE", None, "Nachricht senden"),
        ("de-DE", "fr", "Nous envoyer un message"),
        ("ja-JP", None, "Send us a message"),
    ],
)
def test_strings_follow_the_language_override_then_the_browser_language(
    chromium, parley_url, locale, override, expected
):
    site = HostSite(chromium, parley_url, locale=locale)
    try:
        website = website_create(name="Shop", allowed_origins=[site.origin])
        settings = {"language_override": override} if override else {}
        site.page.goto(site.snippet_page("/home", website.app_id, settings))
        site.wait_booted()
        site.page.evaluate("Parley('showMessages')")
        expect(site.page.locator("parley-messenger .cta")).to_have_text(expected)
    finally:
        site.close()


@needs_endpoints(*TRACKING, *CHAT)
def test_screenshots_of_the_launcher_and_the_open_panel(host, make_website, teammate, artifacts):
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id, {"name": "Grace"}))
    host.wait_booted()
    host.screenshot(path=str(artifacts / "widget-launcher.png"))

    host.launcher().click()
    host.page.locator("parley-messenger textarea").fill("Hi! Is the Arc lamp dimmable?")
    host.page.keyboard.press("Enter")
    quiet_network(host)
    conversation_reply_as_teammate(
        conversation=Conversation.objects.get(), teammate=teammate, body="Hi Grace! Yes, it has a touch dimmer."
    )
    expect(host.page.locator("parley-messenger .m:not(.me) .bu")).to_be_visible(timeout=10_000)
    host.screenshot(path=str(artifacts / "widget-panel.png"))
    host.page.locator("parley-messenger .bk").click()
    expect(host.page.locator("parley-messenger .ls")).to_be_visible()
    host.screenshot(path=str(artifacts / "widget-conversations.png"))

    assert (artifacts / "widget-launcher.png").stat().st_size > 0
    assert (artifacts / "widget-panel.png").stat().st_size > 0
    assert host.problems == []


def test_right_to_left_pages_mirror_the_panel(host, make_website):
    website = make_website()
    url = host.snippet_page("/home", website.app_id, {"alignment": "left"})
    host.pages["/home"] = host.pages["/home"].replace('<html lang="en">', '<html lang="ar" dir="rtl">')

    host.page.goto(url)
    host.wait_booted()
    host.page.evaluate("Parley('show')")
    expect(host.panel()).to_be_visible()

    assert host.panel().get_attribute("dir") == "rtl"
    box = host.launcher().bounding_box()
    assert box["x"] < 100  # alignment: left
