"""Webhook topics (Intercom's names), notification payloads, signatures and the SSRF guard.

Services send domain events (`contacts.signals`, `conversations.signals`) carrying the topic; the
API app subscribes in `api.integration`, so no app imports api. The receiver shapes the item and
`api.services.webhooks_queue` writes one WebhookDelivery per matching subscription inside the
transaction of the change (an outbox: a rolled-back change sends nothing) and queues the Celery
task on commit.
"""

import hashlib
import hmac
import ipaddress
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.timeout import _DEFAULT_TIMEOUT

CONTACT_TOPICS = [
    "contact.user.created", "contact.lead.created", "contact.user.updated", "contact.lead.updated",
    "contact.user.tag.created", "contact.user.tag.deleted", "contact.lead.tag.created", "contact.lead.tag.deleted",
    "contact.lead.signed_up", "contact.archived", "contact.unarchived", "contact.deleted",
]  # fmt: skip
CONVERSATION_TOPICS = [
    "conversation.user.created", "conversation.user.replied", "conversation.admin.single.created",
    "conversation.admin.replied", "conversation.admin.noted", "conversation.admin.closed",
    "conversation.admin.opened", "conversation.admin.snoozed", "conversation.admin.unsnoozed",
    "conversation.admin.assigned", "conversation.rating.added",
]  # fmt: skip
COMPANY_TOPICS = ["company.created", "company.updated", "company.contact.attached", "company.contact.detached"]
# Subscribing to one of these receives every topic it lists.
TOPIC_ALIASES = {
    "contact.tag.created": ["contact.user.tag.created", "contact.lead.tag.created"],
    "contact.tag.deleted": ["contact.user.tag.deleted", "contact.lead.tag.deleted"],
}
TOPICS = [*CONTACT_TOPICS, *TOPIC_ALIASES, *CONVERSATION_TOPICS, *COMPANY_TOPICS]
SIGNATURE_HEADER = "X-Hub-Signature"
MAX_ERROR_LENGTH = 500


def subscription_matches(subscribed: list[str], topic: str) -> bool:
    return topic in subscribed or any(topic in TOPIC_ALIASES.get(name, ()) for name in subscribed)


def signature(*, secret: str, body: bytes) -> str:
    """Intercom's X-Hub-Signature: `sha1=` + hex HMAC-SHA1 of the raw body with the secret."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


# --- payloads -----------------------------------------------------------------------------------


def notification(*, topic: str, item: dict[str, Any]) -> dict[str, Any]:
    """Intercom's notification object."""
    now = int(time.time())
    return {
        "type": "notification_event",
        "app_id": "parley",
        "id": f"notif_{uuid.uuid4()}",
        "topic": topic,
        "data": {"type": "notification_event_data", "item": item},
        "delivery_status": "pending",
        "delivery_attempts": 1,
        "delivered_at": 0,
        "first_sent_at": now,
        "created_at": now,
        "links": {},
        "self": None,
    }


# --- SSRF guard ---------------------------------------------------------------------------------


def url_validate(url: str) -> None:
    """A webhook URL must be http(s) with a host; the address is checked at each delivery too."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": "Enter an http(s) URL."})
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        raise ValidationError({"url": "The port must be a number from 0 to 65535."}) from None
    if parts.username or parts.password:
        raise ValidationError({"url": "Credentials in the URL are not allowed; use the secret."})


def _address_refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


def destination_check(url: str) -> None:
    """Refuse hosts that resolve to private, loopback, link-local or otherwise non-public addresses.

    This is the early, friendly check (when a subscription is saved); what protects each delivery
    is the same rule applied to the address actually connected to (`guarded_session`).
    PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true lifts both (e.g. a receiver on the same host). The
    messages never contain the resolved address (no IP in logs).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise ValidationError({"url": f"The host {host!r} does not resolve."}) from None
    if getattr(settings, "PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS", False):
        return
    if any(_address_refused(info[4][0]) for info in infos):
        raise ValidationError({"url": f"The host {host!r} resolves to a private or reserved address."})


# --- the connection itself (DNS rebinding) -------------------------------------------------------


def guarded_create_connection(
    address: tuple[str, int],
    timeout: Any = _DEFAULT_TIMEOUT,
    source_address: tuple[str, int] | None = None,
    socket_options: Any = None,
) -> socket.socket:
    """urllib3's create_connection, checking the resolved addresses before connecting to them.

    A name is resolved once, here, and the socket connects to an address that passed the check: a
    DNS answer that changes between `destination_check` and the connection (rebinding) cannot
    reach a private address. As Sentry's `safe_create_connection`.
    """
    host, port = address
    allow_private = getattr(settings, "PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS", False)
    infos = socket.getaddrinfo(host.strip("[]"), port, 0, socket.SOCK_STREAM)
    if not allow_private and any(_address_refused(info[4][0]) for info in infos):
        raise ValidationError({"url": f"The host {host!r} resolves to a private or reserved address."})
    error: OSError | None = None
    for family, socktype, proto, _, sockaddr in infos:
        sock = None
        try:
            sock = socket.socket(family, socktype, proto)
            for option in socket_options or ():
                sock.setsockopt(*option)
            if timeout is not _DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as failure:
            error = failure
            if sock is not None:
                sock.close()
    raise error or OSError("getaddrinfo returned no address")


class _GuardedConnectionMixin:
    """urllib3's _new_conn with guarded_create_connection in place of create_connection."""

    def _new_conn(self) -> socket.socket:
        try:
            return guarded_create_connection(
                (self._dns_host, self.port),  # type: ignore[attr-defined]
                self.timeout,  # type: ignore[attr-defined]
                source_address=self.source_address,  # type: ignore[attr-defined]
                socket_options=self.socket_options,  # type: ignore[attr-defined]
            )
        except socket.gaierror as failure:
            raise NameResolutionError(self.host, self, failure) from failure  # type: ignore[attr-defined,arg-type]
        except TimeoutError as failure:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from failure  # type: ignore[attr-defined]
        except OSError as failure:
            raise NewConnectionError(self, f"Failed to establish a new connection: {failure}") from failure  # type: ignore[arg-type]


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }


def guarded_session() -> requests.Session:
    """A requests session whose every connection goes through the SSRF check, and no proxy."""
    session = requests.Session()
    session.trust_env = False  # an HTTP(S)_PROXY from the environment would connect elsewhere
    adapter = _GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
