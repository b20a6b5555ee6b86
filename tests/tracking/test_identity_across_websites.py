"""Identity verification across websites: a website that does not enforce verification never
exposes a user who belongs to one that does (docs/architecture.md, "Widget trust rules")."""

import time
from types import SimpleNamespace

import pytest
from django.core.cache import cache

from contacts.models import Contact
from conversations import services as conversations
from tests.contacts.factories import LeadFactory, UserContactFactory
from tests.tracking.conftest import ORIGIN, Widget
from tests.tracking.factories import user_hash
from tracking import services, widget_auth
from tracking.models import WebSession, Website
from tracking.services.hot_path import HotPathState
from tracking.services.websites import website_update
from tracking.widget_auth import widget_token_read

pytestmark = pytest.mark.django_db


def _signed_in_on_the_bank(client, bank, user):
    """The real user boots on A with a valid hash and writes to support there."""
    identity = {"user_id": user.external_id} if user.external_id else {"email": user.email}
    widget = Widget(client, bank)
    signed = {**identity, "user_hash": user_hash(bank, user.external_id or user.email)}
    assert widget.ping(user=signed).status_code == 200
    conversations.conversation_start_by_contact(contact=user, body="My account number is 12345678", website=bank)
    return widget


def _conversations(client, website, token):
    return client.get(f"/widget-api/{website.app_id}/conversations", {"token": token}, HTTP_ORIGIN=ORIGIN)


def _poll(client, website, token):
    return client.get(f"/widget-api/{website.app_id}/poll", {"token": token}, HTTP_ORIGIN=ORIGIN)


def _assert_refused_as_anonymous(response):
    """The claim is ignored: an anonymous answer that says why (docs/widget-protocol.md), never the user."""
    assert response.status_code == 200
    answer = response.json()
    assert answer["contact"]["role"] == "visitor"
    assert (answer.get("conversations", []), answer.get("unread_count", 0)) == ([], 0)  # update has neither
    assert [warning["field"] for warning in answer["warnings"]] == ["user.user_hash"]


def _assert_attacker_sees_nothing(client, blog, attacker, victim):
    """The attacker's own token on B names the attacker's visitor, which holds none of the victim's data."""
    assert widget_token_read(token=attacker.token, website_id=blog.pk).contact_id != victim.pk
    assert _conversations(client, blog, attacker.token).json()["conversations"] == []
    poll = _poll(client, blog, attacker.token).json()
    assert (poll["unread_count"], poll["changed"]) == (0, [])
    assert Contact.objects.filter(pk=victim.pk, role=Contact.Role.USER).exists()
    assert not WebSession.objects.filter(contact=victim, website=blog).exists()


@pytest.mark.parametrize(
    ("victim_user_id", "claim"),
    [("u-1", {"user_id": "u-1"}), (None, {"email": "VICTIM@example.com"}), ("u-1", {"email": "victim@example.com"})],
)
def test_a_user_verified_on_one_website_cannot_be_claimed_on_a_website_without_verification(
    client, bank, blog, victim_user_id, claim
):
    victim = UserContactFactory(external_id=victim_user_id, email="victim@example.com")
    _signed_in_on_the_bank(client, bank, victim)
    attacker = Widget(client, blog)
    attacker.ping()

    response = attacker.ping(user=claim)

    _assert_refused_as_anonymous(response)
    _assert_attacker_sees_nothing(client, blog, attacker, victim)


def test_the_update_endpoint_cannot_claim_a_verified_user_either(client, bank, blog):
    victim = UserContactFactory(external_id="u-1")
    _signed_in_on_the_bank(client, bank, victim)
    attacker = Widget(client, blog)
    attacker.ping()

    response = attacker.post("update", {"token": attacker.token, "user": {"user_id": "u-1"}})

    _assert_refused_as_anonymous(response)
    attacker.token = response.json()["token"]
    _assert_attacker_sees_nothing(client, blog, attacker, victim)


