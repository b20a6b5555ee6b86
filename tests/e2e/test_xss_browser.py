"""XSS standing test: every field an outside party controls carries script payloads; nothing runs.

Visitors (widget ping/update/events/chat), API clients (contacts, tags, data attributes, notes,
conversations, events) and senders of inbound email fill every field they can reach with payloads.
Then a superuser's Chromium renders every admin page that shows them, and a visitor's Chromium the
widget panel. A payload that ran would set `window.__xss`; one injected as markup would leave an
element of class `xssmark` in the DOM (CSP or not); a `javascript:` URL would appear as a link.
Screenshots go to test-artifacts/.
"""

import json
import re
from email.message import EmailMessage

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import expect

from api import services as api_services
from api import webhooks
from api.models import WebhookDelivery, WebhookSubscription
from contacts.models import Contact, DataAttribute, Tag
from conversations import email_links
from conversations import services as conversation_services
from conversations.models import Conversation
from conversations.services.saved_replies import MacroActions
from tests.tracking.conftest import Widget
from tracking.models import Event, PageView, WebSession, Website
from tracking.page_view_buffer import page_views_flush
from tracking.services import website_create

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]

# Every context at once: element content, a quoted and an unquoted attribute, a JS string (single
# and double quotes), a </script> break-out for JSON inside a script, and a visible marker element.
PAYLOAD = (
    "<i class=xssmark></i><script>window.__xss=1</script><img src=x onerror=window.__xss=2>"
    '"><svg onload=window.__xss=3>\'";window.__xss=4;//</script><script>window.__xss=5</script>${window.__xss=6}'
)
SHORT = "<img src=x onerror=window.__xss=7><i class=xssmark>"  # fields capped at 64 characters
URL_PAYLOAD = 'https://shop.example/p?q=%22%3E%3Csvg%20onload%3D1%3E&r="><svg/onload=window.__xss=8><i/class=xssmark>'
JS_URL = "javascript://shop.example/%0Awindow.__xss=9"  # a valid absolute URL that runs as a link
ORIGIN = "https://shop.example"
CANARY = """
() => {
  const marks = document.querySelectorAll('.xssmark').length;
  const shadowMarks = Array.from(document.querySelectorAll('*')).filter(e => e.shadowRoot)
    .reduce((n, e) => n + e.shadowRoot.querySelectorAll('.xssmark').length, 0);
  const jsLinks = Array.from(document.querySelectorAll('[href],[src],[action],[formaction]'))
    .filter(e => /^\\s*javascript:/i.test(e.getAttribute('href') || e.getAttribute('src')
      || e.getAttribute('action') || e.getAttribute('formaction') || '')).length;
  return {ran: window.__xss || 0, marks: marks + shadowMarks, jsLinks: jsLinks, title: document.title};
}
"""


def _ok(response, what):
    assert response.status_code < 300, f"{what}: {response.status_code} {response.content[:300]!r}"
    return response.json() if response.content else {}


