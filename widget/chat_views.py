"""The widget's chat endpoints (docs/widget-protocol.md, "Chat endpoints"): conversations, replies,
the poll, in-app messages; and the chat's part of the ping answer. Thin views over conversations'
services and selectors.

Every lookup is scoped to the contact named by the signed widget token, so another contact's
conversation id answers exactly like an id that does not exist (404).
"""

import contextlib
import datetime as dt
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from django.core.cache import cache, caches
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils import timezone

from common.parsing import iso_datetime_or_none
from common.rate_limit import CacheReads, Limit, ip_hash
from contacts import services as contact_services
from contacts.models import Contact
from conversations import selectors, services
from conversations.models import PUBLIC_ID_FORMAT, Conversation, ConversationPart, ConversationRating, MessageDelivery
from conversations.services import widget_quiet
from conversations.services.expectations import website_availability
from conversations.services.presence import contact_typing_key
from conversations.services.teammates import teammate_avatar_url
from conversations.services.threads import IDEMPOTENCY_KEY_FIELD, contact_display_name, teammate_display_name
from tracking.models import Website
from tracking.services import contact_seen_writing
from tracking.services.hot_path import (
    contact_by_anonymous_id,
    contact_row,
    token_contact_read_keys,
    token_contact_role,
    token_may_act_for,
    token_may_act_for_role,
    token_revoked_by_row,
    website_enforces,
)
from tracking.widget_auth import (
    WidgetIdentity,
    widget_token_revoked,
    widget_token_revoked_by_row,
    widget_token_sign,
    widget_tokens_revoked_key,
)
from widget.attachment_http import FileLinks, file_links, limit_files, message_payload, part_attachments_shape
from widget.http import (
    GONE_CONTACT,
    WidgetCall,
    WidgetHttpError,
    rate_limit,
    widget_endpoint,
    widget_identity,
    widget_json,
)
from widget.http import widget_json_body as _json_body

MAX_BODY_BYTES = 32 * 1024
# Writes per contact per minute, and conversations started per client per hour without a token.
WRITES_PER_MINUTE = 20
ANONYMOUS_STARTS_PER_HOUR = 10
TOO_MANY_MESSAGES = "Too many messages; try again shortly."


def _body(call: WidgetCall) -> dict[str, Any]:
    return _json_body(call.request, max_bytes=MAX_BODY_BYTES)


def _identity(call: WidgetCall, token: Any, *, snapshot: bool = False) -> tuple[WidgetIdentity, CacheReads]:
    """The token's identity unless revoked: the per-contact limit counted, the revocation entry (and with
    `snapshot`, the poll's: the contact's hot-path entry and "gone" mark, its role, and who writes it a reply)
    read in the same round trip."""
    identity = widget_identity(website=call.website, token=token if isinstance(token, str) else None)
    if identity is None:
        raise WidgetHttpError(
            403, "invalid_token", "token", "The widget token is missing, expired or not for this site."
        )
    read_keys = [widget_tokens_revoked_key(identity.contact_id)]
    if snapshot:
        read_keys += [*token_contact_read_keys(identity.contact_id), contact_typing_key(identity.contact_id)]
    reads = call.preflight(identity, read_keys=read_keys)
    if widget_token_revoked(identity=identity, website_enforces=website_enforces(call.website), reads=reads):
        raise _revoked()
    return identity, reads


def _revoked() -> WidgetHttpError:
    return WidgetHttpError(403, "invalid_token", "token", "The widget token was revoked by a verified sign-in.")


def _not_for_this_user() -> WidgetHttpError:
    return WidgetHttpError(
        403, "invalid_token", "token", "This site verifies identity: boot the widget with a valid user_hash."
    )


def _poll_identity(call: WidgetCall, token: Any) -> tuple[WidgetIdentity, CacheReads]:
    """The token's identity without loading its contact's row (the poll): its cached snapshot says whether it
    is a user. (Where verification is enforced, a user's token is honoured only from a verified sign-in.)"""
    identity, reads = _identity(call, token, snapshot=True)
    found = token_contact_role(identity, now_ts=time.time(), reads=reads)
    if found is None:
        raise WidgetHttpError(403, "invalid_token", "token", GONE_CONTACT)
    role, revoked_at = found
    if widget_token_revoked_by_row(
        identity=identity, website_enforces=website_enforces(call.website), revoked_at=revoked_at
    ):
        raise _revoked()
    if not token_may_act_for_role(identity, role=role, website=call.website):
        raise _not_for_this_user()
    return identity, reads


