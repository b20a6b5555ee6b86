"""Writes for websites, and the widget ingest: contacts, sessions, page views and events."""

import datetime as dt
import functools
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from contacts import lifecycle
from contacts import services as contacts_services
from contacts.custom_attributes import custom_attributes_split_defined, custom_attributes_split_valid
from contacts.models import Contact
from contacts.selectors import contacts_with_email
from tracking import page_view_buffer
from tracking.enrichment import describe_device, locate
from tracking.models import UTM_MAX_LENGTH, Event, EventSummary, PageView, RejectedAttribute, WebSession, Website
from tracking.payloads import EventInput, PageInput, PingInput, UpdateInput, UserInput
from tracking.selectors import (
    contact_belongs_to_verifying_website,
    contact_for_widget,
    export_rows,
    website_cache_forget,
)
from tracking.widget_auth import (
    CacheReader,
    WidgetIdentity,
    widget_token_revoked,
    widget_token_sign,
    widget_tokens_revoke_unverified,
    widget_tokens_revoked_key,
)

DEFAULT_PORTS = {"http": 80, "https": 443}


def _clean_origin(origin: str) -> str:
    """ "HTTPS://Shop.example.com:443/" → "https://shop.example.com": the form browsers send in Origin."""
    refused = ValidationError({"allowed_origins": f"{origin!r} is not an origin like https://example.com."})
    parts = urlsplit(origin.strip())
    try:
        port = parts.port
    except ValueError:
        raise refused from None
    if (
        parts.scheme not in DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise refused
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[parts.scheme] else "")


def website_origins_clean(*, origins: list[str]) -> list[str]:
    """Origins as browsers send them, each once, blank lines dropped; a bad one is refused by name."""
    return list(dict.fromkeys(_clean_origin(origin) for origin in origins if origin.strip()))


@transaction.atomic
def website_create(
    *,
    name: str,
    allowed_origins: list[str],
    identity_verification: str = Website.IdentityVerification.OFF,
    tracking_mode: str = Website.TrackingMode.FULL,
) -> Website:
    """Register a site that embeds the widget."""
    if not name or not name.strip():
        raise ValidationError({"name": "A website needs a name."})
    website = Website(
        name=name.strip(),
        allowed_origins=website_origins_clean(origins=allowed_origins),
        identity_verification=identity_verification,
        tracking_mode=tracking_mode,
    )
    website.full_clean()
    website.save()
    return website


@transaction.atomic
def website_update(*, website: Website, **fields: object) -> Website:
    if "allowed_origins" in fields:
        fields["allowed_origins"] = website_origins_clean(origins=fields["allowed_origins"])  # type: ignore[arg-type]
    for name, value in fields.items():
        setattr(website, name, value)
    website.full_clean()
    website.save()
    website_cache_forget(app_id=website.app_id)
    return website


# --- widget ingest -------------------------------------------------------------------------------

# A new web session starts after this long without activity, or after this long in total.
SESSION_IDLE = dt.timedelta(minutes=30)
SESSION_MAX_LENGTH = dt.timedelta(hours=24)
# last_seen_at is written at most once per this many seconds per contact.
LAST_SEEN_RESOLUTION_SECONDS = 60
UTM_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# The hot-path state lives as long as a session can stay idle.
VISIT_STATE_SECONDS = int(SESSION_IDLE.total_seconds())
# The fast path rewrites the cached last activity only when it is this stale (one cache write saved per ping).
STATE_REFRESH_SECONDS = 300
# The hot path reads the token's contact from a short-lived cache snapshot instead of the database.
CONTACT_SNAPSHOT_SECONDS = 60
CONTACT_SNAPSHOT_FIELDS = ("role", "name", "external_id", "email", "anonymous_id")
_SNAPSHOT_ATTNAMES = frozenset(("id", *CONTACT_SNAPSHOT_FIELDS))


@functools.cache
def _snapshot_field_order() -> tuple[str, ...]:
    """The snapshot's fields in the model's column order, the order Model.from_db takes values in."""
    return tuple(f.attname for f in Contact._meta.concrete_fields if f.attname in _SNAPSHOT_ATTNAMES)


WidgetStateProvider = Callable[[Contact, CacheReader], dict[str, Any]]
CacheKeys = Callable[[int], list[str]]
_widget_state_providers: list[WidgetStateProvider] = []
_widget_state_cache_keys: list[CacheKeys] = []


class IdentityVerificationFailed(Exception):
    """user_id/email sent without a valid user_hash while the website enforces verification."""


@dataclass(frozen=True)
class Visit:
    """What the request itself tells about the visitor; the IP lives here in memory only."""

    now: dt.datetime
    ip: str | None = field(default=None, repr=False)
    user_agent: str = ""
    browser_language: str = ""


@dataclass(frozen=True)
class WidgetAnswer:
    contact: Contact | None
    token: str | None
    tracking: bool
    # Custom attributes left out because the input may not define new ones (no valid user_hash).
    ignored_attributes: list[str] = field(default_factory=list)


