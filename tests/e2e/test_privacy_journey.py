"""Consent by purpose in a real Chromium: a stub IAB TCF v2.2 CMP and Google Consent Mode v2 on a page of
another origin, the teammate reading the contact's consent in the admin, and the cookie declaration
checked against what the browser really holds."""

import re
import time

import pytest
from django.core import mail
from django.core.cache import cache
from playwright.sync_api import expect

from contacts.models import Contact
from contacts.services import contact_processing_restrict
from conversations import services as conversation_services
from conversations.models import Conversation
from privacy.cookie_declaration import cookie_declaration
from tests.e2e.conftest import needs_endpoints
from tests.e2e.test_widget_browser import CHAT, TRACKING, quiet_network
from tracking.models import PageView, Website
from tracking.page_view_buffer import page_views_flush
from tracking.services.hot_path import HotPathState

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]

# A CMP as the IAB specifies its API: addEventListener calls back at once with the current state
# (the banner is showing until the visitor decides), then on every decision. The choice is kept in
# the host page's own localStorage, as real CMPs keep theirs.
TCF_STUB_CMP = """<script>
(function () {
  var listeners = [];
  function state() {
    var saved = localStorage.getItem("cmp");
    return saved ? {eventStatus: "tcloaded", gdprApplies: true, purpose: {consents: JSON.parse(saved)}}
                 : {eventStatus: "cmpuishown", gdprApplies: true, purpose: {consents: {}}};
  }
  window.__tcfapi = function (command, version, callback) {
    if (command === "addEventListener" && version === 2) { listeners.push(callback); callback(state(), true); }
  };
  window.cmpDecide = function (consents) {
    localStorage.setItem("cmp", JSON.stringify(consents));
    var decided = state(); decided.eventStatus = "useractioncomplete";
    listeners.forEach(function (callback) { callback(decided, true); });
  };
})();
</script>"""

CONSENT_MODE_DEFAULT_DENIED = """<script>
window.dataLayer = window.dataLayer || [];
function gtag() { dataLayer.push(arguments); }
gtag("consent", "default", {analytics_storage: "denied", ad_storage: "denied", ad_user_data: "denied",
                            ad_personalization: "denied"});
</script>"""


def _send_email(contact: Contact) -> str:
    """A teammate's outbound email to the contact; returns its HTML as sent."""
    message = conversation_services.message_send(
        sender=None, channel="email", subject="News", body="See https://shop.example/new", contact_ids=[contact.pk]
    )
    while conversation_services.message_deliver_batch(message_id=message.pk)[1]:
        pass
    return next(content for content, kind in mail.outbox[-1].alternatives if kind == "text/html")