class Outsiders:
    """Everything an outside party can send, through the real endpoints (API, widget, email)."""

    def __init__(self, superuser) -> None:
        _, raw = api_services.api_token_create(user=superuser, name="xss")
        self.api_client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        # Verification off: the widget visitor below names itself by a bare email, as such a site allows.
        self.website = website_create(
            name="Shop", allowed_origins=[ORIGIN], identity_verification=Website.IdentityVerification.OFF
        )

    def api(self, method, path, body=None):
        call = getattr(self.api_client, method)
        return call(f"/api/{path}", json.dumps(body) if body is not None else None, content_type="application/json")

    def fill(self, teammate) -> dict:
        ids = {}
        _ok(self.api("post", "data_attributes", {"name": "tier", "model": "contact", "data_type": "string",
                                                 "label": PAYLOAD, "description": PAYLOAD}), "data attribute")  # fmt: skip
        _ok(self.api("post", "data_attributes", {"name": "plan", "model": "contact", "data_type": "options",
                                                 "label": SHORT, "description": PAYLOAD,
                                                 "options": [SHORT, "gold"]}), "options attribute")  # fmt: skip
        contact = _ok(self.api("post", "contacts", {
            "role": "user", "external_id": PAYLOAD, "email": "alice@xss.example", "name": PAYLOAD, "phone": SHORT,
            "custom_attributes": {"tier": PAYLOAD, "plan": SHORT},
        }), "contact")  # fmt: skip
        ids["contact"] = int(contact["id"])
        tag = _ok(self.api("post", "tags", {"name": PAYLOAD}), "tag")
        _ok(self.api("post", f"contacts/{contact['id']}/tags", {"id": tag["id"]}), "tag a contact")
        _ok(self.api("post", f"contacts/{contact['id']}/notes", {"body": PAYLOAD}), "note")
        conversation = _ok(self.api("post", "conversations", {"from": {"type": "user", "id": contact["id"]},
                                                              "body": PAYLOAD}), "conversation")  # fmt: skip
        ids["conversation"] = int(conversation.get("conversation_id") or conversation["id"])
        _ok(self.api("post", f"conversations/{ids['conversation']}/reply",
                     {"message_type": "comment", "type": "user", "intercom_user_id": contact["id"], "body": PAYLOAD}),
            "contact reply")  # fmt: skip
        _ok(self.api("post", "events", {"event_name": PAYLOAD, "id": contact["id"], "metadata": {"k": PAYLOAD}}),
            "event")  # fmt: skip
        # A visitor in the widget: user fields, custom attributes, pages, events, chat.
        widget = Widget(Client(), self.website)
        user = {"email": "vera@xss.example", "name": PAYLOAD, "phone": SHORT,
                "custom_attributes": {"tier": PAYLOAD}}  # fmt: skip
        _ok(widget.ping(url=URL_PAYLOAD, title=PAYLOAD, referrer=JS_URL, user=user), "ping")
        _ok(widget.post("update", {"token": widget.token, "user": {"name": PAYLOAD, "custom_attributes": {
            "plan": SHORT}}, "page": {"url": URL_PAYLOAD + "&2", "title": PAYLOAD, "referrer": JS_URL}}), "update")  # fmt: skip
        _ok(widget.event(PAYLOAD, {"k": PAYLOAD, PAYLOAD[:60]: "v"}), "widget event")
        chat = _ok(widget.post("conversations", {"token": widget.token, "body": PAYLOAD}), "widget chat")
        ids["visitor_conversation"] = Conversation.objects.get(public_id=chat["conversation"]["id"]).pk
        page_views_flush()
        # A teammate whose display name is a payload answers (the widget and the thread show it).
        conversation_services.conversation_reply_as_teammate(
            conversation=Conversation.objects.get(pk=ids["conversation"]), teammate=teammate, body=PAYLOAD
        )
        # Inbound email: display name, subject and body.
        email = EmailMessage()
        email["From"] = f'"{SHORT}" <alice@xss.example>'
        email["To"] = email_links.reply_address(conversation_id=ids["conversation"])
        email["Subject"] = PAYLOAD
        email.set_content(PAYLOAD)
        _ok(Client().post("/email/inbound", email.as_bytes(), content_type="message/rfc822"), "inbound email")
        ids["tag"] = int(tag["id"])
        return ids


@pytest.fixture
def evil_teammate(db):
    from django.contrib.auth.models import Group

    from contacts.permissions import AGENT_GROUP, ensure_teammate_groups
    from conversations.services import teammate_profile_update

    mallory = get_user_model().objects.create_user(
        "mallory", "mallory@parley.test", "correct-horse-battery", is_staff=True, first_name=SHORT, last_name=SHORT
    )
    # An agent (conversations are assigned only to teammates who can answer them), whose name contacts see, chosen by
    # the teammate in their profile: outside-controlled too.
    ensure_teammate_groups()
    mallory.groups.add(Group.objects.get(name=AGENT_GROUP))
    teammate_profile_update(teammate=mallory, display_name=SHORT[:80])
    return mallory


def _admin_pages(ids: dict) -> dict[str, str]:
    contact, conversation = ids["contact"], ids["conversation"]
    delivery = WebhookDelivery.objects.order_by("-id").first()
    return {
        "index": "/admin/",
        "contact-list": "/admin/contacts/contact/",
        "contact-list-filtered": f"/admin/contacts/contact/?tag={ids['tag']}",
        "contact-list-search": "/admin/contacts/contact/?q=%3Cimg+src%3Dx+onerror%3Dwindow.__xss%3D10%3E",
        "contact-change": f"/admin/contacts/contact/{contact}/change/",
        "contact-history": f"/admin/contacts/contact/{contact}/history/",
        "conversation-list": "/admin/conversations/conversation/?view=all",
        "conversation-thread": f"/admin/conversations/conversation/{conversation}/change/",
        "visitor-thread": f"/admin/conversations/conversation/{ids['visitor_conversation']}/change/",
        "conversation-start": f"/admin/conversations/conversation/start/{contact}/",
        "data-attributes": "/admin/contacts/dataattribute/",
        "data-attribute": f"/admin/contacts/dataattribute/{DataAttribute.objects.get(name='tier').pk}/change/",
        "tags": "/admin/contacts/tag/",
        "tag": f"/admin/contacts/tag/{ids['tag']}/change/",
        "webhook-subscriptions": "/admin/api/webhooksubscription/",
        "webhook-deliveries": "/admin/api/webhookdelivery/",
        "webhook-delivery": f"/admin/api/webhookdelivery/{delivery.pk}/change/",
        "retention-policy": "/admin/retention/retentionpolicy/1/change/",
        "retention-runs": "/admin/retention/retentionrun/",
        "page-views": "/admin/tracking/pageview/",
        "sessions": "/admin/tracking/websession/",
        "events": "/admin/tracking/event/",
        "event-summaries": "/admin/tracking/eventsummary/",
        "website": f"/admin/tracking/website/{_website_pk()}/change/",
        "messages": "/admin/conversations/message/",
        "saved-replies": "/admin/conversations/savedreply/",
        "privacy-audit": "/admin/contacts/privacyauditentry/",
    }


