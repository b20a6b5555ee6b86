"""Journeys through the outside review's fixes, in a real browser: a visitor on another origin who sends more files
than their network may is told in the messenger (nothing stored); an agent who tries to delete a data attribute
that a segment filters on is shown which segment, and the attribute stays; deeply nested JSON in an admin form is
the field's error, not a server error."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from contacts import services as contact_services
from contacts.models import DataAttribute
from conversations.models import Attachment
from segments import services as segment_services
from tests.conversations.attachment_samples import PDF

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def test_a_visitor_over_the_networks_file_allowance_is_told_and_nothing_is_stored(host, make_website, artifacts,
                                                                                  settings):  # fmt: skip
    settings.PARLEY_WIDGET_FILES_PER_IP_HOUR = 1  # the browser and this test share one address
    website = make_website()
    host.page.goto(host.snippet_page("/help", website.app_id))
    host.wait_booted()
    host.launcher().click()
    messenger = host.page.locator("parley-messenger")
    files = messenger.locator("input[type=file]")

    files.set_input_files({"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF})
    expect(messenger.locator(".ch")).to_contain_text("invoice.pdf")
    messenger.locator("textarea").fill("My invoice")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me .fs a.f").last).to_have_text("invoice.pdf · 1 kB", timeout=15_000)

    files.set_input_files({"name": "second.pdf", "mimeType": "application/pdf", "buffer": PDF})
    expect(messenger.locator(".ch")).to_contain_text("second.pdf")
    messenger.locator("textarea").fill("And another one")
    host.page.keyboard.press("Enter")
    # Nothing was sent: the text is back in the composer, the file dropped, and the server's words said.
    expect(messenger.locator(".ae")).to_have_text("Too many files sent from your network; try again later.",
                                                  timeout=15_000)  # fmt: skip
    expect(messenger.locator("textarea")).to_have_value("And another one")
    expect(messenger.locator(".m.fail")).to_have_count(0)
    host.screenshot(path=str(artifacts / "hardening-visitor-files-cap.png"))
    assert list(Attachment.objects.values_list("name", flat=True)) == ["invoice.pdf"]
    # The 429 itself is a console line of the browser (a failed request), not an error of the messenger.
    assert [p for p in host.problems if "429" not in p] == []


def test_an_agent_cannot_delete_an_attribute_a_segment_filters_on_nor_post_deep_json(agent_admin, artifacts):
    plan = contact_services.data_attribute_create(name="plan", data_type=DataAttribute.DataType.STRING)
    segment_services.segment_create(
        name="Pro customers", query={"field": "custom_attributes.plan", "operator": "=", "value": "pro"}, teammate=None
    )
    page = agent_admin.page

    agent_admin.open(reverse("admin:contacts_dataattribute_change", args=[plan.pk]))
    page.locator("a.deletelink").click()
    expect(page.locator("#content")).to_contain_text("cannot be deleted while saved segments filter on it")
    expect(page.locator("#deleted-objects")).to_contain_text("the segment “Pro customers”")
    expect(page.locator("input[type=submit]")).to_have_count(0)
    page.screenshot(path=str(artifacts / "hardening-attribute-delete-refused.png"), full_page=True)
    page.get_by_role("link", name="archive the attribute").click()
    expect(page.locator("#id_archived")).to_be_visible()
    assert DataAttribute.objects.filter(pk=plan.pk).exists()

    agent_admin.open(reverse("admin:contacts_dataattribute_add"))
    page.fill("#id_name", "colour")
    page.select_option("#id_data_type", "string")
    page.fill("#id_options", "[" * 5000 + "]" * 5000)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".field-options .errorlist")).to_contain_text("Enter a valid JSON.")
    page.screenshot(path=str(artifacts / "hardening-deep-json-form.png"), full_page=True)
    assert not DataAttribute.objects.filter(name="colour").exists()
    assert agent_admin.problems == []