@needs_endpoints(*TRACKING, *CHAT)
def test_tcf_cmp_no_page_view_before_analytics_consent_no_pixel_before_marketing_consent_chat_always(
    host, make_website, agent_admin, artifacts
):
    website = make_website(tracking_mode=Website.TrackingMode.SUPPORT_ONLY)
    host.page.goto(host.snippet_page("/home", website.app_id, head=TCF_STUB_CMP))
    host.wait_booted()
    quiet_network(host)

    # The banner is up: nothing recorded, no tracking cookie, and the chat works.
    assert PageView.objects.count() == 0
    assert f"parley-id-{website.app_id}" not in host.cookies()
    host.launcher().click()
    host.write("Do you ship to Norway?")
    contact = Conversation.objects.get().contact
    # The address as a teammate gives it (shown to be theirs: campaigns go to it).
    Contact.objects.filter(pk=contact.pk).update(email="ada@example.com", email_verified_at=contact.created_at)
    assert PageView.objects.count() == 0

    # Analytics yes (purposes 1 and 8), marketing no (purpose 7 refused).
    host.page.evaluate("cmpDecide({1: true, 8: true, 7: false})")
    quiet_network(host)
    page_views_flush()  # the known browser's new session and its page view are queued (the ingest queue)
    contact.refresh_from_db()
    assert PageView.objects.count() == 1
    assert (contact.analytics_consent, contact.marketing_consent, contact.consent_source) == (True, False, "tcf")
    html = _send_email(contact)
    assert "<img" not in html and 'href="https://shop.example/new"' in html  # no pixel, the link as written

    # The teammate sees the choice on the contact page.
    agent_admin.open(f"/admin/contacts/contact/{contact.pk}/change/")
    analytics = agent_admin.page.locator('td[data-purpose="analytics"]')
    expect(analytics).to_have_text("given")
    expect(agent_admin.page.locator('td[data-purpose="marketing"]')).to_have_text("refused")
    expect(agent_admin.page.get_by_text("IAB TCF consent platform")).to_be_visible()
    agent_admin.page.screenshot(path=artifacts / "privacy-tcf-contact-consent.png", full_page=True)

    # Marketing granted later: the next page view carries it (no request of its own), then emails are tracked.
    host.page.evaluate("cmpDecide({1: true, 8: true, 7: true})")
    quiet_network(host)
    host.page.goto(host.snippet_page("/pricing", website.app_id, head=TCF_STUB_CMP))
    host.wait_booted()
    quiet_network(host)
    contact.refresh_from_db()
    assert contact.marketing_consent is True
    page_views_flush()  # a returning browser's page view is queued, not written at once
    assert PageView.objects.count() == 2
    html = _send_email(contact)
    assert "<img" in html and 'href="https://shop.example/new"' not in html  # open pixel, click redirect
    host.page.screenshot(path=artifacts / "privacy-tcf-visitor.png")
    assert host.problems == []


@needs_endpoints(*TRACKING, *CHAT)
def test_consent_mode_denied_by_default_records_nothing_until_analytics_storage_is_granted(host, make_website):
    # Full tracking by default: the denial must still hold from the first ping (it waits for the adapter).
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id, head=CONSENT_MODE_DEFAULT_DENIED))
    host.wait_booted()
    quiet_network(host)

    pings = [r for r in host.requests if r.endswith("/ping")]
    assert len(pings) == 1  # the adapter adds no request to the server
    assert PageView.objects.count() == 0
    assert f"parley-id-{website.app_id}" not in host.cookies()

    host.launcher().click()
    host.write("Hello, chat works without consent")
    assert Conversation.objects.count() == 1

    host.page.evaluate("gtag('consent', 'update', {analytics_storage: 'granted'})")
    quiet_network(host)

    page_views_flush()  # the known browser's new session and its page view are queued (the ingest queue)
    assert PageView.objects.count() == 1
    contact = Conversation.objects.get().contact
    contact.refresh_from_db()
    assert (contact.analytics_consent, contact.consent_source) == (True, "consent_mode")
    assert contact.marketing_consent is False  # ad_storage and ad_user_data still denied
    assert f"parley-id-{website.app_id}" in host.cookies()
    assert host.problems == []


@needs_endpoints(*TRACKING, *CHAT)
def test_the_cookie_declaration_lists_exactly_what_a_real_browser_holds(host, make_website, agent_admin):
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Hi")
    quiet_network(host)

    agent_admin.open(f"/admin/privacy/datasubjectrequest/cookie-declaration/{website.pk}/json/")
    declared = {item["name"]: item for item in cookie_declaration(website=website)["items"]}
    served = agent_admin.page.evaluate("JSON.parse(document.body.innerText)")
    assert {item["name"] for item in served["items"]} == set(declared)

    held = {name: cookie for name, cookie in host.cookies().items() if name.startswith("parley-")}
    # Every lasting cookie; the session cookie only while messages are kept (test_messenger_resend_journey holds it).
    assert set(held) == {n for n, item in declared.items() if item["storage"] == "cookie" and item["duration_days"]}
    for name, cookie in held.items():
        lifetime = cookie["expires"] - time.time()
        assert abs(lifetime - declared[name]["duration_seconds"]) < 3600, name
        assert cookie["domain"] == "127.0.0.1" and not cookie["httpOnly"]  # first party, the site's own host
    storage = host.page.evaluate("[localStorage.length, sessionStorage.length]")  # no words left unsent here
    assert storage == [0, 0] and declared and served["local_storage"] == []
    assert served["session_storage"] == [f"parley-draft-{website.app_id}"]

    agent_admin.open(f"/admin/privacy/datasubjectrequest/cookie-declaration/{website.pk}/html/")
    for name in declared:
        expect(agent_admin.page.locator(".parley-cookie-preview code", has_text=name)).to_be_visible()


