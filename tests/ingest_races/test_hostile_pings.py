"""Hostile ping bodies, queued and written directly (its queueing's reply lost): never a 500, never a blocked
stream, and a legitimate page view queued after them is written."""

import json

import pytest
import redis

from tests.ingest_races.conftest import Widget, consistency_problems, flush
from tracking import page_view_buffer
from tracking.models import PageView

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "https://shop.example/" + "é" * 2020  # 2041 characters, more bytes than that
HOSTILE = {
    "html": {
        "url": "https://shop.example/<script>alert(1)</script>",
        "title": "<img src=x onerror=alert(1)>",
        "referrer": "javascript:alert(1)",
    },
    "utm-nul": {"url": "https://shop.example/?utm_source=%00%00&utm_medium=a%00b", "title": "t"},
    "nul-title": '{"url": "https://shop.example/", "title": "a\\u0000b"}',
    "lone-surrogate": '{"url": "https://shop.example/", "title": "\\ud800"}',
    "surrogate-pair-ok": '{"url": "https://shop.example/", "title": "\\ud83d\\ude00"}',
    "1e400": '{"url": "https://shop.example/", "title": 1e400}',
    "unicode-port": {"url": "https://shop.example:\uff18\uff10/x", "title": "t"},
    "unicode-digits-path": {"url": "https://shop.example/\u0661\u0662\u0663", "title": "t"},
    "long-multibyte": {"url": LONG, "title": "é" * 3000, "referrer": LONG},
    "utm-long": {"url": "https://shop.example/?utm_campaign=" + "x" * 1900, "title": "t"},
    "referrer-data": {"url": "https://shop.example/", "referrer": "data:text/html;base64,PHNjcmlwdD4="},
}


def _post_ping(widget: Widget, page) -> int:
    if isinstance(page, str):
        body = '{"page": ' + page + ', "browser_language": "fr-FR"'
        if widget.token:
            body += ', "token": ' + json.dumps(widget.token)
        body += "}"
        return widget.post("ping", raw=body).status_code
    return widget.ping(page["url"], title=page.get("title", ""), referrer=page.get("referrer", "")).status_code


@pytest.mark.parametrize("direct", [False, True], ids=["queued", "reply-lost-direct"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_page_is_refused_or_written_never_500(shop, client, monkeypatch, name, direct):
    _stream, website = shop
    first, returning = Widget(client, website, ip="81.2.69.150"), Widget(client, website, ip="81.2.69.151")
    assert returning.ping("https://shop.example/before").status_code == 200
    flush()
    if direct:
        for script in (
            page_view_buffer._COUNTED_QUEUE_SCRIPT,
            page_view_buffer._OPEN_SESSION_SCRIPT,
            page_view_buffer._XADD_SCRIPT,
            page_view_buffer._PREFLIGHT_QUEUE_SCRIPT,
        ):
            real = script.run

            def lost(client_, keys, args, real=real):
                real(client_, keys, args)
                raise redis.TimeoutError("held")

            monkeypatch.setattr(script, "run", lost)
    statuses = [_post_ping(first, HOSTILE[name]), _post_ping(returning, HOSTILE[name])]
    assert 500 not in statuses
    monkeypatch.undo()
    from common import redis_cache

    redis_cache.outages_forget()
    flush()
    assert returning.ping("https://shop.example/after").status_code == 200
    flush()
    assert PageView.objects.filter(url="https://shop.example/after").count() == 1
    assert not consistency_problems(), consistency_problems()