def _reader(call: WidgetCall, token: Any) -> tuple[Contact, dict[str, Any]]:
    """The token's contact, and which of its conversations this website's messenger reads (the selectors'
    `website_id` and `every_website`: see `messenger_scope`)."""
    identity, _reads = _identity(call, token)
    contact = contact_row(contact_id=identity.contact_id)  # a queued first visit is written now
    if contact is None:
        raise WidgetHttpError(403, "invalid_token", "token", GONE_CONTACT)
    if token_revoked_by_row(identity, contact=contact, website=call.website):
        raise _revoked()
    if not token_may_act_for(identity, contact=contact, website=call.website):
        raise _not_for_this_user()
    return contact, selectors.messenger_scope(website_id=call.website.pk, verified_sign_in=identity.verified)


def _contact(call: WidgetCall, token: Any) -> Contact:
    return _reader(call, token)[0]


def _limit_writes(contact: Contact) -> None:
    """Stricter limits for writing messages than the per-request limits."""
    rate_limit([Limit("chat-write", str(contact.pk), WRITES_PER_MINUTE, 60, message=TOO_MANY_MESSAGES)])


def _limit_anonymous_starts(call: WidgetCall) -> None:
    subject = ip_hash(call.ip or "")
    rate_limit([Limit("chat-start", subject, ANONYMOUS_STARTS_PER_HOUR, 3600, message=TOO_MANY_MESSAGES)])


# A UUID as browsers write one (crypto.randomUUID: 8-4-4-4-12 hex digits), of any version but nil and max.
_UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _idempotency_key(payload: dict[str, Any]) -> uuid.UUID | None:
    """The key the messenger made for this message (a UUID, sent again with it when the answer was lost: the server
    then answers with what it stored instead of storing it twice); None when the request has none."""
    value = payload.get(IDEMPOTENCY_KEY_FIELD)
    if value is None:
        return None
    key = uuid.UUID(value) if isinstance(value, str) and _UUID_TEXT.fullmatch(value) else None
    if key is None or key.int in (0, (1 << 128) - 1):
        raise WidgetHttpError(400, "invalid", IDEMPOTENCY_KEY_FIELD, "Must be a UUID, made anew for each message.")
    return key


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


# --- shapes -------------------------------------------------------------------------------------


# A conversation whose contact wrote last, this recently, awaits a reply: the messenger polls for it every few seconds
# (on every page, the loader loading its panel for that), so a quick reply shows its badge quickly.
AWAITING_REPLY_SECONDS = 5 * 60


def _awaiting_reply(conversation: Conversation, now: dt.datetime) -> bool:
    return (
        conversation.waiting_since is not None
        and conversation.last_part_at is not None
        and (now - conversation.last_part_at).total_seconds() < AWAITING_REPLY_SECONDS
    )


def conversation_summary(conversation: Conversation, now: dt.datetime | None = None) -> dict[str, Any]:
    """A conversation as the widget list and the ping show it (no query: denormalised fields)."""
    last_part = None
    if conversation.last_part_at:
        last_part = {
            "body": conversation.preview,
            "author_type": conversation.preview_author_type,
            "author_name": conversation.preview_author_name,
            "created_at": _iso(conversation.last_part_at),
        }
    return {
        "id": conversation.public_id,
        "state": conversation.state,
        "created_at": _iso(conversation.created_at),
        "updated_at": _iso(conversation.updated_at),
        "unread": conversation.contact_unread_count,
        "last_part": last_part,
        "awaiting": _awaiting_reply(conversation, now or timezone.now()),
    }


def part_shape(part: ConversationPart, *, links: FileLinks) -> dict[str, Any]:
    """A message for the messenger; its files (prefetched) with the links `links` makes."""
    if part.author_contact_id:
        author_type, name, avatar = "contact", contact_display_name(part.author_contact), part.author_contact.avatar
    else:
        author = part.author_teammate
        author_type, name, avatar = "teammate", teammate_display_name(author), teammate_avatar_url(author)
    return {
        "id": str(part.pk),
        "part_type": part.part_type,
        "author_type": author_type,
        "author_name": name,
        "author_avatar": avatar or None,
        "body": part.body,
        "attachments": part_attachments_shape(part, links=links),
        "created_at": _iso(part.created_at),
        # The contact's own message as its messenger named it: a copy still "on its way" there is this one.
        "idempotency_key": str(part.idempotency_key) if part.idempotency_key else None,
    }