def _page_views() -> int:
    page_views_flush()  # a returning browser's page view is queued, not written at once
    return PageView.objects.count()


@needs_endpoints(*TRACKING)
def test_a_withdrawal_reaches_the_server_at_once_and_the_next_page_does_not_track(host, make_website, artifacts):
    website = make_website()  # full tracking by default: only the stored withdrawal can stop the next page
    id_cookie = f"parley-id-{website.app_id}"
    host.page.goto(host.snippet_page("/home", website.app_id, {"consent": True}))
    host.wait_booted()
    quiet_network(host)
    page_views_flush()  # the first ping's rows are queued (the ingest queue), written by the flush
    contact = Contact.objects.get()
    assert (contact.analytics_consent, contact.marketing_consent) == (True, True)
    assert id_cookie in host.cookies() and _page_views() == 1

    host.requests.clear()
    host.page.evaluate("Parley('consent', false)")
    quiet_network(host)
    assert [r.split("/")[-1] for r in host.requests if "/widget-api/" in r] == ["update"]  # one request, at once
    contact.refresh_from_db()
    assert (contact.analytics_consent, contact.marketing_consent) == (False, False)
    assert id_cookie not in host.cookies()

    # The next page says nothing about consent: the server remembers the withdrawal.
    host.requests.clear()
    host.page.goto(host.snippet_page("/pricing", website.app_id))
    host.wait_booted()
    quiet_network(host)
    assert len([r for r in host.requests if r.endswith("/ping")]) == 1
    assert _page_views() == 1  # no page view recorded
    assert id_cookie not in host.cookies()  # the cookie does not come back
    contact.refresh_from_db()
    assert (contact.analytics_consent, contact.marketing_consent) == (False, False)
    host.page.screenshot(path=artifacts / "privacy-withdrawal-next-page.png")
    assert host.problems == []


# Google's documented pattern: the default denied with wait_for_update, then the CMP's update ~300 ms later
# (a returning visitor who granted before).
CONSENT_MODE_GOOGLE_PATTERN = """<script>
window.dataLayer = window.dataLayer || [];
function gtag() { dataLayer.push(arguments); }
gtag("consent", "default", {analytics_storage: "denied", ad_storage: "denied", ad_user_data: "denied",
                            ad_personalization: "denied"%s});
setTimeout(function () {
  gtag("consent", "update", {analytics_storage: "granted", ad_storage: "granted", ad_user_data: "granted"});
}, 300);
</script>"""


