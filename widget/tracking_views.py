"""The widget's ingest endpoints: ping, update, events, shutdown (see docs/widget-protocol.md).

Thin views: parse the body, count the request (its IP and contact limits, with the contact's
hot-path cache entries read in the same round trip), call one service, shape the answer.
"""

import datetime as dt
import json
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

from common.rate_limit import CacheReads
from contacts.models import Contact
from conversations.selectors import messenger_scope
from conversations.services import widget_quiet
from tracking import payloads
from tracking import services as tracking_services
from tracking.enrichment import accept_language
from tracking.models import Website
from tracking.page_view_buffer import CacheWrite, FastTicket
from tracking.services.hot_path import hot_path_read_keys
from tracking.widget_auth import WidgetIdentity
from widget.chat_views import chat_state
from widget.http import WidgetCall, widget_endpoint, widget_identity, widget_json, widget_json_body


def _facts(
    call: WidgetCall, *, now: dt.datetime | None = None, browser_language: str = ""
) -> tracking_services.RequestFacts:
    """The request's moment, address, user agent and language (`browser_language`, the page's own, else the
    Accept-Language header's first)."""
    request = call.request
    return tracking_services.RequestFacts(
        now=now or timezone.now(),
        ip=call.ip,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        browser_language=browser_language or accept_language(request),
    )


def _preflight(
    call: WidgetCall,
    identity: WidgetIdentity | None,
    *,
    chat: bool = False,
    reads: bool = True,
    ticket: FastTicket | None = None,
) -> tuple[Any, CacheReads]:
    """The token's `identity`, once the request is counted against its IP and contact limits; with the
    contact's hot-path cache entries (and, for the ping, the chat's quiet mark) read in the same round trip,
    and the ping's `ticket` offered to it."""
    read_keys: list[str] = []
    if identity is not None and reads:
        read_keys = hot_path_read_keys(identity.contact_id)
        if chat:
            read_keys += widget_quiet.cache_keys(identity.contact_id)
    return identity, call.preflight(identity, read_keys=read_keys, ticket=ticket if read_keys else None)


def _contact_json(contact: Contact | None) -> dict[str, Any] | None:
    return None if contact is None else {"role": contact.role, "name": contact.name}


IDENTITY_REFUSED_WARNING = (
    "Not signed in: identity verification needs user_hash = HMAC-SHA256 of user_id (or of email) with the "
    "website's identity secret, computed on your server; this user_hash is missing or wrong, so the visitor "
    "stays anonymous."
)


def _warnings(answer: tracking_services.WidgetAnswer) -> list[dict[str, str]]:
    """What the site got wrong, one entry each; the widget prints every message in the console."""
    warnings = []
    if answer.identity_refused:
        warnings.append({"field": "user.user_hash", "message": f"Parley: {IDENTITY_REFUSED_WARNING}"})
    for name, reason in answer.ignored_attributes.items():
        if name.startswith("user."):  # a setting of the wrong shape (a custom attribute's name holds no ".")
            warnings.append({"field": name, "message": f"Parley: {name} not applied (the rest was): {reason}"})
            continue
        if name.startswith(
            tracking_services.COMPANY_IGNORED_PREFIX
        ):  # "company.<company_id>[.custom_attributes.<name>]"
            warnings.append({"field": "user.company", "message": _company_warning(name, reason)})
            continue
        message = (
            f"Parley: custom attribute {json.dumps(name, ensure_ascii=False)} not applied (the rest was): {reason}"
        )
        warnings.append({"field": f"user.custom_attributes.{name}", "message": message})
    return warnings


def _company_warning(key: str, reason: str) -> str:
    company_id, _, attribute = key.removeprefix(tracking_services.COMPANY_IGNORED_PREFIX).partition(
        ".custom_attributes."
    )
    quoted = json.dumps(company_id, ensure_ascii=False)
    if attribute:
        name = json.dumps(attribute, ensure_ascii=False)
        return f"Parley: custom attribute {name} of company {quoted} not applied (the rest was): {reason}"
    return f"Parley: company {quoted}: {reason}"


