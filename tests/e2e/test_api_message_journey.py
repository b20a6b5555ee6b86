"""An integration sends a message through the API (the official SDK) that opens a conversation at once: the
signed-in customer on another origin sees it in the messenger while the teammate works it in the inbox."""

import pytest
from django.urls import reverse
from intercom import CreateMessageRequest_Inapp, CreateMessageRequestFrom, Intercom
from intercom import CreateMessageRequestTo as To
from playwright.sync_api import expect

from api.services import api_token_create
from contacts.models import Contact
from conversations.models import Conversation
from tests.tracking.factories import user_hash
from tracking.models import Website

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def test_an_api_message_that_opens_a_conversation_reaches_the_messenger_and_the_inbox(
    host, make_website, agent_admin, parley_url, superuser, artifacts
):
    # A "Consent" website and a customer who made no marketing choice: an in-app campaign would not show,
    # but a conversation a teammate starts is support and reaches the messenger.
    website = make_website(identity_verification=Website.IdentityVerification.ENFORCED)
    signed_in = {
        "user_id": "grace-7", "name": "Grace Hopper", "email": "grace@example.com",
        "user_hash": user_hash(website, "grace-7"),
    }  # fmt: skip
    host.page.goto(host.snippet_page("/account", website.app_id, signed_in))
    host.wait_booted()
    grace = Contact.objects.get(external_id="grace-7")
    assert grace.marketing_consent is None

    # The integration (the official SDK, with the teammate's token) writes to her by her user id.
    intercom = Intercom(token=api_token_create(user=superuser)[1], base_url=parley_url + "/api", timeout=30)
    message = intercom.messages.create(
        request=CreateMessageRequest_Inapp(
            body='Hi {{contact.first_name | fallback: "there"}}, your invoice for March is ready.',
            from_=CreateMessageRequestFrom(type="admin", id=superuser.pk),
            to=To(type="user", id=str(grace.pk)), create_conversation_without_contact_reply=True,
        )
    )  # fmt: skip
    conversation = Conversation.objects.get(pk=message.conversation_id)

    # The teammate sees it in the inbox at once, as a conversation with Grace.
    inbox = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    row = inbox.locator("#result_list tbody tr", has_text="your invoice for March is ready")
    expect(row).to_contain_text("Grace Hopper")
    inbox.screenshot(path=str(artifacts / "api-message-conversation-inbox.png"), full_page=True)
    row.locator("a").first.click()
    expect(inbox.locator(".parley-part.from-teammate .body").first).to_have_text(
        "Hi Grace, your invoice for March is ready."
    )

    # Grace's next page: the launcher's badge says one unread; opening the messenger shows the conversation.
    host.page.goto(host.snippet_page("/orders", website.app_id, signed_in))
    expect(host.page.locator("parley-messenger button.l span.b")).to_have_text("1", timeout=15_000)
    host.launcher().click()
    thread = host.page.locator("parley-messenger .th")
    expect(thread).to_contain_text("Hi Grace, your invoice for March is ready.")
    host.screenshot(path=str(artifacts / "api-message-conversation-messenger.png"))
    host.write("Thanks! Can I pay by bank transfer?")

    # Her answer lands in the same conversation, on the teammate's open page, without a reload.
    expect(inbox.locator(".parley-part.from-contact .body").last).to_have_text(
        "Thanks! Can I pay by bank transfer?", timeout=15_000
    )
    inbox.screenshot(path=str(artifacts / "api-message-conversation-answered.png"), full_page=True)
    assert Conversation.objects.get() == conversation
    assert host.problems == [] and agent_admin.problems == []
