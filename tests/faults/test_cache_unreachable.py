"""With the cache's Redis unreachable, the widget and the API answer as usual: the cache fails soft
and rate limits fail open (the fast, in-process half of tests/faults/test_web_outages.py)."""

import socket

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from api.services import api_token_create
from common import redis_cache
from tests.tracking.conftest import Widget
from tracking import page_view_buffer
from tracking.models import PageView
from tracking.services import website_create

UNREACHABLE = {"default": {"BACKEND": "common.redis_cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}


@pytest.fixture
def unreachable_cache(settings, monkeypatch):
    settings.CACHES = UNREACHABLE
    settings.PARLEY_PAGE_VIEW_BUFFER_URL = "redis://127.0.0.1:1/1"  # the buffer's Redis is that one too
    monkeypatch.setattr(page_view_buffer, "_full_until", 0.0)
    settings.PARLEY_WIDGET_RATE_PER_IP = 2  # would refuse the third request, if anything were counted
    settings.PARLEY_API_RATE_LIMIT_PER_MINUTE = 2
    redis_cache.outages_forget()
    yield caches["default"]
    redis_cache.outages_forget()


def _connection_attempts(monkeypatch) -> list[object]:
    """The addresses sockets try to connect to from now on (each attempt is still made)."""
    attempts: list[object] = []
    connect = socket.socket.connect

    def counted(sock, address):
        attempts.append(address)
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", counted)
    return attempts


def test_an_unreachable_cache_misses_drops_writes_and_backs_off(unreachable_cache, monkeypatch):
    cache = unreachable_cache
    attempts = _connection_attempts(monkeypatch)
    assert cache.get("k", "fallback") == "fallback"
    assert attempts, "the first read tries Redis"
    assert cache.add("k", 1) is False
    assert cache.get_many(["a", "b"]) == {}
    cache.set("k", 1)
    cache.delete("k")
    with pytest.raises(ValueError):  # no such key: callers count from one (fail open)
        cache.incr("k")
    assert not cache.available()
    attempts = _connection_attempts(monkeypatch)
    for _ in range(100):
        assert cache.get("k", "fallback") == "fallback"
    assert attempts == []  # skipped, not tried, during the backoff


@pytest.mark.django_db
def test_widget_pings_without_the_cache_are_served_and_written_directly(client, unreachable_cache):
    website = website_create(name="Shop", allowed_origins=["https://shop.example"])
    widget = Widget(client, website)
    for page in range(5):
        response = widget.ping(f"https://shop.example/p/{page}")
        assert response.status_code == 200, response.content
    assert PageView.objects.count() == 5


@pytest.mark.django_db
def test_the_api_without_the_cache_answers_and_does_not_limit(superuser, unreachable_cache):
    _, token = api_token_create(user=superuser, name="t")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for _ in range(5):
        assert api.get("/api/contacts").status_code == 200


@pytest.mark.django_db
def test_readyz_still_reports_an_unreachable_cache(client, unreachable_cache):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "unavailable"
