"""The ingest queue: a first ping, a new session and last_seen_at go through the buffer (PostgreSQL +
Redis), and whatever needs a row at once still gets one. Each race of docs/architecture.md, "The
ingest buffer", has its test here."""

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import uuid

import pytest
import redis
import time_machine
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common import redis_cache
from contacts import services as contacts_services
from contacts.models import Contact
from tests.contacts.factories import UserContactFactory
from tests.redis_round_trips import RedisRoundTrips
from tests.tracking.conftest import Buffer, Widget, buffer_on
from tracking import id_blocks, page_view_buffer
from tracking.models import MergedContact, PageView, WebSession, Website
from tracking.page_view_buffer import fast_ticket_key, page_views_flush
from tracking.services import website_update
from tracking.services.hot_path import CONTACT_SNAPSHOT_SECONDS, HotPathState

pytestmark = pytest.mark.django_db(transaction=True)

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def _statements(captured) -> list[str]:
    return [q["sql"] for q in captured if not q["sql"].lstrip().upper().startswith(TRANSACTION_CONTROL)]


def _new_visitor(client, website, url="https://shop.example/"):
    widget = Widget(client, website)
    with CaptureQueriesContext(connection) as captured:
        response = widget.ping(url)
    assert response.status_code == 200
    return widget, response.json(), _statements(captured)


def test_a_first_ping_runs_no_statement_and_the_flush_writes_contact_session_and_page_view_once(
    client, website, queue: Buffer
):
    # Fresh id blocks for this process (earlier tests may have left one nearly used up), so the
    # measured pings take ids from memory.
    id_blocks.id_blocks_forget()
    _new_visitor(client, website)
    page_views_flush()
    widget, answer, statements = _new_visitor(client, website, "https://shop.example/?utm_source=news")
    assert statements == []
    assert answer["anonymous_id"] and answer["token"] and answer["contact"] == {"role": "visitor", "name": ""}
    assert not Contact.objects.filter(anonymous_id=answer["anonymous_id"]).exists()
    # The returning pings of the same visitor: no statement either.
    with CaptureQueriesContext(connection) as captured:
        widget.ping("https://shop.example/2")
    assert _statements(captured) == []
    assert page_views_flush() == 2
    assert page_views_flush() == 0  # nothing twice
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    session = WebSession.objects.get(contact=contact)
    assert contact.role == Contact.Role.VISITOR and contact.web_sessions_count == 1
    assert contact.first_seen_at is not None and contact.last_seen_at >= contact.first_seen_at
    assert (contact.country, contact.browser) == ("GB", "Chrome")
    assert session.page_views_count == 2 and session.utm_source == "news" and session.country == "GB"
    assert [v.url for v in PageView.objects.filter(contact=contact).order_by("created_at")] == [
        "https://shop.example/?utm_source=news",
        "https://shop.example/2",
    ]


def test_a_first_ping_is_counted_against_its_ip_and_queued_in_one_redis_round_trip(
    client, website, queue: Buffer, monkeypatch
):
    id_blocks.id_blocks_forget()
    _new_visitor(client, website)  # the script loaded, the id blocks taken
    round_trips = RedisRoundTrips(monkeypatch)
    _, answer, statements = _new_visitor(client, website)
    assert (round_trips.count, statements) == (1, [])
    assert answer["token"]
    window = [key for key in queue.redis.scan_iter("*ratelimit:ip:*")]
    assert [int(queue.redis.get(key)) for key in window] == [2]  # each first ping counted once


def test_a_first_ping_over_its_ip_limit_is_refused_and_queues_nothing(client, website, queue: Buffer, settings):
    settings.PARLEY_WIDGET_RATE_PER_IP = 2
    statuses = [Widget(client, website, ip="198.51.100.40").ping().status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    assert queue.length() == 2  # the refused ones left no entry
    assert [int(queue.redis.get(key)) for key in queue.redis.scan_iter("*ratelimit:ip:*")] == [4]
    refused = Widget(client, website, ip="198.51.100.40").ping()
    assert refused.status_code == 429 and refused["Retry-After"].isdigit()
    assert refused.json()["error"]["code"] == "rate_limited"
    assert page_views_flush() == 2 and Contact.objects.count() == 2
    assert Widget(client, website, ip="198.51.100.41").ping().status_code == 200  # another address is not limited


def test_a_new_session_of_a_known_visitor_is_queued_and_counted_once(client, website, queue: Buffer):
    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    # Thirty-odd minutes later: the hot-path entry has gone, the snapshot with it.
    HotPathState(contact_id=contact.pk).save()
    from django.core.cache import cache

    cache.delete(HotPathState.key(contact.pk))
    assert widget.ping("https://shop.example/back").status_code == 200
    page_views_flush()
    contact.refresh_from_db()
    assert contact.web_sessions_count == 2
    assert WebSession.objects.filter(contact=contact).count() == 2
    assert PageView.objects.filter(contact=contact).count() == 2


def test_a_new_session_of_a_known_visitor_saves_its_state_in_the_entrys_round_trip(
    client, website, queue: Buffer, monkeypatch
):
    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    from django.core.cache import cache

    cache.delete(HotPathState.key(contact.pk))  # thirty-odd minutes later
    Widget(client, website).ping()  # another visitor's ping: the flush is scheduled, its flag set
    round_trips = RedisRoundTrips(monkeypatch)
    assert widget.ping("https://shop.example/back").status_code == 200
    assert round_trips.count == 2  # the count with the reads, then the new session with the state
    state = HotPathState.load(contact.pk)
    (session_id, _, _) = state.sessions[str(website.pk)]
    assert state.snapshot(time.time()) is not None  # the row read for it, remembered
    round_trips.count = 0
    assert widget.ping("https://shop.example/again").status_code == 200
    # The steady state at once: the new session wrote its fast-path ticket with its state, so this page view is
    # queued by the round trip that counts the request and reads its entries.
    assert round_trips.count == 1
    page_views_flush()
    assert list(PageView.objects.filter(contact=contact).order_by("pk").values_list("session_id", flat=True))[-2:] == [
        session_id,
        session_id,
    ]
    assert WebSession.objects.filter(contact=contact).count() == 2


def test_a_returning_visitor_whose_snapshot_expired_reads_its_row_once_then_none(client, website, queue: Buffer):
    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=CONTACT_SNAPSHOT_SECONDS + 5)):
        with CaptureQueriesContext(connection) as first:
            assert widget.ping("https://shop.example/a").status_code == 200
        with CaptureQueriesContext(connection) as second:
            assert widget.ping("https://shop.example/b").status_code == 200
    assert len(_statements(first)) == 1  # the row, read for the snapshot
    assert _statements(second) == []  # that snapshot serves the next pings: no statement per page view
    page_views_flush()
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    assert PageView.objects.filter(contact=contact).count() == 3
    assert WebSession.objects.filter(contact=contact).count() == 1


