"""A visitor whose first ping is queued behind a backlog (the workers behind): what needs its row at once writes
everything queued before it, never takes the missing row for a contact that is gone; with more queued than it may
write, the request answers 503 with Retry-After, and nothing lands on another contact (found by an attacker review: a capped
flush lost a consent refusal, split a sign-in into two contacts, refused chats and events)."""

import json

import pytest

from contacts.models import Contact
from conversations.models import Conversation
from tests.tracking.conftest import Buffer, Widget
from tracking import page_view_buffer
from tracking.models import PageView
from tracking.page_view_buffer import page_views_flush

pytestmark = pytest.mark.django_db(transaction=True)

# With batches this small, a backlog of a few dozen entries is many batches deep, as thousands are on a busy install.
BATCH_SIZE = 3
BACKLOG = 40


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(page_view_buffer, "FLUSH_BATCH_SIZE", BATCH_SIZE)


def _behind(client, website) -> Widget:
    """BACKLOG other visitors' first pings queued, then this visitor's: nothing flushed yet."""
    for index in range(BACKLOG):
        other = Widget(client, website, ip=f"198.51.100.{index}")
        assert other.ping(f"https://shop.example/other/{index}").status_code == 200
    visitor = Widget(client, website, ip="192.0.2.77")
    assert visitor.ping("https://shop.example/landing").status_code == 200
    return visitor


def _urls(visitor: Widget) -> list[str]:
    contact = Contact.objects.get(anonymous_id=visitor.anonymous_id)
    return list(PageView.objects.filter(contact=contact).order_by("created_at").values_list("url", flat=True))


def _drain() -> None:
    while page_views_flush():
        pass


def test_a_consent_refusal_behind_a_backlog_is_stored_and_nothing_is_recorded_after_it(client, website, queue: Buffer):
    visitor = _behind(client, website)
    refused = visitor.ping("https://shop.example/2", consent={"analytics": False})
    assert refused.status_code == 200
    assert refused.json()["consent"]["analytics"] is False and refused.json()["forget"] is True
    visitor.ping("https://shop.example/3")
    _drain()
    assert Contact.objects.get(anonymous_id=visitor.anonymous_id).analytics_consent is False
    assert _urls(visitor) == ["https://shop.example/landing"]


def test_a_sign_in_behind_a_backlog_merges_the_visitor_into_the_user(client, website, queue: Buffer):
    visitor = _behind(client, website)
    anonymous_id = visitor.anonymous_id
    signed_in = visitor.ping("https://shop.example/account", user={"user_id": "u-42", "email": "u42@example.com"})
    assert signed_in.status_code == 200
    _drain()
    user = Contact.objects.get(external_id="u-42")
    assert not Contact.objects.filter(anonymous_id=anonymous_id).exclude(pk=user.pk).exists()
    urls = set(PageView.objects.filter(contact=user).values_list("url", flat=True))
    assert urls == {"https://shop.example/landing", "https://shop.example/account"}


def test_a_lead_email_chat_and_event_behind_a_backlog_go_to_the_browsers_own_contact(client, website, queue: Buffer):
    visitor = _behind(client, website)
    started = visitor.post("conversations", {"token": visitor.token, "body": "Hello, can you help?"})
    assert started.status_code == 201, started.content
    assert visitor.event("added-to-cart", {"sku": "A1"}).status_code == 202
    assert visitor.post("update", {"token": visitor.token, "user": {"email": "lead@example.com"}}).status_code == 200
    _drain()
    contact = Contact.objects.get(anonymous_id=visitor.anonymous_id)
    assert (contact.role, contact.email) == (Contact.Role.LEAD, "lead@example.com")
    assert list(Conversation.objects.values_list("contact_id", flat=True)) == [contact.pk]
    assert list(contact.events.values_list("name", flat=True)) == ["added-to-cart"]
    assert Contact.objects.count() == BACKLOG + 1


