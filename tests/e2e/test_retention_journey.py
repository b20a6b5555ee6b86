"""Journey: a teammate runs the retention rules from the admin and reads what they did."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from contacts.models import Contact
from retention.models import RetentionRun
from tests.retention.history import visitor

pytestmark = [
    pytest.mark.browser,
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_run_now_buttons_queue_a_dry_run_and_a_real_run_that_the_admin_then_shows(
    agent_admin, celery_worker_factory, artifacts
):
    stale = visitor(last_seen_days_ago=400)
    worker = celery_worker_factory()
    page = agent_admin.page

    # Past its deletion date, the visitor's panel says the next run deletes it (no date in the past).
    agent_admin.open(reverse("admin:retention_retentionpolicy_changelist"))  # caches the policy for the panel
    agent_admin.open(reverse("admin:contacts_contact_change", args=[stale.pk]))
    expect(page.get_by_text("will be deleted at the next run")).to_be_visible()

    agent_admin.open(reverse("admin:retention_retentionpolicy_changelist"))
    page.get_by_role("button", name="Dry run the visitor expiry now").click()
    expect(page.get_by_text("Queued a dry run")).to_be_visible()
    worker.wait_until(lambda: RetentionRun.objects.filter(status="done").count() == 1, what="the dry run")
    assert Contact.objects.filter(pk=stale.pk).exists()

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))  # a real run asks first
    page.get_by_role("button", name="Run the visitor expiry now", exact=True).click()
    expect(page.get_by_text("Queued a run")).to_be_visible()
    worker.wait_until(lambda: RetentionRun.objects.filter(status="done").count() == 2, what="the real run")
    assert not Contact.objects.filter(pk=stale.pk).exists()
    assert asked and "cannot be undone" in asked[0]
    assert set(RetentionRun.objects.values_list("trigger", flat=True)) == {"admin"}

    # With no optional rule switched on, "apply the optional rules" says so instead of promising a run.
    page.get_by_role("button", name="Apply the optional rules now").click()
    expect(page.get_by_text("No optional rule is switched on")).to_be_visible()

    page.reload()
    runs = page.locator("fieldset", has_text="Schedule and recent runs").locator("tbody tr")
    expect(runs).to_have_count(2)
    expect(runs.nth(0)).to_contain_text("no")  # the newest, real run first
    expect(runs.nth(1)).to_contain_text("yes")
    page.screenshot(path=str(artifacts / "retention-policy-after-runs.png"), full_page=True)

    real = RetentionRun.objects.get(dry_run=False)
    agent_admin.open(reverse("admin:retention_retentionrun_change", args=[real.pk]))
    counts = page.locator(".field-counts_table table")
    expect(counts).to_contain_text("Contacts")
    expect(counts).to_contain_text("Page views")
    expect(counts).not_to_contain_text("contacts.Contact")
    page.screenshot(path=str(artifacts / "retention-run-detail.png"), full_page=True)
    assert agent_admin.problems == []
