"""Journey: routing, office hours and SLAs. The teammate writes an assignment rule in the admin; a visitor on
another origin sees the team's usual reply time, writes from the billing page, and the rule and the team's
round robin assign the conversation; the inbox shows the SLA time left and who is away. A website whose
office hours make it closed now says when the team is back and asks for an email at once."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation, SlaPolicy, Team
from tests.contacts.factories import LeadFactory
from tests.e2e.conftest import HostSite, agent_teammate
from tracking.services import website_create

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def test_a_rule_routes_the_visitor_to_the_team_and_the_inbox_shows_the_sla(
    host, make_website, agent_admin, superuser, artifacts
):
    website = make_website()
    ana, ben = agent_teammate("ana"), agent_teammate("ben")
    team = Team.objects.create(name="Billing")
    team.members.add(ana, ben)
    SlaPolicy.objects.create(name="Normal", priority=Conversation.Priority.NOT_PRIORITY, first_response_minutes=30)
    # Yesterday's conversation was answered in 4 minutes: the team's usual reply time.
    earlier = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi", website=website)
    Conversation.objects.filter(pk=earlier.pk).update(created_at=timezone.now() - dt.timedelta(minutes=4))
    services.conversation_reply_as_teammate(conversation=earlier, teammate=superuser, body="Hello!")
    services.conversation_close(conversation=earlier, teammate=superuser)

    # The teammate writes the rule in the admin; saving it previews its reach.
    admin = agent_admin.page
    agent_admin.open(reverse("admin:conversations_assignmentrule_add"))
    admin.fill("#id_name", "Billing pages to the billing team")
    admin.fill("#id_page_url_prefix", f"{host.origin}/_host/billing")
    admin.select_option("#id_assign_team", label="Billing")
    admin.screenshot(path=str(artifacts / "routing-rule-form.png"), full_page=True)
    expect(admin.locator("#id_enabled")).not_to_be_checked()  # a new rule routes nothing until enabled
    admin.locator("input[name=_continue]").click()
    expect(admin.locator(".messagelist")).to_contain_text(
        "Would not match the last conversation. Not enabled yet: tick Enabled to route conversations with it."
    )
    admin.locator("#id_enabled").check()
    admin.locator("input[name=_save]").click()
    expect(admin.locator(".messagelist")).to_contain_text("Would not match the last conversation.")
    expect(admin.locator(".messagelist")).not_to_contain_text("Not enabled yet")
    admin.screenshot(path=str(artifacts / "routing-rules.png"), full_page=True)

    # The visitor, on the shop's billing page, opens the messenger: the usual reply time is shown.
    host.page.goto(host.snippet_page("/billing", website.app_id))
    host.wait_booted()
    host.launcher().click()  # no conversation yet: the messenger opens on a new one, greeted by the team
    expect(host.panel().locator(".gr .bu")).to_have_text("Hi there! The team usually replies in 4 minutes.")
    host.page.screenshot(path=str(artifacts / "routing-messenger-usually-replies.png"))
    host.write("My invoice shows the wrong address")

    conversation = Conversation.objects.exclude(pk=earlier.pk).get()
    assert (conversation.team, conversation.assignee) == (team, ana)
    assert conversation.started_on_url == f"{host.origin}/_host/billing"
    # The next one from the billing pages goes to the other teammate in turn.
    second = services.conversation_start_by_contact(
        contact=LeadFactory(name="Second visitor"), body="Refund?", website=website,
        page_url=f"{host.origin}/_host/billing/refunds",
    )  # fmt: skip
    assert second.assignee == ben
    services.teammate_away_set(teammate=ben, away=True, reason="On holiday")

    agent_admin.open(reverse("admin:conversations_conversation_changelist") + "?o=5")
    rows = admin.locator("#result_list tbody tr")
    mine = rows.filter(has_text="My invoice shows the wrong address")
    expect(mine).to_contain_text("ana")
    expect(mine.locator(".parley-sla")).to_have_text("29m left")
    expect(rows.filter(has_text="Refund?")).to_contain_text("ben (away)")
    expect(admin.locator("#parley-away")).to_have_text("Away: ben (On holiday) — they get no new conversations.")
    admin.screenshot(path=str(artifacts / "routing-inbox-sla.png"), full_page=True)

    agent_admin.open(reverse("admin:conversations_conversation_changelist") + "?sla=soon")
    expect(admin.locator("#result_list tbody tr")).to_have_count(2)  # both due within 30 minutes
    admin.screenshot(path=str(artifacts / "routing-inbox-breaching-soon.png"), full_page=True)
    agent_admin.open(reverse("admin:conversations_conversation_changelist") + "?sla=breached")
    expect(admin.locator("#result_list")).to_have_count(0)
    assert agent_admin.problems == []
    assert host.problems == []


@pytest.fixture
def tokyo_host(chromium, parley_url):
    site = HostSite(chromium, parley_url, timezone_id="Asia/Tokyo")
    yield site
    site.close()


def test_outside_office_hours_the_messenger_says_when_the_team_is_back_and_asks_for_an_email(tokyo_host, artifacts):
    """The team keeps UTC hours; the visitor is in Tokyo: "back at" is the visitor's own clock, and names it (the
    new-user walk read "Back Monday at 08:00 AM" as the team's time)."""
    host = tokyo_host
    website = website_create(name="Closed shop", allowed_origins=[host.origin])
    opens = (timezone.now() + dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    closes = (opens + dt.timedelta(hours=1)).time()
    services.office_schedule_save(
        website=website, timezone="UTC", intervals=[(day, opens.time(), closes) for day in range(7)]
    )
    host.page.goto(host.snippet_page("/contact", website.app_id))
    host.wait_booted()
    host.launcher().click()
    intro = host.panel().locator(".gr .bu")
    expect(intro).to_contain_text("We're away right now. Back")
    expect(intro).to_contain_text(f"at {opens.astimezone(ZoneInfo('Asia/Tokyo')):%I:%M %p} GMT+9.")
    expect(intro).to_contain_text("Leave a message and your email: we'll reply by email.")
    host.page.screenshot(path=str(artifacts / "routing-messenger-back-at.png"))

    host.write("Are you open on Sunday?")
    ask = host.panel().locator("form.ask")
    expect(ask).to_be_visible()  # at once: nobody answers before the team is back
    host.page.screenshot(path=str(artifacts / "routing-messenger-closed-email.png"))
    assert host.problems == []