def test_the_page_view_that_refreshes_the_snapshot_writes_the_next_ones_ticket(client, website, queue, monkeypatch):
    """Once a minute a returning visitor's ping reads the row again and saves the state it refreshed: the fast-path
    ticket for that state goes with it, so the next page view is queued in its first round trip again."""
    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=CONTACT_SNAPSHOT_SECONDS + 5)):
        with CaptureQueriesContext(connection) as refreshed:
            assert widget.ping("https://shop.example/a").status_code == 200
        assert len(_statements(refreshed)) == 1  # the row, read for the snapshot (the next request clears the log)
        round_trips = RedisRoundTrips(monkeypatch)
        assert widget.ping("https://shop.example/b").status_code == 200
    assert round_trips.count == 1
    page_views_flush()
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    assert PageView.objects.filter(contact=contact).count() == 3
    assert WebSession.objects.filter(contact=contact).count() == 1


def test_a_chat_started_on_the_first_ping_writes_the_queued_visitor_first(client, website, queue: Buffer):
    widget, answer, _ = _new_visitor(client, website)
    response = widget.post("conversations", {"token": widget.token, "body": "Hello?"})
    assert response.status_code == 201, response.content
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    assert contact.conversations.count() == 1
    assert WebSession.objects.filter(contact=contact).count() == 1
    assert page_views_flush() == 0  # written once, by the chat's flush
    assert PageView.objects.filter(contact=contact).count() == 1


def test_identify_on_the_first_ping_merges_the_queued_visitor_into_the_user(client, website, queue: Buffer):
    website_update(website=website, identity_verification=Website.IdentityVerification.OFF)
    user = UserContactFactory(external_id="u-1", email="ann@example.com")
    widget, answer, _ = _new_visitor(client, website)
    widget.ping("https://shop.example/2")  # queued for the visitor's session
    assert widget.ping("https://shop.example/3", user={"user_id": "u-1"}).status_code == 200
    page_views_flush()
    assert not Contact.objects.filter(anonymous_id=answer["anonymous_id"]).exists()
    assert PageView.objects.filter(contact=user).count() == 3
    user.refresh_from_db()
    assert user.web_sessions_count == 1 and user.last_seen_at is not None