def test_far_behind_a_request_answers_503_and_changes_nothing(client, website, queue: Buffer, monkeypatch):
    visitor = _behind(client, website)
    monkeypatch.setattr(page_view_buffer, "READ_FLUSH_MAX_ENTRIES", BACKLOG // 2)
    started = visitor.post("conversations", {"token": visitor.token, "body": "Hello?"})
    assert started.status_code == 503
    assert started["Retry-After"] and started.json()["error"]["code"] == "service_unavailable"
    assert started["Access-Control-Allow-Origin"] == "https://shop.example"  # the browser can read why
    refused = visitor.ping("https://shop.example/2", consent={"analytics": False})
    assert refused.status_code == 503  # not a 200 that drops the refusal
    _drain()
    assert Conversation.objects.count() == 0 and Contact.objects.count() == BACKLOG + 1
    assert _urls(visitor) == ["https://shop.example/landing"]
    # Caught up: the same requests are served.
    assert visitor.post("conversations", {"token": visitor.token, "body": "Hello?"}).status_code == 201
    assert visitor.ping("https://shop.example/2", consent={"analytics": False}).json()["consent"]["analytics"] is False


def test_the_admin_live_visitors_list_shows_what_is_written_when_the_flush_cannot_catch_up(
    admin_client, client, website, queue: Buffer, monkeypatch
):
    _behind(client, website)
    monkeypatch.setattr(page_view_buffer, "READ_FLUSH_MAX_ENTRIES", BACKLOG // 2)
    response = admin_client.get("/admin/contacts/contact/?live=now")
    assert response.status_code == 200
    assert Contact.objects.count() == 0  # all still queued: the workers write them


def test_an_expiry_run_with_the_buffer_far_behind_deletes_nothing_and_is_retried(client, website, queue, monkeypatch):
    from retention.models import RetentionRun
    from retention.tasks import expire_stale_visitors

    _behind(client, website)
    monkeypatch.setattr(page_view_buffer, "READ_FLUSH_MAX_ENTRIES", BACKLOG // 2)
    expire_stale_visitors.apply()  # run eagerly, its retries run at once
    runs = RetentionRun.objects.all()
    assert len(runs) == 1 + expire_stale_visitors.max_retries  # retried: the queued sightings may keep a visitor
    assert all(run.status == RetentionRun.Status.FAILED and "page views queued" in run.error for run in runs)
    _drain()
    assert Contact.objects.count() == BACKLOG + 1


def test_a_gdpr_export_in_the_admin_far_behind_says_parley_is_catching_up_and_works_once_caught_up(
    admin_client, client, website, queue: Buffer, monkeypatch
):
    """The teammate exporting a person's data gets a page saying what is going on (not the widget's JSON error),
    and nothing is recorded as exported; once the workers caught up, the same action exports."""
    from contacts.models import PrivacyAuditEntry

    visitor = _behind(client, website)
    _drain()
    contact = Contact.objects.get(anonymous_id=visitor.anonymous_id)
    visitor.ping("https://shop.example/after")  # queued behind a new backlog
    _behind(client, website)
    monkeypatch.setattr(page_view_buffer, "READ_FLUSH_MAX_ENTRIES", BACKLOG // 2)
    action = {"action": "export_gdpr", "_selected_action": [contact.pk]}
    refused = admin_client.post("/admin/contacts/contact/", action, HTTP_ACCEPT="text/html,*/*;q=0.8")
    assert refused.status_code == 503 and refused["Retry-After"].isdigit()
    assert refused["Content-Type"].startswith("text/html")
    page = refused.content.decode()
    assert "<h1>Parley is catching up</h1>" in page and "send it again" in page
    assert 'http-equiv="refresh"' not in page  # a form sent is not sent again by itself
    assert not PrivacyAuditEntry.objects.filter(action=PrivacyAuditEntry.Action.EXPORT).exists()
    _drain()
    exported = admin_client.post("/admin/contacts/contact/", action, HTTP_ACCEPT="text/html,*/*;q=0.8")
    assert exported.status_code == 200 and exported["Content-Disposition"].startswith("attachment")
    urls = {view["url"] for view in json.loads(exported.content)["contacts"][0]["page_views"]}
    assert "https://shop.example/after" in urls  # the page view queued before the export is in it


def test_the_export_command_far_behind_says_parley_is_catching_up_and_exits_non_zero(
    client, website, queue, monkeypatch
):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    visitor = _behind(client, website)
    _drain()
    contact = Contact.objects.get(anonymous_id=visitor.anonymous_id)
    _behind(client, website)
    monkeypatch.setattr(page_view_buffer, "READ_FLUSH_MAX_ENTRIES", BACKLOG // 2)
    with pytest.raises(CommandError, match=r"Parley is catching up .*page views queued.*nothing was exported"):
        call_command("export_contact", str(contact.pk))