def rating_request_shape(rating: ConversationRating | None) -> dict[str, Any] | None:
    """A closure's rating request as the messenger shows it under the thread (None: nothing to show, or a
    request that expired unanswered). `open_until`: answerable, or changeable once answered, until then."""
    if rating is None:
        return None
    status = services.rating_status(rating)
    if rating.rating is None and not status.is_open:
        return None
    return {
        "id": str(rating.pk),
        "rating": rating.rating,
        "remark": rating.remark,
        "open_until": _iso(status.open_until),
        "final": not status.is_open,
    }


def conversation_detail(
    conversation: Conversation, *, contact: Contact, website: Website, links: FileLinks
) -> dict[str, Any]:
    """A conversation with its messages, and when to ask a visitor or lead without an email for one (seconds).

    `contact` and `website` are the request's (already loaded): no lookup of the conversation's own.
    A user is never asked: the site that identified them gives their email, and whether a user's email
    was kept must not show (one another user has is left off, so asking would tell whose email it is)."""
    shape = conversation_summary(conversation)
    parts = list(selectors.conversation_visible_parts(conversation=conversation))
    shape["parts"] = [part_shape(p, links=links) for p in parts]
    # The thread's heading: who answers (the assignee once a teammate wrote), not the last to write.
    answering = selectors.conversation_answering_teammate(conversation=conversation, parts=parts)
    shape["teammate_name"] = teammate_display_name(answering) if answering else None
    asks = (
        conversation.website_id == website.pk
        and website.ask_email_after_seconds is not None
        and contact.role != Contact.Role.USER
        and not contact.email
    )
    ask_after = website.ask_email_after_seconds
    if asks and not website_availability(website_id=website.pk)["open"]:
        ask_after = 0  # outside office hours: nobody answers soon, so ask at once (cached answer, no query)
    shape["ask_email_after"] = ask_after if asks else None
    shape["rating_request"] = rating_request_shape(selectors.conversation_rating_current(conversation=conversation))
    return shape


def chat_state(contact: Contact | None, scope: dict[str, Any] | None = None, reads: Any = cache) -> dict[str, Any]:
    """What the ping adds for the chat: unread count, recent conversations (`scope`: those this website's
    messenger reads, see `messenger_scope`), in-app messages."""
    if contact is None or scope is None or widget_quiet.contact_is_quiet(contact_id=contact.pk, reads=reads):
        return {"unread_count": 0, "conversations": [], "messages": [], "awaiting": False}
    conversations, unread = selectors.conversation_recent_for_contact(contact_id=contact.pk, **scope)
    messages = services.in_app_messages_pending(contact=contact)
    if not conversations and not messages and not selectors.contact_has_conversations(contact_id=contact.pk):
        # (Conversations of another website are not shown here, but the mark is the contact's own.)
        widget_quiet.contact_mark_quiet(contact_id=contact.pk)
    now = timezone.now()
    summaries = [conversation_summary(c, now) for c in conversations]
    return {
        # An unseen in-app message counts as unread: the launcher's badge brings the messenger up.
        "unread_count": unread + len(messages),
        "conversations": summaries,
        "messages": messages,
        # The visitor wrote last, minutes ago: the loader loads the messenger, which polls every few seconds.
        "awaiting": any(summary["awaiting"] for summary in summaries),
    }


# --- views --------------------------------------------------------------------------------------


