"""Journey: custom attributes on a contact's page, by teammates in two time zones. Sam, an agent in Berlin, sets a
date and time with the browser's picker and a yes/no, and saves a page whose plan is no longer one of its options;
Vera, a viewer in New York, reads the same values, the time in her own zone, and is offered nothing her role refuses."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect

from contacts.models import DataAttribute
from contacts.permissions import VIEWER_GROUP
from tests.contacts.factories import UserContactFactory
from tests.e2e.conftest import AdminSession, agent_teammate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def test_an_agent_in_berlin_sets_attributes_and_a_viewer_in_new_york_reads_them(chromium, parley_url, artifacts):
    for name, label, kind, options in (
        ("renews_at", "Renews at", DataAttribute.DataType.DATETIME, []),
        ("trial", "On trial", DataAttribute.DataType.BOOLEAN, []),
        ("plan", "Plan", DataAttribute.DataType.STRING, ["free", "enterprise"]),  # "pro" was one before
    ):
        DataAttribute.objects.create(name=name, label=label, data_type=kind, options=options)
    ada = UserContactFactory(name="Ada", custom_attributes={"plan": "pro"})
    agent_teammate("sam", "Sam")
    agent_teammate("vera", "Vera").groups.set([Group.objects.get(name=VIEWER_GROUP)])
    agent = AdminSession(chromium, parley_url, username="sam", timezone_id="Europe/Berlin")
    viewer = AdminSession(chromium, parley_url, username="vera", timezone_id="America/New_York")
    page = reverse("admin:contacts_contact_change", args=[ada.pk])
    try:
        agent.open(page)
        plan = agent.page.locator("select[name=ca__plan]")
        expect(plan).to_have_value("pro")  # a walk: it showed as "—", and the next save erased it
        expect(plan.locator("option:checked")).to_have_text("pro (no longer an option)")
        renews = agent.page.locator("input[name=ca__renews_at]")
        expect(renews).to_have_attribute("type", "datetime-local")  # the browser's picker, not a bare text box
        renews.fill("2027-01-15T10:30:45")  # Berlin's time
        agent.page.locator("select[name=ca__trial]").select_option(label="Yes")
        agent.page.screenshot(path=str(artifacts / "admin-agent-custom-attributes.png"), full_page=True)
        agent.page.locator("input[name=_continue]").click()
        expect(agent.page.locator(".messagelist")).to_contain_text("was changed successfully")
        expect(renews).to_have_value("2027-01-15T10:30:45")
        expect(plan).to_have_value("pro")
        ada.refresh_from_db()
        assert ada.custom_attributes == {"plan": "pro", "trial": True, "renews_at": "2027-01-15T09:30:45+00:00"}

        viewer.open(page)
        attributes = viewer.page.locator("dl.parley-attributes")
        expect(attributes.locator("dt")).to_have_text(["Plan", "Renews at", "On trial"])
        shown = attributes.locator("dd")
        expect(shown.nth(0)).to_have_text("pro")
        expect(shown.nth(1)).to_contain_text("04:30")  # 09:30:45 UTC, in New York
        expect(shown.nth(2)).to_have_text("Yes")
        viewer.page.screenshot(path=str(artifacts / "admin-viewer-custom-attributes-new-york.png"), full_page=True)
        # What the viewer's role refuses is not offered (the walk's screenshot showed them both, each a 403).
        for link in ("Start a conversation", "Record a data subject request"):
            expect(viewer.page.get_by_role("link", name=link)).to_have_count(0)
            expect(agent.page.get_by_role("link", name=link)).to_be_visible()
        assert agent.problems == [] and viewer.problems == []
    finally:
        agent.close()
        viewer.close()


def test_a_teammate_whose_browser_changed_time_zone_saves_a_page_without_moving_its_times(
    chromium, parley_url, superuser
):
    """A re-check: signed in in Berlin, the same browser in New York got a page written in Berlin time and a cookie
    naming New York at once; saving it as it was moved each time six hours. The page now comes again in New York time
    before anyone types."""
    from django.contrib.admin.models import LogEntry

    DataAttribute.objects.create(name="renews_at", label="Renews at", data_type=DataAttribute.DataType.DATETIME)
    ada = UserContactFactory(name="Ada", custom_attributes={"renews_at": "2027-01-15T12:00:00+00:00"})
    berlin = AdminSession(chromium, parley_url, username=superuser.username, timezone_id="Europe/Berlin")
    travelled = chromium.new_context(storage_state=berlin.context.storage_state(), timezone_id="America/New_York")
    berlin.close()
    try:
        page = travelled.new_page()
        page.goto(f"{parley_url.rstrip('/')}{reverse('admin:contacts_contact_change', args=[ada.pk])}")
        expect(page.locator("input[name=ca__renews_at]")).to_have_value("2027-01-15T07:00")  # New York's time
        page.locator("input[name=_continue]").click()
        expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    finally:
        travelled.close()
    ada.refresh_from_db()
    assert ada.custom_attributes == {"renews_at": "2027-01-15T12:00:00+00:00"}
    assert LogEntry.objects.get().get_change_message() == "No fields changed."