def test_a_sign_in_saves_its_hot_path_state_in_its_page_views_round_trip(client, website, queue: Buffer, monkeypatch):
    """The general path (here a known user signing in on another browser) queues its page view after the commit;
    the contact's hot-path state goes into that entry's round trip, not one of its own. The row the sign-in
    locks says the user is marked verified already: no cache round trip asks."""
    from django.core.cache import cache

    website_update(website=website, identity_verification=Website.IdentityVerification.ENFORCED)
    user_hash = hmac.new(website.identity_secret.encode(), b"u-6", hashlib.sha256).hexdigest()
    laptop = Widget(client, website)
    assert laptop.ping("https://shop.example/a", user={"user_id": "u-6", "user_hash": user_hash}).status_code == 200
    user = Contact.objects.get(external_id="u-6")
    sent: list[bytes] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def recorded(connection, command, check_health=True):
        sent.append(b"".join(command) if isinstance(command, list | tuple) else command)
        return send(connection, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", recorded)
    phone = Widget(client, website, user_agent="Mozilla/5.0 (iPhone) Mobile Safari/604.1")
    assert phone.ping("https://shop.example/b", user={"user_id": "u-6", "user_hash": user_hash}).status_code == 200
    state_key = cache.make_key(HotPathState.key(user.pk)).encode()
    # The sign-in reads the user's state (GET); the script that queues its page view writes it.
    writes = [command for command in sent if state_key in command and not command.startswith(b"*2\r\n$3\r\nGET")]
    assert len(writes) == 1 and queue.key.encode() in writes[0], writes
    assert not [command for command in sent if b"identity-verified" in command]
    user.refresh_from_db()
    assert user.identity_verified_at is not None  # by the first sign-in
    page_views_flush()
    (session_id, _, _) = HotPathState.load(user.pk).sessions[str(website.pk)]
    assert list(PageView.objects.filter(contact=user).values_list("session_id", flat=True)) == [session_id] * 2


def test_a_known_user_signing_in_on_a_new_browser_costs_the_lookup_and_joins_their_current_session(
    client, website, queue: Buffer
):
    user_hash = hmac.new(website.identity_secret.encode(), b"u-5", hashlib.sha256).hexdigest()
    laptop = Widget(client, website)
    assert laptop.ping("https://shop.example/a", user={"user_id": "u-5", "user_hash": user_hash}).status_code == 200
    page_views_flush()
    user = Contact.objects.get(external_id="u-5")

    phone = Widget(client, website, user_agent="Mozilla/5.0 (iPhone) Mobile Safari/604.1")
    with CaptureQueriesContext(connection) as captured:
        response = phone.ping("https://shop.example/b", user={"user_id": "u-5", "user_hash": user_hash})
    assert response.status_code == 200 and response.json()["contact"]["role"] == "user"
    # The identification's lookup only: the page view follows the commit through the queue.
    statements = _statements(captured)
    assert len(statements) == 1 and statements[0].lstrip().startswith("SELECT"), statements
    assert PageView.objects.filter(contact=user).count() == 1

    assert page_views_flush() == 1
    assert sorted(PageView.objects.filter(contact=user).values_list("url", flat=True)) == [
        "https://shop.example/a",
        "https://shop.example/b",
    ]
    session = WebSession.objects.get(contact=user)  # the user's current session, joined: not a second one
    user.refresh_from_db()
    assert (session.page_views_count, user.web_sessions_count) == (2, 1)


def test_merge_while_queued_credits_the_user_with_the_new_session(client, website, queue: Buffer):
    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    visitor = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    from django.core.cache import cache

    cache.delete(HotPathState.key(visitor.pk))  # so the next ping opens a new session, queued
    widget.ping("https://shop.example/later")
    user = UserContactFactory(external_id="u-2")
    contacts_services.contact_merge(source=visitor, into=user)  # the API's merge, before the flush
    page_views_flush()
    user.refresh_from_db()
    assert PageView.objects.filter(contact=user).count() == 2
    assert WebSession.objects.filter(contact=user).count() == 2
    assert user.web_sessions_count == 2


def test_a_merge_while_queued_holds_while_the_cache_skips_a_hung_redis(client, website, queue: Buffer):
    # The mark that routes the source's queued rows is the merge's own row, not a cache entry that the cache's
    # backoff after a timeout (or an eviction, or a restart of its Redis) would lose: the rows went as erased.
    from django.core.cache import cache

    from common import redis_cache

    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    visitor = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    cache.delete(HotPathState.key(visitor.pk))
    widget.ping("https://shop.example/later")  # a new session, queued
    user = UserContactFactory(external_id="u-3")
    cache.outage.failed(redis.TimeoutError("Timeout reading from socket"))
    contacts_services.contact_merge(source=visitor, into=user)
    redis_cache.outages_forget()  # the cache's Redis answers again
    page_views_flush()
    assert WebSession.objects.filter(contact=user).count() == 2
    assert sorted(PageView.objects.filter(contact=user).values_list("url", flat=True)) == [
        "https://shop.example/",
        "https://shop.example/later",
    ]


def test_a_merge_that_rolls_back_leaves_no_mark_and_erasing_the_user_takes_its_marks(client, website, queue: Buffer):
    first, second = (Contact.objects.create(role=Contact.Role.VISITOR) for _ in range(2))
    user = UserContactFactory(external_id="u-4")
    with pytest.raises(RuntimeError), transaction.atomic():
        contacts_services.contact_merge(source=first, into=user)
        raise RuntimeError("the request failed after the merge")
    assert not MergedContact.objects.exists()
    contacts_services.contact_merge(source=second, into=user)
    assert list(MergedContact.objects.values_list("contact_id", "into_id")) == [(second.pk, user.pk)]
    contacts_services.contact_erase(contact=user, actor=None, source="admin")
    assert not MergedContact.objects.exists()  # nothing says the erased user was ever that visitor


def test_a_merge_mark_past_its_day_goes_with_the_next_flush_without_another_merge(
    client, website, queue: Buffer, monkeypatch
):
    visitor, fresh_visitor = (Contact.objects.create(role=Contact.Role.VISITOR) for _ in range(2))
    user = UserContactFactory(external_id="u-5")
    contacts_services.contact_merge(source=visitor, into=user)
    contacts_services.contact_merge(source=fresh_visitor, into=user)
    day_ago = timezone.now() - dt.timedelta(seconds=page_view_buffer.MERGED_MARK_SECONDS + 1)
    MergedContact.objects.filter(contact_id=visitor.pk).update(merged_at=day_ago)
    page_views_flush()  # within ten minutes of the last prune: not yet
    assert MergedContact.objects.count() == 2
    monkeypatch.setattr(page_view_buffer, "_merged_pruned_at", time.monotonic() - page_view_buffer.MERGED_PRUNE_SECONDS)
    page_views_flush()
    assert list(MergedContact.objects.values_list("contact_id", flat=True)) == [fresh_visitor.pk]


def test_without_the_buffer_a_merge_leaves_no_mark(settings):
    settings.PARLEY_PAGE_VIEW_BUFFER_URL = ""
    visitor = Contact.objects.create(role=Contact.Role.VISITOR)
    contacts_services.contact_merge(source=visitor, into=UserContactFactory(external_id="u-6"))
    assert not MergedContact.objects.exists()


def test_erase_while_queued_drops_the_queued_rows_and_never_brings_the_contact_back(client, website, queue: Buffer):
    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    visitor = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    from django.core.cache import cache

    cache.delete(HotPathState.key(visitor.pk))
    widget.ping("https://shop.example/new-session")  # a new session and page view, queued
    contacts_services.contact_erase(contact=visitor, actor=None, source="admin")
    page_views_flush()
    assert not Contact.objects.filter(pk=visitor.pk).exists()
    assert not WebSession.objects.filter(contact_id=visitor.pk).exists()
    assert not PageView.objects.filter(contact_id=visitor.pk).exists()
    assert queue.entries() == []
    # The browser comes back: a new visitor, never the erased one.
    widget.ping("https://shop.example/again")
    page_views_flush()
    assert not Contact.objects.filter(pk=visitor.pk).exists()


def test_expiry_passes_over_a_visitor_whose_rows_are_queued(client, website, queue: Buffer):
    from retention.services import visitors_expire

    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    visitor = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    long_ago = timezone.now() - timezone.timedelta(days=400)
    Contact.objects.filter(pk=visitor.pk).update(last_seen_at=long_ago, first_seen_at=long_ago)
    widget.ping("https://shop.example/back")  # queued: the database still says 400 days
    visitors_expire(trigger="test")
    visitor.refresh_from_db()  # kept: the run flushed first
    assert visitor.last_seen_at > long_ago
    assert PageView.objects.filter(contact=visitor).count() == 2


def test_expiry_marks_an_expired_visitor_gone_so_its_browser_becomes_a_new_visitor(client, website, queue: Buffer):
    from django.core.cache import cache

    from retention.services import visitors_expire

    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    visitor = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    cache.delete(HotPathState.key(visitor.pk))
    long_ago = timezone.now() - timezone.timedelta(days=400)
    Contact.objects.filter(pk=visitor.pk).update(last_seen_at=long_ago, first_seen_at=long_ago)
    visitors_expire(trigger="test")
    assert not Contact.objects.filter(pk=visitor.pk).exists()
    second = widget.ping("https://shop.example/again").json()
    assert second["anonymous_id"] != answer["anonymous_id"]
    page_views_flush()
    assert not Contact.objects.filter(pk=visitor.pk).exists()
    assert Contact.objects.filter(anonymous_id=second["anonymous_id"]).exists()


def test_a_flush_rolled_back_mid_batch_writes_everything_once_on_the_next_run(
    client, website, queue: Buffer, monkeypatch
):
    for _ in range(3):
        _new_visitor(client, website)

    def crash(seen, sessions):
        raise RuntimeError("worker killed mid-flush")

    monkeypatch.setattr(page_view_buffer, "_contacts_touch", crash)
    with pytest.raises(RuntimeError):
        page_views_flush()
    assert not Contact.objects.exists() and not PageView.objects.exists()
    monkeypatch.undo()
    _buffer_on_again = queue  # the same stream
    assert _buffer_on_again.entries()
    assert page_views_flush() == 3
    assert Contact.objects.count() == 3 and WebSession.objects.count() == 3 and PageView.objects.count() == 3
    assert sorted(Contact.objects.values_list("web_sessions_count", flat=True)) == [1, 1, 1]


def test_an_entry_whose_rows_are_written_already_writes_and_counts_nothing_again(client, website, queue: Buffer):
    """A ping that lost Redis's reply writes its rows directly under the entry's ids, and the flush meets the entry
    after (or before): the second writes no contact, session or page view, and counts none, even beside a page view
    of the same visit in the same batch."""
    widget, _, _ = _new_visitor(client, website)
    [(_, first_visit)] = queue.entries()
    page_views_flush()
    assert widget.ping("https://shop.example/next").status_code == 200
    [(_, next_view)] = queue.entries()
    page_views_flush()
    queue.redis.xadd(queue.key, first_visit)  # both again, in one batch, with a new page view between them
    assert widget.ping("https://shop.example/third").status_code == 200
    queue.redis.xadd(queue.key, next_view)
    assert page_views_flush() == 1
    contact = Contact.objects.get(anonymous_id=widget.anonymous_id)
    assert sorted(PageView.objects.filter(contact=contact).values_list("url", flat=True)) == [
        "https://shop.example/", "https://shop.example/next", "https://shop.example/third"
    ]  # fmt: skip
    assert [session.page_views_count for session in WebSession.objects.filter(contact=contact)] == [3]
    assert Contact.objects.get().web_sessions_count == 1


def test_a_page_view_written_after_the_commit_without_planned_ids_takes_a_transaction_of_its_own(
    client, website, queue: Buffer
):
    """The buffer backed off when the ping planned its ids (none taken) and no longer when it writes: the general path
    after the commit still locks the contact inside a transaction (else Django refuses the row lock)."""
    from tracking.payloads import PageInput
    from tracking.services.hot_path import ActingContact, RequestFacts
    from tracking.services.ingest import PlannedIds, _page_view_after_commit

    widget, _, _ = _new_visitor(client, website)
    page_views_flush()
    contact = Contact.objects.get(anonymous_id=widget.anonymous_id)
    saved = _page_view_after_commit(
        acting=ActingContact(contact), website=website, page=PageInput(url="https://shop.example/later"),
        facts=RequestFacts(now=timezone.now()), state=HotPathState(contact_id=contact.pk, seen_at=0.0),
        planned=PlannedIds(),
    )  # fmt: skip
    assert saved is False
    assert PageView.objects.filter(contact=contact, url="https://shop.example/later").count() == 1


def test_redis_unreachable_writes_a_new_visitor_directly(client, website, queue: Buffer, settings, monkeypatch):
    settings.PARLEY_PAGE_VIEW_BUFFER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    monkeypatch.setattr(page_view_buffer, "_full_until", 0.0)
    widget = Widget(client, website)
    answer = widget.ping().json()
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    assert PageView.objects.filter(contact=contact).count() == 1


def test_with_redis_clock_ahead_every_queueing_is_late_and_each_page_view_is_written_once(
    client, website, queue: Buffer, monkeypatch, caplog
):
    """A command that queues a page view does nothing when Redis runs it past its moment (a Redis that stalled, then
    resumed, after the ping gave up and wrote it: tests/faults). With Redis's clock a minute ahead each one is late: the
    returning visitor's, a new session's and a first visit's page views are all written directly, once each."""
    from django.core.cache import cache

    widget, contact, _ = _with_ticket(client, website, queue, monkeypatch)
    page_views_flush()
    monkeypatch.setattr(page_view_buffer, "LATE_AFTER_SECONDS", -60.0)
    assert widget.ping("https://shop.example/returning").status_code == 200
    cache.delete(HotPathState.key(contact.pk))  # its session forgotten: the next ping opens one
    redis_cache.outages_forget()  # (each late command starts a backoff: the next pings would not try)
    assert widget.ping("https://shop.example/new-session").status_code == 200
    redis_cache.outages_forget()
    assert Widget(client, website, ip="198.51.100.7").ping("https://shop.example/first").status_code == 200
    assert queue.entries() == []
    assert caplog.text.count("its clock is ahead of this server's") == 3
    page_views_flush()
    urls = ["https://shop.example/returning", "https://shop.example/new-session", "https://shop.example/first"]
    assert [PageView.objects.filter(url=url).count() for url in urls] == [1, 1, 1]
    # (Written directly, the page view went into the session the database still holds as current.)
    assert WebSession.objects.filter(contact=contact).count() == 1 and Contact.objects.count() == 2


def test_bots_are_answered_but_create_no_contact_unless_the_website_records_them(client, website, queue: Buffer):
    for user_agent in (GOOGLEBOT, ""):
        bot = Widget(client, website, user_agent=user_agent)
        response = bot.ping()
        assert response.status_code == 200
        assert response.json()["anonymous_id"] is None and response.json()["token"] is None
    page_views_flush()
    assert not Contact.objects.exists()
    website_update(website=website, track_bots=True)
    answer = Widget(client, website, user_agent=GOOGLEBOT).ping().json()
    page_views_flush()
    assert Contact.objects.filter(anonymous_id=answer["anonymous_id"]).exists()


def test_bots_create_no_contact_with_the_queue_off_either(client, website):
    response = Widget(client, website, user_agent=GOOGLEBOT).ping()
    assert response.status_code == 200 and response.json()["token"] is None
    assert not Contact.objects.exists()


def test_the_queued_entry_holds_no_ip_address(client, website, queue: Buffer):
    _new_visitor(client, website)
    raw = json.dumps([[k.decode(), v.decode()] for _, fields in queue.entries() for k, v in fields.items()])
    assert "81.2.69.142" not in raw
    assert uuid.UUID  # the anonymous id is the only identifier queued


def test_the_admins_live_now_filter_shows_a_visitor_whose_first_ping_is_queued(client, admin_client, website, queue):
    _, answer, _ = _new_visitor(client, website)
    assert not Contact.objects.filter(anonymous_id=answer["anonymous_id"]).exists()
    response = admin_client.get("/admin/contacts/contact/?live=now")
    assert response.status_code == 200
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    assert str(contact.pk) in [str(c.pk) for c in response.context["cl"].result_list]


def test_a_sign_in_without_a_user_agent_is_a_person_not_a_bot(client, website):
    website_update(website=website, identity_verification=Website.IdentityVerification.OFF)
    signed_in = Widget(client, website, user_agent="").ping(user={"user_id": "u-9"})
    assert signed_in.status_code == 200 and signed_in.json()["contact"]["role"] == "user"
    assert Contact.objects.filter(external_id="u-9").exists()


def test_a_flushed_visitor_has_every_field_a_created_one_has(client, website, queue: Buffer):
    """The flush's plain INSERT gives every column the model's default, as Contact.objects.create does."""
    _, answer, _ = _new_visitor(client, website)
    page_views_flush()
    queued = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    created = Contact.objects.create(role=Contact.Role.VISITOR)
    assert queued.first_website_id == website.pk  # the website whose ping created it
    skip = {"id", "anonymous_id", "first_website_id", "first_seen_at", "last_seen_at", "created_at", "updated_at", "web_sessions_count",
            "os", "browser", "browser_version", "browser_language", "city", "country", "country_name"}  # fmt: skip
    for field in Contact._meta.concrete_fields:
        if field.attname not in skip:
            assert getattr(queued, field.attname) == getattr(created, field.attname), field.attname
    assert queued.created_at is not None and queued.updated_at is not None


def test_a_users_queued_new_session_counts_for_their_companies_once(client, website, queue: Buffer):
    from django.core.cache import cache

    from companies.models import CompanyContact
    from tests.companies.factories import CompanyFactory

    website_update(website=website, identity_verification=Website.IdentityVerification.OFF)
    company = CompanyFactory()
    widget = Widget(client, website)
    assert widget.ping(user={"user_id": "u-c"}).status_code == 200  # the sign-in: the general path
    page_views_flush()  # its session follows the sign-in's commit through the queue: the worker writes it
    user = Contact.objects.get(external_id="u-c")
    CompanyContact.objects.create(company=company, contact=user)
    company.refresh_from_db()
    sessions_before = company.session_count
    cache.delete(HotPathState.key(user.pk))  # half an hour later: a new session, queued
    # (the sign-in's queued session claimed the next ten seconds' new sessions of this user here: long gone by then)
    queue.redis.delete(page_view_buffer.session_claim_key(contact_id=user.pk, website_id=website.pk))
    assert widget.ping("https://shop.example/back", user={"user_id": "u-c"}).status_code == 200
    assert WebSession.objects.filter(contact=user).count() == 1  # not written yet
    page_views_flush()
    page_views_flush()
    company.refresh_from_db()
    assert company.session_count == sessions_before + 1
    assert company.last_request_at is not None
    assert WebSession.objects.filter(contact=user).count() == 2


# --- the privacy rules on the queued path (docs/privacy.md) ------------------------------------------


def test_a_first_pings_token_carries_consent_only_when_the_visitor_chose_it(client, website, queue: Buffer):
    """The website's default (full tracking) or a page's default is not the visitor's consent."""
    from tracking.widget_auth import widget_token_read

    plain = Widget(client, website).ping().json()
    page_default = {"analytics": True, "source": "consent_mode", "default": True}
    defaulted = Widget(client, website).ping(consent=page_default).json()
    chosen = Widget(client, website).ping(consent={"analytics": True, "source": "tcf"}).json()
    assert len(queue.entries()) == 3  # all three queued, none written in the request

    def consent_in(answer):
        return widget_token_read(token=answer["token"], website_id=website.pk).tracking_consent

    assert (consent_in(plain), consent_in(defaulted), consent_in(chosen)) == (False, False, True)


def test_the_consent_a_first_ping_states_is_written_with_the_queued_visitor(client, website, queue: Buffer):
    id_blocks.id_blocks_forget()
    _new_visitor(client, website)  # fresh id blocks, taken ahead of the measured ping
    page_views_flush()
    choice = {"analytics": True, "marketing": False, "source": "tcf"}
    with CaptureQueriesContext(connection) as captured:
        answer = Widget(client, website).ping(consent=choice).json()
    assert _statements(captured) == []
    defaulted = Widget(client, website).ping(consent={"marketing": True, "source": "consent_mode", "default": True})
    page_views_flush()
    chosen = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    assert (chosen.analytics_consent, chosen.marketing_consent, chosen.consent_source) == (True, False, "tcf")
    assert chosen.consent_updated_at == chosen.first_seen_at
    assert answer["consent"] == {"analytics": True, "marketing": False}
    not_chosen = Contact.objects.get(anonymous_id=defaulted.json()["anonymous_id"])  # a page's default: not stored
    assert (not_chosen.analytics_consent, not_chosen.marketing_consent, not_chosen.consent_source) == (None, None, "")
    assert not_chosen.consent_updated_at is None


def test_a_choice_made_while_the_first_ping_is_queued_applies_to_the_written_row(client, website, queue: Buffer):
    widget, answer, _ = _new_visitor(client, website)
    refused = widget.ping("https://shop.example/2", consent={"analytics": False, "marketing": False}).json()
    assert refused["tracked"] is False and refused["forget"] is True
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])  # written first, then the choice
    assert (contact.analytics_consent, contact.marketing_consent, contact.consent_source) == (False, False, "widget")
    assert PageView.objects.filter(contact=contact).count() == 1  # the page seen before the refusal
    page_views_flush()
    assert PageView.objects.filter(contact=contact).count() == 1


