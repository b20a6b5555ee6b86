"""An outbound email as the agent sees it before sending: the preview for a real recipient, the test to
oneself, the confirmation with the count; hostile names stay text in the browser."""

import pytest
from django.core import mail
from django.urls import reverse
from playwright.sync_api import expect

from contacts import services as contact_services
from contacts.models import Tag
from conversations.models import Message
from tests.contacts.factories import UserContactFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


SHOWS_ITS_WIDEST_OPTION = """select => {
  const pen = document.createElement("canvas").getContext("2d");
  pen.font = getComputedStyle(select).font;
  return select.clientWidth >= Math.max(...[...select.options].map(option => pen.measureText(option.text).width));
}"""


def test_an_email_is_previewed_tested_and_confirmed_and_hostile_names_stay_text(agent_admin, artifacts):
    tag = Tag.objects.create(name="beta")
    mallory = ("<img src=x onerror=alert(1)> Mallory", "mallory.ostrander-whitfield@customer-success.example.com")
    for name, email in (mallory, ("Bo Li", "bo@example.com")):
        contact_services.contact_tag(contact=UserContactFactory(name=name, email=email), tag=tag)
    UserContactFactory(name="Not Tagged")
    dialogs: list[str] = []
    page = agent_admin.page
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    agent_admin.open(reverse("admin:conversations_message_add"))
    page.fill("#id_subject", 'Beta news for {{contact.first_name | fallback: "you"}}')
    page.fill("#id_body", "Hi {{contact.name}},\n\nTry it: https://shop.example/beta")
    page.select_option("#id_tag", label="beta")
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("#parley-preview")
    expect(preview.locator(".subject")).to_have_text("Beta news for <img")
    expect(preview).to_contain_text("Hi <img src=x onerror=alert(1)> Mallory,")
    expect(preview.locator("a")).to_have_attribute("href", "https://shop.example/beta")  # not counted as a click
    expect(page.locator("#parley-audience-count")).to_have_text("2 contacts")
    # Each choice is read whole (new-user walk: a long address was cut off).
    assert page.locator("#id_preview_contact").evaluate(SHOWS_ITS_WIDEST_OPTION), "the Preview as list cuts a name off"
    page.select_option("#id_preview_contact", label="Bo Li <bo@example.com>")
    page.get_by_role("button", name="Show").click()
    expect(preview.locator(".subject")).to_have_text("Beta news for Bo")

    page.get_by_role("button", name="Send a test to me (boss@parley.test)").click()
    expect(page.locator(".messagelist")).to_contain_text("Test sent to boss@parley.test, filled in for Bo Li.")
    assert [(m.to, m.subject) for m in mail.outbox] == [(["boss@parley.test"], "[Test] Beta news for Bo")]
    page.screenshot(path=str(artifacts / "outbound-email-preview.png"), full_page=True)
    assert not Message.objects.exists()

    page.get_by_role("button", name="Send to 2 contacts").click()
    expect(page.locator(".messagelist")).to_contain_text("is being sent to 2 contacts.")
    expect(page.locator('[data-stat="all"] strong')).to_have_text("2")
    expect(page.locator("#parley-recipients")).to_contain_text("<img src=x onerror=alert(1)> Mallory")
    assert Message.objects.get().recipients_count == 2
    # On a phone, the recipients' table scrolls in its own box, not the whole page (a walk: 831 px at 380 px).
    page.set_viewport_size({"width": 380, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 380
    box = page.locator(".parley-wide-panel:has(#parley-recipients)")
    assert box.evaluate("e => e.scrollWidth > e.clientWidth")
    page.screenshot(path=str(artifacts / "outbound-sent-phone.png"), full_page=True)
    assert dialogs == [] and agent_admin.problems == []


def test_an_in_app_test_is_seen_by_the_teammates_own_contact_marked_as_a_test_and_the_real_send_follows(
    host, make_website, agent_admin, artifacts
):
    from conversations.models import MessageDelivery
    from tests.tracking.factories import user_hash

    # The teammate is signed in on their own site as the user with their email; in-app messages are
    # marketing: this website's basis is legitimate interest, so its visitors see them without a consent banner.
    website = make_website(marketing_basis="legitimate_interest")
    me = {"user_id": "boss-1", "name": "Boss Person", "email": "boss@parley.test",
          "user_hash": user_hash(website, "boss-1"), "consent": True}  # fmt: skip
    host.page.goto(host.snippet_page("/home", website.app_id, me))
    host.wait_booted()
    tag = Tag.objects.create(name="vip")
    ada = UserContactFactory(name="Ada Lovelace", email="ada@example.com", marketing_consent=True)
    contact_services.contact_tag(contact=ada, tag=tag)

    page = agent_admin.page
    agent_admin.open(reverse("admin:conversations_message_add"))
    page.select_option("#id_channel", "in_app")
    page.fill("#id_body", 'Hi {{contact.first_name | fallback: "there"}}, our winter sale starts today!')
    page.select_option("#id_tag", label="vip")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#parley-preview")).to_contain_text("Hi Ada, our winter sale starts today!")
    expect(page.locator("#id_test_contact")).to_have_value("boss@parley.test")
    page.get_by_role("button", name="Send a test to this contact").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "Test sent to Boss Person: their messenger shows it, marked as a test, on their next page view."
    )
    page.screenshot(path=str(artifacts / "outbound-in-app-test-sent.png"), full_page=True)

    # The teammate's next page view shows it, filled in for them, and says it is a test.
    host.page.goto(host.snippet_page("/sale", website.app_id, me))
    messenger = host.page.locator("parley-messenger")
    expect(messenger.locator(".th .bu")).to_have_text("Hi Boss, our winter sale starts today!", timeout=10_000)
    expect(messenger.locator(".th .tt")).to_have_text("Test message from the team")
    host.screenshot(path=str(artifacts / "messenger-in-app-test.png"))

    # The real send is still to come, to the audience only, with the count the preview showed.
    page.get_by_role("button", name="Send to 1 contact").click()
    expect(page.locator(".messagelist")).to_contain_text("is being sent to 1 contact.")
    real = Message.objects.get(is_test=False)
    assert real.recipients_count == 1
    assert list(MessageDelivery.objects.filter(message=real).values_list("contact_id", flat=True)) == [ada.pk]
    assert Message.objects.filter(is_test=True).count() == 1
    assert agent_admin.problems == [] and host.problems == []