@needs_endpoints(*TRACKING)
def test_consent_mode_default_then_update_sends_one_ping_and_never_rewrites_the_choice(host, make_website, artifacts):
    website = make_website(tracking_mode=Website.TrackingMode.SUPPORT_ONLY)
    id_cookie = f"parley-id-{website.app_id}"
    waits = CONSENT_MODE_GOOGLE_PATTERN % ", wait_for_update: 500"
    host.page.goto(host.snippet_page("/home", website.app_id, head=waits))
    host.wait_booted()
    quiet_network(host)
    assert len([r for r in host.requests if r.endswith("/ping")]) == 1  # waited for the update: one ping
    page_views_flush()  # the first ping's rows are queued (the ingest queue), written by the flush
    contact = Contact.objects.get()
    assert (contact.analytics_consent, contact.marketing_consent, contact.consent_source) == (
        True,
        True,
        "consent_mode",
    )
    chosen_at = contact.consent_updated_at
    assert id_cookie in host.cookies() and _page_views() == 1

    # Returning visitor, each page view: one ping, the choice never rewritten, the cookie never dropped;
    # also when the page's default comes without wait_for_update (the default is not the visitor's choice).
    for path, head in (("/pricing", waits), ("/about", CONSENT_MODE_GOOGLE_PATTERN % "")):
        host.requests.clear()
        host.page.goto(host.snippet_page(path, website.app_id, head=head))
        host.wait_booted()
        quiet_network(host)
        host.page.wait_for_function("window.dataLayer.length >= 2")  # the update has been pushed
        quiet_network(host)
        assert len([r for r in host.requests if r.endswith("/ping")]) == 1, path
        assert id_cookie in host.cookies(), path
        contact.refresh_from_db()
        assert (contact.analytics_consent, contact.marketing_consent, contact.consent_updated_at) == (
            True,
            True,
            chosen_at,
        ), path
    assert _page_views() == 3
    host.page.screenshot(path=artifacts / "privacy-consent-mode-returning.png")
    assert host.problems == []


@needs_endpoints(*TRACKING)
def test_a_restricted_contacts_browser_drops_the_analytics_cookie(host, make_website):
    website = make_website()
    id_cookie = f"parley-id-{website.app_id}"
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    quiet_network(host)
    assert id_cookie in host.cookies()
    page_views_flush()  # the first ping's rows are queued (the ingest queue), written by the flush
    contact = Contact.objects.get()
    contact_processing_restrict(contact=contact, restricted=True)  # a restriction request carried out
    cache.delete(HotPathState.key(contact.pk))  # the widget's hot path learns it within a minute

    host.page.goto(host.snippet_page("/pricing", website.app_id))
    host.wait_booted()
    quiet_network(host)
    assert id_cookie not in host.cookies()
    assert _page_views() == 1
    assert host.problems == []


@needs_endpoints(*TRACKING)
def test_an_agent_restricts_a_browsing_visitor_from_their_page_and_the_next_page_records_nothing(
    host, make_website, agent_admin, artifacts
):
    website = make_website()
    id_cookie = f"parley-id-{website.app_id}"
    for path in ("/home", "/pricing"):
        host.page.goto(host.snippet_page(path, website.app_id))
        host.wait_booted()
        quiet_network(host)
    assert _page_views() == 2
    contact = Contact.objects.get()

    # The agent, on the contact's page: restrict, recorded as the person's request, then carried out.
    agent_admin.open(f"/admin/contacts/contact/{contact.pk}/change/")
    agent_admin.page.get_by_role("link", name="restrict their processing (Art. 18)").click()
    expect(agent_admin.page.locator("#id_kind")).to_have_value("restriction")
    agent_admin.page.fill("#id_subject", "Asked by phone")
    agent_admin.page.locator("input[name=_continue]").click()
    agent_admin.page.get_by_role("button", name="Carry out and close").click()
    # The request, closed: its deadline kept, and its page links to the contact it was about.
    agent_admin.open("/admin/privacy/datasubjectrequest/")
    request_row = agent_admin.page.locator("#result_list tbody tr", has_text="Asked by phone")
    expect(request_row.locator("td.field-overdue")).to_have_text("On time")
    agent_admin.page.screenshot(path=artifacts / "privacy-requests-on-time.png")
    request_row.get_by_role("link", name="Asked by phone").click()
    agent_admin.page.locator(".field-contact_link").get_by_role("link", name=str(contact.pk)).click()
    expect(agent_admin.page).to_have_url(re.compile(rf"/admin/contacts/contact/{contact.pk}/change/$"))
    notice = agent_admin.page.locator(".messagelist .warning", has_text="Processing restricted")
    expect(notice).to_be_visible()
    agent_admin.page.screenshot(path=artifacts / "privacy-restricted-contact-page.png")

    # The visitor's very next page: nothing recorded, the analytics cookie gone (no cache entry touched here).
    host.page.goto(host.snippet_page("/checkout", website.app_id))
    host.wait_booted()
    quiet_network(host)
    host.page.screenshot(path=artifacts / "privacy-restricted-visitor.png")
    assert id_cookie not in host.cookies()
    assert _page_views() == 2
    assert host.problems == [] and agent_admin.problems == []