def test_a_contact_restricted_while_its_page_views_are_queued_gets_none_of_them(
    client, website, queue: Buffer, django_capture_on_commit_callbacks
):
    """Restricted (Art. 18) or analytics refused by the time of the flush: nothing new is recorded."""
    widget, answer, _ = _new_visitor(client, website)
    other, _, _ = _new_visitor(client, website)
    page_views_flush()
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    widget.ping("https://shop.example/private")  # queued in the current session
    from django.core.cache import cache

    cache.delete(HotPathState.key(contact.pk))
    widget.ping("https://shop.example/later")  # the hot-path entry gone: a new session, queued
    other.ping("https://shop.example/other")  # another visitor's: written as usual
    with django_capture_on_commit_callbacks(execute=True):
        contacts_services.contact_processing_restrict(contact=contact, restricted=True)
    page_views_flush()
    contact.refresh_from_db()
    assert list(PageView.objects.filter(contact=contact).values_list("url", flat=True)) == ["https://shop.example/"]
    assert WebSession.objects.filter(contact=contact).count() == contact.web_sessions_count == 1
    assert PageView.objects.filter(url="https://shop.example/other").count() == 1
    assert widget.ping("https://shop.example/after").json()["tracked"] is False


def test_an_event_on_the_first_page_writes_the_queued_visitor_first(client, website, queue: Buffer):
    from tracking.models import Event

    widget, answer, _ = _new_visitor(client, website)
    response = widget.event("signed_up")
    assert response.status_code == 202 and response.json()["tracked"] is True
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    assert Event.objects.get().contact_id == contact.pk
    assert PageView.objects.filter(contact=contact).count() == 1


