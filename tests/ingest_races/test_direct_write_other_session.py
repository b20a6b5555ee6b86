"""The open-session script runs (entry: new session S2 with page view X, and the hot-path state naming S2) and its
reply is lost; the direct write that stands in for it decides again from the database and writes X into the
visitor's current session S1 (the ping's state read had failed open). The flush then writes S2 (its id is free)
without X (its id is taken), and counts S2 among the contact's sessions: counters agree with the rows, and the
visitor's next page views, which the saved state sends to S2, are written there."""

import pytest
from django.db.models import Count

from contacts.models import Contact
from tests.ingest_races.conftest import (
    Widget,
    cache_read_fails_once,
    consistency_problems,
    flush,
    forget_outages,
    lose_reply,
)
from tracking import page_view_buffer
from tracking.models import PageView, WebSession

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("flush_first", [False, True], ids=["direct-write-first", "flush-first"])
def test_an_opening_whose_reply_is_lost_and_the_direct_write_in_another_session_count_as_written(
    shop, client, monkeypatch, flush_first
):
    _stream, website = shop
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/1").status_code == 200
    flush()
    assert widget.ping("https://shop.example/2").status_code == 200
    flush()
    cache_read_fails_once(monkeypatch)
    lost = lose_reply(monkeypatch, page_view_buffer._OPEN_SESSION_SCRIPT)
    if flush_first:
        real = page_view_buffer._OPEN_SESSION_SCRIPT.run

        def run_then_flush(client_, keys, args):
            try:
                return real(client_, keys, args)
            finally:
                flush()

        monkeypatch.setattr(page_view_buffer._OPEN_SESSION_SCRIPT, "run", run_then_flush)
    # User fields: no first round trip (as in test_a_queueing_redis_ran_but_answered_too_late_is_written_once).
    assert widget.ping("https://shop.example/3", user={"name": "Ada"}).status_code == 200
    assert lost, "the open-session script ran"
    forget_outages()
    flush()
    assert widget.ping("https://shop.example/4").status_code == 200
    flush()
    Contact.objects.get()
    list(WebSession.objects.order_by("pk").values_list("pk", "page_views_count", "landing_url"))
    list(PageView.objects.order_by("id").values_list("id", "session_id", "url"))
    assert dict(PageView.objects.values_list("url").annotate(n=Count("id"))) == {
        f"https://shop.example/{n}": 1 for n in range(1, 5)
    }
    assert not consistency_problems(), consistency_problems()
