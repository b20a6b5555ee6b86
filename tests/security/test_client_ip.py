"""The client IP every limit and the GeoIP lookup start from (common.client_ip): REMOTE_ADDR, or the rightmost
untrusted hop behind trusted proxies; anything that is not an address gives None."""

import ipaddress

import pytest
from django.test import RequestFactory

from common.client_ip import client_ip


def _request(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post("/", **extra)


def test_client_ip_is_remote_addr_without_trusted_proxies(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(_request("203.0.113.5", "8.8.8.8")) == "203.0.113.5"


@pytest.mark.parametrize(
    "remote",
    [
        "203.0.113.5", " 203.0.113.5 ", "10.0.0.0", "255.255.255.255", "01.2.3.4", "1.2.3.04", "256.1.1.1", "1.2.3",
        "1.2.3.4.5", "1.2.3.4\x00", "1.2.3.4\ud800", "\u0661.\u0662.\u0663.\u0664", "1e400", "", "::1", "2001:DB8::1", "::ffff:1.2.3.4",
        "fe80::1%eth0", "<script>",
    ],
)  # fmt: skip
def test_client_ip_reads_every_address_as_ipaddress_writes_it(settings, remote):
    settings.TRUSTED_PROXIES = []
    try:
        expected = str(ipaddress.ip_address(remote.strip()))
    except ValueError:
        expected = None
    assert client_ip(_request(remote)) == expected


def test_forwarded_for_is_ignored_from_untrusted_peers(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    assert client_ip(_request("203.0.113.5", "8.8.8.8")) == "203.0.113.5"


def test_rightmost_untrusted_hop_is_the_client_behind_trusted_proxies(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    # The client forged the first hop; the proxies appended the real one.
    assert client_ip(_request("10.0.0.2", "1.2.3.4, 81.2.69.142, 10.0.0.9")) == "81.2.69.142"


def test_garbled_forwarded_chain_gives_no_ip(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    assert client_ip(_request("10.0.0.1", "81.2.69.142, bogus")) is None
