"""Races of exactly-once ingest (tracking.page_view_buffer, tracking.services.ingest) found by an adversarial review: Redis replies lost or held at each queueing, flushes before, between and after the direct writes, erases and merges in between, forged entries, hostile pings."""

import pytest
import redis
from django.db import connection
from django.db.models import Count

from common import rate_limit, redis_cache
from contacts.models import Contact
from tests.tracking.conftest import Widget, buffer_on  # noqa: F401 - re-exported
from tracking import page_view_buffer
from tracking.models import PageView, WebSession
from tracking.services import website_create


@pytest.fixture
def shop(settings, monkeypatch):
    """Ingest queue on, cache and buffer on the same Redis (the configured one: db 7), the test flushes."""
    if connection.vendor != "postgresql" or not settings.PARLEY_PAGE_VIEW_BUFFER_URL:
        pytest.skip("needs PostgreSQL + Redis")
    settings.PARLEY_INGEST_QUEUE = True
    stream = buffer_on(settings, monkeypatch, settings.PARLEY_PAGE_VIEW_BUFFER_URL)
    monkeypatch.setattr(page_view_buffer, "_schedule_flush", lambda delay=0: None)
    website = website_create(name="Shop", allowed_origins=["https://shop.example"])
    yield stream, website
    stream.close()


def flush() -> int:
    total = 0
    while True:
        written = page_view_buffer.page_views_flush()
        total += written
        if not written:
            return total


def lose_reply(monkeypatch, script: page_view_buffer.Script, *, times: int = 1) -> list:
    """Redis runs `script`, but its reply is lost (a timeout) `times` times."""
    real_run = script.run
    lost: list = []

    def run(client, keys, args):
        reply = real_run(client, keys, args)
        if len(lost) < times:
            lost.append(reply)
            raise redis.TimeoutError("reply held past the timeout")
        return reply

    monkeypatch.setattr(script, "run", run)
    return lost


def cache_read_fails_once(monkeypatch) -> list:
    """The request's count-and-read round trip on the cache times out once (Redis still busy): it fails open."""
    real = rate_limit._count_and_read_redis
    failed: list = []

    def count_and_read(backend, windows, read_keys):
        if not failed:
            failed.append(True)
            raise redis.TimeoutError("cache read held past the timeout")
        return real(backend, windows, read_keys)

    monkeypatch.setattr(rate_limit, "_count_and_read_redis", count_and_read)
    return failed


def consistency_problems() -> list[str]:
    """Every way the rows and their counters disagree."""
    problems = []
    for session in (
        WebSession.objects.annotate(n=Count("pageview")).order_by("pk") if hasattr(WebSession, "pageview_set") else []
    ):
        if session.n != session.page_views_count:
            problems.append(f"session {session.pk}: page_views_count {session.page_views_count}, rows {session.n}")
    if not hasattr(WebSession, "pageview_set"):
        rows = dict(PageView.objects.values_list("session_id").annotate(n=Count("id")))
        for session in WebSession.objects.order_by("pk"):
            if rows.get(session.pk, 0) != session.page_views_count:
                problems.append(
                    f"session {session.pk}: page_views_count {session.page_views_count}, rows {rows.get(session.pk, 0)}"
                )
        orphans = PageView.objects.exclude(session_id__in=WebSession.objects.values("pk")).count()
        if orphans:
            problems.append(f"{orphans} page views without their session")
    sessions = dict(WebSession.objects.values_list("contact_id").annotate(n=Count("id")))
    for contact in Contact.objects.order_by("pk"):
        if sessions.get(contact.pk, 0) != contact.web_sessions_count:
            problems.append(
                f"contact {contact.pk}: web_sessions_count {contact.web_sessions_count}, rows {sessions.get(contact.pk, 0)}"
            )
        latest = PageView.objects.filter(contact_id=contact.pk).order_by("-created_at").first()
        if latest is not None and (contact.last_seen_at is None or contact.last_seen_at < latest.created_at):
            problems.append(f"contact {contact.pk}: last_seen_at {contact.last_seen_at} before its page view")
    return problems


def forget_outages() -> None:
    redis_cache.outages_forget()
