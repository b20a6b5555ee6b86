import datetime as dt

import pytest
from django.db import connection
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from conversations import services as conversation_services
from tests.contacts.factories import DataAttributeFactory, LeadFactory, UserContactFactory
from tests.conversations.factories import TeammateFactory
from tests.tracking.conftest import CHROME_MAC, ORIGIN, Widget
from tests.tracking.factories import user_hash
from tracking import services
from tracking.models import Event, EventSummary, PageView, WebSession
from tracking.page_view_buffer import page_views_flush
from tracking.payloads import NO_CONSENT_STATED, PageInput, PingInput
from tracking.services.hot_path import CONTACT_SNAPSHOT_FIELDS, HotPathState
from tracking.widget_auth import widget_token_read

pytestmark = pytest.mark.django_db


def test_a_utm_value_or_user_agent_holding_a_nul_is_stored_without_it(client, website, ingest_flush):
    """`%00` passes the URL's checks (the URL holds no NUL) and decodes to one; PostgreSQL stores no NUL in text.
    Queued, it failed every later flush: no page view of any visitor was written again."""
    widget = Widget(client, website, user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0\x00")
    url = "https://shop.example/?utm_source=news%00letter&utm_campaign=%00"
    assert widget.ping(url).status_code == 200
    ingest_flush()
    session = WebSession.objects.get()
    assert (session.utm_source, session.utm_campaign, session.browser) == ("newsletter", "", "Firefox")
    assert PageView.objects.get().url == url


def test_first_ping_creates_visitor_session_and_page_view(widget, ingest_flush):
    response = widget.ping("https://shop.example/pricing?utm_source=news&utm_campaign=fall", title="Pricing",
                           referrer="https://search.example/?q=shop")  # fmt: skip
    assert response.status_code == 200
    answer = response.json()
    ingest_flush()  # with the ingest queue on (PostgreSQL + Redis), the flush writes the first ping's rows
    contact = Contact.objects.get()
    assert contact.role == Contact.Role.VISITOR
    assert answer["anonymous_id"] == str(contact.anonymous_id)
    assert widget_token_read(token=answer["token"], website_id=widget.website.pk).contact_id == contact.pk
    assert answer["tracking"] == "full"
    assert answer["contact"] == {"role": "visitor", "name": ""}
    assert answer["unread_count"] == 0 and answer["conversations"] == [] and answer["messages"] == []
    session = WebSession.objects.get()
    assert session.page_views_count == 1
    assert session.landing_url.startswith("https://shop.example/pricing")
    assert (session.utm_source, session.utm_campaign) == ("news", "fall")
    assert session.referrer == "https://search.example/?q=shop"
    view = PageView.objects.get()
    assert (view.title, view.session_id, view.contact_id) == ("Pricing", session.pk, contact.pk)
    assert contact.web_sessions_count == 1
    assert contact.first_seen_at and contact.last_seen_at
    assert contact.browser_language == "fr-FR"


def test_following_pings_extend_the_same_session(widget, ingest_flush):
    for page in range(4):
        assert widget.ping(f"https://shop.example/p/{page}").status_code == 200
    ingest_flush()  # what the Celery worker does when the page-view buffer is on
    session = WebSession.objects.get()
    assert session.page_views_count == 4
    assert PageView.objects.filter(session=session).count() == 4
    assert Contact.objects.get().web_sessions_count == 1


def test_anonymous_id_alone_finds_the_visitor_again(client, website, widget):
    widget.ping()
    later = Widget(client, website)
    later.anonymous_id = widget.anonymous_id  # token cookie expired, id cookie kept
    later.ping()
    assert Contact.objects.count() == 1
    assert later.token


def test_unknown_anonymous_id_starts_a_new_visitor_with_a_fresh_id(widget):
    widget.anonymous_id = "5b0c8c1e-3b5a-4a47-9d55-8c8f1c8e8d11"
    widget.ping()
    contact = Contact.objects.get()
    assert widget.anonymous_id == str(contact.anonymous_id) != "5b0c8c1e-3b5a-4a47-9d55-8c8f1c8e8d11"


def test_anonymous_id_of_a_user_does_not_log_in_as_that_user(client, website):
    user = UserContactFactory()
    intruder = Widget(client, website)
    intruder.anonymous_id = str(user.anonymous_id)
    answer = intruder.ping().json()
    assert answer["contact"]["role"] == "visitor"
    assert Contact.objects.count() == 2


def test_token_of_another_website_is_ignored(client, website, widget, ingest_flush):
    other = services.website_create(name="Other", allowed_origins=[ORIGIN])
    widget.ping()
    elsewhere = Widget(client, other)
    elsewhere.token = widget.token
    elsewhere.ping()
    ingest_flush()
    assert Contact.objects.count() == 2


# --- sessions -----------------------------------------------------------------------------------

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def _ping_at(website, when, token=None):
    identity = widget_token_read(token=token, website_id=website.pk) if token else None
    ping = PingInput(token=token, anonymous_id=None, consent=NO_CONSENT_STATED, browser_language="", user=None,
                     page=PageInput(url="https://shop.example/"))  # fmt: skip
    return services.widget_ping(
        website=website, ping=ping, identity=identity, facts=services.RequestFacts(now=when, user_agent=CHROME_MAC)
    )


def test_new_session_after_30_minutes_without_activity(website, ingest_flush):
    token = _ping_at(website, T0).token
    _ping_at(website, T0 + dt.timedelta(minutes=29), token)
    _ping_at(website, T0 + dt.timedelta(minutes=58), token)  # 29 minutes after the last one: same session
    ingest_flush()
    assert WebSession.objects.count() == 1
    _ping_at(website, T0 + dt.timedelta(minutes=58 + 31), token)
    ingest_flush()
    sessions = list(WebSession.objects.order_by("started_at"))
    assert [s.page_views_count for s in sessions] == [3, 1]
    assert Contact.objects.get().web_sessions_count == 2


def test_new_session_after_24_hours_of_continuous_activity(website, ingest_flush):
    token = _ping_at(website, T0).token
    when = T0
    while when < T0 + dt.timedelta(hours=24):
        when += dt.timedelta(minutes=20)
        _ping_at(website, when, token)
    ingest_flush()
    assert WebSession.objects.count() == 2
    first = WebSession.objects.order_by("started_at").first()
    assert first.last_activity_at - first.started_at < dt.timedelta(hours=24)


def test_new_session_is_found_even_without_the_cache(website, ingest_queue_off):
    """The direct path (the ingest queue off) finds the current session in the database. (With the queue
    on, the cache's Redis holds the queue too: losing it is the documented limit, a new session early.)"""
    from django.core.cache import cache

    token = _ping_at(website, T0).token
    cache.clear()
    _ping_at(website, T0 + dt.timedelta(minutes=5), token)
    assert WebSession.objects.get().page_views_count == 2


def test_last_seen_is_written_at_most_once_a_minute(website, ingest_queue_off):
    """The direct path's throttle (with the ingest queue on, the flush writes the latest sighting: exact)."""
    token = _ping_at(website, T0).token
    _ping_at(website, T0 + dt.timedelta(seconds=20), token)
    assert Contact.objects.get().last_seen_at == T0


def test_steady_state_ping_makes_at_most_four_queries(widget):
    widget.ping()
    widget.ping()
    with CaptureQueriesContext(connection) as captured:
        assert widget.ping("https://shop.example/next").status_code == 200
    statements = [q["sql"] for q in captured if not q["sql"].startswith(("BEGIN", "SAVEPOINT", "RELEASE"))]
    assert len(statements) <= 4, statements


def test_steady_state_identified_ping_makes_at_most_four_queries(widget):
    user = {"user_id": "u-1", "email": "ada@example.com", "name": "Ada", "custom_attributes": {"plan": "pro"}}
    widget.ping(user=user)
    widget.ping(user=user)
    with CaptureQueriesContext(connection) as captured:
        assert widget.ping(user=user).status_code == 200
    statements = [q["sql"] for q in captured if not q["sql"].startswith(("BEGIN", "SAVEPOINT", "RELEASE"))]
    assert len(statements) <= 4, statements


# --- identify and merge -------------------------------------------------------------------------


def test_visitor_booting_with_user_id_becomes_that_user(widget, ingest_flush):
    widget.ping()
    answer = widget.ping(user={"user_id": "u-42", "email": "ada@example.com", "name": "Ada"}).json()
    contact = Contact.objects.get()
    assert (contact.role, contact.external_id, contact.email, contact.name) == (
        "user",
        "u-42",
        "ada@example.com",
        "Ada",
    )
    assert answer["contact"] == {"role": "user", "name": "Ada"}
    ingest_flush()  # with the ingest queue on, the identifying ping's page view follows its commit through it
    assert WebSession.objects.get().page_views_count == 2


def test_visitor_merges_into_existing_user_with_its_history(widget, ingest_flush):
    user = UserContactFactory(external_id="u-7", email="grace@example.com", web_sessions_count=3)
    widget.ping()
    assert widget.event("signed_up").status_code == 202
    visitor = Contact.objects.exclude(pk=user.pk).get()
    answer = widget.ping(user={"user_id": "u-7"}).json()
    assert not Contact.objects.filter(pk=visitor.pk).exists()
    assert widget_token_read(token=answer["token"], website_id=widget.website.pk).contact_id == user.pk
    ingest_flush()  # with the ingest queue on, the identifying ping's page view follows its commit through it
    assert PageView.objects.filter(contact=user).count() == 2
    assert WebSession.objects.filter(contact=user).count() == 1
    assert Event.objects.filter(contact=user, name="signed_up").exists()
    assert EventSummary.objects.get(contact=user, name="signed_up").count == 1
    user.refresh_from_db()
    assert user.web_sessions_count == 4
    widget.ping()  # the browser keeps working with the user
    ingest_flush()
    assert PageView.objects.filter(contact=user).count() == 3


def test_merge_sums_event_summaries(client, website, widget):
    user = UserContactFactory(external_id="u-9")
    services.event_track(contact=user, name="viewed", metadata={}, created_at=None, now=T0)
    widget.ping()
    widget.event("viewed")
    widget.event("viewed")
    widget.ping(user={"user_id": "u-9"})
    summary = EventSummary.objects.get(contact=user, name="viewed")
    assert summary.count == 3
    assert summary.first_at == T0


def test_lead_with_email_merges_into_user_found_by_email(widget):
    user = UserContactFactory(external_id=None, email="kim@example.com")
    widget.ping()
    Contact.objects.exclude(pk=user.pk).update(role=Contact.Role.LEAD)
    widget.ping(user={"email": "KIM@example.com"})
    assert list(Contact.objects.values_list("pk", flat=True)) == [user.pk]


def test_user_id_takes_precedence_over_email(widget):
    by_id = UserContactFactory(external_id="u-1", email="old@example.com")
    by_email = UserContactFactory(external_id=None, email="new@example.com")
    widget.ping(user={"user_id": "u-1", "email": "other@example.com"})
    identity = widget_token_read(token=widget.token, website_id=widget.website.pk)
    assert identity.contact_id == by_id.pk
    by_id.refresh_from_db()
    assert by_id.email == "other@example.com"
    assert Contact.objects.filter(pk=by_email.pk, external_id=None).exists()


def test_email_of_a_different_user_is_left_off_not_refused(widget):
    # A refusal would tell anyone with a widget token whose email it is (tests/tracking/test_no_email_oracle.py).
    UserContactFactory(external_id="u-1", email="taken@example.com")
    response = widget.ping(user={"user_id": "u-2", "email": "taken@example.com"})
    assert response.status_code == 200
    assert Contact.objects.get(external_id="u-2").email == ""
    assert Contact.objects.get(external_id="u-1").email == "taken@example.com"


def test_user_switch_on_same_browser_keeps_both_users(widget):
    widget.ping(user={"user_id": "a"})
    widget.ping(user={"user_id": "b"})
    assert set(Contact.objects.values_list("external_id", flat=True)) == {"a", "b"}


def test_user_fields_are_written(widget):
    DataAttributeFactory(name="plan")  # unverified input writes defined attributes only
    widget.ping(user={"user_id": "u-1", "name": "Ada", "phone": "+44 1", "created_at": 1700000000,
                      "language_override": "de", "custom_attributes": {"plan": "pro"}})  # fmt: skip
    contact = Contact.objects.get()
    assert (contact.name, contact.phone, contact.language_override) == ("Ada", "+44 1", "de")
    assert contact.signed_up_at == dt.datetime.fromtimestamp(1700000000, tz=dt.UTC)
    assert contact.custom_attributes == {"plan": "pro"}


# --- identity verification ----------------------------------------------------------------------


@pytest.fixture
def secure_widget(client, enforced_website):
    return Widget(client, enforced_website)


def test_verified_user_id_is_accepted(secure_widget, enforced_website):
    response = secure_widget.ping(user={"user_id": "u-1", "user_hash": user_hash(enforced_website, "u-1")})
    assert response.status_code == 200
    assert Contact.objects.get().external_id == "u-1"


def test_verified_email_is_accepted_when_there_is_no_user_id(secure_widget, enforced_website):
    response = secure_widget.ping(
        user={"email": "ada@example.com", "user_hash": user_hash(enforced_website, "ada@example.com")}
    )
    assert response.status_code == 200
    user = Contact.objects.get()
    assert (user.role, user.email, user.external_id) == (Contact.Role.USER, "ada@example.com", None)
    assert widget_token_read(token=secure_widget.token, website_id=enforced_website.pk).contact_id == user.pk


def test_hash_of_email_is_refused_when_a_user_id_is_sent(secure_widget, enforced_website):
    response = secure_widget.ping(
        user={"user_id": "u-1", "email": "ada@example.com", "user_hash": user_hash(enforced_website, "ada@example.com")}
    )
    assert response.status_code == 200
    assert response.json()["contact"]["role"] == "visitor"
    assert [warning["field"] for warning in response.json()["warnings"]] == ["user.user_hash"]
    assert not Contact.objects.filter(external_id="u-1").exists()


@pytest.mark.parametrize("bad_hash", [None, "", "00" * 32, "not-hex"])
def test_missing_or_wrong_user_hash_leaves_the_visitor_anonymous_and_writes_nothing_of_the_user(
    secure_widget, bad_hash
):
    victim = UserContactFactory(external_id="admin", name="Admin")
    user = {"user_id": "admin", "name": "Mallory"}
    if bad_hash is not None:
        user["user_hash"] = bad_hash
    response = secure_widget.ping(user=user)
    page_views_flush()
    if bad_hash == "not-hex":
        assert response.status_code == 400
        assert list(Contact.objects.all()) == [victim]
        assert not PageView.objects.exists()
        return
    assert response.status_code == 200
    assert response.json()["contact"] == {"role": "visitor", "name": ""}
    assert [warning["field"] for warning in response.json()["warnings"]] == ["user.user_hash"]
    assert Contact.objects.get(pk=victim.pk).name == "Admin"
    assert not PageView.objects.filter(contact=victim).exists()
    assert Contact.objects.exclude(pk=victim.pk).get().role == Contact.Role.VISITOR


def test_a_signed_user_id_cannot_claim_another_user_by_an_unsigned_email(secure_widget, enforced_website):
    victim = UserContactFactory(external_id=None, email="victim@example.com")
    answer = secure_widget.ping(
        user={
            "user_id": "attacker",
            "email": "victim@example.com",
            "user_hash": user_hash(enforced_website, "attacker"),
        }
    )
    assert answer.status_code == 200
    attacker = Contact.objects.get(external_id="attacker")
    assert attacker.pk != victim.pk
    assert attacker.email == ""  # the unsigned email belongs to someone else
    victim.refresh_from_db()
    assert (victim.external_id, victim.email) == (None, "victim@example.com")


def test_anonymous_visitors_need_no_hash_on_enforced_websites(secure_widget):
    assert secure_widget.ping().status_code == 200


def test_hash_is_not_checked_when_verification_is_off(widget):
    assert widget.ping(user={"user_id": "u-1", "user_hash": "00" * 32}).status_code == 200


# --- consent ------------------------------------------------------------------------------------


def test_support_only_website_records_nothing_before_consent(client, support_only_website):
    widget = Widget(client, support_only_website)
    answer = widget.ping(user={"user_id": "u-1"}).json()
    assert answer["anonymous_id"] is None and answer["token"] is None
    assert answer["tracking"] == "support_only"
    assert not Contact.objects.exists() and not PageView.objects.exists()


def test_support_only_website_tracks_after_consent(client, support_only_website, ingest_flush):
    widget = Widget(client, support_only_website)
    answer = widget.ping(consent=True).json()
    assert answer["anonymous_id"] and answer["token"]
    ingest_flush()
    assert PageView.objects.count() == 1
    widget.ping()  # consent travels in the token on the next pages
    ingest_flush()
    assert PageView.objects.count() == 2
    assert widget.event("clicked").json()["tracked"] is True


def test_support_only_chat_token_without_consent_tracks_nothing(client, support_only_website):
    from tracking.widget_auth import widget_token_sign

    lead = LeadFactory()
    widget = Widget(client, support_only_website)
    widget.token = widget_token_sign(contact_id=lead.pk, website_id=support_only_website.pk)
    answer = widget.ping().json()
    assert answer["contact"]["role"] == "lead" and answer["token"] == widget.token
    assert answer["anonymous_id"] is None
    assert widget.event("clicked").json()["tracked"] is False
    assert not PageView.objects.exists() and not Event.objects.exists()


# --- widget state -------------------------------------------------------------------------------


def test_the_ping_answer_carries_the_chat_state(widget, ingest_flush):
    widget.ping()
    ingest_flush()
    contact = Contact.objects.get()
    conversation = conversation_services.conversation_start_by_contact(contact=contact, body="Hi")
    for body in ("Hello!", "Still there?"):
        conversation_services.conversation_reply_as_teammate(
            conversation=conversation, teammate=TeammateFactory(), body=body
        )
    answer = widget.ping().json()
    assert answer["unread_count"] == 2
    assert [c["id"] for c in answer["conversations"]] == [conversation.public_id]
    assert answer["messages"] == []


# --- shutdown and update ------------------------------------------------------------------------


def test_shutdown_starts_a_new_session_on_the_next_page_view(widget, ingest_flush):
    widget.ping()
    assert widget.post("shutdown", {"token": widget.token}).status_code == 200
    widget.token = widget.anonymous_id = None
    widget.ping()
    ingest_flush()
    assert WebSession.objects.count() == 2


def test_update_records_page_view_of_single_page_apps_and_user_fields(widget, ingest_flush):
    widget.ping()
    response = widget.post("update", {"token": widget.token, "page": {"url": "https://shop.example/#/cart"},
                                      "user": {"name": "Ada"}})  # fmt: skip
    assert response.status_code == 200
    ingest_flush()  # with the ingest queue on, the update's page view follows its commit through it
    assert PageView.objects.count() == 2
    assert Contact.objects.get().name == "Ada"


def test_update_without_valid_token_is_refused(widget):
    response = widget.post("update", {"token": "forged", "user": {"name": "Ada"}})
    assert response.status_code == 403
    assert response.json()["error"]["field"] == "token"


def test_steady_state_page_view_is_one_statement_on_postgresql(widget, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the single-statement path is PostgreSQL's (a data-modifying CTE)")
    settings.PARLEY_PAGE_VIEW_BUFFER_URL = ""  # unbuffered: the request writes its page view itself
    widget.ping()
    widget.ping()
    with CaptureQueriesContext(connection) as captured:
        widget.ping("https://shop.example/cte")
    ours = [q["sql"] for q in captured if "tracking_" in q["sql"] or "contacts_contact" in q["sql"]]
    assert len(ours) == 1, ours
    assert WebSession.objects.get().page_views_count == 3
    assert PageView.objects.filter(url="https://shop.example/cte").exists()


def test_cached_contact_snapshot_holds_the_right_fields_and_loads_the_rest_on_demand(widget, django_assert_num_queries):
    user = UserContactFactory(name="Ada Lovelace", email="ada@example.com", phone="+44 20 7946 0000")
    widget.ping(user={"user_id": user.external_id})
    widget.ping()  # the hot path now answers from the cached snapshot
    state = HotPathState.load(user.pk)
    snapshot = state.snapshot(dt.datetime.now(tz=dt.UTC).timestamp())
    assert (snapshot.pk, snapshot.role, snapshot.name, snapshot.external_id, snapshot.email) == (
        user.pk, "user", "Ada Lovelace", user.external_id, "ada@example.com",
    )  # fmt: skip
    assert str(snapshot.anonymous_id) == str(user.anonymous_id)
    with django_assert_num_queries(1):
        assert snapshot.phone == "+44 20 7946 0000"  # not in the snapshot: read from the row, not a default


def test_a_snapshot_is_the_instance_a_query_for_its_fields_gives(widget):
    user = UserContactFactory(name="Ada Lovelace", email="ada@example.com")
    widget.ping(user={"user_id": user.external_id})
    state = HotPathState.load(user.pk)
    now_ts = dt.datetime.now(tz=dt.UTC).timestamp()
    snapshot = state.snapshot(now_ts)
    row = Contact.objects.only(*CONTACT_SNAPSHOT_FIELDS).get(pk=user.pk)
    assert snapshot.get_deferred_fields() == row.get_deferred_fields()
    assert (snapshot._state.adding, snapshot.pk) == (False, user.pk)
    loaded = {name: str(getattr(row, name)) for name in CONTACT_SNAPSHOT_FIELDS}
    assert {name: str(getattr(snapshot, name)) for name in CONTACT_SNAPSHOT_FIELDS} == loaded
    # Built without Model.__init__, unless something listens to its signals: then it is built the usual way.
    heard = []
    post_init.connect(lambda instance, **kwargs: heard.append(instance), sender=Contact, weak=False, dispatch_uid="t")
    try:
        built = state.snapshot(now_ts)
        assert heard == [built]
    finally:
        post_init.disconnect(sender=Contact, dispatch_uid="t")