def test_a_verified_users_email_cannot_be_taken_with_another_user_id(client, bank, blog):
    victim = UserContactFactory(external_id="u-1", email="victim@example.com")
    _signed_in_on_the_bank(client, bank, victim)
    attacker = Widget(client, blog)

    response = attacker.ping(user={"user_id": "attacker", "email": "victim@example.com"})

    # Left off, not refused: a refusal would tell the attacker whose email it is (test_no_email_oracle.py).
    assert response.status_code == 200
    assert Contact.objects.get(external_id="attacker").email == ""
    _assert_attacker_sees_nothing(client, blog, attacker, victim)


def test_a_conversation_on_the_verifying_website_is_enough_to_protect_the_user(client, bank, blog):
    victim = UserContactFactory(external_id="u-1")
    conversations.conversation_start_by_contact(contact=victim, body="Hello", website=bank)  # no session there

    attacker = Widget(client, blog)
    _assert_refused_as_anonymous(attacker.ping(user={"user_id": "u-1"}))
    _assert_attacker_sees_nothing(client, blog, attacker, victim)


def test_a_valid_hash_of_the_weaker_website_identifies_the_verified_user_there(client, bank, blog):
    victim = UserContactFactory(external_id="u-1")
    _signed_in_on_the_bank(client, bank, victim)
    widget = Widget(client, blog)

    response = widget.ping(user={"user_id": "u-1", "user_hash": user_hash(blog, "u-1")})

    assert response.status_code == 200
    assert widget_token_read(token=widget.token, website_id=blog.pk).contact_id == victim.pk
    assert len(_conversations(client, blog, widget.token).json()["conversations"]) == 1


def test_users_who_never_met_a_verifying_website_are_identified_without_a_hash_as_before(client, bank, blog):
    user = UserContactFactory(external_id="u-2", email="reader@example.com")
    conversations.conversation_start_by_contact(contact=user, body="Nice post", website=blog)
    widget = Widget(client, blog)

    response = widget.ping(user={"user_id": "u-2"})

    assert response.status_code == 200
    assert widget_token_read(token=widget.token, website_id=blog.pk).contact_id == user.pk
    assert len(response.json()["conversations"]) == 1
    assert Widget(client, blog).ping(user={"email": "reader@example.com"}).status_code == 200


@pytest.mark.parametrize("cache_lost", [False, True])
def test_a_token_taken_by_claiming_a_user_id_early_stops_working_once_the_user_signs_in_verified(
    client, bank, blog, monkeypatch, cache_lost
):
    """Revoked for good: the contact's row keeps the revocation, so a cache that lost its entry (Redis restarted
    without persistence, an eviction) does not revive the token."""
    attacker = Widget(client, blog)
    assert attacker.ping(user={"user_id": "u-9"}).status_code == 200  # claimed before the real user ever came
    claimed = widget_token_read(token=attacker.token, website_id=blog.pk).contact_id
    later = time.time() + 10
    monkeypatch.setattr(widget_auth, "time", SimpleNamespace(time=lambda: later))

    victim = Widget(client, bank)
    assert victim.ping(user={"user_id": "u-9", "user_hash": user_hash(bank, "u-9")}).status_code == 200
    assert widget_token_read(token=victim.token, website_id=bank.pk).contact_id == claimed
    conversations.conversation_start_by_contact(contact=Contact.objects.get(pk=claimed), body="Secret", website=bank)
    if cache_lost:
        cache.clear()

    assert _conversations(client, blog, attacker.token).status_code == 403
    assert _poll(client, blog, attacker.token).status_code == 403
    assert attacker.post("update", {"token": attacker.token, "user": {"name": "x"}}).status_code == 403
    answer = attacker.ping().json()  # the revoked token is ignored: a new anonymous visitor, seeing nothing
    assert answer["conversations"] == [] and answer["contact"]["role"] == "visitor"
    _assert_refused_as_anonymous(attacker.ping(user={"user_id": "u-9"}))
    # The verified browser keeps working.
    assert _conversations(client, bank, victim.token).json()["conversations"][0]["last_part"]["body"] == "Secret"