@needs_endpoints(*TRACKING)
def test_identity_goes_through_in_support_only_mode_before_any_consent(host, make_website):
    website = make_website(tracking_mode=Website.TrackingMode.SUPPORT_ONLY, identity_verification="off")
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    quiet_network(host)
    assert Contact.objects.count() == 0

    host.page.evaluate("Parley('update', {email: 'ada@example.com', name: 'Ada'})")
    quiet_network(host)
    contact = Contact.objects.get()
    assert (contact.email, contact.name) == ("ada@example.com", "Ada")
    assert _page_views() == 0 and contact.browser == ""  # no page view, no device field
    assert f"parley-id-{website.app_id}" not in host.cookies()
    assert host.problems == []


def test_an_access_request_carried_out_downloads_its_export_and_the_page_then_says_it_is_closed(agent_admin, artifacts):
    import json

    from django.utils import timezone

    from privacy import services as privacy_services
    from tests.contacts.factories import LeadFactory

    lead = LeadFactory(name="Lea Access", email="lea@example.com")
    request = privacy_services.data_subject_request_create(
        kind="access", subject="lea@example.com", received_at=timezone.localdate(), contact_id=lead.pk
    )
    page = agent_admin.page
    agent_admin.open(f"/admin/privacy/datasubjectrequest/{request.pk}/change/")
    with page.expect_download() as download:
        page.get_by_role("button", name="Carry out and close").click()
    export = json.loads(download.value.path().read_text())
    assert export["contacts"][0]["contact"]["email"] == "lea@example.com"
    # The page does not stay as it was (an open request, inviting a second click): it says the request is closed.
    expect(page.get_by_text("carried out and closed: its export was downloaded")).to_be_visible()
    expect(page.locator(".field-carry_out")).to_contain_text("Closed.")
    page.screenshot(path=str(artifacts / "privacy-access-carried-out.png"), full_page=True)
    assert agent_admin.problems == []


def test_an_erasure_recorded_by_email_names_whom_it_erases_and_warns_of_another_requester(agent_admin, artifacts):
    """A walk: an erasure had to name its contact by internal number, and the confirmation said only "deletes contact
    1285", so a mistyped id erased someone else with nothing on screen to catch it."""
    from tests.contacts.factories import UserContactFactory

    guido = UserContactFactory(name="Guido Liskov", email="guido@example.com")
    conversation_services.conversation_start_by_contact(contact=guido, body="Please forget me")
    page = agent_admin.page
    agent_admin.open("/admin/privacy/datasubjectrequest/add/")
    page.get_by_label("Kind").select_option("erasure")
    page.get_by_label("Requester").fill("jane.walker@example.com")
    page.get_by_label("Contact id or email").fill("Guido@Example.com")
    page.get_by_role("button", name="Save and continue editing").click()

    expect(page.locator(".field-contact_link")).to_contain_text(f"Guido Liskov ({guido.pk})")
    page.get_by_role("button", name="Carry out and close").click()
    expect(page.locator("#erasure-subject")).to_contain_text("deletes Guido Liskov (guido@example.com, user,")
    expect(page.locator("#erasure-subject")).to_contain_text("1 conversation,")
    expect(page.locator("#erasure-requester-differs")).to_contain_text(
        "The requester, jane.walker@example.com, is not this contact's email address (guido@example.com)."
    )
    page.screenshot(path=str(artifacts / "privacy-erasure-confirmation.png"), full_page=True)
    page.get_by_role("link", name="No, go back").click()
    expect(page.locator(".field-contact_link")).to_contain_text("Guido Liskov")
    assert Contact.objects.filter(pk=guido.pk).exists()
    assert agent_admin.problems == []
