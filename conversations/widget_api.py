"""Widget chat endpoints (docs/widget-protocol.md, "Chat endpoints"): thin views over the services.

Every lookup is scoped to the contact named by the signed widget token, so another contact's
conversation id answers exactly like an id that does not exist (404).
"""

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from contacts import services as contact_services
from contacts.models import Contact
from conversations import selectors, services
from conversations.models import Conversation, ConversationPart, MessageDelivery
from conversations.services import widget_quiet
from conversations.services.teammates import teammate_avatar_url
from conversations.services.threads import contact_display_name, teammate_display_name
from tracking.enrichment import client_ip
from tracking.models import Website
from tracking.payloads import PayloadError
from tracking.widget_auth import widget_token_revoked, widget_token_sign, widget_tokens_revoked_key
from tracking.widget_http import (
    WidgetHttpError,
    rate_limit_ip,
    widget_identity,
    widget_json_body,
    widget_preflight,
    widget_website,
)

MAX_BODY_BYTES = 32 * 1024
# Writes per contact per minute, and conversations started per client per hour without a token.
WRITES_PER_MINUTE = 20
ANONYMOUS_STARTS_PER_HOUR = 10


def widget_error(status: int, code: str, message: str, field: str = "", retry_after: int = 0) -> WidgetHttpError:
    """The protocol's error, raised through tracking's shared widget HTTP plumbing."""
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return WidgetHttpError(status, code, field, message, headers=headers)


def widget_view(*, methods: tuple[str, ...]) -> Callable[..., Any]:
    """Rate limit per client, resolve the website and check its origin (tracking's widget_http), map errors."""

    def decorate(view: Callable[..., JsonResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        def wrapper(request: HttpRequest, app_id: str, **kwargs: Any) -> HttpResponse:
            try:
                rate_limit_ip(client_ip(request))
                website = widget_website(request, app_id)
                if request.method not in methods:
                    raise widget_error(405, "method_not_allowed", f"Use {' or '.join(methods)}.")
                return view(request, website, **kwargs)
            except WidgetHttpError as error:
                return error.response()
            except ValidationError as error:
                field, message = _first_error(error)
                return widget_error(400, "invalid", message, field=field).response()

        return wrapper

    return decorate


def _first_error(error: ValidationError) -> tuple[str, str]:
    if hasattr(error, "error_dict"):
        field, errors = next(iter(error.message_dict.items()))
        return field, errors[0]
    return "body", error.messages[0]


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        return widget_json_body(request, max_bytes=MAX_BODY_BYTES)
    except PayloadError as error:
        raise WidgetHttpError.from_payload(error) from None


def _contact_id(website: Website, token: Any) -> int:
    identity = widget_identity(website=website, token=token if isinstance(token, str) else None)
    if identity is None:
        raise widget_error(403, "invalid_token", "The widget token is missing, expired or not for this site.", "token")
    # The per-contact limit, with the token's revocation entry read in the same round trip.
    reads = widget_preflight(ip=None, identity=identity, read_keys=[widget_tokens_revoked_key(identity.contact_id)])
    enforces = website.identity_verification == Website.IdentityVerification.ENFORCED
    if widget_token_revoked(identity=identity, website_enforces=enforces, reads=reads):
        raise widget_error(403, "invalid_token", "The widget token was revoked by a verified sign-in.", "token")
    return identity.contact_id


def _contact(website: Website, token: Any) -> Contact:
    contact_id = _contact_id(website, token)
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None:
        raise widget_error(403, "invalid_token", "The widget token names a contact that no longer exists.", "token")
    return contact


def _rate_limit(key: str, *, limit: int, window: int) -> None:
    """Stricter limits for writing messages than tracking's per-request limits."""
    cache_key = f"parley:chat-rate:{key}:{int(time.time()) // window}"
    if cache.add(cache_key, 1, timeout=window + 5):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:
            count = 1
    if count > limit:
        raise widget_error(429, "rate_limited", "Too many messages; try again shortly.", retry_after=window)


def _client_key(request: HttpRequest) -> str:
    """A keyed hash of the client address, used only as a short-lived rate-limit key, never stored."""
    remote = client_ip(request) or ""
    return hashlib.sha256(f"{settings.SECRET_KEY}:{remote}".encode()).hexdigest()[:24]


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


# --- shapes -------------------------------------------------------------------------------------


def conversation_summary(conversation: Conversation) -> dict[str, Any]:
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
    }


def part_shape(part: ConversationPart) -> dict[str, Any]:
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
        "created_at": _iso(part.created_at),
    }


