"""The client's IP address, in memory only: REMOTE_ADDR, or the first untrusted hop behind a trusted proxy.

Callers derive what they keep from it (a city and country, a keyed hash for a rate limit) and drop it: the address
is never stored, logged, cached or put into a Celery message (DESIGN.md, privacy).
"""

import functools
import ipaddress
import logging
import socket

from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for proxy in proxies:
        try:
            networks.append(ipaddress.ip_network(proxy.strip(), strict=False))
        except ValueError:
            logger.warning("Ignoring an invalid TRUSTED_PROXIES entry.")
    return tuple(networks)


def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _ip_text(value: str) -> str | None:
    """The address as ipaddress writes it, or None when it is not one. A dotted quad goes through the C parser,
    which accepts exactly what ipaddress does (four decimal octets up to 255, no leading zero), written the
    same: ipaddress parses it in Python, about 1% of a steady ping's CPU."""
    value = value.strip()
    try:
        socket.inet_pton(socket.AF_INET, value)
    except (OSError, ValueError):  # not a dotted quad (ValueError: a NUL in it)
        address = parse_ip(value)
        return None if address is None else str(address)
    return value


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, unless it is a trusted proxy: then the rightmost untrusted X-Forwarded-For hop."""
    trusted = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    if not trusted:
        return _ip_text(request.META.get("REMOTE_ADDR", ""))
    remote = parse_ip(request.META.get("REMOTE_ADDR", ""))
    if remote is None:
        return None
    if not any(remote in network for network in trusted):
        return str(remote)
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_ip(hop)
        if address is None:
            return None  # a garbled chain: trust nothing in it
        if not any(address in network for network in trusted):
            return str(address)
    return str(remote)
