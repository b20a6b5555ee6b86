"""Journey: what the last walk of the admin found, as a visitor and teammates see it. A visitor who writes hours
after their last page view is seen when they write ("Last seen" is never before "Last heard from"); a teammate who
sends their reply stops "typing" for the other at once, even when their own page cannot poll again; every list
is titled by what it lists and every page by what it shows, a company needs only its id, and a teammate is added
in one form."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from companies.models import Company
from contacts.models import Contact
from conversations import services
from conversations.models import Conversation
from tests.contacts.factories import LeadFactory
from tests.e2e.conftest import ADMIN_PASSWORD, AdminSession
from tracking.page_view_buffer import page_views_flush
from tracking.services import website_create

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]
# The conversation page polls every 5 seconds: a teammate's change shows within two polls.
POLL_TIMEOUT_MS = 15_000
PAGE_MOMENT = "%b %d, %Y %H:%M"  # as the conversation page's side panel shows a moment
# How many lines an element's text takes on screen.
LINES = (
    "element => { const r = document.createRange(); r.selectNodeContents(element); return r.getClientRects().length; }"
)
MOMENT = re.compile(r"^[A-Z][a-z]{2} \d{2}, \d{4} \d{2}:\d{2}$")  # the same, as the admin's own pages show one


def _page(conversation) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def _moment(page, element_id: str) -> dt.datetime:
    return dt.datetime.strptime(page.locator(f"#{element_id}").inner_text(), PAGE_MOMENT)


def test_a_visitor_who_writes_hours_after_their_page_view_is_seen_when_they_write(
    host, make_website, agent_admin, artifacts
):
    website = make_website()
    host.page.goto(host.snippet_page("/pricing", website.app_id))
    host.wait_booted()
    while page_views_flush():
        pass
    contact = Contact.objects.get()
    # The page view was this morning; the visitor kept the tab open and writes now.
    morning = timezone.now() - dt.timedelta(hours=5)
    Contact.objects.filter(pk=contact.pk).update(last_seen_at=morning, first_seen_at=morning)
    host.launcher().click()
    host.write("Does the Pro plan include phone support?")

    agent_admin.open(_page(Conversation.objects.get()))
    page = agent_admin.page
    expect(page.locator(".parley-part.from-contact .body")).to_have_text("Does the Pro plan include phone support?")
    seen, heard = _moment(page, "parley-live-last-seen"), _moment(page, "parley-live-last-heard-from")
    assert seen >= heard  # not this morning's page view
    assert seen - timezone.localtime(morning).replace(tzinfo=None) > dt.timedelta(hours=4)
    page.screenshot(path=str(artifacts / "walk-polish-last-seen-when-writing.png"), full_page=True)
    assert agent_admin.problems == []
    assert host.problems == []


def test_a_teammate_who_sends_stops_typing_for_the_other_even_before_their_page_polls_again(
    agent_admin, sam_admin, artifacts
):
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Refund please")
    boss, sam = agent_admin.page, sam_admin.page
    agent_admin.open(_page(conversation))
    sam_admin.open(_page(conversation))
    presence = boss.locator("#parley-presence")
    sam.locator("#parley-body").press_sequentially("Refunded, Grace: 5 working days")
    expect(presence).to_have_text("Sam is typing a reply", timeout=POLL_TIMEOUT_MS)

    # Sam's page cannot poll once the reply is sent (a flaky network): only the send itself can tell the others.
    sam.route("**/poll/**", lambda route: route.abort())
    sam.get_by_role("button", name="Send reply").click()
    expect(sam.locator(".messagelist")).to_contain_text("Reply sent.")
    expect(presence).to_have_text("Sam is viewing", timeout=POLL_TIMEOUT_MS)
    expect(boss.locator(".parley-part.from-teammate .body")).to_have_text(
        "Refunded, Grace: 5 working days", timeout=POLL_TIMEOUT_MS
    )
    boss.screenshot(path=str(artifacts / "walk-polish-sent-stops-typing.png"), full_page=True)
    assert agent_admin.problems == []


def test_lists_and_pages_are_titled_by_what_they_show_and_a_company_needs_only_its_id(agent_admin, artifacts):
    page = agent_admin.page
    website = website_create(
        name="The lamp shop's own website, with a long name", allowed_origins=["https://lamps.example"]
    )
    for url, title in (
        (reverse("admin:tracking_website_changelist"), "Websites"),
        (reverse("admin:contacts_contact_changelist"), "Contacts"),
        (reverse("admin:companies_company_changelist"), "Companies"),
    ):
        agent_admin.open(url)
        expect(page.locator("#content h1")).to_have_text(title)
        expect(page).to_have_title(f"{title} | Parley")
        if title == "Websites":  # the app id is copied from here: on one line, never broken mid-id
            app_id = page.locator("#result_list td.field-app_id")
            expect(app_id).to_have_text(website.app_id)
            assert app_id.evaluate(LINES) == 1

    page.get_by_role("link", name="Add company").click()
    page.fill("#id_company_id", "lamps-7")
    page.fill("#id_name", "Lamp Works")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator("#content h1")).to_have_text("Companies")
    expect(page.locator("#result_list")).to_contain_text("Lamp Works")
    page.screenshot(path=str(artifacts / "walk-polish-company-added.png"), full_page=True)
    company = Company.objects.get(company_id="lamps-7")
    assert (company.name, company.monthly_spend) == ("Lamp Works", 0)

    # Its page is titled by its name, not "Change company" over it; a long name wraps instead of widening the page.
    page.locator("#result_list").get_by_role("link", name="Lamp Works").click()
    expect(page.locator("#content h1")).to_have_text("Lamp Works")
    expect(page).to_have_title("Lamp Works | Companies | Parley")
    # Its moments are written as the conversation page writes them ("Dec 04, 2026 23:09"), not "Dec. 4, 2026, 11:09 p.m.".
    expect(page.locator(".field-created_at .readonly")).to_have_text(MOMENT)
    long_name = "Lamp" * 60  # one word, 240 characters: shown cut at 120
    page.fill("#id_name", long_name)
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    expect(page.locator("#content h1")).to_have_text(long_name[:119] + "…")
    expect(page.locator(".breadcrumbs")).to_contain_text(long_name)  # (the breadcrumbs cut at words: none here)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artifacts / "walk-polish-company-long-name.png"), full_page=True)
    assert agent_admin.problems == []


def test_a_superuser_adds_a_teammate_in_one_form_who_then_works_in_the_inbox(
    chromium, parley_url, agent_admin, artifacts
):
    page = agent_admin.page
    agent_admin.open(reverse("admin:auth_user_add"))
    page.fill("#id_first_name", "Kim")
    page.fill("#id_last_name", "Lee")
    page.fill("#id_email", "kim@lamps.example")
    expect(page.get_by_label("Agent", exact=True)).to_be_checked()
    page.fill("#id_username", "kim")
    page.get_by_label("Set one now and pass it on").check()  # (an invitation is the default: test_teammate_access)
    page.fill("#id_password1", ADMIN_PASSWORD)
    page.fill("#id_password2", ADMIN_PASSWORD)
    page.screenshot(path=str(artifacts / "walk-polish-add-teammate.png"), full_page=True)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator("#content h1")).to_have_text("Users")  # back to the list: no second page to fill
    row = page.locator("#result_list tbody tr", has_text="kim@lamps.example")
    expect(row.locator("td.field-role")).to_have_text("Agent")

    # Kim logs in in a browser of their own and works in the inbox; the teammates' screens are not theirs.
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Ada"), body="Is the lamp in stock?")
    kim = AdminSession(chromium, parley_url, username="kim")
    try:
        kim.open(reverse("admin:conversations_conversation_changelist"))
        expect(kim.page.locator("#result_list")).to_contain_text("Is the lamp in stock?")
        kim.open(_page(conversation))
        expect(kim.page.get_by_role("button", name="Send reply")).to_be_visible()
        kim.open(reverse("admin:auth_user_changelist"))
        expect(kim.page.locator("h1")).to_have_text("You may not do this")
        kim.page.screenshot(path=str(artifacts / "walk-polish-teammate-forbidden-users.png"), full_page=True)
        assert kim.problems == []
    finally:
        kim.close()
    assert agent_admin.problems == []