def test_the_pings_after_a_queued_first_one_read_no_row_and_flush_nothing(client, website, queue: Buffer):
    """The queueing ping caches the snapshot of the row its flush will write (every field, consent too)."""
    widget, _, _ = _new_visitor(client, website)
    page_views_flush()
    widget, _, _ = _new_visitor(client, website)
    for page in range(3):
        with CaptureQueriesContext(connection) as captured:
            assert widget.ping(f"https://shop.example/{page}").status_code == 200
        assert _statements(captured) == []
    assert page_views_flush() == 4


def test_an_objection_leaves_the_visitors_current_session_open(
    client, website, queue: Buffer, django_capture_on_commit_callbacks
):
    """A privacy change drops the widget's cached snapshot of the contact, not its current sessions."""
    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    with django_capture_on_commit_callbacks(execute=True):
        contacts_services.contact_marketing_object(contact=contact)
    assert widget.ping("https://shop.example/2").json()["tracked"] is True
    page_views_flush()
    assert WebSession.objects.get(contact=contact).page_views_count == 2


def test_two_tabs_opening_a_session_at_once_share_it(client, website, queue: Buffer):
    """Both tabs' pings read the contact's state before either saved it: one session, two page views."""
    from django.core.cache import cache

    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    cache.delete(HotPathState.key(contact.pk))  # half an hour later
    first = widget.ping("https://shop.example/tab-1").json()
    cache.delete(HotPathState.key(contact.pk))  # the second tab read the state before the first saved it
    second = widget.ping("https://shop.example/tab-2").json()
    assert first["token"] and second["token"]
    page_views_flush()
    contact.refresh_from_db()
    assert contact.web_sessions_count == 2 == WebSession.objects.filter(contact=contact).count()
    latest = WebSession.objects.filter(contact=contact).latest("started_at")
    assert latest.page_views_count == 2
    # Logging out drops the claim: the next page view opens a session of its own at once.
    assert widget.post("shutdown", {"token": widget.token}).status_code == 200
    widget.ping("https://shop.example/after-logout")
    page_views_flush()
    assert WebSession.objects.filter(contact=contact).count() == 3


