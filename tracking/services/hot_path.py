"""The ping's hot-path state: one cache entry per contact, read once and written once per ping.

Also what every widget request starts with: the token's contact (from the cached snapshot when it
is fresh), checked against revocations and erasures.
"""

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field, fields
from typing import Any

from django.core.cache import cache
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from contacts import generations
from contacts import services as contacts_services
from contacts.models import ConsentSource, Contact
from tracking import page_view_buffer
from tracking.models import Website
from tracking.payloads import ConsentInput
from tracking.selectors import contact_first_website_id, contact_for_widget
from tracking.widget_auth import (
    CacheReader,
    WidgetIdentity,
    widget_token_may_act_for_user,
    widget_token_revoked,
    widget_token_revoked_by_row,
    widget_tokens_revoked_key,
)

# A new web session starts after this long without activity, or after this long in total.
SESSION_IDLE = dt.timedelta(minutes=30)
SESSION_MAX_LENGTH = dt.timedelta(hours=24)
# The fast path rewrites the cached last activity only when it is this stale (one cache write saved per ping).
STATE_REFRESH_SECONDS = 300
# The hot-path state outlives the longest idle time of a session by more than the lag of its cached
# last activity: a contact without one has no current session (the queued path opens a new one).
HOT_PATH_STATE_SECONDS = int(SESSION_IDLE.total_seconds()) + STATE_REFRESH_SECONDS + 60
# The hot path reads the token's contact from a short-lived cache snapshot instead of the database.
CONTACT_SNAPSHOT_SECONDS = 60
CONTACT_SNAPSHOT_FIELDS = (
    "role", "name", "external_id", "email", "anonymous_id", "analytics_consent", "marketing_consent",
    "consent_source", "processing_restricted", "widget_tokens_revoked_at",
)  # fmt: skip
_SNAPSHOT_ATTNAMES = frozenset(("id", *CONTACT_SNAPSHOT_FIELDS))
_SNAPSHOT_FIELD_SET = frozenset(CONTACT_SNAPSHOT_FIELDS)
# In a snapshot made by the ping that queued the contact (no row read): see ActingContact.queued.
QUEUED_MARK = "queued"
# A copy of the snapshot kept beyond the hot-path entry and the snapshot's minute (`KeptSnapshot`): a new
# session, or a page view more than a minute after the last, needs no row read.
KEPT_SNAPSHOT_SECONDS = 6 * 3600


def _init_signals_heard() -> bool:
    if not (pre_init.receivers or post_init.receivers):  # none at all: has_listeners' cache lookups skipped
        return False
    return pre_init.has_listeners(Contact) or post_init.has_listeners(Contact)


@functools.cache
def _snapshot_field_order() -> tuple[str, ...]:
    """The snapshot's fields in the model's column order, the order Model.from_db takes values in."""
    return tuple(f.attname for f in Contact._meta.concrete_fields if f.attname in _SNAPSHOT_ATTNAMES)


class ContactGone(Exception):
    """The token's contact was merged away, erased or expired since its snapshot was cached."""


class WidgetTokenInvalid(Exception):
    """No token, or one that is expired, forged, for another website or for a deleted contact."""


@dataclass(frozen=True)
class RequestFacts:
    """What the HTTP request itself says about the browser; the IP lives here in memory only."""

    now: dt.datetime
    ip: str | None = field(default=None, repr=False)
    user_agent: str = ""
    browser_language: str = ""


@dataclass(frozen=True)
class ActingContact:
    """The contact a widget request acts for, and how much of its row this request holds."""

    contact: Contact
    # Built from the cached snapshot: only CONTACT_SNAPSHOT_FIELDS are loaded, and the row may be gone.
    snapshot: bool = False
    # Created by this request: it has no hot-path state yet.
    created: bool = False
    # A snapshot of a visitor whose first ping was queued (less than a snapshot's life ago): its row
    # may not be written yet.
    queued: bool = False
    # A snapshot the hot-path state took from the kept copy (`KeptSnapshot`) for this request: the state
    # must be saved for the next pings to have it.
    refreshed: bool = False

    def loaded(self) -> Contact:
        """The full row behind a snapshot (raises ContactGone when it no longer exists)."""
        if not self.snapshot:
            return self.contact
        row = contact_row(contact_id=self.contact.pk)
        if row is None:
            raise ContactGone
        return row

    def referable(self) -> Contact:
        """The contact, for a new row that references it (an event): a first visit still queued is
        written first, since the reference needs its row (raises ContactGone when it no longer exists)."""
        return self.loaded() if self.queued else self.contact


