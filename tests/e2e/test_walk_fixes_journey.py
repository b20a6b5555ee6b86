"""Journey: what a new user walking the team inbox found. Two teammates on one conversation: the one who
sends second is asked first ("Leo replied since you opened this — send anyway?") with Leo's reply shown (not
when it showed before they began writing), and one writing a draft while the other closes the conversation is told
the page is out of date. The contact writing on in a live chat asks nothing: the page shows it as it comes."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation, Team
from tests.contacts.factories import LeadFactory, TagFactory
from tests.e2e.conftest import agent_teammate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]
# The conversation page polls every 5 seconds: a new reply shows within two polls.
POLL_TIMEOUT_MS = 15_000


def _page(conversation) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def test_second_answer_is_asked_first_with_the_teammates_reply_shown(agent_admin, artifacts):
    leo = agent_teammate("leo", "Leo")
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Where is my parcel?")
    page = agent_admin.page
    agent_admin.open(_page(conversation))
    page.locator("#parley-body").fill("It left our warehouse today.")

    # Leo answers from his own page meanwhile; this page's poll brings his reply.
    services.conversation_reply_as_teammate(conversation=conversation, teammate=leo, body="On its way, Grace!")
    expect(page.locator(".parley-part.from-teammate .body")).to_have_text("On its way, Grace!", timeout=POLL_TIMEOUT_MS)
    # Emptied and written again (cut and pasted back): still the draft begun before Leo's reply came.
    page.locator("#parley-body").fill("")
    page.locator("#parley-body").fill("It left our warehouse today.")

    page.get_by_role("button", name="Send reply").click()
    box = page.get_by_role("alertdialog")
    expect(box).to_be_visible()
    expect(box.locator("#parley-collision-question")).to_have_text("Leo replied since you opened this — send anyway?")
    expect(box.locator("li")).to_have_text("Leo: On its way, Grace!")
    expect(page.locator(".parley-part.parley-new .body")).to_have_text("On its way, Grace!")
    page.screenshot(path=str(artifacts / "walk-collision-asked.png"), full_page=True)
    assert not conversation.parts.filter(body="It left our warehouse today.").exists()  # nothing sent yet

    box.get_by_role("button", name="Send anyway").click()
    expect(page.locator(".messagelist")).to_contain_text("Reply sent.")
    expect(page.locator(".parley-part.from-teammate .body").last).to_have_text("It left our warehouse today.")
    page.screenshot(path=str(artifacts / "walk-collision-sent.png"), full_page=True)
    assert agent_admin.problems == []


def test_a_reply_begun_after_the_teammates_reply_showed_asks_nothing(agent_admin, artifacts):
    leo = agent_teammate("leo", "Leo")
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Where is my parcel?")
    page = agent_admin.page
    agent_admin.open(_page(conversation))

    # Leo's reply shows, and stays on screen a while (till the page's next poll, 5 s) before this teammate starts
    # writing: they answer it knowingly, and nothing asks.
    services.conversation_reply_as_teammate(conversation=conversation, teammate=leo, body="On its way, Grace!")
    expect(page.locator(".parley-part.from-teammate .body")).to_have_text("On its way, Grace!", timeout=POLL_TIMEOUT_MS)
    with page.expect_response(lambda response: "/poll" in response.url, timeout=POLL_TIMEOUT_MS):
        pass
    page.locator("#parley-body").fill("And here is its tracking number: 1Z999.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".messagelist")).to_contain_text("Reply sent.")
    expect(page.get_by_role("alertdialog")).to_be_hidden()
    expect(page.locator(".parley-part.from-teammate .body")).to_have_text(
        ["On its way, Grace!", "And here is its tracking number: 1Z999."]
    )
    page.screenshot(path=str(artifacts / "walk-collision-not-asked.png"), full_page=True)
    assert agent_admin.problems == []


def test_the_contact_writing_on_in_a_live_chat_asks_the_agent_nothing(agent_admin, artifacts):
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Where is my parcel?")
    page = agent_admin.page
    agent_admin.open(_page(conversation))
    page.locator("#parley-body").fill("Let me look.")

    # Grace writes on while the agent types: the page shows it as it comes, and the reply goes without a question.
    services.conversation_reply_as_contact(conversation=conversation, body="Order #1042")
    expect(page.locator(".parley-part.from-contact .body").last).to_have_text("Order #1042", timeout=POLL_TIMEOUT_MS)
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".messagelist")).to_contain_text("Reply sent.")
    expect(page.get_by_role("alertdialog")).to_be_hidden()
    expect(page.locator(".parley-part .body")).to_have_text(["Where is my parcel?", "Order #1042", "Let me look."])
    page.screenshot(path=str(artifacts / "walk-live-chat-reply.png"), full_page=True)
    assert agent_admin.problems == []


def test_a_conversation_closed_by_a_teammate_while_a_draft_is_written_says_so_and_keeps_the_draft(
    agent_admin, artifacts
):
    leo = agent_teammate("leo", "Leo")
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Refund please")
    page = agent_admin.page
    agent_admin.open(_page(conversation))
    page.locator("#parley-body").fill("Let me check your order")

    # Leo closes it from his own page: this page's header and buttons are now out of date.
    services.conversation_close(conversation=conversation, teammate=leo, ask_for_rating=False)
    stale = page.locator("#parley-stale")
    expect(stale).to_contain_text("This conversation is now closed", timeout=POLL_TIMEOUT_MS)
    expect(page.locator("#parley-state")).to_have_text("Closed")
    page.screenshot(path=str(artifacts / "walk-stale-closed.png"), full_page=True)

    stale.get_by_role("button", name="Reload").click()
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    expect(page.locator("#parley-body")).to_have_value("Let me check your order")
    expect(stale).to_be_hidden()
    assert agent_admin.problems == []


def test_j_and_k_step_through_the_inbox_from_a_conversation_opened_by_a_link(agent_admin):
    older = services.conversation_start_by_contact(contact=LeadFactory(name="Ada"), body="Older question")
    newer = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Newer question")
    page = agent_admin.page
    agent_admin.open(_page(newer))  # as from an email's link: the inbox list was never opened
    page.wait_for_function("window.ParleyKeys && window.ParleyKeys.ready()")
    page.keyboard.press("j")
    expect(page.locator(".parley-part.from-contact .body").first).to_have_text("Older question")
    page.wait_for_function("window.ParleyKeys && window.ParleyKeys.ready()")
    page.keyboard.press("k")
    expect(page.locator(".parley-part.from-contact .body").first).to_have_text("Newer question")
    assert page.url.endswith(_page(newer)) and older.pk != newer.pk
    assert agent_admin.problems == []


def test_lead_sets_a_cap_for_a_new_teammate_and_finds_people_by_company(agent_admin, artifacts):
    from companies import services as company_services
    from tests.companies.factories import CompanyFactory
    from tests.contacts.factories import UserContactFactory

    agent_teammate("priya", "Priya")  # has never logged in
    stark = CompanyFactory(name="Stark Industries")
    company_services.company_attach(company=stark, contact=UserContactFactory(name="Tony Stark-Member"))
    company_services.company_attach(company=CompanyFactory(name="Wayne"), contact=UserContactFactory(name="Bruce"))
    page = agent_admin.page

    agent_admin.open(reverse("admin:conversations_teammateprofile_changelist"))
    page.get_by_role("link", name="priya", exact=True).click()
    page.locator("#id_away_mode_enabled").check()
    page.locator("#id_max_open_conversations").fill("3")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#result_list")).to_contain_text("priya")
    page.screenshot(path=str(artifacts / "walk-teammate-profiles.png"), full_page=True)

    agent_admin.open(reverse("admin:contacts_contact_changelist"))
    page.locator("#searchbar").fill("stark")
    page.locator("#searchbar").press("Enter")
    expect(page.locator("#result_list")).to_contain_text("Tony Stark-Member")
    expect(page.locator("#result_list")).not_to_contain_text("Bruce")
    page.screenshot(path=str(artifacts / "walk-contacts-search-stark.png"), full_page=True)
    agent_admin.open(reverse("admin:contacts_contact_changelist"))
    page.locator("#changelist-filter").get_by_role("link", name="Wayne").click()
    expect(page.locator("#result_list")).to_contain_text("Bruce")
    page.screenshot(path=str(artifacts / "walk-contacts-by-company.png"), full_page=True)
    assert agent_admin.problems == []


def test_the_pages_header_and_side_panel_follow_the_visitor_and_the_team_without_a_reload(
    host, make_website, agent_admin, ingest_flush, artifacts
):
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Is the blue one in stock?")
    ingest_flush()
    conversation = Conversation.objects.get()
    Team.objects.create(name="Support")
    page = agent_admin.page
    agent_admin.open(_page(conversation))
    expect(page.locator("#parley-live-waiting")).to_have_text("· waiting since just now")
    expect(page.locator("#parley-live-assignee")).to_have_text("nobody")
    expect(page.locator("#parley-page-views li")).to_have_count(1)
    expect(page.locator("#parley-live-web-sessions")).to_have_text("1")

    # The visitor goes on to the checkout, and Leo, who joined the team since this page loaded, takes the conversation.
    host.page.goto(host.snippet_page("/checkout", website.app_id))
    host.wait_booted()
    ingest_flush()
    leo = agent_teammate("leo", "Leo")
    services.conversation_assign(conversation=conversation, teammate=leo, assignee=leo)
    latest = page.locator("#parley-page-views li").first
    expect(latest.locator(".parley-page-url")).to_have_text(
        f"{host.origin.split('//')[1]}/_host/checkout", timeout=POLL_TIMEOUT_MS
    )
    expect(latest.locator("a")).to_have_attribute("href", f"{host.origin}/_host/checkout")
    expect(page.locator("#parley-page-views li")).to_have_count(2)
    expect(page.locator("#parley-live-assignee")).to_have_text("Leo")
    # The assign form too (Leo added to it): assigning to a team now keeps him, where a stale "Nobody" unassigned him.
    expect(page.locator("#parley-assignee")).to_have_value(str(leo.pk))
    page.get_by_label("Team", exact=True).select_option(label="Support")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator(".messagelist")).to_be_visible()
    conversation.refresh_from_db()
    assert (conversation.assignee_id, conversation.team.name) == (leo.pk, "Support")
    expect(page.locator("#parley-sla")).to_be_hidden()  # no SLA policy applies
    page.screenshot(path=str(artifacts / "walk-live-side-panel.png"), full_page=True)

    # Leo tags it from his page: the tag shows here with its remove button, which works.
    services.conversation_tag(conversation=conversation, tag=TagFactory(name="stock"), teammate=None)
    tags = page.locator("#parley-live-tags")
    expect(tags.locator(".parley-state")).to_have_text(["stock \u00d7"], timeout=POLL_TIMEOUT_MS)  # its remove button
    tags.get_by_role("button", name="Remove the tag stock").click()
    expect(tags).to_have_text("none")
    assert not conversation.tags.exists()

    # Leo answers: the contact no longer waits.
    services.conversation_reply_as_teammate(conversation=conversation, teammate=leo, body="Yes, in every size.")
    expect(page.locator("#parley-live-waiting")).to_have_text("", timeout=POLL_TIMEOUT_MS)
    assert agent_admin.problems == [] and host.problems == []
