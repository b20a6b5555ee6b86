"""A teammate reads the admin's times in their own time zone, the one their browser names: the walk found them in UTC
with no zone said (a message that came at 16:48 in Tokyo read "07:48"), and a snooze typed as 17:00 ended at 17:00
UTC."""

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conversations.models import Conversation
from tests.e2e.conftest import AdminSession

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def test_a_teammate_in_tokyo_reads_and_snoozes_in_tokyo_time(
    host, make_website, chromium, parley_url, superuser, artifacts
):
    website = make_website()
    host.page.goto(host.snippet_page("/help", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Is the shop open on Sunday?")
    conversation = Conversation.objects.get()
    written = conversation.parts.get().created_at.astimezone(TOKYO)

    agent = AdminSession(chromium, parley_url, username=superuser.username, timezone_id="Asia/Tokyo")
    try:
        agent.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
        page = agent.page
        expect(page.locator(".parley-part.from-contact .meta")).to_contain_text(f"{written:%b %d, %H:%M}")
        page.locator("#parley-snooze-until").fill("2031-01-05T17:00")
        page.get_by_role("button", name="Snooze", exact=True).click()
        expect(page.locator("#parley-state")).to_have_text("Snoozed until Jan 05, 2031, 17:00")
        page.screenshot(path=str(artifacts / "admin-times-in-tokyo.png"))
    finally:
        agent.close()
    conversation.refresh_from_db()
    assert conversation.snoozed_until == dt.datetime(2031, 1, 5, 8, 0, tzinfo=dt.UTC)
    assert host.problems == []