def contact_row(*, contact_id: int) -> Contact | None:
    """The contact's row; one whose first ping is still queued is written first (a flush), so
    whatever needs the row at once (a chat, an identification, a lead's email) gets it."""
    row = contact_for_widget(contact_id=contact_id)
    if row is None and page_view_buffer.page_views_flush_before_reading():
        row = contact_for_widget(contact_id=contact_id)
    return row


def contact_by_anonymous_id(anonymous_id: Any, *, website_id: int) -> Contact | None:
    """The visitor or lead with this anonymous id, when this website created it (flushing queued visitors
    first when none is found). An anonymous id is a bearer credential of one website's messenger: on
    another website of the install it is unknown, so the caller starts a new visitor."""
    roles = [Contact.Role.VISITOR, Contact.Role.LEAD]
    row = Contact.objects.filter(anonymous_id=anonymous_id, role__in=roles).first()
    if row is None and page_view_buffer.page_views_flush_before_reading():
        row = Contact.objects.filter(anonymous_id=anonymous_id, role__in=roles).first()
    if row is None or contact_first_website_id(contact=row) != website_id:
        return None
    return row


@dataclass
class HotPathState:
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
    # The custom attributes refused from those user fields (name → why): the answer repeats them on
    # every page view that sends the same values, so the site's console keeps saying what is wrong.
    user_ignored: dict[str, str] = field(default_factory=dict)
    # Not stored with the state: the kept copy of the row this request read (KeptSnapshot.writes), written
    # whenever the state is.
    kept_writes: tuple[page_view_buffer.CacheWrite, ...] = field(default=(), repr=False)

    @staticmethod
    def key(contact_id: int) -> str:
        return f"tracking:visit:{contact_id}"

    @classmethod
    def load(cls, contact_id: int, reads: CacheReader = cache) -> "HotPathState":
        values = reads.get(cls.key(contact_id))
        if isinstance(values, dict):
            try:
                return cls(contact_id=contact_id, **values)
            except TypeError:  # written by an older version
                pass
        return cls(contact_id=contact_id)

    def save(self) -> None:
        cache.set(self.key(self.contact_id), self._values(), HOT_PATH_STATE_SECONDS)
        page_view_buffer.cache_writes_apply(self.kept_writes)

    def cache_writes(self) -> tuple[page_view_buffer.CacheWrite, ...]:
        """`save` as writes the ingest buffer makes in its own round trip."""
        state = page_view_buffer.CacheWrite(self.key(self.contact_id), self._values(), HOT_PATH_STATE_SECONDS)
        return (state, *self.kept_writes)

    def stored_sha(self) -> str:
        """SHA-1 of this state as the cache (a Redis one) stores it: what a fast-path ticket written with it names."""
        _, stored = cache.raw_entry(self.key(self.contact_id), self._values())  # type: ignore[attr-defined]
        return hashlib.sha1(stored).hexdigest()  # noqa: S324 - Redis's own SHA1HEX compares it: not a signature

    def _values(self) -> dict[str, Any]:
        # Shallow: the values are pickled at once (asdict's deep copy cost a new visitor's ping ~50 µs).
        return {name: getattr(self, name) for name in _STATE_FIELDS}

    def snapshot(self, now_ts: float) -> Contact | None:
        """A partial Contact (what the hot path reads); `ActingContact.loaded` fetches the row before any write.

        What a queryset row with only these fields loaded is: the other fields are deferred (read from the
        database if ever touched), and it skips the field defaults Contact() would compute.
        """
        if self.contact is None or now_ts >= self.contact_until:
            return None
        values = {"id": self.contact_id, **self.contact}
        if not values.keys() >= _SNAPSHOT_ATTNAMES:  # cached by an older version: read the row instead
            return None
        if _init_signals_heard():  # a receiver of Model.__init__'s signals sees it built the usual way
            return Contact.from_db(None, _SNAPSHOT_ATTNAMES, [values[name] for name in _snapshot_field_order()])
        # Contact.from_db without Model.__init__'s walk over every field (8 µs, 1.5% of a steady ping): a loaded
        # instance with deferred fields is its attributes in __dict__ and a state saying the row exists.
        contact = Contact.__new__(Contact)
        contact._state = ModelState()
        contact._state.adding = False
        contact.__dict__.update((name, values[name]) for name in _SNAPSHOT_ATTNAMES)
        return contact

    def remember(self, acting: ActingContact, now_ts: float) -> None:
        if acting.snapshot:
            return
        self.contact, self.contact_until = _snapshot_values(acting.contact), now_ts + CONTACT_SNAPSHOT_SECONDS


