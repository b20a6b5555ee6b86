"""The signed widget token: which contact on which website a widget request acts for."""

import datetime as dt
import functools
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.utils.encoding import force_bytes

from contacts.models import Contact

WIDGET_TOKEN_SALT = "parley.widget-token"  # noqa: S105 - a signing namespace, not a secret
# The widget keeps the token in its one-week session cookie; a ping renews a token older than
# WIDGET_TOKEN_RENEW_SECONDS (signing one on every page view costs the hot path for nothing).
WIDGET_TOKEN_RENEW_SECONDS = 3600
# The cookie lives a week from the last page view, which may carry a token up to an hour old.
WIDGET_TOKEN_MAX_AGE_SECONDS = 7 * 24 * 3600 + WIDGET_TOKEN_RENEW_SECONDS


@dataclass(frozen=True)
class WidgetIdentity:
    contact_id: int
    website_id: int
    # The visitor explicitly gave analytics consent on this website (never the website's default:
    # a page view recorded under "Full" is no consent once the owner switches to "Support only").
    tracking_consent: bool = False
    issued_at: float = 0  # Unix time (to the millisecond); 0 for tokens signed before it was recorded
    # Issued to a sign-in with a valid user_hash of this website (the only kind a website that
    # enforces verification honours for a user; see widget_token_may_act_for_user).
    verified: bool = False

    def still_fresh_for(self, *, contact_id: int, tracking_consent: bool, verified: bool, now: float) -> bool:
        """The token says the same as a new one would, and is young enough to keep."""
        return (
            self.contact_id == contact_id
            and self.tracking_consent == tracking_consent
            and self.verified == verified
            and now - self.issued_at < WIDGET_TOKEN_RENEW_SECONDS
        )


def widget_token_sign(
    *, contact_id: int, website_id: int, tracking_consent: bool = False, verified: bool = False
) -> str:
    # Milliseconds: a revocation must tell apart a token signed just before it from one just after.
    now = time.time()
    payload = {"c": contact_id, "w": website_id, "m": int(now * 1000)}
    if tracking_consent:
        # "x" (explicit), not the "t" older versions set whenever a page view was recorded: those
        # tokens carried the website's default as if it were the visitor's consent, and count for nothing.
        payload["x"] = 1
    if verified:
        payload["v"] = 1
    if all(type(value) is int for value in payload.values()):
        token = _signed(payload, now=int(now))
    else:  # (never from Parley's callers: primary keys) what _signed writes holds for ints only
        token = signing.dumps(payload, salt=WIDGET_TOKEN_SALT, compress=False)
    # Known valid: its next reading here (the answer's own scope, the browser's next page view) skips the check.
    _remember(token, _identity(payload))
    return token


def _signed(payload: dict[str, int], *, now: int) -> str:
    """signing.dumps(payload, salt=WIDGET_TOKEN_SALT) at Unix time `now`, byte for byte (signing.loads reads it),
    without its dozen layers of serializer, signer classes and a key derived again each time (a new visitor's
    token took 70 µs of its ping that way)."""
    data = ",".join(f'"{name}":{value}' for name, value in payload.items())  # json.dumps of ints
    value = f"{signing.b64_encode(('{' + data + '}').encode()).decode()}:{signing.b62_encode(now)}"
    mac = hmac.new(_token_key(settings.SECRET_KEY), value.encode(), hashlib.sha256).digest()  # (hmac.digest: slower)
    return f"{value}:{signing.b64_encode(mac).decode()}"


@functools.lru_cache(maxsize=4)
def _token_key(secret_key: str | bytes) -> bytes:
    """The HMAC key Django's Signer derives from the secret for this salt (django.utils.crypto.salted_hmac)."""
    return hashlib.sha256(f"{WIDGET_TOKEN_SALT}signer".encode() + force_bytes(secret_key)).digest()


# Tokens checked by this process: the widget sends the same token for up to an hour, so its
# signature is checked once, not on every page view. Only valid tokens are kept.
VERIFIED_TOKENS_MAX = 20_000
_verified: dict[str, WidgetIdentity] = {}


def widget_token_read(*, token: str, website_id: int) -> WidgetIdentity | None:
    """The identity in a valid, unexpired token for this website; None for anything else."""
    if not isinstance(token, str) or len(token) > 512:
        return None
    identity = _verified.get(token)
    if identity is None or time.time() - identity.issued_at >= WIDGET_TOKEN_MAX_AGE_SECONDS:
        identity = _verify(token)
    if identity is None or identity.website_id != website_id:
        return None
    return identity