def register_widget_state_provider(provider: WidgetStateProvider, *, cache_keys: CacheKeys | None = None) -> None:
    """Apps add keys to the ping answer (unread_count, conversations, messages) with fn(contact, cache).

    `cache_keys(contact_id)` names the cache entries the provider reads: the ping fetches them
    ahead, with its own, in one round trip, and the provider reads them through `cache`.
    """
    if provider not in _widget_state_providers:
        _widget_state_providers.append(provider)
        if cache_keys is not None:
            _widget_state_cache_keys.append(cache_keys)


def widget_read_keys(identity: WidgetIdentity | None) -> list[str]:
    """The cache entries a request for this token's contact reads: fetched in its preflight."""
    if identity is None:
        return []
    keys = [_VisitState.key(identity.contact_id), _gone_key(identity.contact_id)]
    keys.append(widget_tokens_revoked_key(identity.contact_id))
    for cache_keys in _widget_state_cache_keys:
        keys += cache_keys(identity.contact_id)
    return keys


def widget_state(*, contact: Contact | None, reads: CacheReader = cache) -> dict[str, Any]:
    state: dict[str, Any] = {"unread_count": 0, "conversations": [], "messages": []}
    if contact is not None:
        for provider in _widget_state_providers:
            state.update(provider(contact, reads))
    return state


def _tracking_allowed(*, website: Website, consent: bool) -> bool:
    return website.tracking_mode == Website.TrackingMode.FULL or consent


def user_hash_valid(*, website: Website, user: UserInput) -> bool:
    """Constant-time check of the hex HMAC-SHA256 of user_id (or of email when there is no user_id)."""
    if not user.user_hash:
        return False
    subject = user.user_id or user.email or ""
    expected = hmac.new(website.identity_secret.encode(), subject.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, user.user_hash.lower())


def _verify_identity(*, website: Website, user: UserInput | None) -> None:
    if (
        user is not None
        and user.identifies
        and website.identity_verification == Website.IdentityVerification.ENFORCED
        and not user_hash_valid(website=website, user=user)
    ):
        raise IdentityVerificationFailed


def _user_field_errors(error: ValidationError) -> ValidationError:
    """Name the widget's fields (user.email, user.user_id, …) in errors raised by the contact services."""
    renamed = {"external_id": "user_id", "signed_up_at": "created_at"}
    messages = {}
    for name, texts in error.message_dict.items():
        messages[f"user.{renamed.get(name, name)}"] = texts
    return ValidationError(messages)


def _matches_identity(contact: Contact, user: UserInput) -> bool:
    if contact.role != Contact.Role.USER:
        return False
    if user.user_id:
        return contact.external_id == user.user_id
    return bool(user.email) and contact.email.lower() == (user.email or "").lower()


class _ContactGone(Exception):
    """The token's contact was merged away, erased or expired since its snapshot was cached."""


@dataclass
class _VisitState:
    """The hot path's per-contact state, one cache entry: read once and written once per ping.

    It holds a short-lived snapshot of the contact (so a ping need not read the row), the current
    session per website, when last_seen_at was last written and the last user fields applied.
    Losing it costs a few queries, never correctness: every entry is checked against the database.
    """

    contact_id: int
    contact: dict[str, Any] | None = None
    contact_until: float = 0.0
    sessions: dict[str, list[float]] = field(default_factory=dict)
    seen_at: float = 0.0
    user_fingerprint: str = ""

    @staticmethod
    def key(contact_id: int) -> str:
        return f"tracking:visit:{contact_id}"

    @classmethod
    def load(cls, contact_id: int, reads: CacheReader = cache) -> "_VisitState":
        values = reads.get(cls.key(contact_id))
        if isinstance(values, dict):
            try:
                return cls(contact_id=contact_id, **values)
            except TypeError:  # written by an older version
                pass
        return cls(contact_id=contact_id)

    def save(self) -> None:
        values = {name: value for name, value in asdict(self).items() if name != "contact_id"}
        cache.set(self.key(self.contact_id), values, VISIT_STATE_SECONDS)

    def snapshot(self, now_ts: float) -> Contact | None:
        """A partial Contact (what the hot path reads); `_loaded` fetches the row before any write.

        Built like a queryset row with only these fields loaded: the other fields are deferred (read
        from the database if ever touched), and it skips the field defaults Contact() would compute.
        """
        if self.contact is None or now_ts >= self.contact_until:
            return None
        values = {"id": self.contact_id, **self.contact}
        contact = Contact.from_db(None, _SNAPSHOT_ATTNAMES, [values[name] for name in _snapshot_field_order()])
        contact._parley_snapshot = True  # type: ignore[attr-defined]
        return contact

    def remember(self, contact: Contact, now_ts: float) -> None:
        if getattr(contact, "_parley_snapshot", False):
            return
        values = {name: getattr(contact, name) for name in CONTACT_SNAPSHOT_FIELDS}
        values["anonymous_id"] = str(values["anonymous_id"])
        self.contact, self.contact_until = values, now_ts + CONTACT_SNAPSHOT_SECONDS