def _snapshot_values(contact: Contact) -> dict[str, Any]:
    values = {name: getattr(contact, name) for name in CONTACT_SNAPSHOT_FIELDS}
    # Plain strings: a choices enum member (a row just created holds one) pickles and unpickles at twice the cost.
    for name in ("anonymous_id", "role", "consent_source"):
        values[name] = str(values[name])
    return values


def kept_snapshot_key(contact_id: int) -> str:
    return f"tracking:kept:{contact_id}"


@dataclass(frozen=True)
class KeptSnapshot:
    """The contact's snapshot kept for hours, valid only under the generations of its row read before the row
    (contacts.generations): any write of its fields since, committed before or after it was kept, voids it.

    What the hot-path state's snapshot is refreshed from once its minute is over, or once the state itself
    expired with the session (a new session): a row read only when the copy is missing or void."""

    contact_id: int
    # The contact's generations as this request read them (generation_read_keys' order; None when missing).
    generations: tuple[Any, ...]
    # The copy's fields, when it is valid under them.
    fields: dict[str, Any] | None

    @classmethod
    def read(cls, contact_id: int, reads: CacheReader) -> "KeptSnapshot":
        current = tuple(reads.get(key) for key in generations.generation_read_keys(contact_id))
        kept = reads.get(kept_snapshot_key(contact_id))
        valid = (
            isinstance(kept, tuple)
            and len(kept) == 2
            and None not in current
            and kept[0] == current
            and isinstance(kept[1], dict)
            and kept[1].keys() >= _SNAPSHOT_FIELD_SET
        )
        return cls(contact_id=contact_id, generations=current, fields=dict(kept[1]) if valid else None)

    def writes(self, row: Contact) -> tuple[page_view_buffer.CacheWrite, ...]:
        """The cache writes that keep a copy of `row`, read after these generations. A generation found missing is
        created with it, only if still absent: when a writer's came first, the copy names a value never current."""
        keys = generations.generation_read_keys(self.contact_id)
        current = list(self.generations)
        created = []
        for index, value in enumerate(current):
            if value is None:
                current[index] = generations.new_generation()
                seconds = generations.generation_seconds(keys[index])
                created.append(page_view_buffer.CacheWrite(keys[index], current[index], seconds, only_if_absent=True))
        copy = (tuple(current), _snapshot_values(row))
        return (*created, page_view_buffer.CacheWrite(kept_snapshot_key(self.contact_id), copy, KEPT_SNAPSHOT_SECONDS))


_STATE_FIELDS = tuple(f.name for f in fields(HotPathState) if f.name not in ("contact_id", "kept_writes"))


def gone_key(contact_id: int) -> str:
    """The cache key that marks an erased or merged contact as gone for the hot path."""
    return f"tracking:gone:{contact_id}"


def _kept_read_keys(contact_id: int) -> list[str]:
    return [kept_snapshot_key(contact_id), *generations.generation_read_keys(contact_id)]


def hot_path_ticket_keys(contact_id: int) -> tuple[str, str, str]:
    """The hot-path entry, gone mark and revocation: what a fast-path ticket's round trip reads by position."""
    return HotPathState.key(contact_id), gone_key(contact_id), widget_tokens_revoked_key(contact_id)


def hot_path_read_keys(contact_id: int) -> list[str]:
    """The cache entries every widget request for this contact reads: fetched in its preflight (the ticket's
    keys first)."""
    return [*hot_path_ticket_keys(contact_id), *_kept_read_keys(contact_id)]


def hot_path_forget(contact_id: int) -> None:
    """After an erase or merge commits: drop the hot-path entry, and mark the contact gone for as
    long as a ping read before the commit could otherwise write its entry back."""
    cache.set(gone_key(contact_id), 1, HOT_PATH_STATE_SECONDS)
    cache.delete(HotPathState.key(contact_id))


def hot_path_snapshot_forget(contact_id: int) -> None:
    """After a privacy change commits: the contact's cached snapshot goes (the next ping reads the row),
    its current sessions stay (dropping them would open new sessions early where pings queue them)."""
    state = HotPathState.load(contact_id)
    if state.contact is not None:
        state.contact, state.contact_until = None, 0.0
        state.save()


