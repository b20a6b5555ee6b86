"""A page view offered to the first round trip (the preflight script) whose reply is lost is queued again by its
ping in a NEW session (its fallback read found no hot-path state), whose opening saved the hot-path state naming
it: the flush writes that session even though its page view is the first entry's, so that the visitor's later page
views, sent there, are written; sessions are counted as written."""

import pytest
from django.db.models import Count

from contacts.models import Contact
from tests.ingest_races.conftest import Widget, cache_read_fails_once, consistency_problems, flush, forget_outages
from tracking import page_view_buffer
from tracking.models import PageView, WebSession

pytestmark = pytest.mark.django_db(transaction=True)


def _urls() -> dict[str, int]:
    return dict(PageView.objects.values_list("url").annotate(n=Count("id")))


def _steady_visitor(client, website) -> Widget:
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/1").status_code == 200
    flush()
    assert widget.ping("https://shop.example/2").status_code == 200  # writes the fast-path ticket
    flush()
    return widget


def test_a_first_round_trip_whose_reply_is_lost_then_a_new_session_keeps_the_later_page_views(
    shop, client, monkeypatch
):
    stream, website = shop
    widget = _steady_visitor(client, website)
    real_run = page_view_buffer._PREFLIGHT_QUEUE_SCRIPT.run
    queued_by_preflight = []

    def preflight_reply_lost(client_, keys, args):
        reply = real_run(client_, keys, args)
        if not queued_by_preflight:
            queued_by_preflight.append(reply)
            import redis

            raise redis.TimeoutError("reply held past 2 s")
        return reply

    monkeypatch.setattr(page_view_buffer._PREFLIGHT_QUEUE_SCRIPT, "run", preflight_reply_lost)
    cache_read_fails_once(monkeypatch)  # Redis still busy a second later: the fallback read fails open
    assert widget.ping("https://shop.example/3").status_code == 200
    assert len(queued_by_preflight[0]) > 3, "the preflight script did queue /3"
    [(f[b"s"], f.get(b"i"), b"k" in f) for _, f in stream.entries()]
    forget_outages()
    for n in (4, 5, 6):
        assert widget.ping(f"https://shop.example/{n}").status_code == 200
    flush()
    contact = Contact.objects.get()
    assert _urls() == {f"https://shop.example/{n}": 1 for n in range(1, 7)}
    assert not consistency_problems()
    assert contact.web_sessions_count == WebSession.objects.count()


# The same through a real TCP proxy in front of a private Redis (no monkeypatching of the code under review): Redis
# runs every command at once, its replies are held for 3.3 s (a stall between running and answering, e.g. another
# client's slow command, a fork), as in tests/faults/test_redis_scripts.py.
from tests.faults.test_redis_scripts import held_shop, server  # noqa: E402,F401 - fixtures


def test_a_first_round_trip_reply_held_3s_by_a_proxy_keeps_the_later_page_views(server, held_shop, client):  # noqa: F811
    import threading

    from django.core.cache import caches

    from common import redis_cache

    proxy, website = held_shop
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/1").status_code == 200
    flush()
    assert widget.ping("https://shop.example/2").status_code == 200
    flush()
    caches["default"]._cache.get_client(write=True).ping()  # live connections: Redis runs the commands
    page_view_buffer._client().ping()
    redis_cache.outages_forget()
    proxy.hold_replies()
    timer = threading.Timer(3.3, proxy.release_replies)
    timer.start()
    try:
        assert widget.ping("https://shop.example/3").status_code == 200
    finally:
        timer.join()
        proxy.release_replies()
    redis_cache.outages_forget()
    for n in (4, 5, 6):
        assert widget.ping(f"https://shop.example/{n}").status_code == 200
    flush()
    assert _urls() == {f"https://shop.example/{n}": 1 for n in range(1, 7)}
    assert not consistency_problems()


def test_a_first_round_trip_reply_lost_with_a_flush_between_counts_every_session_written(shop, client, monkeypatch):
    """The same, with a worker's flush between the two entries (they are seconds apart in a stall; or a batch
    boundary): the new session is written, its first page view is not (its id is taken in the old session), and
    neither is counted: Contact.web_sessions_count is one short of the contact's sessions."""
    import redis

    _stream, website = shop
    widget = _steady_visitor(client, website)
    real_run = page_view_buffer._PREFLIGHT_QUEUE_SCRIPT.run
    done = []

    def preflight_reply_lost_then_flush(client_, keys, args):
        reply = real_run(client_, keys, args)
        if not done:
            done.append(reply)
            flush()  # a worker's flush while the ping waits for the reply
            raise redis.TimeoutError("reply held past 2 s")
        return reply

    monkeypatch.setattr(page_view_buffer._PREFLIGHT_QUEUE_SCRIPT, "run", preflight_reply_lost_then_flush)
    cache_read_fails_once(monkeypatch)
    assert widget.ping("https://shop.example/3").status_code == 200
    flush()  # the next flush writes the second entry alone: the new session, and nothing it can count
    forget_outages()
    for n in (4, 5):
        assert widget.ping(f"https://shop.example/{n}").status_code == 200
    flush()
    contact = Contact.objects.get()
    sessions = list(WebSession.objects.order_by("pk").values_list("pk", "page_views_count", "landing_url"))
    assert _urls() == {f"https://shop.example/{n}": 1 for n in range(1, 6)}
    assert contact.web_sessions_count == len(sessions), consistency_problems()
