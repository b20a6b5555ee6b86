"""The messenger's upload allowances beyond each contact's 60 files an hour: a new contact costs one ping, so one
client could mint contacts and store files without end. Per client IP (its keyed hash) files and bytes an hour, per
website bytes a day; over any, 429 naming `files`, and nothing of the message is stored."""

import pytest

from conversations.models import Attachment, ConversationPart
from tests.conversations.attachment_samples import PDF, upload
from tests.tracking.conftest import Widget
from tests.tracking.factories import ORIGIN, WebsiteFactory
from widget.attachment_http import TOO_MANY_FILES_FROM_NETWORK, WEBSITE_FILES_FULL

pytestmark = pytest.mark.django_db

ATTACKER, NEIGHBOUR = "198.51.100.7", "203.0.113.9"
KILOBYTE = 1024


def _pdf(size: int = 0) -> bytes:
    """A PDF (libmagic reads the type from its start) padded to `size` bytes."""
    return PDF + b"%" * max(0, size - len(PDF))


def _new_contact_sends(client, website, *, ip: str, content: bytes = PDF):
    """What the attacker did: one ping mints a contact and its token, then a conversation with one file."""
    widget = Widget(client, website, ip=ip)
    assert widget.ping().status_code == 200
    data = {"token": widget.token, "body": "", "files": [upload("a.pdf", content)]}
    return client.post(f"/widget-api/{website.app_id}/conversations", data=data, HTTP_ORIGIN=ORIGIN, REMOTE_ADDR=ip)


def _assert_refused(response, message: str) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error"] == {"code": "rate_limited", "field": "files", "message": message}
    assert int(response["Retry-After"]) > 0


def test_minting_contacts_does_not_get_past_the_ip_files_cap(client, website, settings):
    settings.PARLEY_WIDGET_FILES_PER_IP_HOUR = 3
    statuses = [_new_contact_sends(client, website, ip=ATTACKER).status_code for _ in range(3)]
    assert statuses == [201, 201, 201]
    refused = _new_contact_sends(client, website, ip=ATTACKER)
    _assert_refused(refused, TOO_MANY_FILES_FROM_NETWORK)
    assert Attachment.objects.count() == 3
    assert ConversationPart.objects.count() == 3  # the refused message was not written either
    # Another client is not held back by this one.
    assert _new_contact_sends(client, website, ip=NEIGHBOUR).status_code == 201


def test_the_ip_bytes_cap_counts_the_files_sizes(client, website, settings):
    settings.PARLEY_WIDGET_FILE_MB_PER_IP_HOUR = 1
    for size in (600, 300):
        assert _new_contact_sends(client, website, ip=ATTACKER, content=_pdf(size * KILOBYTE)).status_code == 201
    _assert_refused(_new_contact_sends(client, website, ip=ATTACKER, content=_pdf(200 * KILOBYTE)),
                    TOO_MANY_FILES_FROM_NETWORK)  # fmt: skip
    assert Attachment.objects.count() == 2


def test_the_website_bytes_cap_holds_whatever_the_number_of_ips(client, website, settings):
    settings.PARLEY_WIDGET_FILE_MB_PER_WEBSITE_DAY = 1
    assert _new_contact_sends(client, website, ip=ATTACKER, content=_pdf(600 * KILOBYTE)).status_code == 201
    _assert_refused(_new_contact_sends(client, website, ip=NEIGHBOUR, content=_pdf(600 * KILOBYTE)),
                    WEBSITE_FILES_FULL)  # fmt: skip
    other = WebsiteFactory(name="Other shop")  # each website has its own day
    assert _new_contact_sends(client, other, ip=NEIGHBOUR, content=_pdf(600 * KILOBYTE)).status_code == 201


def test_uploads_refused_for_their_ip_do_not_use_up_the_websites_day(client, website, settings):
    settings.PARLEY_WIDGET_FILES_PER_IP_HOUR = 1
    settings.PARLEY_WIDGET_FILE_MB_PER_WEBSITE_DAY = 1
    assert _new_contact_sends(client, website, ip=ATTACKER).status_code == 201
    for _ in range(3):
        _assert_refused(_new_contact_sends(client, website, ip=ATTACKER, content=_pdf(600 * KILOBYTE)),
                        TOO_MANY_FILES_FROM_NETWORK)  # fmt: skip
    assert _new_contact_sends(client, website, ip=NEIGHBOUR, content=_pdf(600 * KILOBYTE)).status_code == 201


def test_the_contacts_own_hourly_files_limit_names_files_too(client, website, monkeypatch):
    from widget import attachment_http

    monkeypatch.setattr(attachment_http, "FILES_PER_HOUR", 2)
    widget = Widget(client, website, ip=ATTACKER)
    widget.ping()
    url = f"/widget-api/{website.app_id}/conversations"
    data = {
        "token": widget.token,
        "body": "",
        "files": [upload("a.pdf", PDF), upload("b.pdf", PDF), upload("c.pdf", PDF)],
    }
    _assert_refused(client.post(url, data=data, HTTP_ORIGIN=ORIGIN, REMOTE_ADDR=ATTACKER),
                    attachment_http.TOO_MANY_FILES)  # fmt: skip


def test_a_limit_with_a_cost_counts_its_units_and_its_window_expires():
    import time

    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    from common.rate_limit import Limit, RateLimited, rate_limit

    def bytes_limit(cost: int) -> Limit:
        return Limit("test-bytes", "subject", 10, 3600, cost=cost)

    rate_limit([bytes_limit(5)])
    rate_limit([bytes_limit(5)])  # 10: at the limit, not over it
    with pytest.raises(RateLimited):
        rate_limit([bytes_limit(1)])
    with pytest.raises(ValueError):
        bytes_limit(0)
    backend = caches["default"]
    if isinstance(backend, RedisCache):  # the Lua script set the window's expiry on its first count
        key = backend.make_key(bytes_limit(1).key(time.time()))
        assert 0 < backend._cache.get_client(None).ttl(key) <= 3600 + 5