def test_the_row_keeps_a_revocation_written_at_most_once_a_minute(client, bank, monkeypatch):
    user = UserContactFactory(external_id="u-7")
    clock = [time.time()]
    monkeypatch.setattr(widget_auth, "time", SimpleNamespace(time=lambda: clock[0]))

    def sign_in():
        assert (
            Widget(client, bank).ping(user={"user_id": "u-7", "user_hash": user_hash(bank, "u-7")}).status_code == 200
        )
        user.refresh_from_db()
        return user.widget_tokens_revoked_at.timestamp()

    first = sign_in()
    clock[0] += 30
    assert sign_in() == first  # every signed-in page view signs in: the cache entry moves, the row waits
    clock[0] += 31
    assert sign_in() == pytest.approx(clock[0])


def test_a_revoked_token_is_replaced_when_the_browser_signs_in_with_a_valid_hash(client, bank, blog, monkeypatch):
    user = UserContactFactory(external_id="u-5")
    on_blog = Widget(client, blog)
    signed_on_blog = {"user_id": "u-5", "user_hash": user_hash(blog, "u-5")}
    assert on_blog.ping(user=signed_on_blog).status_code == 200
    revoked = on_blog.token
    later = time.time() + 10
    monkeypatch.setattr(widget_auth, "time", SimpleNamespace(time=lambda: later))
    _signed_in_on_the_bank(client, bank, user)  # revokes the older token on the blog
    assert _poll(client, blog, revoked).status_code == 403

    # A second later (a token of the sign-in's own second is revoked too, so no claim racing it survives):
    monkeypatch.setattr(widget_auth, "time", SimpleNamespace(time=lambda: later + 1))
    assert on_blog.ping(user=signed_on_blog).status_code == 200

    assert on_blog.token != revoked
    assert widget_token_read(token=on_blog.token, website_id=blog.pk).contact_id == user.pk
    assert _poll(client, blog, on_blog.token).status_code == 200


def test_a_lead_with_a_user_id_who_wrote_on_the_verifying_website_cannot_be_claimed_either(client, bank, blog):
    lead = LeadFactory(external_id="crm-7")  # a lead the site's CRM created through the API
    conversations.conversation_start_by_contact(contact=lead, body="Quote for 40 seats?", website=bank)

    attacker = Widget(client, blog)
    response = attacker.ping(user={"user_id": "crm-7"})

    _assert_refused_as_anonymous(response)
    assert widget_token_read(token=attacker.token, website_id=blog.pk).contact_id != lead.pk
    assert Contact.objects.get(pk=lead.pk).role == Contact.Role.LEAD


# --- a website that switches verification on ---------------------------------------------------------


def _enforce(website):
    """What the admin does: the website's cached row is dropped at once."""
    return website_update(website=website, identity_verification=Website.IdentityVerification.ENFORCED)


def _assert_token_refused(client, website, widget, token):
    assert _conversations(client, website, token).status_code == 403
    assert _poll(client, website, token).status_code == 403
    assert widget.post("update", {"token": token, "user": {"name": "x"}}).status_code == 403
    widget.token = token
    answer = widget.ping().json()  # the token is ignored: a new anonymous visitor, seeing nothing
    assert (answer["contact"]["role"], answer["conversations"], answer["unread_count"]) == ("visitor", [], 0)


def test_a_token_claimed_unsigned_before_the_website_enforced_stops_working_once_it_does(client, blog, monkeypatch):
    attacker = Widget(client, blog)
    assert attacker.ping(user={"user_id": "cust-42"}).status_code == 200  # verification still off
    taken = attacker.token
    later = time.time() + 10
    monkeypatch.setattr(widget_auth, "time", SimpleNamespace(time=lambda: later))
    _enforce(blog)

    victim = Widget(client, blog)
    assert victim.ping(user={"user_id": "cust-42", "user_hash": user_hash(blog, "cust-42")}).status_code == 200
    user = Contact.objects.get(external_id="cust-42")
    conversations.conversation_start_by_contact(contact=user, body="My card ends 4242", website=blog)

    _assert_token_refused(client, blog, attacker, taken)
    # The verified browser keeps working.
    assert _conversations(client, blog, victim.token).json()["conversations"][0]["last_part"]["body"] == (
        "My card ends 4242"
    )
    assert _poll(client, blog, victim.token).json()["unread_count"] == 0


