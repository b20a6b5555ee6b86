"""Journey: a first visit is answered before any database work (the ingest queue, on with PostgreSQL +
Redis), and the teammate who opens "live now" in the admin sees the visitor at once, with their pages."""

import re

import pytest
from playwright.sync_api import expect

from contacts.models import Contact
from tests.e2e.conftest import needs_endpoints
from tests.e2e.test_widget_browser import TRACKING
from tracking.models import PageView
from tracking.services.ingest import ingest_queue_on

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


@needs_endpoints(*TRACKING)
def test_a_queued_first_visit_shows_live_in_the_admin_with_its_pages(host, make_website, agent_admin, artifacts):
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.page.goto(host.snippet_page("/pricing", website.app_id))
    host.wait_booted()
    visitor_id = host.page.evaluate("Parley('getVisitorId')")
    assert visitor_id
    if ingest_queue_on():  # answered with a token and an anonymous id, the rows still queued (no worker here)
        assert not Contact.objects.exists() and not PageView.objects.exists()

    # The teammate looks at who is on the site now: the list writes what is queued first.
    agent_admin.open("/admin/contacts/contact/?live=now")
    rows = agent_admin.page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Visitor")
    agent_admin.page.screenshot(path=str(artifacts / "ingest-queue-live-now.png"), full_page=True)

    rows.first.locator("a").first.click()
    expect(agent_admin.page.locator("#content h1")).to_have_text(re.compile(r"^Visitor \d+$"))
    page_views = agent_admin.page.locator(".module", has_text="Recent page views")
    expect(page_views).to_contain_text("Shop")
    for path in ("/home", "/pricing"):  # both titled "Shop": each address under its title says which page it was
        expect(page_views.locator("small", has_text=path)).to_have_count(1)
    assert PageView.objects.count() == 2
    contact = Contact.objects.get()
    assert str(contact.anonymous_id) == visitor_id and contact.web_sessions_count == 1
    agent_admin.page.screenshot(path=str(artifacts / "ingest-queue-contact.png"), full_page=True)

    # The visitor browses on, in the same session.
    host.page.goto(host.snippet_page("/checkout", website.app_id))
    host.wait_booted()
    agent_admin.open("/admin/contacts/contact/?live=now")
    expect(agent_admin.page.locator("#result_list tbody tr")).to_have_count(1)
    assert PageView.objects.count() == 3 and Contact.objects.get().web_sessions_count == 1
    assert host.problems == [] and agent_admin.problems == []
