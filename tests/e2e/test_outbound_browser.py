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


def test_an_email_is_previewed_tested_and_confirmed_and_hostile_names_stay_text(agent_admin, artifacts):
    tag = Tag.objects.create(name="beta")
    for name, email in (("<img src=x onerror=alert(1)> Mallory", "m@example.com"), ("Bo Li", "bo@example.com")):
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
    page.select_option("#id_preview_contact", label="Bo Li <bo@example.com>")
    page.get_by_role("button", name="Show").click()
    expect(preview.locator(".subject")).to_have_text("Beta news for Bo")

    page.get_by_role("button", name="Send a test to me (boss@parley.test)").click()
    expect(page.locator(".messagelist")).to_contain_text("Test sent to boss@parley.test, filled in for Bo Li.")
    assert [(m.to, m.subject) for m in mail.outbox] == [(["boss@parley.test"], "[Test] Beta news for Bo")]
    page.screenshot(path=str(artifacts / "outbound-email-preview.png"), full_page=True)
    assert not Message.objects.exists()

    page.get_by_role("button", name="Send to 2 contacts").click()
    expect(page.locator(".messagelist")).to_contain_text("is being sent to 2 contact(s).")
    expect(page.locator('[data-stat="all"] strong')).to_have_text("2")
    expect(page.locator("#parley-recipients")).to_contain_text("<img src=x onerror=alert(1)> Mallory")
    assert Message.objects.get().recipients_count == 2
    assert dialogs == [] and agent_admin.problems == []
