"""A signed-in user booted with Intercom's `company` setting on a site of another origin; the
teammate finds the company in the admin with that person, and the person's page shows the company."""

import pytest
from playwright.sync_api import expect

from companies.models import Company
from contacts.models import Contact
from tests.e2e.conftest import needs_endpoints
from tests.tracking.factories import user_hash
from tracking.models import Website
from tracking.page_view_buffer import page_views_flush

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


@needs_endpoints("ping", "update")
def test_a_user_booted_with_a_company_appears_in_the_admin_with_that_company(
    host, make_website, agent_admin, artifacts
):
    website = make_website(identity_verification=Website.IdentityVerification.ENFORCED)
    settings = {
        "user_id": "u-7", "email": "grace@acme.example", "name": "Grace Hopper", "user_hash": user_hash(website, "u-7"),
        "company": {"company_id": "acme-42", "name": "Acme <Rockets>", "plan": "enterprise", "size": 120,
                    "monthly_spend": 990, "industry": "Aerospace"},
    }  # fmt: skip
    host.page.goto(host.snippet_page("/account", website.app_id, settings))
    host.wait_booted()
    assert host.problems == []
    company = Company.objects.get(company_id="acme-42")
    person = Contact.objects.get(external_id="u-7")
    page_views_flush()  # the sign-in's session follows its commit through the ingest queue: the worker's flush
    company.refresh_from_db()
    assert (company.user_count, company.session_count) == (1, 1)

    # A visitor on the same site naming a company gets a console warning and creates nothing.
    host.context.clear_cookies()
    host.page.goto(host.snippet_page("/home", website.app_id, {"company": {"company_id": "evil", "name": "Evil"}}))
    host.wait_booted()
    expect_warning = [p for p in host.problems if "only a signed-in user belongs to companies" in p]
    assert expect_warning, host.problems
    assert not Company.objects.filter(company_id="evil").exists()

    admin = agent_admin.page
    agent_admin.open("/admin/companies/company/?q=acme")
    row = admin.locator("#result_list tbody tr", has_text="acme-42")
    expect(row).to_contain_text("Acme <Rockets>")
    expect(row).to_contain_text("enterprise")
    admin.screenshot(path=str(artifacts / "companies-list.png"), full_page=True)
    row.locator("th a").click()
    people = admin.locator("fieldset.company-people")
    expect(people).to_contain_text("Grace Hopper")
    expect(admin.locator("fieldset.company-panel", has_text="Their recent page views")).to_contain_text("Shop")
    admin.screenshot(path=str(artifacts / "company-page.png"), full_page=True)
    people.get_by_role("link", name="Grace Hopper").click()
    admin.wait_for_url(f"**/admin/contacts/contact/{person.pk}/change/")
    expect(admin.locator("table.companies-panel")).to_contain_text("Acme <Rockets>")
    admin.screenshot(path=str(artifacts / "contact-companies-panel.png"), full_page=True)
    assert agent_admin.problems == []
