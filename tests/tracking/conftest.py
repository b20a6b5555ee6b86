import json
import os
import uuid

import pytest
import redis
from django.db import connection

from common import redis_cache
from tests.tracking.factories import ORIGIN
from tracking import page_view_buffer, services
from tracking.models import Website
from tracking.selectors import website_cache_forget

PUBLIC_IP = "81.2.69.142"  # in the shipped GeoLite2 2018 City DB: United Kingdom
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture(autouse=True)
def _fresh_website_cache():
    website_cache_forget()
    yield
    website_cache_forget()


@pytest.fixture
def enforced_website(db):
    return services.website_create(
        name="Bank", allowed_origins=[ORIGIN], identity_verification=Website.IdentityVerification.ENFORCED
    )


@pytest.fixture
def support_only_website(db):
    return services.website_create(
        name="Clinic", allowed_origins=[ORIGIN], tracking_mode=Website.TrackingMode.SUPPORT_ONLY
    )


class Widget:
    """A browser running the widget: keeps the anonymous id and the token like the cookies do."""

    def __init__(self, client, website, *, ip=PUBLIC_IP, user_agent=CHROME_MAC, origin=ORIGIN):
        self.client, self.website, self.ip, self.user_agent, self.origin = client, website, ip, user_agent, origin
        self.anonymous_id = None
        self.token = None

    def post(self, endpoint, body=None, *, raw=None, content_type="text/plain;charset=UTF-8", **headers):
        data = raw if raw is not None else json.dumps(body)
        extra = {"REMOTE_ADDR": self.ip, "HTTP_USER_AGENT": self.user_agent, **headers}
        if self.origin:
            extra["HTTP_ORIGIN"] = self.origin
        return self.client.generic(
            "POST", f"/widget-api/{self.website.app_id}/{endpoint}", data, content_type=content_type, **extra
        )

    def ping(self, url="https://shop.example/", *, user=None, consent=None, title="Home", referrer="", **extra):
        body = {"page": {"url": url, "title": title, "referrer": referrer}, "browser_language": "fr-FR", **extra}
        if self.anonymous_id:
            body["anonymous_id"] = self.anonymous_id
        if self.token:
            body["token"] = self.token
        if user is not None:
            body["user"] = user
        if consent is not None:
            body["consent"] = consent
        response = self.post("ping", body)
        if response.status_code == 200:
            answer = response.json()
            if answer["anonymous_id"]:
                self.anonymous_id = answer["anonymous_id"]
            if answer["token"]:
                self.token = answer["token"]
        return response

    def event(self, name, metadata=None, **extra):
        body = {"token": self.token, "name": name, **extra}
        if metadata is not None:
            body["metadata"] = metadata
        return self.post("events", body)


@pytest.fixture
def widget(client, website):
    return Widget(client, website)


@pytest.fixture
def bank(db):
    """Website A: enforces identity verification."""
    return services.website_create(
        name="Bank", allowed_origins=[ORIGIN], identity_verification=Website.IdentityVerification.ENFORCED
    )


@pytest.fixture
def blog(db):
    """Website B: verification switched off by its owner."""
    return services.website_create(
        name="Blog", allowed_origins=[ORIGIN], identity_verification=Website.IdentityVerification.OFF
    )


# Where the buffer lives when the settings name none (the SQLite run has no Redis cache); a shared
# machine gives each run its own Redis database through PARLEY_TEST_BUFFER_URL.
FALLBACK_BUFFER_URL = os.environ.get("PARLEY_TEST_BUFFER_URL", "redis://127.0.0.1:6379/15")


class Buffer:
    """The test's own view of the stream the pings write to (a separate Redis client)."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        self.flag_key = f"{key}:flush-scheduled"
        self.redis = redis.Redis.from_url(url)

    def entries(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        return self.redis.xrange(self.key)

    def length(self) -> int:
        return self.redis.xlen(self.key)

    def urls(self) -> list[str]:
        return [fields[b"u"].decode() for _, fields in self.entries()]

    def keys_mentioning(self, text: str) -> list[bytes]:
        """Every key of the buffer's Redis database whose value contains `text`."""
        needle, found = text.encode(), []
        for key in self.redis.scan_iter(count=1000):
            kind = self.redis.type(key)
            if kind == b"string":
                values = [self.redis.get(key) or b""]
            elif kind == b"stream":
                values = [value for _, fields in self.redis.xrange(key) for value in fields.values()]
            elif kind == b"hash":
                values = self.redis.hvals(key)
            elif kind == b"list":
                values = self.redis.lrange(key, 0, -1)
            elif kind == b"set":
                values = list(self.redis.smembers(key))
            elif kind == b"zset":
                values = self.redis.zrange(key, 0, -1)
            else:
                values = []
            if any(needle in value for value in values):
                found.append(key)
        return found

    def close(self) -> None:
        self.redis.delete(self.key, self.flag_key)
        self.redis.close()


def buffer_on(settings, monkeypatch, url: str) -> Buffer:
    settings.PARLEY_PAGE_VIEW_BUFFER_URL = url
    settings.PARLEY_PAGE_VIEW_BUFFER_KEY = f"parley:test-page-views:{uuid.uuid4().hex}"
    # A process-global backoff set by an earlier test would send pings to the synchronous path.
    monkeypatch.setattr(page_view_buffer, "_full_until", 0.0)
    redis_cache.outages_forget()
    monkeypatch.setattr(page_view_buffer, "_flush_due_at", {})
    return Buffer(url, settings.PARLEY_PAGE_VIEW_BUFFER_KEY)


@pytest.fixture
def buffer(settings, monkeypatch):
    """The buffer on, with the real Redis and a stream of this test's own."""
    stream = buffer_on(settings, monkeypatch, settings.PARLEY_PAGE_VIEW_BUFFER_URL or FALLBACK_BUFFER_URL)
    yield stream
    stream.close()


@pytest.fixture
def queue(settings, monkeypatch):
    """The ingest queue on, on the real Redis, with a stream of this test's own; the test flushes."""
    if connection.vendor != "postgresql" or not settings.PARLEY_PAGE_VIEW_BUFFER_URL:
        pytest.skip("the ingest queue needs PostgreSQL (ids taken from its sequences) and Redis")
    settings.PARLEY_INGEST_QUEUE = True
    stream = buffer_on(settings, monkeypatch, settings.PARLEY_PAGE_VIEW_BUFFER_URL)
    monkeypatch.setattr(page_view_buffer, "_schedule_flush", lambda delay=0: None)  # the test flushes
    yield stream
    stream.close()
