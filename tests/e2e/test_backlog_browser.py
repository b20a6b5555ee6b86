"""Journey: a visitor writes while the workers are far behind (their first visit still queued under thousands of
others). The chat cannot be started on a row not written yet, and writing the whole backlog first would hold the
request: the messenger keeps the message with "Not sent." and Retry; once the workers caught up, Retry sends it,
and the agent sees it in the inbox (docs/architecture.md, "A row needed at once is written first")."""

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from conversations.models import Conversation
from tests.tracking.conftest import Widget, queue  # noqa: F401 - the fixture, used by name
from tracking import page_view_buffer
from tracking.page_view_buffer import page_views_flush

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,  # the ingest queue takes ids from PostgreSQL's sequences (CI's browser share, tests/conftest)
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]

# A read may write this many queued entries before it answers 503; the backlog is deeper, as thousands are on a busy
# install whose workers fell a few seconds behind.
READ_FLUSH_MAX = 5
BACKLOG = 12


@pytest.fixture
def behind(queue, monkeypatch):  # noqa: F811 - the fixture imported above
    """The ingest queue on (its stream, which the test flushes), and a read may write only READ_FLUSH_MAX entries
    queued before it."""
    monkeypatch.setattr(page_view_buffer, "READ_FLUSH_MAX_ENTRIES", READ_FLUSH_MAX)
    return queue


def _queue_backlog(website) -> None:
    """Other visitors' first page views, queued (no worker runs here): more than a read may write first."""
    client = Client()
    for index in range(BACKLOG):
        widget = Widget(client, website, ip=f"198.51.100.{index}", origin=None)
        assert widget.ping(f"https://shop.example/{index}").status_code == 200


def _drain() -> None:
    """The workers catch up."""
    while page_views_flush():
        pass


def test_a_message_written_while_the_workers_are_far_behind_is_kept_with_retry_and_goes_through_once_they_caught_up(
    host, make_website, agent_admin, artifacts, behind
):
    website = make_website()
    _queue_backlog(website)

    # The visitor's own first visit is answered at once (queued behind them), and the messenger works.
    host.page.goto(host.snippet_page("/help", website.app_id))
    host.wait_booted()
    assert behind.length() == BACKLOG + 1
    host.launcher().click()
    messenger = host.page.locator("parley-messenger")
    text = "Hi, is the blue one back in stock?"
    with host.page.expect_response(lambda answer: answer.url.endswith("/conversations")) as answered:
        messenger.locator("textarea").fill(text)
        host.page.keyboard.press("Enter")
    assert answered.value.status == 503 and answered.value.headers.get("retry-after")
    failed = messenger.locator(".m.fail")
    expect(failed.locator(".bu")).to_have_text(text)
    expect(failed.locator(".nf span")).to_have_text("Not sent.")
    expect(failed.locator(".fl")).to_have_text("Retry")
    host.screenshot(path=str(artifacts / "backlog-message-not-sent.png"))
    assert not Conversation.objects.exists() and behind.length() == BACKLOG + 1  # nothing written, nothing lost

    # The workers catch up; Retry sends that very message, and it looks like any other sent one.
    _drain()
    with host.page.expect_response(lambda answer: answer.url.endswith("/conversations") and answer.status == 201):
        failed.locator(".fl").click()
    expect(messenger.locator(".m.fail")).to_have_count(0)
    expect(messenger.locator(".m.me .bu")).to_have_text([text])
    expect(messenger.locator("textarea")).to_have_attribute("aria-label", "Reply to the team")
    host.screenshot(path=str(artifacts / "backlog-message-sent-after-retry.png"))

    # The agent finds it in the inbox, from the visitor whose first page view was queued.
    conversation = Conversation.objects.get()
    assert str(conversation.contact.anonymous_id) == host.page.evaluate("Parley('getVisitorId')")
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    expect(agent_admin.page.locator(".parley-part.from-contact .body")).to_have_text([text])
    agent_admin.page.screenshot(path=str(artifacts / "backlog-agent-sees-message.png"), full_page=True)
    assert host.problems == [] and agent_admin.problems == []


def test_a_teammate_exporting_a_persons_data_while_the_workers_are_far_behind_is_told_parley_is_catching_up(
    agent_admin, make_website, artifacts, behind
):
    import json

    from contacts.models import Contact, PrivacyAuditEntry

    website = make_website()
    person = Widget(Client(), website, ip="192.0.2.10", origin=None)
    assert person.ping("https://shop.example/first").status_code == 200
    _drain()
    contact = Contact.objects.get(anonymous_id=person.anonymous_id)
    assert person.ping("https://shop.example/just-now").status_code == 200  # queued: the export must hold it
    _queue_backlog(website)

    # The export would miss what is still queued: the teammate is told what is going on, in words.
    page = agent_admin.page
    agent_admin.open(reverse("admin:contacts_contact_changelist"))
    page.locator(f'input[name="_selected_action"][value="{contact.pk}"]').check()
    page.select_option("select[name=action]", "export_gdpr")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("h1")).to_have_text("Parley is catching up")
    expect(page.locator("main")).to_contain_text("send it again in 5 seconds")
    expect(page).to_have_title("Parley is catching up")
    page.screenshot(path=str(artifacts / "backlog-admin-export-catching-up.png"), full_page=True)
    assert not PrivacyAuditEntry.objects.filter(action=PrivacyAuditEntry.Action.EXPORT).exists()

    # Caught up: the same action downloads the export, with the page view that was queued.
    _drain()
    agent_admin.open(reverse("admin:contacts_contact_changelist"))
    page.locator(f'input[name="_selected_action"][value="{contact.pk}"]').check()
    page.select_option("select[name=action]", "export_gdpr")
    with page.expect_download() as download:
        page.get_by_role("button", name="Go").click()
    (document,) = json.loads(download.value.path().read_text(encoding="utf-8"))["contacts"]
    assert document["contact"]["id"] == contact.pk
    assert {view["url"] for view in document["page_views"]} == {
        "https://shop.example/first",
        "https://shop.example/just-now",
    }
    assert agent_admin.problems == []
