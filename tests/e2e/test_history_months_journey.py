"""Journey: a visitor browses a shop on another origin while a teammate reads their page views on the
contact page, then keeps page views three months only: older months go (whole partitions on
PostgreSQL), the visitor's recent pages stay and new ones keep arriving."""

import datetime as dt

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from contacts.models import Contact
from retention.models import RetentionRun
from tracking import partitioning
from tracking.models import PageView, WebSession
from tracking.page_view_buffer import page_views_flush
from tracking.services import partitions

pytestmark = [
    pytest.mark.browser,
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def test_keeping_three_months_of_page_views_drops_older_months_and_the_contact_page_shows_what_stays(
    host, make_website, agent_admin, celery_worker_factory, artifacts
):
    website = make_website()
    this_month = partitioning.month_start(timezone.now())
    old_months = [partitioning.months_add(this_month, -offset).replace(day=12) for offset in (5, 8)]
    partitions.history_partitions_create(first=old_months[-1], last=this_month)

    # The visitor browses two pages of the shop (its own origin); each page view reaches Parley.
    for path in ("/home", "/pricing"):
        host.page.goto(host.snippet_page(path, website.app_id))
        host.wait_booted()
    agent_page = agent_admin.page  # the teammate is logged in meanwhile (a second browser context)
    page_views_flush()  # what the worker does when the page-view buffer (Redis) is on
    contact = Contact.objects.get()
    assert PageView.objects.filter(contact=contact).count() == 2
    # The same person's visits months ago (as a returning browser would have left them).
    session = WebSession.objects.filter(contact=contact).first()
    for at in old_months:
        PageView.objects.create(
            contact=contact, session=session, url=f"{host.origin}/_host/sale", title=f"Spring sale {at:%Y-%m}",
            created_at=at,
        )  # fmt: skip

    agent_admin.open(reverse("admin:contacts_contact_change", args=[contact.pk]))
    views = agent_page.locator(
        "fieldset.contact-panel", has=agent_page.get_by_role("heading", name="Recent page views")
    )
    expect(views.locator("a[href$='/_host/pricing']")).to_have_count(1)
    expect(views).to_contain_text(f"Spring sale {old_months[1]:%Y-%m}")
    views.screenshot(path=str(artifacts / "history-before-keep-months.png"))

    # The teammate keeps page views and events for the current month and the three before it.
    agent_admin.open(reverse("admin:retention_retentionpolicy_changelist"))  # the one policy (made if missing)
    agent_page.fill("#id_tracking_keep_months", "3")
    agent_page.get_by_role("button", name="Save and continue editing").click()
    expect(agent_page.locator(".messagelist")).to_contain_text("was changed successfully")
    worker = celery_worker_factory()
    agent_page.get_by_role("button", name="Apply the optional rules now").click()
    expect(agent_page.get_by_text("Queued a run")).to_be_visible()
    worker.wait_until(lambda: RetentionRun.objects.filter(status="done").exists(), what="the rules run")
    run = RetentionRun.objects.get(status="done")
    assert run.counts == {"tracking.PageView": 2}

    # Meanwhile the visitor goes on browsing: that page view is kept, like the recent ones.
    host.page.goto(host.snippet_page("/checkout", website.app_id))
    host.wait_booted()
    page_views_flush()
    agent_admin.open(reverse("admin:contacts_contact_change", args=[contact.pk]))
    expect(views.locator("a[href$='/_host/checkout']")).to_have_count(1)
    expect(views.locator("a[href$='/_host/home']")).to_have_count(1)
    expect(views).not_to_contain_text("Spring sale")
    views.screenshot(path=str(artifacts / "history-after-keep-months.png"))
    if connection.vendor == "postgresql":
        names = {p.name for p in partitioning.partitions_list(connection, "tracking_pageview")}
        assert partitioning.partition_name("tracking_pageview", partitioning.month_start(old_months[0])) not in names
    agent_admin.open(reverse("admin:retention_retentionrun_change", args=[run.pk]))
    expect(agent_page.locator(".field-counts_table table")).to_contain_text("Page views")
    agent_page.screenshot(path=str(artifacts / "history-keep-months-run.png"), full_page=True)
    assert host.problems == [] and agent_admin.problems == []
    assert timezone.now() - run.finished_at < dt.timedelta(minutes=5)
