"""Journeys of issue 14's last part: a teammate saves the company list's filter as a company segment and opens
it from the sidebar; an integration sends a message through the API that opens a conversation at once, which
the signed-in customer on another origin sees in the messenger while the teammate works it in the inbox."""

import hashlib
import hmac

import pytest
from django.urls import reverse
from intercom import CreateMessageRequest_Inapp, CreateMessageRequestFrom, Intercom
from intercom import CreateMessageRequestTo as To
from playwright.sync_api import expect

from api.services import api_token_create
from contacts.models import Contact
from conversations.models import Conversation
from segments import services as segment_services
from segments.models import Segment
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import UserContactFactory
from tracking.models import Website

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def test_a_filtered_company_list_is_saved_as_a_segment_and_opened_in_one_click(agent_admin, artifacts):
    for name in ("Acme Rockets", "Globex"):
        CompanyFactory(name=name, plan="enterprise", size=300)
    CompanyFactory(name="Initech", plan="pro", size=40)
    contacts = segment_services.segment_create(
        name="French customers", query={"field": "location.country_code", "operator": "=", "value": "FR"},
        teammate=None,
    )  # fmt: skip
    UserContactFactory(country="FR")
    page = agent_admin.page

    agent_admin.open(reverse("admin:companies_company_changelist"))
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    sidebar = page.locator("#changelist-filter")
    expect(sidebar).not_to_contain_text("French customers")  # the company list offers company segments only
    sidebar.get_by_role("link", name="enterprise", exact=True).click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.click("#parley-save-segment")
    expect(page.locator("#id_person_type")).to_have_value("company")
    expect(page.locator("#id_query")).to_contain_text('"plan"')
    page.fill("#id_name", "Enterprise <accounts>")
    page.screenshot(path=str(artifacts / "company-segment-save-form.png"), full_page=True)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("Segment “Enterprise <accounts>” saved")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)  # the companies in it, right away
    segment = Segment.objects.get(person_type=Segment.PersonType.COMPANY)

    segment_services.segment_counts_refresh()  # what the beat task does every 15 minutes
    agent_admin.open(reverse("admin:companies_company_changelist"))
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    page.get_by_role("link", name="Enterprise <accounts> (≈2)").click()
    page.wait_for_url(f"**/admin/companies/company/?segment={segment.pk}")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#result_list")).to_contain_text("Acme Rockets")
    expect(page.locator("#result_list")).to_contain_text("Globex")
    expect(page.locator("#result_list")).not_to_contain_text("Initech")
    page.screenshot(path=str(artifacts / "company-segment-opened.png"), full_page=True)

    # The contact list keeps its own segments; a company segment's id there lists nobody.
    agent_admin.open(reverse("admin:contacts_contact_changelist") + f"?segment={segment.pk}")
    expect(page.locator("#changelist-filter")).to_contain_text("French customers")
    expect(page.locator("#changelist-filter")).not_to_contain_text("Enterprise <accounts>")
    expect(page.locator("#result_list tbody tr")).to_have_count(0)
    agent_admin.open(reverse("admin:segments_segment_changelist"))
    expect(page.locator("#result_list")).to_contain_text("Companies")
    expect(page.locator("#result_list")).to_contain_text("Open in companies")
    page.screenshot(path=str(artifacts / "segment-list-both-kinds.png"), full_page=True)
    assert contacts.person_type == "contact" and agent_admin.problems == []


def test_an_api_message_that_opens_a_conversation_reaches_the_messenger_and_the_inbox(
    host, make_website, agent_admin, parley_url, superuser, artifacts
):
    # A "Consent" website and a customer who made no marketing choice: an in-app campaign would not show,
    # but a conversation a teammate starts is support and reaches the messenger.
    website = make_website(identity_verification=Website.IdentityVerification.ENFORCED)
    signed_in = {
        "user_id": "grace-7", "name": "Grace Hopper", "email": "grace@example.com",
        "user_hash": hmac.new(website.identity_secret.encode(), b"grace-7", hashlib.sha256).hexdigest(),
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