@widget_endpoint(methods=("GET", "POST"))
def conversations_view(call: WidgetCall) -> HttpResponse:
    """GET: the caller's conversations. POST: start one (a visitor who writes becomes a lead)."""
    if call.request.method == "GET":
        contact, scope = _reader(call, call.request.GET.get("token"))
        after = call.request.GET.get("before") or None  # the last one listed: the older ones come next
        page = selectors.conversation_page_for_contact(contact_id=contact.pk, after=after, **scope)
        if page is None:
            raise WidgetHttpError(400, "invalid", "before", "Must be the id of a conversation this messenger listed.")
        conversations, more = page
        return widget_json({
            "conversations": [conversation_summary(c) for c in conversations],
            "more": more,
            # In-app messages shown and not answered yet: listed too, to answer later.
            "messages_kept": services.in_app_messages_kept(contact=contact) if after is None else [],
        })  # fmt: skip
    payload, files = message_payload(call, max_json_bytes=MAX_BODY_BYTES)
    key = _idempotency_key(payload)
    token = payload.get("token")
    if token:
        contact = _contact(call, token)
        # Sent again after its answer was lost: the conversation it started.
        sent = services.start_resent(idempotency_key=key, contact=contact, website=call.website)
        conversation = sent.conversation if sent else _started(call, contact, payload, files, key=key)
        if conversation.contact_id != contact.pk:
            # Its first try went without a token, as a new writer (the boot ping was slow): that writer's, as a
            # Retry without a token would have it; the messenger keeps the writer's token, as after a first answer.
            contact, token = conversation.contact, None
    else:
        contact, conversation = _started_by_new_writer(call, payload, files, key=key)
    return widget_json(
        {
            "conversation": conversation_detail(
                conversation, contact=contact, website=call.website, links=file_links(call, contact_id=contact.pk)
            ),
            # A caller with a token keeps it (it may carry tracking consent); a new writer gets one.
            "token": token or widget_token_sign(contact_id=contact.pk, website_id=call.website.pk),
        },
        status=201,
    )


@widget_endpoint(methods=("GET",))
def availability_view(call: WidgetCall) -> HttpResponse:
    """Whether the website's team is in: the expected reply time inside office hours, when it is back outside
    them (no token: the same for every visitor of the website; cached, so no query on most calls)."""
    return widget_json(website_availability(website_id=call.website.pk))


def _started(
    call: WidgetCall, contact: Contact, payload: dict[str, Any], files: list[Any], *, key: uuid.UUID | None
) -> Conversation:
    _limit_writes(contact)
    limit_files(call, contact_id=contact.pk, files=files)
    conversation = services.conversation_start_by_contact(
        contact=contact, body=payload.get("body"), website=call.website, page_url=payload.get("page_url"),
        files=files, idempotency_key=key,
    )  # fmt: skip
    contact_seen_writing(contact=contact, now=timezone.now())
    return conversation


def _started_by_new_writer(
    call: WidgetCall, payload: dict[str, Any], files: list[Any], *, key: uuid.UUID | None
) -> tuple[Contact, Conversation]:
    """Someone writes before any ping recorded them (support-only mode): as their anonymous record on this
    website, or a new lead of it (another website's anonymous id is unknown here). A first message they sent
    already with this key (its answer, with their token, was lost) is that conversation, and nothing is created."""
    website = call.website
    known = _known_writer(payload.get("anonymous_id"), website=website)

    def resent() -> ConversationPart | None:
        if known is not None:
            return services.start_resent(idempotency_key=key, contact=known, website=website)
        return services.start_resent_without_token(idempotency_key=key, website=website)

    sent = resent()
    if sent is None:
        with _first_message_claimed(website, key):
            sent = resent()  # written by the first try after the look above, which let its claim go since
            if sent is None:
                _limit_anonymous_starts(call)
                contact = known or contact_services.contact_create(role=Contact.Role.LEAD, first_website_id=website.pk)
                try:
                    # (Its conversation's contact: one a request with a token wrote meanwhile under this key, found
                    # by the start service, is that writer's; this request's lead stays, empty.)
                    conversation = _started(call, contact, payload, files, key=key)
                    return conversation.contact, conversation
                except ValidationError:
                    # Written meanwhile by a try no claim held back (no shared cache): that try's lead and
                    # conversation are the message's (this request's lead stays, empty).
                    sent = resent() if key is not None and known is None else None
                    if sent is None:
                        raise
    return sent.author_contact, sent.conversation


def _known_writer(anonymous_id: Any, *, website: Website) -> Contact | None:
    if anonymous_id is None:
        return None
    try:
        parsed = uuid.UUID(str(anonymous_id))
    except ValueError:
        raise WidgetHttpError(400, "invalid", "anonymous_id", "Must be a UUID.") from None
    if Contact.objects.filter(anonymous_id=parsed, role=Contact.Role.USER).exists():
        # A user is only reachable through a token the ping issued after identity checks.
        raise WidgetHttpError(403, "invalid_token", "token", "Boot the widget to write as this user.")
    return contact_by_anonymous_id(parsed, website_id=website.pk)


