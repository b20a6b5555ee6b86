"""The widget ingest: a ping or an update resolves the contact, then records the session, the page
view and last seen. A returning browser in its current session takes the hot path (no database
statement: its page view goes to the page-view buffer); anything else the general path, in one
transaction.
"""

import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import logging
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest

from common.metrics import WIDGET_PINGS
from common.rate_limit import DeferredCount
from companies import services as companies_services
from contacts import services as contacts_services
from contacts.custom_attributes import custom_attributes_split_defined, custom_attributes_split_valid
from contacts.models import Contact, DataAttribute
from tracking import id_blocks, page_view_buffer
from tracking.enrichment import describe_device, locate
from tracking.models import UTM_MAX_LENGTH, PageView, WebSession, Website
from tracking.payloads import CompanyInput, ConsentInput, PageInput, PingInput, UpdateInput, UserInput
from tracking.services.hot_path import (
    CONTACT_SNAPSHOT_SECONDS,
    QUEUED_MARK,
    SESSION_IDLE,
    SESSION_MAX_LENGTH,
    STATE_REFRESH_SECONDS,
    ActingContact,
    ContactGone,
    HotPathState,
    RequestFacts,
    WidgetTokenInvalid,
    acting_contact_for,
    consent_remember,
    contact_by_anonymous_id,
    explicit_consent,
    hot_path_ticket_keys,
    tracking_allowed,
    usable_identity,
    website_enforces,
)
from tracking.services.identity import (
    IdentityVerificationFailed,
    identify,
    lead_email,
    lead_email_record,
    matches_identity,
    user_field_errors,
    user_hash_valid,
    verify_identity,
)
from tracking.services.websites import rejected_attributes_record
from tracking.widget_auth import CacheReader, WidgetIdentity, widget_token_sign

# last_seen_at is written at most once per this many seconds per contact.
LAST_SEEN_RESOLUTION_SECONDS = 60
UTM_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WidgetAnswer:
    contact: Contact | None
    token: str | None
    tracking: bool
    # Custom attributes left out (name → why): invalid, or new from input without a valid user_hash.
    ignored_attributes: dict[str, str] = field(default_factory=dict)
    # The input named a user without the valid user_hash this website (or that user) needs: ignored.
    identity_refused: bool = False
    # A new visitor whose row is queued: it has nothing yet (no conversation, no message).
    new_contact: bool = False