@pytest.mark.parametrize("buffer_redis", ["the cache's", "another"])
def test_a_page_view_joining_another_tabs_new_session_makes_none_of_its_cache_writes(
    website, queue: Buffer, buffer_redis, settings, monkeypatch
):
    """The state (and ticket) written with a new session name it: the tab whose page view joined another's
    session instead must not write them, even for the moment until its caller saves the state naming the one
    it joined (a third tab reading it then would queue into a session that is never written). In the script
    when the buffer is the cache's Redis, after it otherwise."""
    from django.core.cache import cache

    from tests.tracking.conftest import FALLBACK_BUFFER_URL

    if buffer_redis == "another":
        if FALLBACK_BUFFER_URL == settings.PARLEY_PAGE_VIEW_BUFFER_URL:
            pytest.skip("PARLEY_TEST_BUFFER_URL names the cache's own Redis database")
        queue = buffer_on(settings, monkeypatch, FALLBACK_BUFFER_URL)

    from tracking.page_view_buffer import CacheWrite, QueuedSession, page_view_buffer_open_session
    from tracking.payloads import PageInput

    session = QueuedSession(contact_id=987_654, website_id=website.pk, fields={"landing_url": "https://shop.example/"})
    opened = []
    for session_id, tab in ((9_001, "first"), (9_002, "second")):
        write = CacheWrite(f"test:tab:{tab}", tab, 60)
        page = PageInput(url=f"https://shop.example/{tab}")
        opened.append(
            page_view_buffer_open_session(
                session_id=session_id, page=page, at=timezone.now(), session=session, cache_writes=(write,)
            )
        )
    assert opened == [9_001, 9_001]
    assert (cache.get("test:tab:first"), cache.get("test:tab:second")) == ("first", None)
    assert [fields[b"s"] for _, fields in queue.entries()] == [b"9001", b"9001"]


# --- the fast-path ticket: a returning visitor's page view queued in the request's first round trip ---


def _with_ticket(client, website, queue: Buffer, monkeypatch):
    """A returning visitor in its current session whose next ping queues in its first round trip: (its
    widget, its contact, the round trips counter)."""
    from django.core.cache import cache

    widget, answer, _ = _new_visitor(client, website)
    page_views_flush()
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    assert widget.ping("https://shop.example/1").status_code == 200  # the steady state: writes the ticket
    assert queue.redis.exists(cache.make_key(fast_ticket_key(contact.pk)))
    return widget, contact, RedisRoundTrips(monkeypatch)


def test_a_returning_visitors_page_view_is_queued_in_the_round_trip_that_counts_it(
    client, website, queue: Buffer, monkeypatch, caplog
):
    widget, contact, round_trips = _with_ticket(client, website, queue, monkeypatch)
    for page in range(2, 5):
        round_trips.count = 0
        with CaptureQueriesContext(connection) as captured:
            response = widget.ping(f"https://shop.example/{page}")
        assert response.status_code == 200 and response.json()["tracked"] is True
        assert (round_trips.count, _statements(captured)) == (1, [])
    page_views_flush()
    urls = PageView.objects.filter(contact=contact).order_by("created_at").values_list("url", flat=True)
    assert list(urls) == [f"https://shop.example/{page}" for page in ("", 1, 2, 3, 4)]  # each once, in order
    assert WebSession.objects.filter(contact=contact).count() == 1
    assert "fast-path ticket" not in caplog.text


def _restricted(widget, contact, website):
    contacts_services.contact_processing_restrict(contact=contact, restricted=True)


def _erased(widget, contact, website):
    contacts_services.contact_erase(contact=contact, actor=None, source="admin")


def _logged_out(widget, contact, website):
    assert widget.post("shutdown", {"token": widget.token}).status_code == 200


def _support_only(widget, contact, website):
    website_update(website=website, tracking_mode=Website.TrackingMode.SUPPORT_ONLY)


