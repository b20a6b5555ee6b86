"""An administrator finds the segments that name a deleted tag (the segment list's flag and its filter), reads on one's
page what it does and how to fix it, fixes its filter; then deletes a big tag from a page that counts its links, and
a tag another teammate deleted meanwhile is a message, not an error page (attacker review)."""

import json

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from contacts.models import Contact, ContactTag, Tag
from segments.models import Segment
from segments.services import segment_create
from tests.contacts.factories import TagFactory
from tests.e2e.conftest import AdminSession

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def test_an_administrator_finds_and_fixes_a_segment_naming_a_deleted_tag(agent_admin, artifacts):
    vip, gold = TagFactory(name="VIP"), TagFactory(name="Gold")
    segment_create(name="Not VIPs", query={"field": "tag_id", "operator": "!=", "value": vip.pk}, teammate=None)
    segment_create(name="Gold", query={"field": "tag_id", "operator": "=", "value": gold.pk}, teammate=None)
    Tag.objects.filter(pk=vip.pk).delete()  # as it could be before a tag in use was refused
    page = agent_admin.page

    agent_admin.open(reverse("admin:segments_segment_changelist"))
    flagged = page.locator("tr", has_text="Not VIPs")
    expect(flagged.locator("td.field-filter_problems")).to_have_text(f"names a deleted tag: #{vip.pk}")
    expect(page.locator("tr", has_text="Gold").locator("td.field-filter_problems")).to_have_text("")
    page.screenshot(path=str(artifacts / "segments-naming-a-deleted-tag-list.png"), full_page=True)

    page.get_by_role("link", name="Names a deleted tag").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    flagged = page.locator("tr", has_text="Not VIPs")
    flagged.get_by_role("link", name="Not VIPs").click()
    notice = page.locator(".field-deleted_tags")
    expect(notice).to_contain_text(f"Names a deleted tag: #{vip.pk}.")
    expect(notice).to_contain_text(f"take out the tag_id filter naming #{vip.pk}")
    page.screenshot(path=str(artifacts / "segment-naming-a-deleted-tag-page.png"), full_page=True)

    page.fill("#id_query", json.dumps({"field": "tag_id", "operator": "!=", "value": gold.pk}))
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    expect(page.locator(".field-deleted_tags")).to_have_count(0)
    assert Segment.objects.get(name="Not VIPs").query["value"] == gold.pk
    assert agent_admin.problems == []


def test_a_big_tag_is_deleted_from_a_page_that_counts_its_links(
    chromium, parley_url, superuser, agent_admin, artifacts
):
    tag = TagFactory(name="Newsletter")
    people = Contact.objects.bulk_create(Contact(role=Contact.Role.USER, external_id=f"n{i}") for i in range(2_000))
    ContactTag.objects.bulk_create(ContactTag(contact=person, tag=tag) for person in people)
    page = agent_admin.page
    delete_url = reverse("admin:contacts_tag_delete", args=[tag.pk])

    agent_admin.open(delete_url)
    expect(page.locator("#content")).to_contain_text("Attached to 2,000 contacts (they stay; the tag comes off them)")
    page.screenshot(path=str(artifacts / "tag-delete-page-counts-links.png"), full_page=True)

    # Another administrator deletes it first, in their own browser; this page's "Yes" is then a message.
    other = AdminSession(chromium, parley_url, username=superuser.username)
    other.open(delete_url)
    other.page.locator("#content input[type=submit]").click()
    expect(other.page.locator(".messagelist")).to_contain_text("was deleted successfully")
    other.close()
    page.locator("#content input[type=submit]").click()
    expect(page.locator(".messagelist")).to_contain_text("Nothing was deleted: this tag no longer exists")
    page.screenshot(path=str(artifacts / "tag-deleted-meanwhile-message.png"), full_page=True)
    assert not Tag.objects.exists() and Contact.objects.count() == 2_000
    assert agent_admin.problems == []