def _verify(token: str) -> WidgetIdentity | None:
    try:
        payload = signing.loads(token, salt=WIDGET_TOKEN_SALT, max_age=WIDGET_TOKEN_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("w"), int) or not isinstance(payload.get("c"), int):
        return None
    identity = _identity(payload)
    _remember(token, identity)
    return identity


def _identity(payload: dict[str, Any]) -> WidgetIdentity:
    if isinstance(payload.get("m"), int):
        issued_at: float = payload["m"] / 1000
    else:  # tokens signed before milliseconds: whole seconds, or nothing at all
        issued_at = payload.get("i") if isinstance(payload.get("i"), int) else 0
    return WidgetIdentity(
        contact_id=payload["c"],
        website_id=payload["w"],
        tracking_consent=payload.get("x") == 1,
        issued_at=issued_at,
        verified=payload.get("v") == 1,
    )


def _remember(token: str, identity: WidgetIdentity) -> None:
    if identity.issued_at:  # older tokens carry no issue time to expire the memo with
        if len(_verified) >= VERIFIED_TOKENS_MAX:
            _verified.clear()
        _verified[token] = identity


# --- revocation after a verified sign-in -------------------------------------------------------------


class CacheReader(Protocol):
    """Django's cache, or a request's entries read ahead (common.rate_limit.CacheReads)."""

    def get(self, key: str) -> Any: ...


# How stale the row's copy of a revocation may be (widget_tokens_revoke_unverified).
REVOCATION_ROW_SECONDS = 60


def widget_tokens_revoked_key(contact_id: int) -> str:
    return f"tracking:tokens-revoked:{contact_id}"


def widget_tokens_revoke_unverified(*, contact: Contact) -> None:
    """A sign-in on a verifying website happened: the contact's tokens issued before it, on websites
    that do not enforce verification, stop working (one may have been taken by claiming the user id unsigned).
    `contact`: its row, locked by the sign-in."""
    # To the millisecond: the sign-in locked the contact row, so a claim that got a token first signed
    # it earlier; at whole seconds, a claim of the same second (an attacker pinging 20 times a second) kept it.
    now = time.time()
    cache.set(widget_tokens_revoked_key(contact.pk), now, WIDGET_TOKEN_MAX_AGE_SECONDS)
    # The row keeps it too, so that a cache that lost the entry (restarted without persistence, evicted) does not
    # revive those tokens; at most once a minute, not on every signed-in page view: a cache lost within a minute of
    # a sign-in leaves a claim of that minute to the user's next sign-in.
    kept = contact.widget_tokens_revoked_at
    if kept is None or now - kept.timestamp() >= REVOCATION_ROW_SECONDS:
        at = dt.datetime.fromtimestamp(now, dt.UTC)
        Contact.objects.filter(pk=contact.pk).update(widget_tokens_revoked_at=at)
        contact.widget_tokens_revoked_at = at


def widget_token_revoked(*, identity: WidgetIdentity, website_enforces: bool, reads: CacheReader = cache) -> bool:
    """Revoked by a later verified sign-in; the caller read the entry ahead (widget_tokens_revoked_key).

    Checked on every website: one that enforces verification now may have issued the token before it
    did (or while its cached row still said it did not). Only a token a verified sign-in got there is
    exempt: a later sign-in elsewhere proves nothing against it (and must not end the sign-in's own token)."""
    revoked_before = reads.get(widget_tokens_revoked_key(identity.contact_id))
    return _issued_before(
        identity, website_enforces, revoked_before if isinstance(revoked_before, int | float) else None
    )


def widget_token_revoked_by_row(*, identity: WidgetIdentity, website_enforces: bool, revoked_at: Any) -> bool:
    """widget_token_revoked against the row's own record (`revoked_at`: its widget_tokens_revoked_at, or a snapshot's
    copy of it): checked wherever the row, or a copy of it, is read anyway."""
    return _issued_before(
        identity, website_enforces, revoked_at.timestamp() if isinstance(revoked_at, dt.datetime) else None
    )


def _issued_before(identity: WidgetIdentity, website_enforces: bool, revoked_before: float | None) -> bool:
    """Whether the token was issued by a revocation at `revoked_before` (Unix time; None: none), unless exempt."""
    if website_enforces and identity.verified:
        return False
    return revoked_before is not None and identity.issued_at <= revoked_before


def widget_token_may_act_for_user(*, identity: WidgetIdentity, website_enforces: bool) -> bool:
    """A website that enforces verification honours a token naming a user only when a verified sign-in
    got it: a token taken by claiming the user id unsigned, before the switch or while the website's
    cached row still said "off", names a user the website does not vouch for."""
    return identity.verified or not website_enforces