def _fingerprint(user: UserInput) -> str:
    companies = (
        None if user.companies is None else [[c.company_id, c.fields, c.custom_attributes] for c in user.companies]
    )
    payload = json.dumps([user.fields, user.custom_attributes, companies], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


# Not recorded in the admin's Rejected attributes: anyone may send any name, so the list would be theirs to fill.
UNDEFINED_ATTRIBUTE_REASON = (
    "Not defined yet: only input with a valid user_hash (or the admin, or the API) defines one."
)


def _apply_user_fields(
    *, acting: ActingContact, user: UserInput, state: HotPathState, website: Website
) -> tuple[ActingContact, dict[str, str]]:
    """Write name, phone, signed up, language override and custom attributes when they changed.

    Only input with a valid user_hash defines new custom attributes; from anyone else an unknown
    attribute is left out, and its name returned to be reported (docs/architecture.md, "Widget trust rules").
    """
    if not user.fields and user.custom_attributes is None and user.companies is None:
        return acting, dict(user.refused)
    fingerprint = _fingerprint(user)
    if state.user_fingerprint == fingerprint:
        return acting, dict(state.user_ignored)  # the same values as the last page view: nothing to write
    custom_attributes, ignored = user.custom_attributes, dict(user.refused)
    verified = user.identifies and user_hash_valid(website=website, user=user)
    if custom_attributes and not verified:
        custom_attributes, undefined = custom_attributes_split_defined(values=custom_attributes)
        ignored = dict.fromkeys(undefined, UNDEFINED_ATTRIBUTE_REASON)
    if custom_attributes:
        # One attribute the site got wrong (a type, an option) must not cost the page view or the rest.
        custom_attributes, rejected = custom_attributes_split_valid(values=custom_attributes, allow_create=verified)
        if rejected:
            rejected_attributes_record(website=website, rejected=rejected, values=user.custom_attributes or {})
            ignored = {**ignored, **rejected}
    contact = contacts_services.contact_update(
        contact=acting.loaded(), custom_attributes=custom_attributes, define_attributes=verified, **user.fields
    )
    if user.companies:
        ignored = {**ignored, **_apply_companies(contact=contact, companies=user.companies, verified=verified)}
    state.user_fingerprint, state.user_ignored = fingerprint, ignored
    return ActingContact(contact), ignored


# The answer's warnings about companies are keyed "company.<company_id>" (a custom attribute's name
# never holds a "."), and "company.<company_id>.custom_attributes.<name>" for one of its attributes.
COMPANY_IGNORED_PREFIX = "company."
COMPANY_NOT_FOR_ANONYMOUS = (
    "Not applied: only a signed-in user belongs to companies (send user_id or email, with user_hash where identity "
    "verification is on); visitors and leads cannot create or join one."
)


COMPANY_KEPT_UNSIGNED = (
    "Not changed: this company exists, and its values change only with a valid user_hash (or through the REST API). "
    "The user was added to it."
)


def _apply_companies(*, contact: Contact, companies: tuple[CompanyInput, ...], verified: bool) -> dict[str, str]:
    """Intercom's `company` / `companies` settings: each created or updated by its company_id and the
    user attached, in its own savepoint, so that one company the site got wrong costs none of the rest.

    Only a user belongs to companies (on a website that enforces identity verification, a user here is
    a verified one); only input with a valid user_hash defines new company attributes. Returns what was
    left out, and why.
    """
    if contact.role != Contact.Role.USER:
        return {f"{COMPANY_IGNORED_PREFIX}{company.company_id}": COMPANY_NOT_FOR_ANONYMOUS for company in companies}
    ignored: dict[str, str] = {}
    for company in companies:
        key = f"{COMPANY_IGNORED_PREFIX}{company.company_id}"
        custom = company.custom_attributes
        try:
            if custom:
                rejected: dict[str, str] = {}
                if not verified:
                    custom, undefined = custom_attributes_split_defined(
                        values=custom, model=DataAttribute.Model.COMPANY
                    )
                    rejected = dict.fromkeys(undefined, UNDEFINED_ATTRIBUTE_REASON)
                custom, invalid = custom_attributes_split_valid(
                    values=custom, model=DataAttribute.Model.COMPANY, allow_create=verified
                )
                ignored |= {f"{key}.custom_attributes.{name}": why for name, why in {**rejected, **invalid}.items()}
            with transaction.atomic():
                # Unsigned, a company that exists keeps its values (attack review: anyone claiming a user_id on a site
                # without verification rewrote a customer's name, plan and spend); the user still joins it.
                [(_, created)] = companies_services.contact_companies_sync(
                    contact=contact,
                    companies=[(company.company_id, company.fields, custom)],
                    define_attributes=verified,
                    update_existing=verified,
                )
            if not verified and not created and (company.fields or custom):
                ignored[key] = COMPANY_KEPT_UNSIGNED
        except ValidationError as error:
            ignored[key] = (
                "Not applied: "
                + "; ".join(f"{field}: {' '.join(texts)}" for field, texts in error.message_dict.items())
                if hasattr(error, "error_dict")
                else "Not applied: " + " ".join(error.messages)
            )
    return ignored


def _visitor_create(*, now: dt.datetime, website: Website) -> ActingContact:
    """A new anonymous contact (role visitor) of this website, seen now."""
    contact = contacts_services.contact_create(role=Contact.Role.VISITOR, first_website_id=website.pk)
    Contact.objects.filter(pk=contact.pk).update(first_seen_at=now, last_seen_at=now)
    contact.first_seen_at = contact.last_seen_at = now
    return ActingContact(contact, created=True)


def _touch_last_seen(*, contact: Contact, now: dt.datetime, state: HotPathState) -> None:
    """last_seen_at at most once a minute per contact; first_seen_at on the first sighting."""
    if now.timestamp() - state.seen_at < LAST_SEEN_RESOLUTION_SECONDS:
        return
    _seen(Contact.objects.filter(pk=contact.pk), contact=contact, now=now)
    state.seen_at = now.timestamp()


def _seen(rows: Any, *, contact: Contact, now: dt.datetime) -> None:
    """`contact` (its row in `rows`) seen now: last_seen_at never backwards, first_seen_at on the first sighting, and
    its companies' last request."""
    if not rows.update(
        last_seen_at=Greatest(Coalesce("last_seen_at", Value(now)), Value(now)),
        first_seen_at=Coalesce("first_seen_at", Value(now)),
    ):
        return
    contact.last_seen_at = now
    if contact.role != Contact.Role.VISITOR:  # visitors belong to no company
        companies_services.companies_activity_record(contact_id=contact.pk, now=now, new_session=False)


def contact_seen_writing(*, contact: Contact, now: dt.datetime) -> None:
    """The contact wrote in the messenger, so is on the site now: its last_seen_at moves as a page view moves it,
    where tracking keeps one already (seen before, processing not restricted, analytics not refused). A site that
    tracks nobody without consent, or the support-only mode, gets no sighting from a message either."""
    if contact.last_seen_at is None:
        return
    allowed = Contact.objects.filter(pk=contact.pk, processing_restricted=False, last_seen_at__isnull=False)
    _seen(allowed.exclude(analytics_consent=False), contact=contact, now=now)


def _utm(url: str) -> dict[str, str]:
    """The page's UTM parameters, decoded. The URL itself holds no NUL (clean_page refuses one), but `%00` decodes
    to it, and PostgreSQL stores no NUL in text: it is dropped (the rest of the value stays)."""
    query = parse_qs(urlsplit(url).query)
    values = {name: query[name][0].replace("\x00", "")[:UTM_MAX_LENGTH] for name in UTM_PARAMETERS if query.get(name)}
    return {name: value for name, value in values.items() if value}


def _session_is_current(*, started_at: dt.datetime, last_activity_at: dt.datetime, now: dt.datetime) -> bool:
    return now - last_activity_at <= SESSION_IDLE and now - started_at < SESSION_MAX_LENGTH


# Every tracked ping takes its page view's id ahead (PlannedIds): a block is one statement per this many pings.
PAGE_VIEW_ID_BLOCK_SIZE = 1024


def _page_view_id() -> int | None:
    return id_blocks.next_id(PageView, block_size=PAGE_VIEW_ID_BLOCK_SIZE)


@dataclass
class PlannedIds:
    """The ids of the rows a ping records, taken once from this process's blocks (tracking.id_blocks): its page
    view's and, when it opens one, its session's. A queued entry and the direct write that stands in for it when
    its queueing seemed to fail (Redis ran the command, its reply was lost) use the same ids: whichever reaches the
    database second finds its rows there and writes nothing."""

    page_view_id: int | None = None
    _session_id: int | None = None

    @classmethod
    def for_ping(cls, ticket: page_view_buffer.FastTicket | None) -> "PlannedIds":
        """The ids this ping's rows take (the page view's, that the ticket offered already): none without the
        ingest queue, whose entries alone may be written twice."""
        if ticket is not None:
            return cls(page_view_id=ticket.entry["i"])
        return cls(page_view_id=_page_view_id() if ingest_queue_on() else None)

    def session_id(self) -> int | None:
        if self._session_id is None and self.page_view_id is not None:
            self._session_id = id_blocks.next_id(WebSession)
        return self._session_id


class PageViewWritten(Exception):
    """The page view's id is taken: the flush wrote the entry its ping could not tell it queued."""


def _session_continue_or_open(
    *,
    contact: Contact,
    website: Website,
    page: PageInput,
    facts: RequestFacts,
    state: HotPathState,
    planned: PlannedIds | None = None,
) -> WebSession:
    """Extend the contact's current session or open a new one (enriched once, under the `planned` id when the ping
    has one), under a row lock."""
    # Two tabs pinging at once must not both open a session: serialise on the contact row.
    locked = Contact.objects.select_for_update().filter(pk=contact.pk).values_list("pk", flat=True)
    if not list(locked):
        raise ContactGone
    latest = WebSession.objects.filter(contact=contact, website=website).order_by("-last_activity_at").first()
    if latest is not None and _session_is_current(
        started_at=latest.started_at, last_activity_at=latest.last_activity_at, now=facts.now
    ):
        WebSession.objects.filter(pk=latest.pk).update(
            page_views_count=F("page_views_count") + 1, last_activity_at=Greatest("last_activity_at", Value(facts.now))
        )
        return latest
    location = locate(facts.ip)
    device = describe_device(facts.user_agent)
    session = WebSession.objects.create(
        id=None if planned is None else planned.session_id(),
        contact=contact,
        website=website,
        started_at=facts.now,
        last_activity_at=facts.now,
        page_views_count=1,
        landing_url=page.url,
        referrer=page.referrer,
        os=device.os,
        browser=device.browser,
        browser_version=device.browser_version,
        browser_language=facts.browser_language,
        city=location.city,
        country=location.country,
        country_name=location.country_name,
        **_utm(page.url),
    )
    enriched: dict[str, Any] = {
        "web_sessions_count": F("web_sessions_count") + 1,
        "last_seen_at": Greatest(Coalesce("last_seen_at", Value(facts.now)), Value(facts.now)),
        "first_seen_at": Coalesce("first_seen_at", Value(facts.now)),
    }
    # Location and device describe the latest session; an unknown value does not erase a known one.
    for name in ("os", "browser", "browser_version", "browser_language", "city", "country", "country_name"):
        value = getattr(session, name)
        if value:
            enriched[name] = value
    Contact.objects.filter(pk=contact.pk).update(**enriched)
    state.seen_at = facts.now.timestamp()
    if contact.role != Contact.Role.VISITOR:  # visitors belong to no company
        companies_services.companies_activity_record(contact_id=contact.pk, now=facts.now, new_session=True)
    return session


def _page_view_record(
    *,
    contact: Contact,
    website: Website,
    page: PageInput,
    facts: RequestFacts,
    state: HotPathState,
    planned: PlannedIds | None = None,
) -> PageView:
    """The page view, in the current session: two statements in the steady state. Under the `planned` ids, when the
    ping has them: raises PageViewWritten when its page view is written already (then roll back the transaction:
    the flush wrote its session's counter too)."""
    key = str(website.pk)
    session_id = None
    started_at = facts.now
    if key in state.sessions:
        cached_id, started_ts, last_ts = state.sessions[key]
        started_at = dt.datetime.fromtimestamp(started_ts, tz=dt.UTC)
        last_at = dt.datetime.fromtimestamp(last_ts, tz=dt.UTC)
        if _session_is_current(started_at=started_at, last_activity_at=last_at, now=facts.now):
            # Sessions cascade with their contact and move on merge: a hit proves the contact still exists.
            current_session = WebSession.objects.filter(pk=int(cached_id), contact=contact)
            extended = {
                "page_views_count": F("page_views_count") + 1,
                "last_activity_at": Greatest("last_activity_at", Value(facts.now)),
            }
            updated = current_session.update(**extended)
            if not updated and page_view_buffer.page_views_flush_before_reading():
                updated = current_session.update(**extended)  # it was queued a moment ago: written now
            session_id = int(cached_id) if updated else None
    if session_id is None:
        session = _session_continue_or_open(
            contact=contact, website=website, page=page, facts=facts, state=state, planned=planned
        )
        session_id, started_at = session.pk, session.started_at
    else:
        _touch_last_seen(contact=contact, now=facts.now, state=state)
    try:
        page_view = PageView.objects.create(
            id=None if planned is None else planned.page_view_id,
            contact=contact,
            session_id=session_id,
            url=page.url,
            title=page.title,
            referrer=page.referrer,
            created_at=facts.now,
        )
    except IntegrityError:  # the primary key (page views have no other constraint): only a planned id is taken
        raise PageViewWritten from None  # (the caller's transaction rolls back)
    state.sessions[key] = [session_id, started_at.timestamp(), facts.now.timestamp()]
    return page_view


def _page_view_after_merge(
    *, contact: Contact, website: Website, page: PageInput, facts: RequestFacts, state: HotPathState
) -> None:
    """A merged sign-in's page view, once the merge committed, in the general path and a transaction of its own.
    Not in the merge's: the user's cached session may still be queued (a sign-in on another browser a moment
    ago), and the flush that writes it would wait for the flush cursor while the merge holds the user's row,
    which a worker's flush holding the cursor waits for (a deadlock: a 503 or a worker's batch aborted; found by a
    review)."""
    try:
        with transaction.atomic():
            _page_view_record(contact=contact, website=website, page=page, facts=facts, state=state)
    except ContactGone:
        pass  # erased or merged away since the merge committed: nothing of it is recorded


def _page_view_after_commit(
    *,
    acting: ActingContact,
    website: Website,
    page: PageInput,
    facts: RequestFacts,
    state: HotPathState,
    planned: PlannedIds,
) -> bool:
    """The page view of a contact whose row is committed: queued in its cached current session or in a
    new queued one; written at once only when the queue cannot take it. A contact erased or merged
    meanwhile is handled by the flush, as for any queued page view.

    Whether `state` (which remembers `acting`) was saved with it, in the queued entry's round trip; if not,
    the caller saves it."""
    contact = acting.contact
    if _page_view_fast(
        contact=contact, website=website, page=page, facts=facts, state=state, save_state=True,
        page_view_id=planned.page_view_id,
    ):  # fmt: skip
        return True
    if _session_queued(
        contact=contact, website=website, page=page, facts=facts, state=state, planned=planned, acting=acting
    ):
        return True
    _page_view_record_once(contact=contact, website=website, page=page, facts=facts, state=state, planned=planned)
    return False


def _page_view_record_once(
    *,
    contact: Contact,
    website: Website,
    page: PageInput,
    facts: RequestFacts,
    state: HotPathState,
    planned: PlannedIds,
) -> None:
    """_page_view_record under the ping's planned ids: nothing when its page view is written already (queued after
    all, and flushed, with its session's counter), in a transaction or savepoint of its own, so that the rest of the
    caller's stands. (The state then learns its session from the row, on the next ping.)"""
    if planned.page_view_id is None:  # nothing queued it: no id to share, no savepoint needed
        with transaction.atomic(savepoint=False):  # (its row lock needs a transaction: the caller's, or this one)
            _page_view_record(contact=contact, website=website, page=page, facts=facts, state=state)
        return
    try:
        with transaction.atomic():
            _page_view_record(contact=contact, website=website, page=page, facts=facts, state=state, planned=planned)
    except PageViewWritten:
        pass


def _page_view_fast(
    *,
    contact: Contact,
    website: Website,
    page: PageInput,
    facts: RequestFacts,
    state: HotPathState,
    save_state: bool = False,
    ticket: page_view_buffer.FastTicket | None = None,
    page_view_id: int | None = None,
) -> bool:
    """The steady state: a page view in the cached current session, last_seen_at not due.

    Queued in the page-view buffer (no statement at all) when it is on, else one statement on
    PostgreSQL. False (nothing written) whenever the general path must decide: no cached current
    session, last_seen_at due, or (unbuffered) the session row is gone or moved. With `save_state`,
    the state is saved once the page view is written (in the entry's round trip when queued).

    `ticket`: what the request offered its first round trip. Its page view queued there is this one;
    else the ticket for the next pings is written with this page view (page_view_buffer.FastTicket).
    `page_view_id`: the ping's (PlannedIds), queued or written.
    """
    key = str(website.pk)
    cached = state.sessions.get(key)
    if cached is None:
        return False
    session_id, started_ts, last_ts = cached
    now_ts = facts.now.timestamp()
    if ticket is not None and ticket.queued_session is not None:
        # Queued by the first round trip in the session the ticket named, this entry's session: the same
        # state, fingerprint and clock bounds as when that ticket was written lead here.
        ticket.consumed = True
        state.sessions[key] = [ticket.queued_session, started_ts, now_ts]
        if save_state:
            state.save()
        return True
    last_seen_due = now_ts - state.seen_at >= LAST_SEEN_RESOLUTION_SECONDS and not ingest_queue_on()
    if last_seen_due or not _session_is_current(
        started_at=dt.datetime.fromtimestamp(started_ts, tz=dt.UTC),
        last_activity_at=dt.datetime.fromtimestamp(last_ts, tz=dt.UTC),
        now=facts.now,
    ):
        return False
    extended = [session_id, started_ts, now_ts]
    writes: tuple[page_view_buffer.CacheWrite, ...] = ()
    if save_state:
        after = replace(state, sessions={**state.sessions, key: extended})
        writes = (*after.cache_writes(), *_ticket_with(after, key, ticket))
    elif ticket is not None and ticket.state_sha is not None:
        written_ticket = ticket.write(session_id=int(session_id), until=_ticket_end(state, key))
        writes = () if written_ticket is None else (written_ticket,)
    # A buffered page view of a contact erased or merged meanwhile is dropped or moved by the flush.
    queued = page_view_buffer.page_view_buffer_add(
        session_id=int(session_id), page=page, at=facts.now, cache_writes=writes, page_view_id=page_view_id
    )
    written = queued or _page_view_in_one_statement(
        contact=contact, session_id=int(session_id), page=page, facts=facts, page_view_id=page_view_id
    )
    if written:
        state.sessions[key] = extended
        if save_state and not queued:
            state.save()
    return written


def _ticket_end(state: HotPathState, key: str) -> float:
    """Until when a fast-path ticket for this state's current session here holds: a margin before the first of
    the snapshot's expiry, the cached last activity's refresh and the session's longest length (its idle end
    comes after the refresh). Compared with each request's moment, as the ping's own decision compared them."""
    _, started_ts, last_ts = state.sessions[key]
    ends = min(state.contact_until, last_ts + STATE_REFRESH_SECONDS, started_ts + SESSION_MAX_LENGTH.total_seconds())
    return ends - FAST_TICKET_MARGIN_SECONDS


def _ticket_with(
    state: HotPathState, key: str, ticket: page_view_buffer.FastTicket | None
) -> tuple[page_view_buffer.CacheWrite, ...]:
    """The fast-path ticket to write with `state` (a ping saving its new state: a new session, a refreshed
    snapshot), naming those bytes: the contact's next page views take the first round trip's path at once."""
    if ticket is None or not ticket.checked:
        return ()
    session_id = state.sessions[key][0]
    written = ticket.write(session_id=int(session_id), until=_ticket_end(state, key), state_sha=state.stored_sha())
    return () if written is None else (written,)


def _page_view_in_one_statement(
    *, contact: Contact, session_id: int, page: PageInput, facts: RequestFacts, page_view_id: int | None
) -> bool:
    """PostgreSQL: extend the session and insert the page view in ONE statement; True when the session is there
    (the page view written, now or before: a planned id taken already is skipped, and so is its counter).

    A data-modifying CTE is atomic on its own, so this needs no BEGIN/COMMIT round trips. The session
    row it locks stays locked until the insert commits: that lock, not a database foreign key, keeps
    a deletion from missing this page view (contacts.deletion).
    """
    connection = connections[router.db_for_write(PageView)]
    if connection.vendor != "postgresql":
        return False
    sessions, page_views = WebSession._meta.db_table, PageView._meta.db_table
    sql = f"""
        WITH session AS (
            SELECT id FROM {sessions} WHERE id = %s AND contact_id = %s FOR UPDATE
        ), inserted AS (
            INSERT INTO {page_views} (id, contact_id, session_id, url, title, referrer, created_at)
            SELECT %s, %s, session.id, %s, %s, %s, %s FROM session ON CONFLICT DO NOTHING RETURNING session_id
        ), counted AS (
            UPDATE {sessions} SET page_views_count = page_views_count + 1,
                last_activity_at = GREATEST(last_activity_at, %s)
            WHERE id IN (SELECT session_id FROM inserted)
        )
        SELECT count(*) FROM session
    """  # noqa: S608 - table names come from the models, values are parameters
    page_view_id = page_view_id or _page_view_id()
    params = [
        session_id, contact.pk,
        page_view_id, contact.pk, page.url, page.title, page.referrer, facts.now,
        facts.now,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.fetchone()[0])


def _nothing_to_write_for(user: UserInput | None, contact: Contact, state: HotPathState) -> bool:
    """The same identity and the same user fields as the last page view."""
    if user is None:
        return True
    if user.identifies and not matches_identity(contact, user):
        return False
    if user.user_id and user.email and contact.email.lower() != user.email.lower():
        return False
    nothing_sent = not user.fields and user.custom_attributes is None and user.companies is None
    return nothing_sent or state.user_fingerprint == _fingerprint(user)


def _ignored_again(user: UserInput | None, state: HotPathState) -> dict[str, str]:
    """What a page view that writes nothing reports as left out: what the same user settings were
    refused last time, as `_apply_user_fields` answers for them."""
    if user is None:
        return {}
    if user.fields or user.custom_attributes is not None or user.companies is not None:
        return dict(state.user_ignored)
    return dict(user.refused)


def _state_for(acting: ActingContact, known: HotPathState | None, now: dt.datetime) -> HotPathState:
    if known is not None and known.contact_id == acting.contact.pk:
        return known
    if acting.created:
        return HotPathState(contact_id=acting.contact.pk, seen_at=now.timestamp())
    return HotPathState.load(acting.contact.pk)


def ingest_queue_on() -> bool:
    """New visitors, new sessions and last_seen_at go through the ingest buffer (PostgreSQL + Redis)."""
    return (
        settings.PARLEY_INGEST_QUEUE
        and page_view_buffer.page_view_buffer_on()
        and id_blocks.id_blocks_supported(WebSession)
    )


def _session_fields(*, page: PageInput, facts: RequestFacts) -> dict[str, str]:
    """What a new session records about the browser: landing page, referrer, UTM, device and place
    (the user agent parsed once per distinct string, the IP looked up and dropped)."""
    device = describe_device(facts.user_agent)
    location = locate(facts.ip)
    return {
        "landing_url": page.url, "referrer": page.referrer, **_utm(page.url),
        "os": device.os, "browser": device.browser, "browser_version": device.browser_version,
        "browser_language": facts.browser_language,
        "city": location.city, "country": location.country, "country_name": location.country_name,
    }  # fmt: skip


def _session_queued(
    *,
    contact: Contact,
    website: Website,
    page: PageInput,
    facts: RequestFacts,
    state: HotPathState,
    planned: PlannedIds,
    acting: ActingContact | None = None,
    ticket: page_view_buffer.FastTicket | None = None,
) -> bool:
    """A known contact without a current session here: the new session and its first page view
    are queued (no database statement), under the `planned` ids; False when they must be written now instead,
    under the same ids.

    With `acting` (the contact the request acts for), the state remembers it and is saved in the
    entry's round trip, with the fast-path ticket for it (`ticket`: the request's offer); without,
    the caller saves it."""
    if not ingest_queue_on():
        return False
    session_id = planned.session_id()
    if session_id is None:
        return False
    session = page_view_buffer.QueuedSession(
        contact_id=contact.pk, website_id=website.pk, fields=_session_fields(page=page, facts=facts)
    )
    key, now_ts = str(website.pk), facts.now.timestamp()
    # The state as it will be, saved in the entry's round trip; `state` learns it once the entry is queued
    # (else the general path decides from the state as it was).
    after = replace(state, sessions={**state.sessions, key: [session_id, now_ts, now_ts]}, seen_at=now_ts)
    if acting is not None:
        after.remember(acting, now_ts)  # the row read for it serves the next minute's pings
    # Another tab of the same browser may have opened it a moment ago: then this page view joins it.
    opened = page_view_buffer.page_view_buffer_open_session(
        session_id=session_id, page=page, at=facts.now, session=session,
        cache_writes=(*after.cache_writes(), *_ticket_with(after, key, ticket)) if acting is not None else (),
        page_view_id=planned.page_view_id,
    )  # fmt: skip
    if opened is None:
        return False
    if opened != session_id:
        after.sessions[key] = [opened, now_ts, now_ts]
        if acting is not None:
            after.save()  # the entry's round trip saved the session this page view did not open
    state.sessions, state.seen_at, state.contact, state.contact_until = (
        after.sessions,
        after.seen_at,
        after.contact,
        after.contact_until,
    )
    return True


def _visitor_queued(
    *,
    website: Website,
    page: PageInput,
    consent: ConsentInput,
    facts: RequestFacts,
    marks: Callable[[int], tuple[page_view_buffer.CacheWrite, ...]] | None = None,
    count: DeferredCount | None = None,
) -> Contact | None:
    """A first ping: the new visitor, its session and page view are queued (no database statement
    in the common case: ids come from this process's block), or written now under the same ids when they could not
    be (as far as this ping knows: Redis may have queued them and lost its reply); None without the ingest queue.
    `count`, the request's rate limits, is counted with the entry, in its round trip where it can be.

    The visitor's own consent choice, if the ping states one, is written with the row (a page's
    default never is), as the general path's `consent_remember` stores it."""
    if not ingest_queue_on():
        return None
    contact_id, session_id = id_blocks.next_id(Contact), id_blocks.next_id(WebSession)
    page_view_id = _page_view_id()
    if contact_id is None or session_id is None or page_view_id is None:
        return None
    chosen = not consent.default and consent.stated
    queued = page_view_buffer.QueuedContact(
        contact_id=contact_id,
        anonymous_id=uuid.uuid4(),
        analytics_consent=consent.analytics if chosen else None,
        marketing_consent=consent.marketing if chosen else None,
        consent_source=consent.source if chosen else "",
    )
    session = page_view_buffer.QueuedSession(
        contact_id=contact_id, website_id=website.pk, fields=_session_fields(page=page, facts=facts)
    )
    now_ts = facts.now.timestamp()
    state = HotPathState(
        contact_id=contact_id, seen_at=now_ts, sessions={str(website.pk): [session_id, now_ts, now_ts]}
    )
    # The snapshot of the row the flush will write: the next pings need neither the row nor a flush.
    state.contact = {"role": Contact.Role.VISITOR.value, "name": "", "external_id": None, "email": "",
                     "anonymous_id": str(queued.anonymous_id), "analytics_consent": queued.analytics_consent,
                     "marketing_consent": queued.marketing_consent, "consent_source": queued.consent_source,
                     "processing_restricted": False, "widget_tokens_revoked_at": None, QUEUED_MARK: True}  # fmt: skip
    state.contact_until = now_ts + CONTACT_SNAPSHOT_SECONDS
    # The hot-path state (and the caller's marks) go with the entry, in its round trip.
    writes = (*state.cache_writes(), *(marks(contact_id) if marks is not None else ()))
    rows = {"session_id": session_id, "page": page, "at": facts.now, "contact": queued, "session": session}
    if not page_view_buffer.page_view_buffer_add(**rows, cache_writes=writes, count=count, page_view_id=page_view_id):
        if count is not None:
            count.count()  # (unless the queueing's script counted them)
        page_view_buffer.page_view_write_now(**rows, page_view_id=page_view_id)
        page_view_buffer.cache_writes_apply(writes)
    return state.snapshot(now_ts)


_NO_USER = UserInput()


def _nothing_sent(user: UserInput | None) -> bool:
    """The site sent no user settings (fields, attributes, companies, identity), nor malformed ones to report."""
    return user is None or user == _NO_USER


def _ingest(
    *,
    website: Website,
    current: ActingContact | None,
    state: HotPathState | None,
    anonymous_id: Any,
    user: UserInput | None,
    page: PageInput | None,
    facts: RequestFacts,
    tracking: bool = True,
    lead_email: str | None = None,
    email_selects_user: bool = True,
    ticket: page_view_buffer.FastTicket | None = None,
) -> tuple[Contact, dict[str, str]]:
    """Resolve the contact, then record the page view (or just the sighting), in one transaction.

    The cached state is written only after the transaction committed. A snapshot contact that
    turns out to be gone (merged, erased, expired) is retried once as a new visitor.
    """
    planned = PlannedIds.for_ping(ticket) if tracking and page is not None else PlannedIds()
    if (
        tracking
        and page is not None
        and current is not None
        and state is not None
        and state.contact_id == current.contact.pk
        and lead_email is None
        and _nothing_to_write_for(user, current.contact, state)
    ):
        before, now_ts = state.sessions.get(str(website.pk)), facts.now.timestamp()
        # The cached last activity may lag a little (an older value only sends a ping to the general path);
        # a snapshot refreshed for this ping (from the row or the kept copy) serves the next minute's pings.
        save_state = (
            before is None or now_ts - before[2] > STATE_REFRESH_SECONDS or not current.snapshot or current.refreshed
        )
        state.remember(current, now_ts)
        if _page_view_fast(
            contact=current.contact, website=website, page=page, facts=facts, state=state, save_state=save_state,
            ticket=ticket, page_view_id=planned.page_view_id,
        ):  # fmt: skip
            return current.contact, _ignored_again(user, state)
        if _session_queued(
            contact=current.contact, website=website, page=page, facts=facts, state=state, planned=planned,
            acting=current, ticket=ticket,
        ):  # fmt: skip
            return current.contact, _ignored_again(user, state)
    # With the ingest queue, the page view follows the commit through the queue (the contact's row is
    # written by then): an identification costs its lookup, not two more statements.
    queue_on = tracking and page is not None and ingest_queue_on()
    for attempt in range(2):
        ignored: dict[str, str] = {}
        state_saved = False
        try:
            with transaction.atomic():
                if current is None and anonymous_id is not None:
                    row = contact_by_anonymous_id(anonymous_id, website_id=website.pk)
                    current = None if row is None else ActingContact(row)
                acting = _resolve(
                    current=current, user=user, facts=facts, website=website, email_selects_user=email_selects_user
                )
                if lead_email is not None:
                    acting = lead_email_record(acting=acting, email=lead_email)
                contact_state = _state_for(acting, state, facts.now)
                if user is not None:
                    acting, ignored = _apply_user_fields_named(
                        acting=acting, user=user, state=contact_state, website=website
                    )
                contact = acting.contact
                # Except after a merge: the visitor's current session moved to a contact whose cached
                # state does not know it, and the general path finds it in the database.
                merged = current is not None and current.contact.pk != contact.pk
                queued_later = queue_on and not merged
                # Else the general path: here, or for a merge once it committed (`_page_view_after_merge`).
                if tracking and page is not None and not queue_on and not merged:
                    _page_view_record_once(
                        contact=contact, website=website, page=page, facts=facts, state=contact_state, planned=planned
                    )
                elif tracking and page is None:
                    _touch_last_seen(contact=contact, now=facts.now, state=contact_state)
            if queued_later:
                contact_state.remember(acting, facts.now.timestamp())
                state_saved = _page_view_after_commit(
                    acting=acting, website=website, page=page, facts=facts, state=contact_state, planned=planned
                )
        except ContactGone:
            if attempt or not tracking:
                raise
            current = anonymous_id = state = None
            continue
        if merged and tracking and page is not None:
            _page_view_after_merge(contact=contact, website=website, page=page, facts=facts, state=contact_state)
        if not state_saved:
            contact_state.remember(acting, facts.now.timestamp())
            contact_state.save()
        return contact, ignored
    raise AssertionError("unreachable")  # pragma: no cover


# A fast-path ticket ends this long before the first of the ends it stands for.
FAST_TICKET_MARGIN_SECONDS = 1


@functools.cache
def _decision_code_version() -> str:
    """The steady-state decision's code, as a fingerprint input: during a rolling deploy a ticket one version
    wrote (for state bytes it reads its own way) is not taken by another."""
    from tracking import payloads
    from tracking.services import hot_path

    modules = (sys.modules[__name__], hot_path, page_view_buffer, payloads)
    try:
        code = b"".join(Path(module.__file__ or "").read_bytes() for module in modules)
    except OSError:  # no source files (compiled only): the installed version says it
        code = importlib.metadata.version("parley").encode()
    return hashlib.blake2b(code, digest_size=8).hexdigest()


def fast_ticket_offer(
    *, website: Website, ping: PingInput, identity: WidgetIdentity | None, facts: RequestFacts
) -> page_view_buffer.FastTicket | None:
    """The steady-state page view this ping would queue, offered to its first round trip with the fingerprint
    of everything the request itself feeds into that decision (page_view_buffer.FastTicket); None when the
    ping may need more (user settings, no page) or the ingest queue is off."""
    if identity is None or ping.page is None or not _nothing_sent(ping.user) or not ingest_queue_on():
        return None
    inputs = (
        _decision_code_version(), website.pk, str(website.tracking_mode), str(website.identity_verification),
        identity.contact_id, identity.tracking_consent, identity.verified, ping.consent,
    )  # fmt: skip
    return page_view_buffer.FastTicket(
        contact_id=identity.contact_id,
        hot_path_keys=hot_path_ticket_keys(identity.contact_id),
        fingerprint=hashlib.blake2b(repr(inputs).encode(), digest_size=8).hexdigest(),
        revocation_matters=not (website_enforces(website) and identity.verified),
        entry=page_view_buffer.page_view_fields(page=ping.page, at=facts.now, page_view_id=_page_view_id()),
        now=facts.now.timestamp(),
    )


def _queueable_first_visit(*, website: Website, ping: PingInput, facts: RequestFacts) -> bool:
    """A ping without a token that the ingest queue may take whole (`_visitor_queued`): no anonymous id, a
    page, no user settings, tracked by default, not a crawler's."""
    return (
        ping.anonymous_id is None
        and ping.page is not None
        and _nothing_sent(ping.user)
        and tracking_allowed(website=website, consent=ping.consent, token_consent=False)
        and (website.track_bots or not describe_device(facts.user_agent).bot)
    )


def widget_ping(
    *,
    website: Website,
    ping: PingInput,
    identity: WidgetIdentity | None,
    facts: RequestFacts,
    reads: CacheReader = cache,
    new_contact_marks: Callable[[int], tuple[page_view_buffer.CacheWrite, ...]] | None = None,
    count: DeferredCount | None = None,
    ticket: page_view_buffer.FastTicket | None = None,
) -> WidgetAnswer:
    """One page view: resolve or create the contact, identify, session, page view, last seen.

    `new_contact_marks`: cache entries another app keeps for a brand-new contact (the chat's "quiet"
    mark), written in the queued entry's round trip. `count`: the request's rate limits, not counted
    yet: a first visit's go into its queued entry's round trip; any other ping counts them before
    anything else is done for it. `ticket`: what the request offered its first round trip
    (fast_ticket_offer), with what that round trip did."""
    WIDGET_PINGS.inc()
    answer = _widget_ping(
        website=website, ping=ping, identity=identity, facts=facts, reads=reads, new_contact_marks=new_contact_marks,
        count=count, ticket=ticket,
    )  # fmt: skip
    if ticket is not None and ticket.queued_session is not None and not ticket.consumed:
        # Cannot happen while the ticket holds what it stands for: say so rather than lose track of a page view.
        logger.error(
            "A page view queued by its fast-path ticket was not taken by its ping (contact %s).", ticket.contact_id
        )
    return answer


def _widget_ping(
    *,
    website: Website,
    ping: PingInput,
    identity: WidgetIdentity | None,
    facts: RequestFacts,
    reads: CacheReader,
    new_contact_marks: Callable[[int], tuple[page_view_buffer.CacheWrite, ...]] | None,
    count: DeferredCount | None,
    ticket: page_view_buffer.FastTicket | None,
) -> WidgetAnswer:
    first_visit = identity is None and _queueable_first_visit(website=website, ping=ping, facts=facts)
    if count is not None and not first_visit:
        count.count()
    identity = usable_identity(identity, website=website, reads=reads)
    current, token_consent, state = acting_contact_for(identity, website=website, now=facts.now, reads=reads)
    contact = current.contact if current is not None else None
    if not tracking_allowed(website=website, consent=ping.consent, token_consent=token_consent, contact=contact):
        # No analytics consent: nothing is recorded. A visitor who started a chat keeps its token (and its choice).
        if contact is not None:
            consent_remember(contact=contact, consent=ping.consent, state=state, now=facts.now)
        if (
            ping.user is not None
            and ping.user.identifies
            and not (contact is not None and contact.processing_restricted)
        ):
            return _identify_untracked(
                website=website, ping=ping, identity=identity, current=current, state=state, facts=facts
            )
        return WidgetAnswer(contact=contact, token=ping.token if current else None, tracking=False)
    identifies = ping.user is not None and ping.user.identifies
    if current is None and not identifies and not website.track_bots and describe_device(facts.user_agent).bot:
        # A crawler (or no user agent) without a contact: answered, but no contact, session or page view.
        # (A sign-in the site vouches for is a person's, whatever the user agent.)
        return WidgetAnswer(contact=None, token=None, tracking=True)
    if current is None and ping.anonymous_id is None and ping.page is not None and _nothing_sent(ping.user):
        queued = _visitor_queued(
            website=website, page=ping.page, consent=ping.consent, facts=facts, marks=new_contact_marks,
            count=count if first_visit else None,
        )  # fmt: skip
        if queued is not None:
            token = _answer_token(
                None,
                None,
                contact=queued,
                website=website,
                tracking_consent=explicit_consent(consent=ping.consent, token_consent=token_consent),
                verified=False,
                now=facts.now,
            )
            return WidgetAnswer(contact=queued, token=token, tracking=True, new_contact=True)
    if count is not None:
        count.count()  # a first visit the queue did not take: counted before it is written (once in all)
    contact, ignored, refused = _ingest_unless_refused(
        website=website,
        current=current,
        state=state,
        anonymous_id=ping.anonymous_id,
        user=ping.user,
        page=ping.page,
        facts=facts,
        ticket=ticket,
    )
    consent_remember(contact=contact, consent=ping.consent, state=state, now=facts.now)
    verified = _verified_sign_in(website=website, user=ping.user, refused=refused, identity=identity, contact=contact)
    token = _answer_token(
        identity,
        ping.token,
        contact=contact,
        website=website,
        tracking_consent=explicit_consent(consent=ping.consent, token_consent=token_consent),
        verified=verified,
        now=facts.now,
    )
    return WidgetAnswer(
        contact=contact, token=token, tracking=True, ignored_attributes=ignored, identity_refused=refused
    )


def _identify_untracked(
    *,
    website: Website,
    ping: PingInput,
    identity: WidgetIdentity | None,
    current: ActingContact | None,
    state: HotPathState | None,
    facts: RequestFacts,
) -> WidgetAnswer:
    """Identity is support, not analytics: the site's user (email, user_id, name…) is identified without
    analytics consent; no page view, session, event or device field is recorded."""
    try:
        verify_identity(website=website, user=ping.user)
    except IdentityVerificationFailed:
        contact = current.contact if current is not None else None
        return WidgetAnswer(
            contact=contact, token=ping.token if current else None, tracking=False, identity_refused=True
        )
    contact, ignored = _ingest(
        website=website, current=current, state=state, anonymous_id=None, user=ping.user, page=None, facts=facts,
        tracking=False,
    )  # fmt: skip
    consent_remember(contact=contact, consent=ping.consent, state=state, now=facts.now)
    verified = _verified_sign_in(website=website, user=ping.user, refused=False, identity=identity, contact=contact)
    token = _answer_token(
        identity, ping.token, contact=contact, website=website, tracking_consent=False, verified=verified, now=facts.now
    )
    return WidgetAnswer(contact=contact, token=token, tracking=False, ignored_attributes=ignored)


def _ingest_unless_refused(
    *,
    website: Website,
    current: ActingContact | None,
    state: HotPathState | None,
    user: UserInput | None,
    **ingest: Any,
) -> tuple[Contact, dict[str, str], bool]:
    """`_ingest`, except that an identification refused for want of a valid user_hash (this website
    enforces verification, or the user belongs to one that does) leaves the browser anonymous: none
    of the user's data, no user fields written, and a user's token is not kept either (the site now
    names someone it does not vouch for). Returns (contact, ignored attributes, refused)."""
    try:
        verify_identity(website=website, user=user)
        return (*_ingest(website=website, current=current, state=state, user=user, **ingest), False)
    except IdentityVerificationFailed:
        pass  # the transaction that found out rolled back: start again without the identification
    if current is not None and current.contact.role == Contact.Role.USER and ingest.get("tracking", True):
        # (Support-only before consent, the browser keeps its token, as the ping does: no new visitor record.)
        current = state = None
    return (*_ingest(website=website, current=current, state=state, user=None, **ingest), True)


def _verified_sign_in(
    *, website: Website, user: UserInput | None, refused: bool, identity: WidgetIdentity | None, contact: Contact
) -> bool:
    """The answer's token is a verified sign-in's: this request's valid user_hash named the user, or the
    token it presented was one and still names the same contact."""
    if contact.role != Contact.Role.USER:
        return False
    if not refused and user is not None and user.identifies and user_hash_valid(website=website, user=user):
        return True
    return identity is not None and identity.verified and identity.contact_id == contact.pk


def _answer_token(
    identity: WidgetIdentity | None,
    presented: str | None,
    *,
    contact: Contact,
    website: Website,
    tracking_consent: bool,
    verified: bool,
    now: dt.datetime,
) -> str:
    """The token the widget sent while it is fresh and says the same; else a newly signed one."""
    if (
        identity is not None
        and presented
        and identity.still_fresh_for(
            contact_id=contact.pk, tracking_consent=tracking_consent, verified=verified, now=now.timestamp()
        )
    ):
        return presented
    return widget_token_sign(
        contact_id=contact.pk, website_id=website.pk, tracking_consent=tracking_consent, verified=verified
    )


def _resolve(
    *,
    current: ActingContact | None,
    user: UserInput | None,
    facts: RequestFacts,
    website: Website,
    email_selects_user: bool = True,
) -> ActingContact:
    """The identified user, else the token's or anonymous id's contact, else a new visitor."""
    try:
        if user is not None and user.identifies:
            # Enforced: the hash was checked already. Elsewhere a valid hash proves the identity just as well.
            enforced = website.identity_verification == Website.IdentityVerification.ENFORCED
            proven = enforced or user_hash_valid(website=website, user=user)
            identified = identify(
                current=current,
                user=user,
                proven_only=proven,
                on_verifying_website=enforced,
                email_selects_user=email_selects_user or proven,
            )
            if enforced:  # whatever else the ping carried (a page or not), the person is now a verified one
                contacts_services.contact_mark_identity_verified(contact=identified.contact)
            if proven and user.email and not user.user_id:  # the hash signs the email: the address is theirs
                contacts_services.contact_mark_email_verified(contact=identified.contact, email=user.email)
            return identified
        return current or _visitor_create(now=facts.now, website=website)
    except ValidationError as error:
        raise user_field_errors(error) from None


def _apply_user_fields_named(
    *, acting: ActingContact, user: UserInput, state: HotPathState, website: Website
) -> tuple[ActingContact, dict[str, str]]:
    try:
        return _apply_user_fields(acting=acting, user=user, state=state, website=website)
    except ValidationError as error:
        raise user_field_errors(error) from None


def widget_update(
    *,
    website: Website,
    update: UpdateInput,
    identity: WidgetIdentity | None,
    facts: RequestFacts,
    reads: CacheReader = cache,
) -> WidgetAnswer:
    """User fields and, for single-page apps, a new page view."""
    identity = usable_identity(identity, website=website, reads=reads)
    current, token_consent, state = acting_contact_for(identity, website=website, now=facts.now, reads=reads)
    if current is None:
        raise WidgetTokenInvalid
    email_of_lead = lead_email(website=website, user=update.user, contact=current.contact)
    user = update.user if email_of_lead is None else replace(update.user, email=None)
    if current.contact.processing_restricted:
        # Restricted (GDPR Art. 18): the contact is frozen, the site's user fields change nothing (the chat still works).
        user, email_of_lead = None, None
    tracking = tracking_allowed(
        website=website, consent=update.consent, token_consent=token_consent, contact=current.contact
    )
    try:
        contact, ignored, refused = _ingest_unless_refused(
            website=website,
            current=current,
            state=state,
            anonymous_id=None,
            user=user,
            page=update.page,
            facts=facts,
            tracking=tracking,
            lead_email=email_of_lead,
            email_selects_user=False,  # "An email is not an identity": an update's email never switches users
        )
    except ContactGone:
        raise WidgetTokenInvalid from None
    consent_remember(contact=contact, consent=update.consent, state=state, now=facts.now)
    verified = _verified_sign_in(website=website, user=user, refused=refused, identity=identity, contact=contact)
    token = _answer_token(
        identity,
        update.token,
        contact=contact,
        website=website,
        tracking_consent=tracking and explicit_consent(consent=update.consent, token_consent=token_consent),
        verified=verified,
        now=facts.now,
    )
    return WidgetAnswer(
        contact=contact, token=token, tracking=tracking, ignored_attributes=ignored, identity_refused=refused
    )


def widget_shutdown(*, website: Website, identity: WidgetIdentity | None) -> None:
    """The site logged the user out: forget this browser's hot state (the widget drops its cookies);
    its next page view opens a new session."""
    if identity is not None:
        cache.delete(HotPathState.key(identity.contact_id))
        page_view_buffer.session_claim_forget(contact_id=identity.contact_id, website_id=website.pk)