def contacts_recently_active(contact_ids: list[int]) -> set[int]:
    """Contacts with a hot-path entry, i.e. seen in the last half hour or so (their newest rows may
    still be queued): expiry passes over them. One cache round trip."""
    found = cache.get_many([HotPathState.key(pk) for pk in contact_ids])
    return {pk for pk in contact_ids if HotPathState.key(pk) in found}


def contacts_forget(contact_ids: list[int]) -> None:
    """After an expiry batch commits: its contacts are gone for the hot path (a token naming one
    starts a new visitor at once, and nothing more is queued for it)."""
    if contact_ids:
        cache.set_many({gone_key(pk): 1 for pk in contact_ids}, HOT_PATH_STATE_SECONDS)
        cache.delete_many([HotPathState.key(pk) for pk in contact_ids])


def tracking_allowed(
    *, website: Website, consent: ConsentInput, token_consent: bool, contact: Contact | None = None
) -> bool:
    """Whether page views, sessions and events may be recorded (the analytics purpose).

    In order: a restricted contact, never; the request's own statement of the visitor's choice; a
    refusal stored on the contact (on whichever website it was made: the protective rule); consent the
    visitor gave on this website (the token's); the page's default (Consent Mode `default`); the
    website's default (full tracking, or nothing until consent). A consent stored on the contact from
    another website does not count here: each website's own default and banner govern its tracking
    (docs/privacy.md)."""
    if contact is not None and contact.processing_restricted:
        return False
    if consent.analytics is not None and not consent.default:
        return consent.analytics
    if contact is not None and contact.analytics_consent is False:
        return False
    if token_consent:
        return True
    if consent.analytics is not None:
        return consent.analytics
    return website.tracking_mode == Website.TrackingMode.FULL or token_consent


def explicit_consent(*, consent: ConsentInput, token_consent: bool) -> bool:
    """Whether the answer's token carries analytics consent: the visitor's own choice only (stated
    now, or carried by the token), never the website's or the page's default nor a consent platform still waiting."""
    if consent.analytics is not None and not consent.default:
        return consent.analytics
    return token_consent


def consent_remember(*, contact: Contact, consent: ConsentInput, state: HotPathState | None, now: dt.datetime) -> None:
    """Store the purposes this request states on its contact when they differ from what it holds.

    Compared with the contact (row or cached snapshot), so a page view that repeats the same choice
    writes nothing; the snapshot learns the new values at once. A page's default is not the visitor's
    choice: never stored."""
    if consent.default:
        return
    values = {"analytics_consent": consent.analytics, "marketing_consent": consent.marketing}
    changed = {name: value for name, value in values.items() if value is not None and getattr(contact, name) != value}
    if contact.consent_source == ConsentSource.REQUEST and contact.marketing_consent is False:
        changed.pop("marketing_consent", None)  # an objection (data subject request) holds against the page's signals
    if not changed or contact.processing_restricted:
        return  # a restricted contact is frozen: the page's signals change nothing

    def apply() -> dict[str, bool]:
        return contacts_services.contact_consent_apply(
            contact_id=contact.pk, analytics=consent.analytics, marketing=consent.marketing, source=consent.source,
            now=now,
        )  # fmt: skip

    applied = apply()
    if not applied and page_view_buffer.page_views_flush_before_reading():
        applied = apply()  # the contact's first ping was still queued: its row is written now, then the choice
    if not applied:
        return  # nothing changed (restricted meanwhile, or gone): the state read at the start is not written back
    for name, value in applied.items():
        setattr(contact, name, value)
    if state is None or state.contact_id != contact.pk:
        # The request's contact is new or another one (an identification): its snapshot, just cached by
        # the ingest, must learn the choice too (one cache read, only when a choice changes).
        state = HotPathState.load(contact.pk)
    if state.contact is not None:
        state.contact.update(applied)
        state.save()


def website_enforces(website: Website) -> bool:
    return website.identity_verification == Website.IdentityVerification.ENFORCED


def usable_identity(identity: WidgetIdentity | None, *, website: Website, reads: CacheReader) -> WidgetIdentity | None:
    """The token's identity unless a sign-in on a verifying website revoked it: then the request has no token."""
    enforces = website_enforces(website)
    if identity is not None and widget_token_revoked(identity=identity, website_enforces=enforces, reads=reads):
        return None
    return identity