def _answer(website: Website, answer: tracking_services.WidgetAnswer) -> dict[str, Any]:
    anonymous_id = str(answer.contact.anonymous_id) if answer.contact is not None and answer.tracking else None
    shape = {
        "anonymous_id": anonymous_id,
        "token": answer.token,
        "tracking": website.tracking_mode,
        # Whether this request recorded analytics (the website's default, or the visitor's consent):
        # the loader keeps its cookies and pings again after a consent only from this.
        "tracked": answer.tracking,
        "contact": _contact_json(answer.contact),
    }
    contact = answer.contact
    if contact is not None:
        # What the server holds for this visitor: the loader tells a withdrawal at once only when it differs.
        shape["consent"] = {"analytics": contact.analytics_consent, "marketing": contact.marketing_consent}
        if not answer.tracking and (contact.processing_restricted or contact.analytics_consent is False):
            # Restricted, or analytics refused: the browser drops the anonymous id (the token, kept, remembers it).
            shape["forget"] = True
    if answer.ignored_attributes:
        # Only a verified user (valid user_hash) defines new custom attributes, and an invalid value is
        # dropped (the rest is applied): say what was left out and why.
        names = [
            name for name in answer.ignored_attributes if not name.startswith(tracking_services.COMPANY_IGNORED_PREFIX)
        ]
        if names:
            shape["ignored_custom_attributes"] = names
    if warnings := _warnings(answer):
        shape["warnings"] = warnings
    return shape


def _quiet_marks(contact_id: int) -> tuple[CacheWrite, ...]:
    """A new visitor has no conversation or message: its next pings need not look (chat_state)."""
    key, value, seconds = widget_quiet.quiet_mark(contact_id)
    return (CacheWrite(key, value, seconds, only_if_absent=True),)


@widget_endpoint(methods=("POST",), count_ip_first=False)
def ping_view(call: WidgetCall) -> HttpResponse:
    """One per page view: records it and answers with the token and the widget state (chat included)."""
    now = timezone.now()
    ping = payloads.clean_ping(widget_json_body(call.request), now=now)
    facts = _facts(call, now=now, browser_language=ping.browser_language)
    count = ticket = None
    presented = identity = widget_identity(website=call.website, token=ping.token)
    if identity is None:
        # Most often a first visit: its IP is counted in the one Redis round trip that queues it.
        reads, count = CacheReads(), call.defer_ip_count()
    else:
        # A returning visitor's page view may be queued in that round trip too (page_view_buffer.FastTicket).
        ticket = tracking_services.fast_ticket_offer(website=call.website, ping=ping, identity=identity, facts=facts)
        identity, reads = _preflight(call, identity, chat=True, ticket=ticket)
    answer = tracking_services.widget_ping(
        website=call.website, ping=ping, identity=identity, facts=facts, reads=reads, new_contact_marks=_quiet_marks,
        count=count, ticket=ticket,
    )  # fmt: skip
    if answer.new_contact:  # its row is queued: no conversation or message can reach it yet
        return widget_json({**_answer(call.website, answer), **chat_state(None)})
    # The conversations the answer's token may read here: a verified sign-in's reach every website's.
    answered = presented if answer.token == ping.token else widget_identity(website=call.website, token=answer.token)
    scope = messenger_scope(website_id=call.website.pk, verified_sign_in=answered is not None and answered.verified)
    return widget_json({**_answer(call.website, answer), **chat_state(answer.contact, scope, reads)})


@widget_endpoint(methods=("POST",), count_ip_first=False)
def update_view(call: WidgetCall) -> HttpResponse:
    """User fields and, in single-page apps, a new page view."""
    facts = _facts(call)
    update = payloads.clean_update(widget_json_body(call.request), now=facts.now)
    identity, reads = _preflight(call, widget_identity(website=call.website, token=update.token))
    answer = tracking_services.widget_update(
        website=call.website, update=update, identity=identity, facts=facts, reads=reads
    )
    return widget_json(_answer(call.website, answer))


@widget_endpoint(methods=("POST",), count_ip_first=False)
def events_view(call: WidgetCall) -> HttpResponse:
    """Track a custom event for the token's contact: 202."""
    facts = _facts(call)
    event = payloads.clean_event(widget_json_body(call.request), now=facts.now)
    identity, reads = _preflight(call, widget_identity(website=call.website, token=event.token))
    tracked, duplicate = tracking_services.widget_event(
        website=call.website, event=event, identity=identity, facts=facts, reads=reads
    )
    return widget_json({"tracked": tracked, "duplicate": duplicate}, status=202)


@widget_endpoint(methods=("POST",), count_ip_first=False)
def shutdown_view(call: WidgetCall) -> HttpResponse:
    """The site logged the user out: the widget forgets it; the next page view starts a new session."""
    body = widget_json_body(call.request)
    payloads.only_fields(body, {"token"})
    token = payloads.clean_token(body.get("token"), required=False)
    identity, _ = _preflight(call, widget_identity(website=call.website, token=token), reads=False)
    tracking_services.widget_shutdown(website=call.website, identity=identity)
    return widget_json({"ok": True})