# How long a new writer's first message holds its key while it is written (then it is found by its key).
FIRST_MESSAGE_CLAIM_SECONDS = 60


@contextlib.contextmanager
def _first_message_claimed(website: Website, key: uuid.UUID | None) -> Iterator[None]:
    """A new writer's first message, written by one request at a time: its Retry while the first try is still on its
    way (a slow server) is told to try again in a moment, when it finds the first's conversation by its key; the
    two would each make a lead (the second then refused by the key's index). Without Redis, nothing is held."""
    if key is None:
        yield
        return
    claim, backend = f"widget:first-message:{website.pk}:{key}", caches["default"]
    if not backend.add(claim, 1, FIRST_MESSAGE_CLAIM_SECONDS) and getattr(backend, "available", lambda: True)():
        raise WidgetHttpError(
            409, "in_progress", IDEMPOTENCY_KEY_FIELD, "This message is still on its way; try again in a moment."
        )
    try:
        yield
    finally:
        backend.delete(claim)


@widget_endpoint(methods=("GET",))
def conversation_view(call: WidgetCall, public_id: str) -> HttpResponse:
    contact, scope = _reader(call, call.request.GET.get("token"))
    conversation = _own_conversation(contact, public_id, scope=scope)
    return widget_json({
        "conversation": conversation_detail(
            conversation, contact=contact, website=call.website, links=file_links(call, contact_id=contact.pk)
        )
    })  # fmt: skip


def _own_conversation(contact: Contact, public_id: str, *, scope: dict[str, Any]) -> Conversation:
    conversation = selectors.conversation_get_for_contact(contact_id=contact.pk, public_id=public_id, **scope)
    if conversation is None:
        raise WidgetHttpError(404, "not_found", "", "No such conversation.")
    return conversation


@widget_endpoint(methods=("POST",))
def reply_view(call: WidgetCall, public_id: str) -> HttpResponse:
    """The contact writes in their conversation: the message, and the conversation as it is now (a reply reopens
    a closed or snoozed one), so the messenger follows the server rather than what it showed before."""
    payload, files = message_payload(call, max_json_bytes=MAX_BODY_BYTES)
    key = _idempotency_key(payload)
    contact, scope = _reader(call, payload.get("token"))
    conversation = _own_conversation(contact, public_id, scope=scope)
    # Sent again after its answer was lost: the part it is.
    part = services.reply_resent(idempotency_key=key, contact_id=contact.pk, conversation_id=conversation.pk)
    if part is None:
        _limit_writes(contact)
        limit_files(call, contact_id=contact.pk, files=files)
        part = services.conversation_reply_as_contact(
            conversation=conversation, body=payload.get("body"), files=files, idempotency_key=key
        )
        contact_seen_writing(contact=contact, now=timezone.now())
    return widget_json(
        {
            "part": part_shape(part, links=file_links(call, contact_id=contact.pk)),
            # The row the reply wrote (the service's, locked and saved), or the one read with the part: no query.
            "conversation": conversation_summary(part.conversation),
        },
        status=201,
    )


@widget_endpoint(methods=("POST",))
def rating_view(call: WidgetCall, public_id: str) -> HttpResponse:
    """The contact rates a closure of their conversation: 1-5 and an optional remark, changeable for 24 hours."""
    payload = _body(call)
    contact, scope = _reader(call, payload.get("token"))
    request_id = payload.get("request_id")
    if not isinstance(request_id, str):
        raise WidgetHttpError(400, "invalid", "request_id", "Must be the rating request's id (a string).")
    rating = selectors.conversation_rating_for_contact(
        contact_id=contact.pk, public_id=public_id, rating_id=request_id, **scope
    )
    if rating is None:
        raise WidgetHttpError(404, "not_found", "", "No such rating request.")
    _limit_writes(contact)
    try:
        rating = services.conversation_rating_give(
            request=rating, rating=payload.get("rating"), remark=payload.get("remark")
        )
    except services.RatingClosed as closed:
        raise WidgetHttpError(409, "rating_closed", "rating", closed.message_dict["rating"][0]) from None
    return widget_json({"rating_request": rating_request_shape(rating)})


