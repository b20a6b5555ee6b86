"""Attacks that held: a flush that dies mid-batch, small batches splitting duplicates, forked id blocks."""

import os

import pytest
from django.db import connections
from django.db.models import Count

from tests.ingest_races.conftest import Widget, consistency_problems, flush, lose_reply
from tracking import id_blocks, page_view_buffer
from tracking.models import PageView
from tracking.services import ingest

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_flush_killed_after_its_inserts_writes_everything_once_next_time(shop, client, monkeypatch):
    _stream, website = shop
    widgets = [Widget(client, website, ip=f"81.2.69.{140 + n}") for n in range(3)]
    for n, widget in enumerate(widgets):
        assert widget.ping(f"https://shop.example/{n}/a").status_code == 200
        assert widget.ping(f"https://shop.example/{n}/b").status_code == 200
    real = page_view_buffer._contacts_touch
    calls = []

    def dies(*args, **kwargs):
        calls.append(1)
        raise SystemExit("worker killed")

    monkeypatch.setattr(page_view_buffer, "_contacts_touch", dies)
    with pytest.raises(SystemExit):
        page_view_buffer.page_views_flush()
    monkeypatch.setattr(page_view_buffer, "_contacts_touch", real)
    flush()
    counts = dict(PageView.objects.values_list("url").annotate(n=Count("id")))
    assert counts == {f"https://shop.example/{n}/{p}": 1 for n in range(3) for p in "ab"}
    assert not consistency_problems()


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_page_view_queued_twice_across_tiny_batches_is_written_once(shop, client, monkeypatch, batch):
    """A lone XADD's reply lost, its page view written directly, the entry flushed in batches of 1-3."""
    _stream, website = shop
    monkeypatch.setattr(page_view_buffer, "FLUSH_BATCH_SIZE", batch)
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/1").status_code == 200
    flush()
    lose_reply(monkeypatch, page_view_buffer._COUNTED_QUEUE_SCRIPT, times=1)
    lose_reply(monkeypatch, page_view_buffer._XADD_SCRIPT, times=1)
    for n in range(2, 6):
        assert widget.ping(f"https://shop.example/{n}").status_code == 200
    flush()
    counts = dict(PageView.objects.values_list("url").annotate(n=Count("id")))
    assert counts == {f"https://shop.example/{n}": 1 for n in range(1, 6)}, counts
    problems = [p for p in consistency_problems() if "last_seen_at" not in p]  # (finding D)
    assert not problems


def test_a_forked_child_takes_no_id_its_parent_holds(shop):
    parent = [ingest._page_view_id() for _ in range(3)]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own connection, its own block
        try:
            for alias in connections:
                connections[alias].connection = None  # (not closed: the socket is the parent's)
            ids = [ingest._page_view_id() for _ in range(3)]
            os.write(write, repr(ids).encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    child = eval(os.read(read, 1000))  # noqa: S307 - our own child's repr of a list of ints
    more = [ingest._page_view_id() for _ in range(3)]
    assert not set(child) & set(parent + more)
    assert id_blocks.PageView if hasattr(id_blocks, "PageView") else True


@pytest.mark.parametrize("script", ["_XADD_SCRIPT", "_COUNTED_QUEUE_SCRIPT", "_OPEN_SESSION_SCRIPT"])
def test_erase_after_a_returning_visitors_direct_write_resurrects_nothing(shop, client, monkeypatch, script):
    from django.core.cache import caches

    from contacts import services as contact_services
    from contacts.models import Contact, PrivacyAuditEntry
    from tracking.models import WebSession

    stream, website = shop
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/1").status_code == 200
    flush()
    contact = Contact.objects.get()
    caches["default"].delete(page_view_buffer.fast_ticket_key(contact.pk))
    user = None
    if script == "_OPEN_SESSION_SCRIPT":  # a new session: the old one over, the hot-path entry gone
        WebSession.objects.update(started_at=timezone_shift(), last_activity_at=timezone_shift())
        from tracking.services.hot_path import HotPathState

        caches["default"].delete(HotPathState.key(contact.pk))
        user = {"name": "Ada"}
    for name in ("_XADD_SCRIPT", "_COUNTED_QUEUE_SCRIPT", "_OPEN_SESSION_SCRIPT"):
        if name == script or script != "_OPEN_SESSION_SCRIPT":
            lose_reply(monkeypatch, getattr(page_view_buffer, name))
    assert widget.ping("https://shop.example/2", user=user).status_code == 200
    assert stream.length() >= 1
    contact_services.contact_erase(contact=contact, actor=None, source=PrivacyAuditEntry.Source.ADMIN)
    flush()
    assert not Contact.objects.exists() and not WebSession.objects.exists() and not PageView.objects.exists()


def timezone_shift():
    import datetime as dt

    from django.utils import timezone

    return timezone.now() - dt.timedelta(hours=2)


@pytest.mark.parametrize("lost_tab", ["opener", "joiner", "both"])
@pytest.mark.parametrize("flush_between", [False, True])
def test_two_tabs_opening_one_session_with_a_lost_reply_write_each_page_view_once(
    shop, client, monkeypatch, lost_tab, flush_between
):
    from django.core.cache import caches

    from contacts.models import Contact
    from tracking.models import WebSession
    from tracking.services.hot_path import HotPathState

    _stream, website = shop
    tab = Widget(client, website)
    assert tab.ping("https://shop.example/1").status_code == 200
    flush()
    contact = Contact.objects.get()
    WebSession.objects.update(started_at=timezone_shift(), last_activity_at=timezone_shift())
    script = page_view_buffer._OPEN_SESSION_SCRIPT
    real = script.run
    calls = []

    def run(client_, keys, args):
        reply = real(client_, keys, args)
        calls.append(reply)
        n = len(calls)
        if (lost_tab in ("opener", "both") and n == 1) or (lost_tab in ("joiner", "both") and n == 2):
            import redis

            raise redis.TimeoutError("held")
        return reply

    monkeypatch.setattr(script, "run", run)
    for url in ("/a", "/b"):
        caches["default"].delete(HotPathState.key(contact.pk))  # each tab read the state before the other saved
        from common import redis_cache

        redis_cache.outages_forget()
        assert tab.ping(f"https://shop.example{url}", user={"name": "Ada"}).status_code == 200
        if flush_between:
            flush()
    redis_cache.outages_forget()
    assert tab.ping("https://shop.example/c").status_code == 200
    flush()
    counts = dict(PageView.objects.values_list("url").annotate(n=Count("id")))
    assert counts == {f"https://shop.example/{u}": 1 for u in ("1", "a", "b", "c")}
    assert not [p for p in consistency_problems() if "last_seen_at" not in p], consistency_problems()
