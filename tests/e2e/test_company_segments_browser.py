"""A teammate filters the company list (a plan, requests in the past 30 days), saves it as a company segment in one
step from the top of the sidebar, reads what was saved in words, and opens it in one click; the contact list
keeps its own segments."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from segments import services as segment_services
from segments.models import Segment
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import UserContactFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def test_a_filtered_company_list_is_saved_as_a_segment_and_opened_in_one_click(agent_admin, artifacts):
    recently = timezone.now() - dt.timedelta(days=3)
    for name in ("Acme Rockets", "Globex"):
        CompanyFactory(name=name, plan="enterprise", size=300, last_request_at=recently)
    CompanyFactory(name="Initech", plan="pro", size=40, last_request_at=recently)
    CompanyFactory(name="Dormant Corp", plan="enterprise", size=300, last_request_at=None)
    contacts = segment_services.segment_create(
        name="French customers", query={"field": "location.country_code", "operator": "=", "value": "FR"},
        teammate=None,
    )  # fmt: skip
    UserContactFactory(country="FR")
    page = agent_admin.page

    agent_admin.open(reverse("admin:companies_company_changelist"))
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
    sidebar = page.locator("#changelist-filter")
    expect(sidebar.locator("details").first).to_have_attribute("data-filter-title", "segments")
    expect(sidebar).not_to_contain_text("French customers")  # the company list offers company segments only
    sidebar.get_by_role("link", name="enterprise", exact=True).click()
    sidebar.get_by_role("link", name="Past 30 days", exact=True).click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    expect(page.locator("#parley-segment-preview")).to_have_text("Plan is “enterprise” · last request within 30 days")
    page.fill("#parley-segment-name", "Enterprise <accounts>")
    page.screenshot(path=str(artifacts / "company-segment-save-in-one-step.png"), full_page=True)
    page.get_by_role("button", name="Save as segment").click()
    expect(page.locator(".messagelist")).to_have_text(
        "Saved segment “Enterprise <accounts>”: Plan is “enterprise” · last request within 30 days — "
        "2 companies right now."
    )
    expect(page.locator("#result_list tbody tr")).to_have_count(2)  # the companies in it, right away
    segment = Segment.objects.get(person_type=Segment.PersonType.COMPANY)

    segment_services.segment_counts_refresh()  # what the beat task does every 15 minutes
    agent_admin.open(reverse("admin:companies_company_changelist"))
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
    page.get_by_role("link", name="Enterprise <accounts> (≈2)").click()
    page.wait_for_url(f"**/admin/companies/company/?segment={segment.pk}")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#result_list")).to_contain_text("Acme Rockets")
    expect(page.locator("#result_list")).to_contain_text("Globex")
    expect(page.locator("#result_list")).not_to_contain_text("Initech")
    expect(page.locator("#result_list")).not_to_contain_text("Dormant Corp")
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