def conversation_detail(conversation: Conversation, *, contact: Contact, website: Website) -> dict[str, Any]:
    """A conversation with its messages, and when to ask a contact without an email for one (seconds).

    `contact` and `website` are the request's (already loaded): no lookup of the conversation's own."""
    shape = conversation_summary(conversation)
    shape["parts"] = [part_shape(p) for p in selectors.conversation_visible_parts(conversation=conversation)]
    asks = conversation.website_id == website.pk and website.ask_email_after_seconds is not None and not contact.email
    shape["ask_email_after"] = website.ask_email_after_seconds if asks else None
    return shape


def widget_state(contact: Contact, reads: Any = cache) -> dict[str, Any]:
    """What the ping adds for the chat: unread count, recent conversations, in-app messages."""
    if widget_quiet.contact_is_quiet(contact_id=contact.pk, reads=reads):
        return {"unread_count": 0, "conversations": [], "messages": []}
    conversations = list(selectors.conversation_list_for_contact(contact_id=contact.pk)[: selectors.WIDGET_LIST_LIMIT])
    messages = services.in_app_messages_pending(contact=contact)
    if not conversations and not messages:
        widget_quiet.contact_mark_quiet(contact_id=contact.pk)
    return {
        # An unseen in-app message counts as unread: the launcher's badge brings the messenger up.
        "unread_count": sum(c.contact_unread_count for c in conversations) + len(messages),
        "conversations": [conversation_summary(c) for c in conversations],
        "messages": messages,
    }


# --- views --------------------------------------------------------------------------------------


@widget_view(methods=("GET", "POST"))
def conversations_view(request: HttpRequest, website: Website) -> JsonResponse:
    """GET: the caller's conversations. POST: start one (a visitor who writes becomes a lead)."""
    if request.method == "GET":
        contact = _contact(website, request.GET.get("token"))
        conversations = selectors.conversation_list_for_contact(contact_id=contact.pk)[: selectors.WIDGET_LIST_LIMIT]
        return JsonResponse({"conversations": [conversation_summary(c) for c in conversations]})
    payload = _body(request)
    token = payload.get("token")
    if token:
        contact = _contact(website, token)
    else:
        _rate_limit(f"start:{_client_key(request)}", limit=ANONYMOUS_STARTS_PER_HOUR, window=3600)
        contact = _contact_for_new_writer(payload.get("anonymous_id"))
    _rate_limit(f"write:{contact.pk}", limit=WRITES_PER_MINUTE, window=60)
    conversation = services.conversation_start_by_contact(contact=contact, body=payload.get("body"), website=website)
    return JsonResponse(
        {
            "conversation": conversation_detail(conversation, contact=contact, website=website),
            # A caller with a token keeps it (it may carry tracking consent); a new writer gets one.
            "token": token or widget_token_sign(contact_id=contact.pk, website_id=website.pk),
        },
        status=201,
    )


def _contact_for_new_writer(anonymous_id: Any) -> Contact:
    """Someone writes before any ping recorded them (support-only mode): their anonymous record or a new one."""
    if anonymous_id is not None:
        try:
            parsed = uuid.UUID(str(anonymous_id))
        except ValueError:
            raise widget_error(400, "invalid", "Must be a UUID.", field="anonymous_id") from None
        existing = Contact.objects.filter(anonymous_id=parsed).first()
        if existing is not None:
            if existing.role == Contact.Role.USER:
                # A user is only reachable through a token the ping issued after identity checks.
                raise widget_error(403, "invalid_token", "Boot the widget to write as this user.", field="token")
            return existing
    return contact_services.contact_create(role=Contact.Role.LEAD)


