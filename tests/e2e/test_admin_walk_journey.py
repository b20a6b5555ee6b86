"""Journey: what a new user walking the admin found, as the teammate sees it now. A segment saved from a list
that shows anonymous visitors and archived contacts says, before and after saving, that it leaves them out (so
its count is no surprise); "not tagged VIP" is a sidebar click saved as a segment, and the add page's filter
box starts empty; one of a thing reads in the singular (the dashboard, a bulk tag, a bulk delete's title); the
dashboard's median first response is the real one, told like every other duration."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from companies.models import CompanyTag
from contacts.models import Tag
from reports import services as report_services
from reports.clock import local_day
from segments.models import Segment
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import ContactFactory, LeadFactory, TagFactory, UserContactFactory
from tests.conversations.factories import TeammateFactory
from tests.reports.history import conversation_at

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]

CONTACTS = reverse("admin:contacts_contact_changelist")
LEFT_OUT = (
    "Anonymous visitors and archived contacts are left out: a segment holds users and leads that are not archived,"
    " as the API's contact search does."
)


def sidebar_link(page, group: str, name: str):
    return page.locator(f'#changelist-filter details[data-filter-title="{group}"]').get_by_role(
        "link", name=name, exact=True
    )


def test_a_segment_says_whom_it_leaves_out_and_not_tagged_needs_no_json(agent_admin, artifacts):
    vip = TagFactory(name="VIP")
    for contact in (
        UserContactFactory(name="Ada Lovelace"),
        LeadFactory(name="Bo Lead"),
        ContactFactory(name="Anonymous Browser"),
        UserContactFactory(name="Gone User", is_archived=True),
    ):
        contact.tags.add(vip)  # fmt: skip
    UserContactFactory(name="Cy Untagged")
    page = agent_admin.page
    rows = page.locator("#result_list tbody tr")

    # Tagged VIP: the list shows four, the visitor and the archived one among them; the block says, before saving,
    # that a segment leaves those two out.
    agent_admin.open(CONTACTS)
    sidebar_link(page, "tag", "VIP").click()
    expect(rows).to_have_count(4)
    expect(page.locator("#result_list")).to_contain_text("Anonymous Browser")
    expect(page.locator("#parley-segment-preview")).to_have_text("Tag VIP")
    expect(page.locator("#parley-segment-left-out")).to_have_text(LEFT_OUT)
    page.fill("#parley-segment-name", "VIP people")
    page.screenshot(path=str(artifacts / "walk-segment-left-out-before-saving.png"), full_page=True)
    page.get_by_role("button", name="Save as segment").click()
    expect(page.locator(".messagelist")).to_have_text("Saved segment “VIP people”: Tag VIP — 2 contacts right now.")
    expect(rows).to_have_count(2)
    expect(page.locator("#result_list")).not_to_contain_text("Anonymous Browser")
    expect(page.locator("#parley-segment-holds")).to_have_text("It holds: Tag VIP")
    expect(page.locator("#parley-segment-left-out")).to_have_text(LEFT_OUT)  # the open segment says it too
    page.screenshot(path=str(artifacts / "walk-segment-left-out-saved.png"), full_page=True)
    saved = Segment.objects.get(name="VIP people")
    agent_admin.open(reverse("admin:segments_segment_change", args=[saved.pk]))
    expect(page.locator("#parley-segment-left-out")).to_have_text(LEFT_OUT)

    # "Not tagged VIP": one click in the sidebar, said in words, saved in one step; no JSON written.
    agent_admin.open(CONTACTS)
    sidebar_link(page, "not tagged", "VIP").click()
    expect(rows).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("Cy Untagged")
    expect(page.locator("#parley-segment-preview")).to_have_text("Not tagged VIP")
    page.fill("#parley-segment-name", "Not VIP yet")
    page.screenshot(path=str(artifacts / "walk-segment-not-tagged.png"), full_page=True)
    page.get_by_role("button", name="Save as segment").click()
    expect(page.locator(".messagelist")).to_have_text(
        "Saved segment “Not VIP yet”: Not tagged VIP — 1 contact right now."
    )
    expect(rows).to_have_count(1)
    assert Segment.objects.get(name="Not VIP yet").query == {"field": "tag_id", "operator": "!=", "value": str(vip.pk)}

    # Writing a filter by hand (superusers): the box starts empty, showing a filter's shape, never "null".
    agent_admin.open(reverse("admin:segments_segment_add"))
    query = page.locator("#id_query")
    expect(query).to_have_value("")
    expect(query).to_have_attribute("placeholder", '{"operator": "AND", "value": [{"field": "tag_id", "operator": '
                                    '"!=", "value": "7"}, {"field": "last_seen_at", "operator": ">", '
                                    '"value": "now-30d"}]}')  # fmt: skip
    expect(page.locator(".field-query .help")).to_contain_text("!= for not tagged")
    page.screenshot(path=str(artifacts / "walk-segment-add-empty.png"), full_page=True)
    assert agent_admin.problems == []


def test_one_of_a_thing_reads_singular_and_the_median_is_the_real_one(agent_admin, artifacts):
    started = timezone.now() - dt.timedelta(hours=1)
    conversation_at(created_at=started, teammate=TeammateFactory(first_name="Mia"),
                    first_response_after=dt.timedelta(seconds=100))  # fmt: skip
    report_services.reports_rebuild(days=2)
    day = local_day(started)
    page = agent_admin.page

    # The dashboard for that one day: one new conversation, answered in 1m 40s (not the 1-2 minute bucket's 1m 30s).
    agent_admin.open(f"/admin/?start={day.isoformat()}&end={day.isoformat()}")
    expect(page.locator("#chart-new-conversations .parley-summary")).to_have_text("1 in 1 day")
    expect(page.locator("#chart-new-conversations svg rect title")).to_have_text(
        f"{day:%b} {day.day}: 1 new conversation"
    )
    expect(page.locator("#chart-response-times .parley-summary")).to_have_text(
        "first response 1m 40s · time to close —"
    )
    expect(page.locator("#chart-teammates text.value").first).to_have_text("1m 40s")
    expect(page.locator("#chart-response-times .parley-note")).to_have_count(0)  # exact: nothing to warn about
    page.locator("#chart-response-times").screenshot(path=str(artifacts / "walk-dashboard-exact-median.png"))
    page.screenshot(path=str(artifacts / "walk-dashboard-one-day.png"), full_page=True)

    # A bulk tag of one company says "1 company".
    acme = CompanyFactory(name="Acme")
    TagFactory(name="Enterprise")
    agent_admin.open(reverse("admin:companies_company_changelist"))
    page.locator(f'input[name="_selected_action"][value="{acme.pk}"]').check()
    page.select_option("select[name=action]", "tag_selected")
    page.select_option("select[name=tag]", label="Enterprise")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_have_text("Tagged 1 company with “Enterprise”.")
    assert CompanyTag.objects.filter(company=acme).count() == 1

    # Deleting one tag from the list: the confirmation says "Delete 1 tag", not "Delete multiple objects".
    spare = TagFactory(name="Spare")
    agent_admin.open(reverse("admin:contacts_tag_changelist"))
    page.locator(f'input[name="_selected_action"][value="{spare.pk}"]').check()
    page.select_option("select[name=action]", "delete_selected")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("#content h1")).to_have_text("Delete 1 tag")
    expect(page.locator(".breadcrumbs")).to_contain_text("Delete 1 tag")
    expect(page.locator(".breadcrumbs")).not_to_contain_text("multiple")
    expect(page).to_have_title("Delete 1 tag | Parley")
    expect(page.locator("#content")).to_contain_text("Are you sure you want to delete the selected tag?")
    page.screenshot(path=str(artifacts / "walk-delete-one-tag.png"), full_page=True)
    page.get_by_role("button", name="Yes, I\u2019m sure").click()
    expect(page.locator(".messagelist")).to_have_text("Successfully deleted 1 tag.")
    assert not Tag.objects.filter(pk=spare.pk).exists()
    assert agent_admin.problems == []