def _website_pk() -> int:
    from tracking.models import Website

    return Website.objects.get().pk


def _login(page, base: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_be_visible()


def _check(page, name: str, problems: list[str], artifacts) -> None:
    page.wait_for_load_state("networkidle")
    result = page.evaluate(CANARY)
    if result["ran"] or result["marks"] or result["jsLinks"]:
        problems.append(f"{name}: {result}")
    page.screenshot(path=str(artifacts / f"xss-{name}.png"), full_page=True)


def test_no_payload_runs_or_renders_as_markup_on_any_admin_page(
    chromium, parley_url, superuser, evil_teammate, artifacts, settings
):
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    api_services.webhook_subscription_save(
        subscription=WebhookSubscription(), url="http://127.0.0.1:9/hook", topics=list(webhooks.TOPICS)
    )
    ids = Outsiders(superuser).fill(evil_teammate)
    # A saved reply fills the contact's name into the composer (an <option> value, then JavaScript).
    conversation_services.saved_reply_create(name=SHORT, body="Hi {{contact.name}}", actor=evil_teammate)
    assert Contact.objects.get(pk=ids["contact"]).custom_attributes["tier"] == PAYLOAD
    assert Tag.objects.filter(name=PAYLOAD).exists()
    assert PageView.objects.filter(title=PAYLOAD).exists() and WebSession.objects.filter(referrer=JS_URL).exists()
    assert Event.objects.filter(name=PAYLOAD).exists()
    assert Conversation.objects.get(pk=ids["conversation"]).parts.filter(body=PAYLOAD).count() >= 3

    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    problems: list[str] = []
    try:
        _login(page, parley_url)
        for name, path in _admin_pages(ids).items():
            response = page.goto(parley_url + path)
            assert response is not None and response.status == 200, f"{name} {path}: {response and response.status}"
            _check(page, name, problems, artifacts)
        # The thread page draws parts that arrive while it is open with its own script.
        page.goto(f"{parley_url}/admin/conversations/conversation/{ids['conversation']}/change/")
        conversation_services.conversation_reply_as_contact(
            conversation=Conversation.objects.get(pk=ids["conversation"]), body=PAYLOAD + " (live)"
        )
        expect(page.locator("#parley-thread li", has_text="(live)")).to_have_count(1, timeout=15_000)
        _check(page, "conversation-thread-live", problems, artifacts)
        page.goto(f"{parley_url}/admin/conversations/conversation/{ids['conversation']}/change/")
        page.select_option("#parley-saved", index=1)
        expect(page.locator("#parley-body")).to_have_value(re.compile(re.escape("window.__xss=1")))
        _check(page, "conversation-saved-reply", problems, artifacts)
        # Admin messages naming outside text: "Tagged … with “<tag>”", "Assigned to <teammate>".
        page.goto(f"{parley_url}/admin/contacts/contact/")
        page.locator(f"input[name=_selected_action][value='{ids['contact']}']").check()
        page.select_option("select[name=action]", "tag_selected")  # its Tag list shows once it is chosen
        page.select_option("select[name=tag]", str(ids["tag"]))
        page.click("button[name=index]")
        expect(page.locator("ul.messagelist li")).to_contain_text("Tagged")
        _check(page, "contact-tag-message", problems, artifacts)
        page.goto(f"{parley_url}/admin/conversations/conversation/{ids['conversation']}/change/")
        page.select_option("#parley-assignee", str(evil_teammate.pk))
        page.click("button[value=assign]")
        expect(page.locator("ul.messagelist li")).to_contain_text("Assigned to")
        _check(page, "conversation-assign-message", problems, artifacts)
        # Working faster: a teammate's name in the presence line and the note box's @ list, a macro's
        # name and tag in its picker, in the composer's macro box and in the message after it ran.
        thread_url = f"{parley_url}/admin/conversations/conversation/{ids['conversation']}/change/"
        conversation_services.conversation_presence(
            conversation=Conversation.objects.get(pk=ids["conversation"]),
            teammate=evil_teammate,
            state="typing",
            display_name=lambda: SHORT,
        )
        macro = conversation_services.saved_reply_create(
            name=SHORT + " macro", body="Hi {{contact.name}}",
            actions=MacroActions(tags=(Tag.objects.get(pk=ids["tag"]),)), actor=evil_teammate,
        )  # fmt: skip
        page.goto(thread_url)
        expect(page.locator("#parley-presence")).to_contain_text("is typing a reply", timeout=15_000)
        page.keyboard.press("n")
        page.locator("#parley-body").press_sequentially("ask @mal")
        expect(page.locator("#parley-mention-list li")).to_have_count(1)
        _check(page, "conversation-presence-and-mention-list", problems, artifacts)
        page.locator("#parley-body").press("Escape")
        page.locator("#parley-body").press("Escape")
        page.keyboard.press("m")
        expect(page.locator(".parley-picker-list li")).to_contain_text(SHORT)
        _check(page, "conversation-macro-picker", problems, artifacts)
        page.keyboard.press("Enter")  # the macro goes into the reply, its name and actions listed as text
        expect(page.locator("#parley-macro-box")).to_contain_text(SHORT)
        _check(page, "conversation-macro-in-composer", problems, artifacts)
        page.keyboard.press("Control+Enter")
        expect(page.locator("ul.messagelist li")).to_contain_text("Reply sent; the macro")
        _check(page, "conversation-macro-ran-message", problems, artifacts)
        assert Conversation.objects.get(pk=ids["conversation"]).tags.filter(pk=ids["tag"]).exists(), macro
        # The erase confirmation lists the selected contacts by name.
        page.goto(f"{parley_url}/admin/contacts/contact/")
        page.locator(f"input[name=_selected_action][value='{ids['contact']}']").check()
        page.select_option("select[name=action]", "erase_selected")
        page.click("button[name=index]")
        expect(page.locator(".delete-confirmation")).to_be_visible()
        _check(page, "contact-erase-confirmation", problems, artifacts)
    finally:
        context.close()
    assert problems == [], "\n".join(problems)
    assert dialogs == []


def test_no_payload_runs_in_the_widget_panel(host, evil_teammate, artifacts):
    website = website_create(name="Shop", allowed_origins=[host.origin])
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.page.locator("parley-messenger textarea").fill(PAYLOAD)
    host.page.keyboard.press("Enter")
    expect(host.page.locator("parley-messenger .m.me .bu")).to_have_text(PAYLOAD)
    # The composer becomes a reply box once the server has created the conversation.
    expect(host.page.locator("parley-messenger textarea")).to_have_attribute("aria-label", "Reply to the team")
    conversation = Conversation.objects.get()
    conversation_services.conversation_reply_as_teammate(conversation=conversation, teammate=evil_teammate,
                                                         body=PAYLOAD)  # fmt: skip
    reply = host.page.locator("parley-messenger .m:not(.me):not(.gr) .bu")  # not the team's greeting
    expect(reply).to_have_text(PAYLOAD, timeout=15_000)
    expect(host.page.locator("parley-messenger .au").last).to_have_text(re.compile(re.escape(SHORT)))
    result = host.page.evaluate(CANARY)
    host.screenshot(path=str(artifacts / "xss-widget-thread.png"))
    host.page.locator("parley-messenger .bk").click()
    expect(host.page.locator("parley-messenger .ls")).to_be_visible()
    list_result = host.page.evaluate(CANARY)
    host.screenshot(path=str(artifacts / "xss-widget-list.png"))
    for seen in (result, list_result):
        assert (seen["ran"], seen["marks"], seen["jsLinks"]) == (0, 0, 0), seen
    assert not [problem for problem in host.problems if "xss" in problem.lower()]


def test_the_canary_sees_a_payload_that_runs(chromium, parley_url):
    """The detector itself: the same payload rendered as HTML must trip every canary."""
    context = chromium.new_context()
    page = context.new_page()
    try:
        page.set_content(f"<!doctype html><title>t</title><body>{PAYLOAD}<a href='{JS_URL}'>x</a></body>")
        page.wait_for_load_state("networkidle")
        seen = page.evaluate(CANARY)
    finally:
        context.close()
    assert seen["ran"] and seen["marks"] and seen["jsLinks"]