@widget_endpoint(methods=("POST",))
def read_view(call: WidgetCall, public_id: str) -> HttpResponse:
    payload = _body(call)
    contact, scope = _reader(call, payload.get("token"))
    conversation = _own_conversation(contact, public_id, scope=scope)
    services.conversation_mark_read(conversation=conversation, by_contact=True)
    unread = selectors.contact_unread_count(contact_id=contact.pk, **scope)
    return widget_json({"unread_count": unread})


@widget_endpoint(methods=("GET",))
def poll_view(call: WidgetCall) -> HttpResponse:
    """The cheap "anything new since" call: one query for unread count, changed ids and the cursor; the
    conversations a teammate is writing in come with the token's checks, in their one cache round trip."""
    # The token is enough: a poll never needs the contact row, only its conversations.
    identity, reads = _poll_identity(call, call.request.GET.get("token"))
    raw_since = call.request.GET.get("since") or None
    since = None
    if raw_since is not None:
        # Well formed but impossible (month 13, offset +99:00, year 10000 once in UTC) is refused too.
        since = iso_datetime_or_none(raw_since, offset_required=True)
        if since is None:
            raise WidgetHttpError(400, "invalid", "since", "Must be the cursor of the previous poll.")
    typing_in = call.request.GET.get("typing") or None
    if typing_in is not None:
        if not PUBLIC_ID_FORMAT.fullmatch(typing_in):
            raise WidgetHttpError(400, "invalid", "typing", "Must be the id of a conversation.")
        # The visitor is writing in it: its conversation page says so (another contact's id only replaces their own).
        services.contact_typing_tell(contact_id=identity.contact_id, public_id=typing_in, typing=True)
    scope = selectors.messenger_scope(website_id=call.website.pk, verified_sign_in=identity.verified)
    unread, changed, cursor = selectors.contact_poll(contact_id=identity.contact_id, since=since, **scope)
    # The conversations in which a teammate is writing a reply now (the thread shows "…"): read ahead.
    typing = services.contact_typing_conversations(contact_id=identity.contact_id, reads=reads, **scope)
    return widget_json({"unread_count": unread, "changed": changed, "cursor": _iso(cursor), "typing": typing})


# --- in-app messages ----------------------------------------------------------------------------


@widget_endpoint(methods=("GET",))
def messages_view(call: WidgetCall) -> HttpResponse:
    """The contact's unseen in-app messages, for the messenger to show; and those shown and not answered, which its
    list keeps (to answer later)."""
    contact = _contact(call, call.request.GET.get("token"))
    return widget_json({
        "messages": services.in_app_messages_pending(contact=contact),
        "messages_kept": services.in_app_messages_kept(contact=contact),
    })  # fmt: skip


def _own_message_or_404(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except MessageDelivery.DoesNotExist:
        raise WidgetHttpError(404, "not_found", "id", "No such message.") from None


@widget_endpoint(methods=("POST",))
def message_seen_view(call: WidgetCall, delivery_id: str) -> HttpResponse:
    """The messenger showed the message: it is seen."""
    contact, scope = _reader(call, _body(call).get("token"))
    _own_message_or_404(lambda: services.in_app_message_mark_seen(contact=contact, delivery_id=delivery_id))
    unread = selectors.contact_unread_count(contact_id=contact.pk, **scope)
    return widget_json({"unread_count": unread})


@widget_endpoint(methods=("POST",))
def message_reply_view(call: WidgetCall, delivery_id: str) -> HttpResponse:
    """The contact answers an in-app message: the answer opens a conversation with it."""
    payload = _body(call)
    key = _idempotency_key(payload)
    contact = _contact(call, payload.get("token"))
    _limit_writes(contact)
    conversation = _own_message_or_404(
        lambda: services.in_app_message_reply(
            contact=contact,
            delivery_id=delivery_id,
            body=payload.get("body"),
            idempotency_key=key,
            website=call.website,
        )
    )
    contact_seen_writing(contact=contact, now=timezone.now())
    return widget_json(
        {
            "conversation": conversation_detail(
                conversation, contact=contact, website=call.website, links=file_links(call, contact_id=contact.pk)
            )
        },
        status=201,
    )