def _loaded(contact: Contact) -> Contact:
    """The full row behind a snapshot (raises _ContactGone when it no longer exists)."""
    if not getattr(contact, "_parley_snapshot", False):
        return contact
    row = Contact.objects.filter(pk=contact.pk).first()
    if row is None:
        raise _ContactGone
    return row


def _identify(
    *, current: Contact | None, user: UserInput, proven_only: bool = False, on_verifying_website: bool = False
) -> Contact:
    """The user this browser now acts for; an anonymous current contact merges into it.

    With `proven_only` (a valid user_hash, required where verification is enforced) only the
    identifier that user_hash signs picks the contact: given a user_id, the unsigned email never
    selects a user, and it is left off when another user already has it (else anyone could sign
    their own id and claim a victim by email). Without it, an existing user who belongs to a
    website that enforces verification is refused (docs/architecture.md, "Widget trust rules").
    """
    unproven_email = proven_only and bool(user.user_id)
    if current is not None and _matches_identity(current, user):
        email_changed = bool(user.user_id and user.email and current.email.lower() != user.email.lower())
        if email_changed and not (unproven_email and _email_of_another_user(user.email, contact=current)):
            current = contacts_services.contact_update(contact=_loaded(current), email=user.email)
        return current
    if current is not None:
        current = _loaded(current)
    target = None
    # Locked: an unsigned claim waits for a verified sign-in of the same person to commit, then sees
    # it (and is refused); a claim that commits first has its token revoked by that sign-in.
    if user.user_id:
        target = Contact.objects.select_for_update().filter(external_id=user.user_id).first()
    if target is None and user.email and not unproven_email:
        by_email = contacts_with_email(email=user.email).select_for_update().filter(role=Contact.Role.USER).first()
        if by_email is not None and user.user_id and by_email.external_id:
            raise ValidationError({"email": "Another user already has this email."})
        target = by_email
    if (
        target is not None
        and not proven_only
        and target.pk != getattr(current, "pk", None)
        and contact_belongs_to_verifying_website(contact_id=target.pk)
    ):
        raise IdentityVerificationFailed  # a weaker website must not expose a contact verified elsewhere
    if target is not None and on_verifying_website:
        # Whoever claimed this user unsigned before (on a website without verification) loses that token.
        # Not deferred to the commit: a revocation that outlives a rollback only asks for a new sign-in.
        widget_tokens_revoke_unverified(contact_id=target.pk)
    identity = {"external_id": user.user_id, "email": user.email}
    if unproven_email and user.email and _email_of_another_user(user.email, contact=target):
        identity["email"] = None
    if target is None:
        if current is not None and current.role != Contact.Role.USER:
            return contacts_services.contact_convert(contact=current, role=Contact.Role.USER, **identity)
        return contacts_services.contact_create(
            role=Contact.Role.USER, **{k: v for k, v in identity.items() if v is not None}
        )
    if target.role != Contact.Role.USER:
        target = contacts_services.contact_convert(contact=target, role=Contact.Role.USER, **identity)
    else:
        missing = {k: v for k, v in identity.items() if v is not None and not getattr(target, k) and k == "external_id"}
        email = identity["email"]
        if user.user_id and email and target.email.lower() != email.lower():
            missing["email"] = email
        if missing:
            target = contacts_services.contact_update(contact=target, **missing)
    if current is not None and current.pk != target.pk and current.role != Contact.Role.USER:
        target = contacts_services.contact_merge(source=current, into=target)
    return target


def _email_of_another_user(email: str, *, contact: Contact | None) -> bool:
    users = contacts_with_email(email=email).filter(role=Contact.Role.USER)
    return users.exclude(pk=getattr(contact, "pk", None)).exists()


