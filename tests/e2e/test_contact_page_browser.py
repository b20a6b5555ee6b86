"""The contact page as a teammate sees it: tag rows by name, one events panel, a duplicate tag (in its tag rows
and on the tag page) as one form error naming it."""

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from contacts import services
from tests.contacts.factories import TagFactory, UserContactFactory
from tracking import services as tracking_services
from tracking.models import WebSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_contact_page_reads_as_words_and_a_duplicate_tag_is_a_form_error(agent_admin, artifacts):
    contact = UserContactFactory(name="Jamie Rivera")
    services.contact_tag(contact=contact, tag=TagFactory(name="vip"))
    for n in range(3):
        tracking_services.event_track(
            contact=contact, name="checkout", metadata={"n": n}, created_at=None, now=timezone.now()
        )
    page = agent_admin.page

    agent_admin.open(reverse("admin:contacts_contact_change", args=[contact.pk]))
    expect(page.locator("td.original p").first).to_have_text("vip")
    panel_titles = page.locator("fieldset.contact-panel h2").all_inner_texts()
    assert [title for title in panel_titles if "event" in title.lower()] == ["Events"]
    events = page.locator("fieldset.contact-panel", has=page.get_by_role("heading", name="Events", exact=True))
    expect(events.get_by_text("Recent events")).to_be_visible()
    page.screenshot(path=str(artifacts / "contact-page.png"), full_page=True)

    # The teammate adds "vip" again in the tag rows: one error, on that row, naming the tag.
    page.locator("#tag_links-group .add-row a").click()
    page.locator("tr.dynamic-tag_links .select2-selection").last.click()
    page.locator(".select2-search__field").fill("vip")
    page.locator(".select2-results__option", has_text="vip").click()
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator("#tag_links-group .errorlist")).to_have_text(["This contact already has the tag “vip”."])
    expect(page.locator("#tag_links-group")).not_to_contain_text("duplicate data")
    page.locator("#tag_links-group").screenshot(path=str(artifacts / "contact-tag-duplicate.png"))
    assert contact.tag_links.count() == 1

    agent_admin.open(reverse("admin:contacts_tag_add"))
    page.fill("#id_name", "VIP")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".errorlist")).to_have_text("Another tag already has this name.")
    page.screenshot(path=str(artifacts / "tag-duplicate.png"), full_page=True)
    assert agent_admin.problems == []


# What sticks out past the phone's width: the page's own scroll width, and the widest elements doing it.
SIDEWAYS = """(width) => ({
  scroll: document.documentElement.scrollWidth,
  wide: [...document.querySelectorAll('#content *')].filter((el) => el.getBoundingClientRect().right > width + 1)
    .slice(0, 5).map((el) => el.tagName + '.' + el.className + ' ' + (el.htmlFor || '') + ' ' + (el.parentElement && el.parentElement.className) + ' ' + Math.round(el.getBoundingClientRect().right)),
})"""


def test_a_contact_page_on_a_phone_scrolls_its_wide_tables_in_their_own_box(agent_admin, artifacts):
    """A re-check found a contact's page scrolling sideways on a 380 px phone: its web sessions' table is about 1,000
    px wide. The table scrolls in its panel; the page stays the phone's width."""
    contact = UserContactFactory(name="Jamie Rivera")
    website = tracking_services.website_create(name="Shop", allowed_origins=["https://shop.example"])
    WebSession.objects.create(
        contact=contact, website=website, started_at=timezone.now(), last_activity_at=timezone.now(),
        page_views_count=3, landing_url="https://shop.example/" + "collections/brass-floor-lamps/" * 3,
        referrer="https://www.search.example/?q=brass+floor+lamp", browser="Chrome", browser_version="131", os="macOS",
    )  # fmt: skip
    page = agent_admin.page
    page.set_viewport_size({"width": 380, "height": 800})
    agent_admin.open(reverse("admin:contacts_contact_change", args=[contact.pk]))
    sessions = page.locator("fieldset.contact-panel", has=page.get_by_role("heading", name="Web sessions"))
    expect(sessions.locator("table")).to_contain_text("Chrome 131 on macOS")
    page.screenshot(path=str(artifacts / "contact-page-phone.png"), full_page=True)
    shown = page.evaluate(SIDEWAYS, 380)
    assert shown["scroll"] <= 380, shown
    box = "(panel) => panel.scrollWidth > panel.clientWidth"  # the table scrolls inside its own panel
    assert sessions.evaluate(box)
    assert agent_admin.problems == []