def token_may_act_for(identity: WidgetIdentity, *, contact: Contact, website: Website) -> bool:
    """Whether this website honours the token for this contact (a user needs a verified token where it enforces)."""
    return contact.role != Contact.Role.USER or widget_token_may_act_for_user(
        identity=identity, website_enforces=website_enforces(website)
    )


def token_revoked_by_row(identity: WidgetIdentity, *, contact: Contact, website: Website) -> bool:
    """Whether the contact's row (or a copy of it) says a verified sign-in revoked this token: what the cache's
    revocation entry says while the cache keeps it (usable_identity), durably."""
    return widget_token_revoked_by_row(
        identity=identity, website_enforces=website_enforces(website), revoked_at=contact.widget_tokens_revoked_at
    )


def token_contact_role(identity: WidgetIdentity, *, now_ts: float, reads: CacheReader) -> tuple[str, Any] | None:
    """The role of the token's contact and when its row last revoked tokens (widget_tokens_revoked_at), without
    its row (the poll): from its snapshot or its "gone" mark (both read ahead, `token_contact_read_keys`), else the
    database; None when it no longer exists (erased, merged)."""
    if reads.get(gone_key(identity.contact_id)):
        return None
    snapshot = HotPathState.load(identity.contact_id, reads).snapshot(now_ts)
    if snapshot is not None:
        return snapshot.role, snapshot.widget_tokens_revoked_at
    kept = KeptSnapshot.read(identity.contact_id, reads)
    if kept.fields is not None:
        return kept.fields["role"], kept.fields["widget_tokens_revoked_at"]
    rows = Contact.objects.filter(pk=identity.contact_id).values_list("role", "widget_tokens_revoked_at")
    row = rows.first()
    if row is None and page_view_buffer.page_views_flush_before_reading():  # a first visit still queued
        row = rows.first()
    return row


def token_contact_read_keys(contact_id: int) -> list[str]:
    """The cache entries `token_contact_role` reads: fetched in the request's preflight."""
    return [HotPathState.key(contact_id), gone_key(contact_id), *_kept_read_keys(contact_id)]


def token_may_act_for_role(identity: WidgetIdentity, *, role: str, website: Website) -> bool:
    """`token_may_act_for` with the contact's role only (the poll)."""
    if widget_token_may_act_for_user(identity=identity, website_enforces=website_enforces(website)):
        return True
    return role != Contact.Role.USER


def acting_contact_for(
    identity: WidgetIdentity | None, *, website: Website, now: dt.datetime, reads: CacheReader
) -> tuple[ActingContact | None, bool, HotPathState | None]:
    """(contact named by a valid token, whether the token carries tracking consent, its hot-path state).

    None when the token's contact is gone, or is a user this website does not take the token for."""
    if identity is None or reads.get(gone_key(identity.contact_id)):
        return None, False, None  # erased or merged away: a request in flight must not bring it back
    state = HotPathState.load(identity.contact_id, reads)
    now_ts = now.timestamp()
    snapshot = state.snapshot(now_ts)
    if snapshot is not None:
        queued = bool(state.contact and state.contact.get(QUEUED_MARK))
        acting: ActingContact | None = ActingContact(snapshot, snapshot=True, queued=queued)
    else:
        acting = _acting_from_kept(identity.contact_id, state=state, now_ts=now_ts, reads=reads)
    if acting is not None and (
        not token_may_act_for(identity, contact=acting.contact, website=website)
        or token_revoked_by_row(identity, contact=acting.contact, website=website)
    ):
        return None, False, None
    return acting, identity.tracking_consent, state


def _acting_from_kept(
    contact_id: int, *, state: HotPathState, now_ts: float, reads: CacheReader
) -> ActingContact | None:
    """The contact from its kept copy, which the state's snapshot learns; else from its row, kept for next time."""
    kept = KeptSnapshot.read(contact_id, reads)
    if kept.fields is not None:
        state.contact, state.contact_until = kept.fields, now_ts + CONTACT_SNAPSHOT_SECONDS
        snapshot = state.snapshot(now_ts)
        if snapshot is not None:
            return ActingContact(snapshot, snapshot=True, refreshed=True)
    row = contact_row(contact_id=contact_id)
    if row is None:
        return None
    state.kept_writes = kept.writes(row)
    return ActingContact(row)