@pytest.mark.parametrize(
    ("change", "views_after", "sessions_after"),
    [(_restricted, 0, 1), (_erased, None, None), (_logged_out, 1, 2), (_support_only, 0, 1)],
    ids=["restricted", "erased", "logged out", "website needs consent"],
)
def test_a_fast_path_ticket_holds_no_longer_than_what_it_stands_for(
    client, website, queue: Buffer, monkeypatch, django_capture_on_commit_callbacks, caplog, change, views_after,
    sessions_after,
):  # fmt: skip
    widget, contact, _ = _with_ticket(client, website, queue, monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        change(widget, contact, Website.objects.get(pk=website.pk))
    widget.ping("https://shop.example/after")
    page_views_flush()
    if views_after is None:  # erased: nothing of it comes back
        assert not Contact.objects.filter(pk=contact.pk).exists()
        assert not PageView.objects.filter(contact_id=contact.pk).exists()
    else:
        assert PageView.objects.filter(contact=contact, url="https://shop.example/after").count() == views_after
        assert WebSession.objects.filter(contact=contact).count() == sessions_after
    assert "fast-path ticket" not in caplog.text


def test_a_fast_path_ticket_is_not_taken_by_a_ping_that_states_another_choice(
    client, website, queue: Buffer, monkeypatch, caplog
):
    widget, contact, _ = _with_ticket(client, website, queue, monkeypatch)
    answer = widget.ping("https://shop.example/refused", consent={"analytics": False}).json()
    assert answer["tracked"] is False
    page_views_flush()
    assert not PageView.objects.filter(contact=contact, url="https://shop.example/refused").exists()
    assert "fast-path ticket" not in caplog.text


# --- the fast-path ticket under review: where the first round trip and the Python decision part ---


def _ticket_session(queue: Buffer, contact) -> int:
    from django.core.cache import cache

    return int(queue.redis.get(cache.make_key(fast_ticket_key(contact.pk))).split(b":")[0])


def test_a_ticket_written_by_a_slow_request_does_not_outlive_its_session(
    client, website, queue: Buffer, monkeypatch, caplog
):
    """The ticket's lifetime is counted from the request's start (facts.now) but runs from its SET: a request
    that took longer than the margin (a slow body, a slow first round trip, a pause) writes a ticket that
    outlives the end it stands for. Here the session reaches its 24 hours while the ticket lives: the full
    logic opens a new session, the ticket queues the page view in the old one (and nothing is logged)."""
    from django.core.cache import cache

    widget, contact, _ = _with_ticket(client, website, queue, monkeypatch)
    state = HotPathState.load(contact.pk)
    session_id, _, last_ts = state.sessions[str(website.pk)]
    ends = time.time() + 1.5  # the session reaches SESSION_MAX_LENGTH in 1.5 s
    state.sessions[str(website.pk)] = [session_id, ends - 24 * 3600, last_ts]
    state.save()
    WebSession.objects.filter(pk=session_id).update(started_at=dt.datetime.fromtimestamp(ends - 24 * 3600, tz=dt.UTC))
    # This ping's facts.now was taken 12 s before its entry's round trip (it started 12 s ago).
    with time_machine.travel(timezone.now() - dt.timedelta(seconds=12), tick=True):
        assert widget.ping("https://shop.example/slow").status_code == 200
    assert _ticket_session(queue, contact) == session_id
    time.sleep(max(0.0, ends + 0.5 - time.time()))  # the session is over; the ticket lives on for ~6 s more
    assert queue.redis.ttl(cache.make_key(fast_ticket_key(contact.pk))) > 0
    assert widget.ping("https://shop.example/next-day").status_code == 200
    page_views_flush()
    after = PageView.objects.get(contact=contact, url="https://shop.example/next-day")
    assert after.session_id != session_id  # a page view past 24 hours opens a new session
    assert WebSession.objects.filter(contact=contact).count() == 2
    assert "fast-path ticket" not in caplog.text


def test_a_ticket_another_version_of_the_code_wrote_is_not_taken(client, website, queue: Buffer, monkeypatch, caplog):
    """A rolling deploy: a newer web process saved the contact's state with a field this version does not know,
    and wrote its ticket for those bytes. This version reads that state as none (HotPathState.load: "written by
    another version") and opens a new session: had it taken the ticket, the first round trip would have queued
    the page view in the old session too. The decision's code is a fingerprint input."""
    from django.core.cache import cache

    from tracking.services import ingest
    from tracking.services.hot_path import HOT_PATH_STATE_SECONDS

    with monkeypatch.context() as newer:
        newer.setattr(ingest, "_decision_code_version", lambda: "the next release")
        widget, contact, _ = _with_ticket(client, website, queue, monkeypatch)
    key = HotPathState.key(contact.pk)
    cache.set(key, {**cache.get(key), "visited_hours": {}}, HOT_PATH_STATE_SECONDS)  # the newer version's state
    stored = queue.redis.get(cache.make_key(key))
    ticket_key = cache.make_key(fast_ticket_key(contact.pk))
    session, deadline, fingerprint, _ = queue.redis.get(ticket_key).decode().split(":")
    newer_ticket = f"{session}:{deadline}:{fingerprint}:{hashlib.sha1(stored).hexdigest()}"  # noqa: S324 - as Redis names it
    queue.redis.set(ticket_key, newer_ticket, ex=30)
    assert widget.ping("https://shop.example/mixed-versions").status_code == 200
    page_views_flush()
    assert PageView.objects.filter(contact=contact, url="https://shop.example/mixed-versions").count() == 1
    assert "fast-path ticket" not in caplog.text


class _SlowReplyOnce:
    """The next reply to the preflight script arrives after the socket timeout: the script ran, the client raises
    TimeoutError (which the buffer's pool retries once: Retry(NoBackoff(), 1) retries timeouts too)."""

    def __init__(self, monkeypatch) -> None:
        self.armed, self.fired, self.pending = True, 0, set()
        send = redis.connection.AbstractConnection.send_packed_command
        read = redis.connection.AbstractConnection.read_response
        sha = page_view_buffer._PREFLIGHT_QUEUE_SCRIPT.sha.encode()

        def sending(connection, command, check_health=True):
            chunks = command if isinstance(command, list | tuple) else [command]
            if any(sha in bytes(chunk) for chunk in chunks):
                self.pending.add(id(connection))
            return send(connection, command, check_health)

        def reading(connection, *args, **kwargs):
            reply = read(connection, *args, **kwargs)
            if id(connection) in self.pending:
                self.pending.discard(id(connection))
                if self.armed:
                    self.armed = False
                    self.fired += 1
                    raise redis.exceptions.TimeoutError("Timeout reading from socket")
            return reply

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", sending)
        monkeypatch.setattr(redis.connection.AbstractConnection, "read_response", reading)


def test_a_slow_reply_to_the_first_round_trip_does_not_queue_the_page_view_twice(
    client, website, queue: Buffer, monkeypatch, caplog
):
    """The first round trip now writes: redis-py resends it after a timeout (the buffer's pool retries), so the
    script runs twice and both runs queue the page view; the ping takes the second as its own, silently."""
    widget, contact, _ = _with_ticket(client, website, queue, monkeypatch)
    slow = _SlowReplyOnce(monkeypatch)
    assert widget.ping("https://shop.example/slow-reply").status_code == 200
    assert slow.fired == 1
    page_views_flush()
    assert PageView.objects.filter(contact=contact, url="https://shop.example/slow-reply").count() == 1
    assert WebSession.objects.get(contact=contact).page_views_count == 3


def test_a_ping_over_its_contact_limit_queues_nothing_through_its_ticket(
    client, website, queue: Buffer, monkeypatch, settings, caplog
):
    widget, _, _ = _with_ticket(client, website, queue, monkeypatch)
    settings.PARLEY_WIDGET_RATE_PER_CONTACT = 0  # every ping of a known contact is over its limit now
    refused = widget.ping("https://shop.example/limited")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    page_views_flush()
    assert not PageView.objects.filter(url="https://shop.example/limited").exists()
    assert "fast-path ticket" not in caplog.text


def test_a_consent_withdrawn_in_another_tab_ends_the_ticket_of_the_first(client, website, queue: Buffer, monkeypatch):
    widget, _, _ = _with_ticket(client, website, queue, monkeypatch)
    other_tab = Widget(client, website)
    other_tab.token, other_tab.anonymous_id = widget.token, widget.anonymous_id
    assert other_tab.ping("https://shop.example/banner", consent={"analytics": False}).json()["tracked"] is False
    assert widget.ping("https://shop.example/first-tab").json()["tracked"] is False  # states nothing itself
    page_views_flush()
    assert not PageView.objects.filter(
        url__in=["https://shop.example/banner", "https://shop.example/first-tab"]
    ).exists()


def test_a_teammates_refusal_while_a_ticket_lives_records_nothing_new(
    client, website, queue: Buffer, monkeypatch, django_capture_on_commit_callbacks
):
    """A refusal a teammate records is a privacy change: the snapshot goes (and the ticket with its bytes), so the
    next ping reads the row and is not tracked; the flush, which reads the row too, would drop it anyway."""
    from contacts.models import ConsentSource

    widget, contact, _ = _with_ticket(client, website, queue, monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        contacts_services.contact_consent_record(
            contact_id=contact.pk, analytics=False, marketing=None, source=ConsentSource.TEAMMATE
        )
    assert widget.ping("https://shop.example/after-refusal").json()["tracked"] is False
    page_views_flush()
    assert not PageView.objects.filter(url="https://shop.example/after-refusal").exists()


def test_a_sign_in_in_another_tab_that_merges_the_visitor_ends_its_ticket(
    client, website, queue: Buffer, monkeypatch, caplog
):
    user = UserContactFactory(external_id="u-31")
    widget, visitor, _ = _with_ticket(client, website, queue, monkeypatch)
    other_tab = Widget(client, website)
    other_tab.token, other_tab.anonymous_id = widget.token, widget.anonymous_id
    assert other_tab.ping("https://shop.example/sign-in", user={"user_id": "u-31"}).status_code == 200
    assert not Contact.objects.filter(pk=visitor.pk).exists()
    widget.ping("https://shop.example/old-token")  # the merged visitor's token: a new visitor, not the user
    page_views_flush()
    old_token_view = PageView.objects.get(url="https://shop.example/old-token")
    assert old_token_view.contact_id not in (visitor.pk, user.pk)
    assert "fast-path ticket" not in caplog.text


def test_verification_switched_on_ends_the_ticket_of_an_unverified_users_token(
    client, website, queue: Buffer, monkeypatch, caplog
):
    widget = Widget(client, website)
    assert widget.ping("https://shop.example/", user={"user_id": "u-32"}).status_code == 200  # unsigned
    page_views_flush()
    user = Contact.objects.get(external_id="u-32")
    widget.ping("https://shop.example/1")
    widget.ping("https://shop.example/2")  # the steady state: a ticket for this token's fingerprint
    from django.core.cache import cache

    assert queue.redis.exists(cache.make_key(fast_ticket_key(user.pk)))
    website_update(website=website, identity_verification=Website.IdentityVerification.ENFORCED)
    widget.ping("https://shop.example/after-switch")
    page_views_flush()
    assert not PageView.objects.filter(contact=user, url="https://shop.example/after-switch").exists()
    assert "fast-path ticket" not in caplog.text


def test_a_contacts_ticket_on_one_website_queues_nothing_for_another(client, website, queue: Buffer, caplog):
    from tests.tracking.factories import WebsiteFactory

    blog = WebsiteFactory(name="Blog", identity_verification=Website.IdentityVerification.OFF)
    shop_tab, blog_tab = Widget(client, website), Widget(client, blog)
    for tab in (shop_tab, blog_tab):
        assert tab.ping("https://shop.example/", user={"user_id": "u-33"}).status_code == 200
    page_views_flush()
    user = Contact.objects.get(external_id="u-33")
    for page in range(3):
        shop_tab.ping(f"https://shop.example/{page}")  # the shop's ticket
    blog_tab.ping("https://blog.example/post")
    page_views_flush()
    post = PageView.objects.get(url="https://blog.example/post")
    assert post.contact_id == user.pk and post.session.website_id == blog.pk
    assert WebSession.objects.filter(contact=user).count() == 2
    assert "fast-path ticket" not in caplog.text


def test_a_sign_in_merging_into_a_user_whose_new_session_is_queued_and_the_workers_flush_both_go_through(
    client, website, queue: Buffer
):
    """V (a written visitor) signs in as U, whose new session (U's sign-in on another browser a moment ago) is still
    queued, while a worker's flush reaches U's entry. The merge held U's row while its page view flushed for U's
    session (waiting for the cursor row the worker held, which waited for U): a deadlock, a 503 or a worker's batch
    aborted (found by a review). The page view is now recorded after the merge commits. A third transaction holding
    the higher of the two contacts for a moment lines the two up the same way on every run."""
    visitor_browser = Widget(client, website, ip="192.0.2.5")
    assert visitor_browser.ping("https://shop.example/v-landing").status_code == 200
    page_views_flush()
    user_browser = Widget(client, website, ip="192.0.2.6")
    assert user_browser.ping("https://shop.example/u-home", user={"user_id": "u-1"}).status_code == 200
    user = Contact.objects.get(external_id="u-1")
    visitor = Contact.objects.get(anonymous_id=visitor_browser.anonymous_id)
    assert queue.length() == 1 and not WebSession.objects.filter(contact=user).exists()
    held, release, outcomes = threading.Event(), threading.Event(), {}

    def in_thread(name, work):
        def run():
            try:
                outcomes[name] = work()
            except Exception as error:  # the assertion below names it
                outcomes[name] = error
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def hold():
        with transaction.atomic():
            list(Contact.objects.select_for_update().filter(pk=max(user.pk, visitor.pk)).values_list("pk"))
            held.set()
            release.wait(20)

    signing_in = Widget(Client(), website, ip=visitor_browser.ip)
    signing_in.anonymous_id, signing_in.token = visitor_browser.anonymous_id, visitor_browser.token
    threads = [in_thread("holder", hold)]
    held.wait(10)
    threads.append(
        in_thread(
            "sign-in", lambda: signing_in.ping("https://shop.example/v-sign-in", user={"user_id": "u-1"}).status_code
        )
    )
    time.sleep(0.5)  # the sign-in holds the lower contact and waits for the higher
    threads.append(in_thread("worker", page_views_flush))
    time.sleep(0.5)  # the worker holds the cursor row and waits for U
    release.set()
    for thread in threads:
        thread.join(30)
    assert outcomes["sign-in"] == 200 and outcomes["worker"] == 1, outcomes
    page_views_flush()
    assert not Contact.objects.filter(pk=visitor.pk).exists()
    assert set(PageView.objects.filter(contact=user).values_list("url", flat=True)) == {
        "https://shop.example/v-landing", "https://shop.example/u-home", "https://shop.example/v-sign-in",
    }  # fmt: skip