def test_a_token_revoked_by_a_sign_in_elsewhere_stays_revoked_when_its_website_starts_enforcing(
    client, bank, blog, monkeypatch
):
    attacker = Widget(client, blog)
    assert attacker.ping(user={"user_id": "cust-77"}).status_code == 200
    taken = attacker.token
    later = time.time() + 10
    monkeypatch.setattr(widget_auth, "time", SimpleNamespace(time=lambda: later))
    victim = _signed_in_on_the_bank(client, bank, Contact.objects.get(external_id="cust-77"))
    assert _poll(client, blog, taken).status_code == 403

    _enforce(blog)

    _assert_token_refused(client, blog, attacker, taken)
    assert _conversations(client, bank, victim.token).status_code == 200


def test_an_enforcing_website_takes_a_users_token_only_from_a_verified_sign_in(client, blog):
    """Also a token claimed unsigned while the website's cached row still said "off", with no sign-in since."""
    attacker = Widget(client, blog)
    assert attacker.ping(user={"user_id": "cust-5"}).status_code == 200
    taken = attacker.token
    user = Contact.objects.get(external_id="cust-5")
    conversations.conversation_start_by_contact(contact=user, body="Hello", website=blog)
    _enforce(blog)

    assert _conversations(client, blog, taken).status_code == 403
    assert _poll(client, blog, taken).status_code == 403  # the role read from the snapshot the ping cached
    cache.delete(HotPathState.key(user.pk))
    assert _poll(client, blog, taken).status_code == 403  # and from the database without one
    _assert_token_refused(client, blog, attacker, taken)
    # A visitor's token is the browser's own: it keeps working.
    visitor = Widget(client, blog)
    assert visitor.ping().status_code == 200
    assert _poll(client, blog, visitor.token).status_code == 200
    assert visitor.post("update", {"token": visitor.token, "user": {"name": "Ann"}}).status_code == 200


def test_a_verified_token_on_an_enforcing_website_survives_sign_ins_elsewhere(client, bank, monkeypatch):
    user = UserContactFactory(external_id="u-3")
    on_bank = _signed_in_on_the_bank(client, bank, user)
    later = time.time() + 10
    monkeypatch.setattr(widget_auth, "time", SimpleNamespace(time=lambda: later))
    shop = services.website_create(
        name="Shop", allowed_origins=[ORIGIN], identity_verification=Website.IdentityVerification.ENFORCED
    )
    assert Widget(client, shop).ping(user={"user_id": "u-3", "user_hash": user_hash(shop, "u-3")}).status_code == 200

    assert _conversations(client, bank, on_bank.token).status_code == 200
    assert _poll(client, bank, on_bank.token).status_code == 200
    assert on_bank.ping().json()["contact"]["role"] == "user"


def test_a_users_token_from_before_the_switch_is_renewed_by_a_verified_ping(client, blog):
    widget = Widget(client, blog)
    assert widget.ping(user={"user_id": "u-8"}).status_code == 200  # the site did not sign yet
    _enforce(blog)

    signed = {"user_id": "u-8", "user_hash": user_hash(blog, "u-8")}
    assert widget.ping(user=signed).json()["contact"]["role"] == "user"

    assert widget_token_read(token=widget.token, website_id=blog.pk).verified
    assert _poll(client, blog, widget.token).status_code == 200
    assert widget.post("update", {"token": widget.token, "user": {**signed, "name": "Eve"}}).status_code == 200