@widget_view(methods=("GET",))
def conversation_view(request: HttpRequest, website: Website, public_id: str) -> JsonResponse:
    contact = _contact(website, request.GET.get("token"))
    conversation = _own_conversation(contact, public_id)
    return JsonResponse({"conversation": conversation_detail(conversation, contact=contact, website=website)})


def _own_conversation(contact: Contact, public_id: str) -> Conversation:
    conversation = selectors.conversation_get_for_contact(contact_id=contact.pk, public_id=public_id)
    if conversation is None:
        raise widget_error(404, "not_found", "No such conversation.")
    return conversation


@widget_view(methods=("POST",))
def reply_view(request: HttpRequest, website: Website, public_id: str) -> JsonResponse:
    payload = _body(request)
    contact = _contact(website, payload.get("token"))
    conversation = _own_conversation(contact, public_id)
    _rate_limit(f"write:{contact.pk}", limit=WRITES_PER_MINUTE, window=60)
    part = services.conversation_reply_as_contact(conversation=conversation, body=payload.get("body"))
    return JsonResponse({"part": part_shape(part)}, status=201)


@widget_view(methods=("POST",))
def read_view(request: HttpRequest, website: Website, public_id: str) -> JsonResponse:
    payload = _body(request)
    contact = _contact(website, payload.get("token"))
    conversation = _own_conversation(contact, public_id)
    services.conversation_mark_read(conversation=conversation, by_contact=True)
    return JsonResponse({"unread_count": selectors.contact_unread_count(contact_id=contact.pk)})


@widget_view(methods=("GET",))
def poll_view(request: HttpRequest, website: Website) -> JsonResponse:
    """The cheap "anything new since" call: one query for unread count, changed ids and the cursor."""
    # The token is enough: a poll never needs the contact row, only its conversations.
    contact_id = _contact_id(website, request.GET.get("token"))
    raw_since = request.GET.get("since") or None
    since = None
    if raw_since is not None:
        try:
            since = parse_datetime(raw_since) if len(raw_since) <= 40 else None
        except ValueError:  # well formed but impossible: month 13, offset +99:00
            since = None
        if since is None or since.tzinfo is None:
            raise widget_error(400, "invalid", "Must be the cursor of the previous poll.", field="since")
    unread, changed, cursor = selectors.contact_poll(contact_id=contact_id, since=since)
    return JsonResponse({"unread_count": unread, "changed": changed, "cursor": _iso(cursor)})


# --- in-app messages ----------------------------------------------------------------------------


@widget_view(methods=("GET",))
def messages_view(request: HttpRequest, website: Website) -> JsonResponse:
    """The contact's unseen in-app messages, for the messenger to show."""
    contact = _contact(website, request.GET.get("token"))
    return JsonResponse({"messages": services.in_app_messages_pending(contact=contact)})


def _own_message_or_404(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except MessageDelivery.DoesNotExist:
        raise widget_error(404, "not_found", "No such message.", field="id") from None


@widget_view(methods=("POST",))
def message_seen_view(request: HttpRequest, website: Website, delivery_id: str) -> JsonResponse:
    """The messenger showed the message: it is seen."""
    contact = _contact(website, _body(request).get("token"))
    _own_message_or_404(lambda: services.in_app_message_mark_seen(contact=contact, delivery_id=delivery_id))
    return JsonResponse({"unread_count": selectors.contact_unread_count(contact_id=contact.pk)})


@widget_view(methods=("POST",))
def message_reply_view(request: HttpRequest, website: Website, delivery_id: str) -> JsonResponse:
    """The contact answers an in-app message: the answer opens a conversation with it."""
    payload = _body(request)
    contact = _contact(website, payload.get("token"))
    _rate_limit(f"write:{contact.pk}", limit=WRITES_PER_MINUTE, window=60)
    conversation = _own_message_or_404(
        lambda: services.in_app_message_reply(contact=contact, delivery_id=delivery_id, body=payload.get("body"))
    )
    return JsonResponse(
        {"conversation": conversation_detail(conversation, contact=contact, website=website)}, status=201
    )
