"""The ingest queue: a first ping, a new session and last_seen_at go through the buffer (PostgreSQL +
Redis), and whatever needs a row at once still gets one. Each race of docs/architecture.md, "The
ingest buffer", has its test here."""

import hashlib
import hmac
import json
import uuid

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts import services as contacts_services
from contacts.models import Contact
from tests.contacts.factories import UserContactFactory
from tests.tracking.conftest import Buffer, Widget, buffer_on
from tracking import id_blocks, page_view_buffer
from tracking.models import PageView, WebSession, Website
from tracking.page_view_buffer import page_views_flush
from tracking.services import website_update
from tracking.services.hot_path import HotPathState

pytestmark = pytest.mark.django_db(transaction=True)

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@pytest.fixture
def queue(settings, monkeypatch):
    """The ingest queue on, on the real Redis, with a stream of this test's own."""
    if connection.vendor != "postgresql" or not settings.PARLEY_PAGE_VIEW_BUFFER_URL:
        pytest.skip("the ingest queue needs PostgreSQL (ids taken from its sequences) and Redis")
    settings.PARLEY_INGEST_QUEUE = True
    stream = buffer_on(settings, monkeypatch, settings.PARLEY_PAGE_VIEW_BUFFER_URL)
    monkeypatch.setattr(page_view_buffer, "_schedule_flush", lambda delay=0: None)  # the test flushes
    yield stream
    stream.close()


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


class _RoundTrips:
    """Counts the commands (or pipelines, or scripts) this process sends to Redis: each is one round trip."""

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        send = redis.connection.AbstractConnection.send_packed_command

        def counted(connection, command, check_health=True):
            self.count += 1
            return send(connection, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)


def test_a_first_ping_is_counted_against_its_ip_and_queued_in_one_redis_round_trip(
    client, website, queue: Buffer, monkeypatch
):
    id_blocks.id_blocks_forget()
    _new_visitor(client, website)  # the script loaded, the id blocks taken
    round_trips = _RoundTrips(monkeypatch)
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


def test_redis_unreachable_writes_a_new_visitor_directly(client, website, queue: Buffer, settings, monkeypatch):
    settings.PARLEY_PAGE_VIEW_BUFFER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    monkeypatch.setattr(page_view_buffer, "_full_until", 0.0)
    widget = Widget(client, website)
    answer = widget.ping().json()
    contact = Contact.objects.get(anonymous_id=answer["anonymous_id"])
    assert PageView.objects.filter(contact=contact).count() == 1


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