def _fingerprint(user: UserInput) -> str:
    payload = json.dumps([user.fields, user.custom_attributes], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _apply_user_fields(
    *, contact: Contact, user: UserInput, state: _VisitState, website: Website
) -> tuple[Contact, list[str]]:
    """Write name, phone, signed up, language override and custom attributes when they changed.

    Only input with a valid user_hash defines new custom attributes; from anyone else an unknown
    attribute is left out, and its name returned to be reported (docs/architecture.md, "Widget trust rules").
    """
    if not user.fields and user.custom_attributes is None:
        return contact, []
    fingerprint = _fingerprint(user)
    if state.user_fingerprint == fingerprint:
        return contact, []  # the same values as the last page view: nothing to write
    custom_attributes, ignored = user.custom_attributes, []
    verified = user.identifies and user_hash_valid(website=website, user=user)
    if custom_attributes and not verified:
        custom_attributes, ignored = custom_attributes_split_defined(values=custom_attributes)
    if custom_attributes:
        # One attribute the site got wrong (a type, an option) must not cost the page view or the rest.
        custom_attributes, rejected = custom_attributes_split_valid(values=custom_attributes, allow_create=verified)
        if rejected:
            rejected_attributes_record(website=website, rejected=rejected, values=user.custom_attributes or {})
            ignored = [*ignored, *rejected]
    contact = contacts_services.contact_update(
        contact=_loaded(contact), custom_attributes=custom_attributes, define_attributes=verified, **user.fields
    )
    state.user_fingerprint = fingerprint
    return contact, ignored


REJECTED_EXAMPLE_LENGTH = 60


def _example_of(value: Any) -> str:
    """What the admin shows of a refused value: numbers and booleans as they are, text by its length only
    (a visitor's text may be personal data, and this record outlives the contact)."""
    if isinstance(value, bool | int | float):
        return json.dumps(value)[:REJECTED_EXAMPLE_LENGTH]
    if isinstance(value, str):
        return f"text of {len(value)} character(s)"
    return type(value).__name__


def rejected_attributes_record(*, website: Website, rejected: dict[str, str], values: dict[str, Any]) -> None:
    """Count each custom attribute this website sent and Parley refused, with the last reason and example."""
    now = timezone.now()
    for name, reason in rejected.items():
        example = _example_of(values.get(name))
        updated = RejectedAttribute.objects.filter(website=website, name=name[:255]).update(
            count=F("count") + 1, last_reason=reason[:255], last_example=example, last_at=now
        )
        if not updated:
            RejectedAttribute.objects.get_or_create(
                website=website, name=name[:255],
                defaults={"count": 1, "last_reason": reason[:255], "last_example": example, "first_at": now,
                          "last_at": now},
            )  # fmt: skip


def _visitor_create(*, now: dt.datetime) -> Contact:
    contact = contacts_services.contact_create(role=Contact.Role.VISITOR)
    Contact.objects.filter(pk=contact.pk).update(first_seen_at=now, last_seen_at=now)
    contact.first_seen_at = contact.last_seen_at = now
    contact._parley_new = True  # type: ignore[attr-defined]
    return contact


def _touch_last_seen(*, contact: Contact, now: dt.datetime, state: _VisitState) -> None:
    """last_seen_at at most once a minute per contact; first_seen_at on the first sighting."""
    if now.timestamp() - state.seen_at < LAST_SEEN_RESOLUTION_SECONDS:
        return
    Contact.objects.filter(pk=contact.pk).update(
        last_seen_at=Greatest(Coalesce("last_seen_at", Value(now)), Value(now)),
        first_seen_at=Coalesce("first_seen_at", Value(now)),
    )
    contact.last_seen_at = now
    state.seen_at = now.timestamp()


def _utm(url: str) -> dict[str, str]:
    query = parse_qs(urlsplit(url).query)
    return {name: query[name][0][:UTM_MAX_LENGTH] for name in UTM_PARAMETERS if query.get(name)}


def _session_is_current(*, started_at: dt.datetime, last_activity_at: dt.datetime, now: dt.datetime) -> bool:
    return now - last_activity_at <= SESSION_IDLE and now - started_at < SESSION_MAX_LENGTH


def _session_continue_or_open(
    *, contact: Contact, website: Website, page: PageInput, visit: Visit, state: _VisitState
) -> WebSession:
    """Extend the contact's current session or open a new one (enriched once), under a row lock."""
    # Two tabs pinging at once must not both open a session: serialise on the contact row.
    locked = Contact.objects.select_for_update().filter(pk=contact.pk).values_list("pk", flat=True)
    if not list(locked):
        raise _ContactGone
    latest = WebSession.objects.filter(contact=contact, website=website).order_by("-last_activity_at").first()
    if latest is not None and _session_is_current(
        started_at=latest.started_at, last_activity_at=latest.last_activity_at, now=visit.now
    ):
        WebSession.objects.filter(pk=latest.pk).update(
            page_views_count=F("page_views_count") + 1, last_activity_at=Greatest("last_activity_at", Value(visit.now))
        )
        return latest
    location = locate(visit.ip)
    device = describe_device(visit.user_agent)
    session = WebSession.objects.create(
        contact=contact,
        website=website,
        started_at=visit.now,
        last_activity_at=visit.now,
        page_views_count=1,
        landing_url=page.url,
        referrer=page.referrer,
        os=device.os,
        browser=device.browser,
        browser_version=device.browser_version,
        browser_language=visit.browser_language,
        city=location.city,
        country=location.country,
        country_name=location.country_name,
        **_utm(page.url),
    )
    enriched: dict[str, Any] = {
        "web_sessions_count": F("web_sessions_count") + 1,
        "last_seen_at": Greatest(Coalesce("last_seen_at", Value(visit.now)), Value(visit.now)),
        "first_seen_at": Coalesce("first_seen_at", Value(visit.now)),
    }
    # Location and device describe the latest session; an unknown value does not erase a known one.
    for name in ("os", "browser", "browser_version", "browser_language", "city", "country", "country_name"):
        value = getattr(session, name)
        if value:
            enriched[name] = value
    Contact.objects.filter(pk=contact.pk).update(**enriched)
    state.seen_at = visit.now.timestamp()
    return session


def _page_view_record(
    *, contact: Contact, website: Website, page: PageInput, visit: Visit, state: _VisitState
) -> PageView:
    """The page view, in the current session: two statements in the steady state."""
    key = str(website.pk)
    session_id = None
    started_at = visit.now
    if key in state.sessions:
        cached_id, started_ts, last_ts = state.sessions[key]
        started_at = dt.datetime.fromtimestamp(started_ts, tz=dt.UTC)
        last_at = dt.datetime.fromtimestamp(last_ts, tz=dt.UTC)
        if _session_is_current(started_at=started_at, last_activity_at=last_at, now=visit.now):
            # Sessions cascade with their contact and move on merge: a hit proves the contact still exists.
            updated = WebSession.objects.filter(pk=int(cached_id), contact=contact).update(
                page_views_count=F("page_views_count") + 1,
                last_activity_at=Greatest("last_activity_at", Value(visit.now)),
            )
            session_id = int(cached_id) if updated else None
    if session_id is None:
        session = _session_continue_or_open(contact=contact, website=website, page=page, visit=visit, state=state)
        session_id, started_at = session.pk, session.started_at
    else:
        _touch_last_seen(contact=contact, now=visit.now, state=state)
    page_view = PageView.objects.create(
        contact=contact,
        session_id=session_id,
        url=page.url,
        title=page.title,
        referrer=page.referrer,
        created_at=visit.now,
    )
    state.sessions[key] = [session_id, started_at.timestamp(), visit.now.timestamp()]
    return page_view


def _page_view_fast(*, contact: Contact, website: Website, page: PageInput, visit: Visit, state: _VisitState) -> bool:
    """The steady state: a page view in the cached current session, last_seen_at not due.

    Queued in the page-view buffer (no statement at all) when it is on, else one statement on
    PostgreSQL. False (nothing written) whenever the general path must decide: no cached current
    session, last_seen_at due, or (unbuffered) the session row is gone or moved.
    """
    key = str(website.pk)
    cached = state.sessions.get(key)
    if cached is None:
        return False
    session_id, started_ts, last_ts = cached
    now_ts = visit.now.timestamp()
    if now_ts - state.seen_at >= LAST_SEEN_RESOLUTION_SECONDS or not _session_is_current(
        started_at=dt.datetime.fromtimestamp(started_ts, tz=dt.UTC),
        last_activity_at=dt.datetime.fromtimestamp(last_ts, tz=dt.UTC),
        now=visit.now,
    ):
        return False
    # A buffered page view of a contact erased or merged meanwhile is dropped or moved by the flush.
    written = page_view_buffer.page_view_buffer_add(
        session_id=int(session_id), page=page, at=visit.now
    ) or _page_view_in_one_statement(contact=contact, session_id=int(session_id), page=page, visit=visit)
    if written:
        state.sessions[key] = [session_id, started_ts, now_ts]
    return written


def _page_view_in_one_statement(*, contact: Contact, session_id: int, page: PageInput, visit: Visit) -> bool:
    """PostgreSQL: extend the session and insert the page view in ONE statement.

    A data-modifying CTE is atomic on its own, so this needs no BEGIN/COMMIT round trips.
    """
    connection = connections[PageView.objects.db]
    if connection.vendor != "postgresql":
        return False
    sessions, page_views = WebSession._meta.db_table, PageView._meta.db_table
    sql = f"""
        WITH session AS (
            UPDATE {sessions} SET page_views_count = page_views_count + 1,
                last_activity_at = GREATEST(last_activity_at, %s)
            WHERE id = %s AND contact_id = %s RETURNING id
        )
        INSERT INTO {page_views} (contact_id, session_id, url, title, referrer, created_at)
        SELECT %s, session.id, %s, %s, %s, %s FROM session RETURNING id
    """  # noqa: S608 - table names come from the models, values are parameters
    params = [visit.now, session_id, contact.pk, contact.pk, page.url, page.title, page.referrer, visit.now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _nothing_to_write_for(user: UserInput | None, contact: Contact, state: _VisitState) -> bool:
    """The same identity and the same user fields as the last page view."""
    if user is None:
        return True
    if user.identifies and not _matches_identity(contact, user):
        return False
    if user.user_id and user.email and contact.email.lower() != user.email.lower():
        return False
    return (not user.fields and user.custom_attributes is None) or state.user_fingerprint == _fingerprint(user)


def _usable(identity: WidgetIdentity | None, *, website: Website, reads: CacheReader) -> WidgetIdentity | None:
    """The token's identity unless a sign-in on a verifying website revoked it: then the request has no token."""
    enforces = website.identity_verification == Website.IdentityVerification.ENFORCED
    if identity is not None and widget_token_revoked(identity=identity, website_enforces=enforces, reads=reads):
        return None
    return identity


def _contact_for(
    identity: WidgetIdentity | None, *, now: dt.datetime, reads: CacheReader
) -> tuple[Contact | None, bool, _VisitState | None]:
    """(contact named by a valid token, whether the token carries tracking consent, its hot-path state)."""
    if identity is None or reads.get(_gone_key(identity.contact_id)):
        return None, False, None  # erased or merged away: a request in flight must not bring it back
    state = _VisitState.load(identity.contact_id, reads)
    contact = state.snapshot(now.timestamp()) or contact_for_widget(contact_id=identity.contact_id)
    return contact, identity.tracking_consent, state


def _state_for(contact: Contact, known: _VisitState | None, now: dt.datetime) -> _VisitState:
    if known is not None and known.contact_id == contact.pk:
        return known
    if getattr(contact, "_parley_new", False):
        return _VisitState(contact_id=contact.pk, seen_at=now.timestamp())
    return _VisitState.load(contact.pk)


def _ingest(
    *,
    website: Website,
    current: Contact | None,
    state: _VisitState | None,
    anonymous_id: Any,
    user: UserInput | None,
    page: PageInput | None,
    visit: Visit,
    tracking: bool = True,
    lead_email: str | None = None,
) -> tuple[Contact, list[str]]:
    """Resolve the contact, then record the page view (or just the sighting), in one transaction.

    The cached state is written only after the transaction committed. A snapshot contact that
    turns out to be gone (merged, erased, expired) is retried once as a new visitor.
    """
    if (
        tracking
        and page is not None
        and current is not None
        and state is not None
        and state.contact_id == current.pk
        and lead_email is None
        and _nothing_to_write_for(user, current, state)
    ):
        before = state.sessions.get(str(website.pk))
        if _page_view_fast(contact=current, website=website, page=page, visit=visit, state=state):
            # The cached last activity may lag a little: an older value only sends a ping to the general path.
            if before is None or visit.now.timestamp() - before[2] > STATE_REFRESH_SECONDS:
                state.save()
            return current, []
    for attempt in range(2):
        ignored: list[str] = []
        try:
            with transaction.atomic():
                if current is None and anonymous_id is not None:
                    current = Contact.objects.filter(
                        anonymous_id=anonymous_id, role__in=[Contact.Role.VISITOR, Contact.Role.LEAD]
                    ).first()
                contact = _resolve(current=current, user=user, visit=visit, website=website)
                if lead_email is not None:
                    contact = _lead_email_record(contact=contact, email=lead_email)
                contact_state = _state_for(contact, state, visit.now)
                if user is not None:
                    contact, ignored = _apply_user_fields_named(
                        contact=contact, user=user, state=contact_state, website=website
                    )
                if tracking and page is not None:
                    _page_view_record(contact=contact, website=website, page=page, visit=visit, state=contact_state)
                elif tracking:
                    _touch_last_seen(contact=contact, now=visit.now, state=contact_state)
        except _ContactGone:
            if attempt or not tracking:
                raise
            current = anonymous_id = state = None
            continue
        contact_state.remember(contact, visit.now.timestamp())
        contact_state.save()
        return contact, ignored
    raise AssertionError("unreachable")  # pragma: no cover


def widget_ping(
    *, website: Website, ping: PingInput, identity: WidgetIdentity | None, visit: Visit, reads: CacheReader = cache
) -> WidgetAnswer:
    """One page view: resolve or create the contact, identify, session, page view, last seen."""
    identity = _usable(identity, website=website, reads=reads)
    current, token_consent, state = _contact_for(identity, now=visit.now, reads=reads)
    if not _tracking_allowed(website=website, consent=ping.consent or token_consent):
        # Support-only before consent: nothing is recorded. A visitor who started a chat keeps its token.
        return WidgetAnswer(contact=current, token=ping.token if current else None, tracking=False)
    _verify_identity(website=website, user=ping.user)
    contact, ignored = _ingest(
        website=website,
        current=current,
        state=state,
        anonymous_id=ping.anonymous_id,
        user=ping.user,
        page=ping.page,
        visit=visit,
    )
    token = _answer_token(identity, ping.token, contact=contact, website=website, tracking_consent=True, now=visit.now)
    return WidgetAnswer(contact=contact, token=token, tracking=True, ignored_attributes=ignored)


def _answer_token(
    identity: WidgetIdentity | None,
    presented: str | None,
    *,
    contact: Contact,
    website: Website,
    tracking_consent: bool,
    now: dt.datetime,
) -> str:
    """The token the widget sent while it is fresh and says the same; else a newly signed one."""
    if (
        identity is not None
        and presented
        and identity.still_fresh_for(contact_id=contact.pk, tracking_consent=tracking_consent, now=now.timestamp())
    ):
        return presented
    return widget_token_sign(contact_id=contact.pk, website_id=website.pk, tracking_consent=tracking_consent)


def _resolve(*, current: Contact | None, user: UserInput | None, visit: Visit, website: Website) -> Contact:
    """The identified user, else the token's or anonymous id's contact, else a new visitor."""
    try:
        if user is not None and user.identifies:
            # Enforced: the hash was checked already. Elsewhere a valid hash proves the identity just as well.
            enforced = website.identity_verification == Website.IdentityVerification.ENFORCED
            proven = enforced or user_hash_valid(website=website, user=user)
            identified = _identify(current=current, user=user, proven_only=proven, on_verifying_website=enforced)
            if enforced:  # whatever else the ping carried (a page or not), the person is now a verified one
                contacts_services.contact_mark_identity_verified(contact_id=identified.pk)
            return identified
        return current or _visitor_create(now=visit.now)
    except ValidationError as error:
        raise _user_field_errors(error) from None


def _apply_user_fields_named(
    *, contact: Contact, user: UserInput, state: _VisitState, website: Website
) -> tuple[Contact, list[str]]:
    try:
        return _apply_user_fields(contact=contact, user=user, state=state, website=website)
    except ValidationError as error:
        raise _user_field_errors(error) from None


def _lead_email(*, website: Website, user: UserInput | None, contact: Contact) -> str | None:
    """An email a visitor or lead gives without user_id or valid user_hash: a lead's contact detail, not an identification."""
    if user is None or not user.email or user.user_id or contact.role == Contact.Role.USER:
        return None
    return None if user_hash_valid(website=website, user=user) else user.email


def _lead_email_record(*, contact: Contact, email: str) -> Contact:
    """The visitor becomes a lead with this email; a later identification converts or merges that lead."""
    if contact.role == Contact.Role.LEAD and contact.email.lower() == email.lower():
        return contact
    try:
        return contacts_services.contact_convert(contact=_loaded(contact), role=Contact.Role.LEAD, email=email)
    except ValidationError as error:
        raise _user_field_errors(error) from None


def widget_update(
    *, website: Website, update: UpdateInput, identity: WidgetIdentity | None, visit: Visit, reads: CacheReader = cache
) -> WidgetAnswer:
    """User fields and, for single-page apps, a new page view."""
    identity = _usable(identity, website=website, reads=reads)
    current, token_consent, state = _contact_for(identity, now=visit.now, reads=reads)
    if current is None:
        raise WidgetTokenInvalid
    lead_email = _lead_email(website=website, user=update.user, contact=current)
    user = update.user if lead_email is None else replace(update.user, email=None)
    _verify_identity(website=website, user=user)
    tracking = _tracking_allowed(website=website, consent=update.consent or token_consent)
    try:
        contact, ignored = _ingest(
            website=website,
            current=current,
            state=state,
            anonymous_id=None,
            user=user,
            page=update.page,
            visit=visit,
            tracking=tracking,
            lead_email=lead_email,
        )
    except _ContactGone:
        raise WidgetTokenInvalid from None
    token = _answer_token(
        identity, update.token, contact=contact, website=website, tracking_consent=tracking, now=visit.now
    )
    return WidgetAnswer(contact=contact, token=token, tracking=tracking, ignored_attributes=ignored)


class WidgetTokenInvalid(Exception):
    """No token, or one that is expired, forged, for another website or for a deleted contact."""


# --- events --------------------------------------------------------------------------------------


def _event_summary_upsert(
    *, contact_id: int, name: str, count: int, first_at: dt.datetime, last_at: dt.datetime
) -> None:
    """Add to the (contact, name) summary in one atomic statement: exact under concurrency."""
    table = EventSummary._meta.db_table
    connection = connections[EventSummary.objects.db]
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    sql = f"""
        INSERT INTO {table} (contact_id, name, count, first_at, last_at) VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (contact_id, name) DO UPDATE SET
            count = {table}.count + excluded.count,
            first_at = {least}({table}.first_at, excluded.first_at),
            last_at = {greatest}({table}.last_at, excluded.last_at)
    """  # noqa: S608 - table and function names come from code, values are parameters
    params = [contact_id, name, count, first_at, last_at]
    params[3:] = [connection.ops.adapt_datetimefield_value(v) for v in params[3:]]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@transaction.atomic
def event_track(
    *, contact: Contact, name: str, metadata: dict[str, Any], created_at: dt.datetime | None, now: dt.datetime
) -> Event | None:
    """Record an event and bump its summary; a repeat of (contact, name, created_at) sent by the client is ignored."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "An event needs a name."})
    event = Event(
        contact=contact,
        name=name,
        metadata=metadata,
        created_at=created_at or now,
        client_timestamp=created_at is not None,
    )
    if created_at is not None:
        try:
            with transaction.atomic():
                event.save()
        except IntegrityError:
            return None  # the same event again (a retried request): counted once
    else:
        event.save()
    _event_summary_upsert(
        contact_id=contact.pk, name=name, count=1, first_at=event.created_at, last_at=event.created_at
    )
    return event


@transaction.atomic
def event_summary_add(*, contact: Contact, name: str, count: int, first_at: dt.datetime, last_at: dt.datetime) -> None:
    """Add occurrences to a contact's summary of an event without individual events (REST API)."""
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise ValidationError({"event_name": "An event summary needs an event name."})
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValidationError({"count": "Must be a positive integer."})
    if first_at > last_at:
        raise ValidationError({"first": "Must not be after last."})
    _event_summary_upsert(contact_id=contact.pk, name=name, count=count, first_at=first_at, last_at=last_at)


def widget_event(
    *, website: Website, event: EventInput, identity: WidgetIdentity | None, visit: Visit, reads: CacheReader = cache
) -> tuple[bool, bool]:
    """Track an event for the token's contact; returns (tracked, duplicate)."""
    identity = _usable(identity, website=website, reads=reads)
    contact, token_consent, _state = _contact_for(identity, now=visit.now, reads=reads)
    if contact is None:
        raise WidgetTokenInvalid
    if not _tracking_allowed(website=website, consent=event.consent or token_consent):
        return False, False
    recorded = event_track(
        contact=contact, name=event.name, metadata=event.metadata, created_at=event.created_at, now=visit.now
    )
    return True, recorded is None


def widget_shutdown(*, website: Website, identity: WidgetIdentity | None) -> None:
    """The site logged the user out: forget this browser's hot state (the widget drops its cookies)."""
    if identity is not None:
        cache.delete(_VisitState.key(identity.contact_id))


# --- merge and export ----------------------------------------------------------------------------


def _merge_event_summaries(source: Contact, into: Contact) -> None:
    """Counts add up, first is the earliest and last the latest of both."""
    for summary in EventSummary.objects.filter(contact=source):
        _event_summary_upsert(
            contact_id=into.pk,
            name=summary.name,
            count=summary.count,
            first_at=summary.first_at,
            last_at=summary.last_at,
        )
    EventSummary.objects.filter(contact=source).delete()


def _merge_events(source: Contact, into: Contact) -> None:
    """Move events; a client-timestamped event that both contacts hold is kept once."""
    duplicates = Event.objects.filter(
        contact=source,
        client_timestamp=True,
        name__in=Event.objects.filter(contact=into, client_timestamp=True).values("name"),
    )
    into_keys = set(
        Event.objects.filter(contact=into, client_timestamp=True, name__in=duplicates.values("name")).values_list(
            "name", "created_at"
        )
    )
    clash_ids = [pk for pk, name, at in duplicates.values_list("pk", "name", "created_at") if (name, at) in into_keys]
    Event.objects.filter(pk__in=clash_ids).delete()
    Event.objects.filter(contact=source).update(contact=into)


def _merge_sessions(source: Contact, into: Contact) -> None:
    WebSession.objects.filter(contact=source).update(contact=into)
    source_id = source.pk
    transaction.on_commit(lambda: _forget_contact(source_id))  # drops its hot-path entry too


def _gone_key(contact_id: int) -> str:
    return f"tracking:gone:{contact_id}"


def _forget_contact(contact_id: int) -> None:
    """After an erase or merge commits: drop the hot-path entry, and mark the contact gone for as
    long as a ping read before the commit could otherwise write its entry back."""
    cache.set(_gone_key(contact_id), 1, VISIT_STATE_SECONDS)
    cache.delete(_VisitState.key(contact_id))


def _export_sessions(contact: Contact) -> list[dict[str, Any]]:
    page_view_buffer.page_views_flush_before_reading()  # an export holds the queued page views too
    fields = [
        "started_at", "last_activity_at", "page_views_count", "landing_url", "referrer", "utm_source",
        "utm_medium", "utm_campaign", "utm_term", "utm_content", "os", "browser", "browser_version",
        "browser_language", "city", "country", "country_name",
    ]  # fmt: skip
    return export_rows(WebSession.objects.filter(contact=contact).order_by("started_at"), fields)


def _export_page_views(contact: Contact) -> list[dict[str, Any]]:
    page_view_buffer.page_views_flush_before_reading()
    return export_rows(
        PageView.objects.filter(contact=contact).order_by("created_at"), ["created_at", "url", "title", "referrer"]
    )


def _export_events(contact: Contact) -> list[dict[str, Any]]:
    return export_rows(Event.objects.filter(contact=contact).order_by("created_at"), ["created_at", "name", "metadata"])


def _forget_erased_contact(contact_id: int) -> None:
    """Erase hook, once the erase has committed: the hot-path entry (name, email, ids) leaves the
    cache, the contact is marked gone, and a flush takes its queued page views out of Redis."""
    _forget_contact(contact_id)
    page_view_buffer.page_views_flush_soon()  # its queued page views leave Redis now


def register_contact_hooks() -> None:
    """Called from TrackingConfig.ready(): tracking's rows in the contact lifecycle (merge, export, erase)."""
    lifecycle.register(
        lifecycle.ContactRows(
            app="tracking",
            merge={EventSummary: _merge_event_summaries, Event: _merge_events, WebSession: _merge_sessions},
            export=(
                lifecycle.ExportSection("web_sessions", _export_sessions, models=(WebSession,)),
                lifecycle.ExportSection("page_views", _export_page_views, models=(PageView,)),
                lifecycle.ExportSection("events", _export_events, models=(Event,)),
            ),
            not_exported={"tracking.EventSummary": "counts derived from the events, which are exported one by one"},
            on_erase=(_forget_erased_contact,),
        )
    )
