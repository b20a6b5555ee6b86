"""Journey: the admin home is the team's dashboard. An agent logs in and reads the charts drawn from the demo's
seeded history, narrows the date range and the team, downloads a chart's data as CSV; a visitor who writes
from a shop on another origin shows up in "open now" when the agent refreshes."""

import csv
import datetime as dt
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from playwright.sync_api import expect

from contacts.permissions import AGENT_GROUP
from reports.clock import report_today
from reports.dashboard import CHARTS
from tests.e2e.conftest import ADMIN_PASSWORD, AdminSession

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]

NOW_SUMMARY = re.compile(r"(\d+) open · (\d+) waiting · (\d+) snoozed")


@pytest.fixture
def agent(chromium, parley_url):
    """A teammate of the agent group, logged into the admin in Chromium."""
    user = get_user_model().objects.create_user("robin", "robin@parley.test", ADMIN_PASSWORD, is_staff=True,
                                                first_name="Robin")  # fmt: skip
    user.groups.add(Group.objects.get(name=AGENT_GROUP))
    session = AdminSession(chromium, parley_url, username="robin")
    yield session
    session.close()


def _rect_count(page, key: str) -> int:
    return page.locator(f"#chart-{key} svg rect").count()


def test_the_agent_reads_the_dashboard_narrows_it_and_downloads_a_chart(agent, artifacts):
    call_command("seed_demo", contacts=600, seed=15)
    page = agent.page
    agent.open("/admin/")

    # Every chart is drawn (SVG, no script), from the seeded history.
    expect(page.locator(".parley-card")).to_have_count(len(CHARTS))
    expect(page.locator(".parley-card svg.parley-chart")).to_have_count(len(CHARTS))
    assert _rect_count(page, "new-conversations") > 10  # a bar per day with conversations
    assert _rect_count(page, "busiest-hours") == 7 * 24
    assert _rect_count(page, "emails") > 3
    expect(page.locator("#chart-csat .parley-summary")).to_have_text(re.compile(r"^average \d\.\d of 5 · \d+ ratings$"))
    expect(page.locator("#chart-now .parley-summary")).not_to_have_text(re.compile(r"^0 open"))
    expect(page.locator("#chart-contacts-by-role .parley-summary")).to_have_text("600 contacts")
    expect(page.locator("#chart-sla .parley-summary")).to_contain_text("met every target")
    expect(page.locator("#apps")).to_be_visible()  # the app list stays below the charts
    page.screenshot(path=str(artifacts / "reports-dashboard.png"), full_page=True)

    # A shorter range: the last 7 days.
    today = report_today()
    week_ago = today - dt.timedelta(days=6)
    page.fill("#id_start", week_ago.isoformat())
    page.fill("#id_end", today.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".parley-dashboard-meta")).to_contain_text(f"{week_ago:%b} {week_ago.day}, {week_ago.year}")
    labels = page.locator("#chart-new-conversations svg text.axis")
    expect(labels.last).to_have_text(f"{today:%b} {today.day}")

    # One team: the charts follow, the CSV link keeps the filters.
    page.select_option("#id_team", label="Billing")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"team=\d+"))
    expect(page.locator("#id_team option:checked")).to_have_text("Billing")
    page.screenshot(path=str(artifacts / "reports-dashboard-billing-week.png"), full_page=True)

    with page.expect_download() as download_info:
        page.locator("#chart-new-conversations .parley-csv").click()
    download = download_info.value
    assert download.suggested_filename == f"parley-new-conversations-{week_ago}-{today}.csv"
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))  # noqa: SIM115
    assert rows[0] == ["day", "new conversations"]
    assert [row[0] for row in rows[1:]] == [(week_ago + dt.timedelta(days=n)).isoformat() for n in range(7)]

    # A bad date is a form error, not an error page.
    agent.open("/admin/?start=2025-02-30")
    expect(page.locator("#id_start_error")).to_contain_text("YYYY-MM-DD")

    # Narrower than a laptop: one column of charts, nothing cut off.
    page.set_viewport_size({"width": 820, "height": 900})
    agent.open("/admin/")
    card = page.locator("#chart-new-conversations").bounding_box()
    assert card["width"] <= 820 - 40
    page.screenshot(path=str(artifacts / "reports-dashboard-narrow.png"), full_page=True)


def test_a_conversation_the_visitor_starts_shows_in_open_now_after_a_refresh(host, make_website, agent, artifacts):
    website = make_website()
    page = agent.page
    agent.open("/admin/")
    before = NOW_SUMMARY.search(page.locator("#chart-now .parley-summary").inner_text())
    opened, waiting = int(before[1]), int(before[2])

    host.page.goto(host.snippet_page("/pricing", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Is there a discount for non-profits?")

    page.reload()
    expect(page.locator("#chart-now .parley-summary")).to_have_text(
        f"{opened + 1} open · {waiting + 1} waiting · 0 snoozed"
    )
    expect(page.locator("#chart-now svg title", has_text="Open: conversations")).to_have_count(1)
    page.locator("#chart-now").screenshot(path=str(artifacts / "reports-open-now.png"))
