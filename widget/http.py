"""The HTTP layer of every public widget endpoint (ping, update, events, shutdown, chat, poll).

One place for: the website and origin check, CORS per website, the body cap and JSON parsing, the
widget's limits on the one rate limiter (`common.rate_limit`: fixed windows in the shared cache, counted
together with the cache entries a request reads, in one round trip, with its keyed hash of a client's IP),
and the one error mapper.
"""

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt

from common import rate_limit as limiter
from common.client_ip import client_ip
from common.outage import WIDGET_API_PREFIX
from common.parsing import int_or_none
from common.rate_limit import CacheReads, DeferredCount, Limit, RateLimited, ip_hash
from conversations.services import ContactGone
from tracking.models import Website
from tracking.page_view_buffer import FastTicket, preflight_queue
from tracking.payloads import PayloadError, parse_json_object
from tracking.selectors import origin_allowed, website_for_app_id
from tracking.services import WidgetTokenInvalid
from tracking.widget_auth import WidgetIdentity, widget_token_read

ACCEPTED_CONTENT_TYPES = ("", "text/plain", "application/json")


# --- answers ---------------------------------------------------------------------------------------

_JSON_ENCODER = DjangoJSONEncoder()


def widget_json(data: Any, *, status: int = 200) -> HttpResponse:
    """JsonResponse(data, status=status), the same bytes and headers, without what JsonResponse pays on every answer:
    a new encoder, and its charset parsed back out of its own Content-Type (Python's email parser)."""
    return HttpResponse(
        _JSON_ENCODER.encode(data), content_type="application/json", status=status, charset=settings.DEFAULT_CHARSET
    )


# --- errors --------------------------------------------------------------------------------------


class WidgetHttpError(Exception):
    """An answer other than success: status, machine code, the field at fault, a human message."""

    def __init__(self, status: int, code: str, field: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.field, self.message = status, code, field, message
        self.headers = headers or {}

    def response(self) -> HttpResponse:
        body = {"error": {"code": self.code, "field": self.field, "message": self.message}}
        response = widget_json(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def _first_error(error: ValidationError) -> tuple[str, str]:
    if hasattr(error, "error_dict"):
        field, messages = next(iter(error.message_dict.items()))
        return field, messages[0]
    return "body", error.messages[0]


GONE_CONTACT = "The widget token names a contact that no longer exists."


def widget_error(error: Exception) -> WidgetHttpError | None:
    """The widget protocol's error for what a view or a service raised; None for a bug (a JSON 500)."""
    if isinstance(error, WidgetHttpError):
        return error
    if isinstance(error, PayloadError):
        return WidgetHttpError(400, error.code, error.field, error.message)
    if isinstance(error, ContactGone):  # erased or merged while the request ran: as a token naming a contact gone
        return WidgetHttpError(403, "invalid_token", "token", GONE_CONTACT)
    if isinstance(error, ValidationError):
        field, message = _first_error(error)
        return WidgetHttpError(400, "invalid", field, message)
    if isinstance(error, WidgetTokenInvalid):
        return WidgetHttpError(
            403, "invalid_token", "token", "The token is missing, expired or not for this website; ping again."
        )
    return None


# --- website, origin, body -----------------------------------------------------------------------


def widget_website(request: HttpRequest, app_id: str) -> Website:
    """The website of this app id, if the request's Origin (when it sends one) is allowed."""
    website = website_for_app_id(app_id=app_id)
    if website is None:
        raise WidgetHttpError(404, "unknown_app_id", "app_id", "No website has this app id.")
    origin = request.headers.get("Origin")
    # Browsers always send Origin on cross-origin requests; its absence means a non-browser client.
    if origin is not None and not origin_allowed(website=website, origin=origin):
        # Without CORS headers (cors_origin_allowed refuses it too): the refused page cannot read the answer. Its
        # widget tells "not set up" from "offline" with an opaque request (widget/js/parley.js, panel.js).
        raise WidgetHttpError(
            403, "origin_not_allowed", "Origin", "This origin is not in the website's allowed origins."
        )
    return website


# Set on a response whose CORS headers the widget endpoint set itself (config.middleware.CorsMiddleware then leaves it).
CORS_HEADERS_SET = "parley_cors_headers_set"


def cors_headers_set(response: HttpResponse, *, origin: str | None) -> HttpResponse:
    """The CORS headers django-cors-headers would set on an answer to `origin`, already allowed for its website
    (widget_website checked it; None: no Origin, a server's request): the endpoint knows the website, so nothing is
    looked up again for them. Their values come from the same settings."""
    if "Vary" in response:
        patch_vary_headers(response, ("origin",))
    else:
        response.headers["Vary"] = "origin"
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        if settings.CORS_EXPOSE_HEADERS:
            response.headers["Access-Control-Expose-Headers"] = ", ".join(settings.CORS_EXPOSE_HEADERS)
    setattr(response, CORS_HEADERS_SET, True)
    return response


def cors_origin_allowed(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    """django-cors-headers' check_request_enabled: allow an origin per website on /widget-api/<app_id>/."""
    path = request.path_info
    origin = request.headers.get("Origin")
    if not origin or not path.startswith(WIDGET_API_PREFIX):
        return False
    app_id = path[len(WIDGET_API_PREFIX) :].split("/", 1)[0]
    try:
        website = website_for_app_id(app_id=app_id)
    except DatabaseError:  # PostgreSQL is down: the view answers 503 (common.outage), without CORS headers
        return False
    return website is not None and origin_allowed(website=website, origin=origin)


def widget_json_body(request: HttpRequest, *, max_bytes: int | None = None) -> dict[str, Any]:
    """The JSON object in the body (text/plain or application/json), refusing bodies over the cap."""
    max_bytes = max_bytes or settings.PARLEY_WIDGET_MAX_BODY_BYTES
    content_type = request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise WidgetHttpError(
            415, "unsupported_media_type", "Content-Type", "Send the JSON body as text/plain or application/json."
        )
    length = declared_length(request)
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes)
    raw = request.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    return parse_json_object(raw)


# More digits than any real body's length has (a petabyte has 16): larger than every limit, never parsed.
CONTENT_LENGTH_MAX_DIGITS = 18


def declared_length(request: HttpRequest) -> int | None:
    """The body's declared Content-Length: None when absent; a length of more digits than a real one reads as
    larger than any limit (a 413 for the caller, not a 400 or 411); anything but digits is a 400."""
    raw = str(request.META.get("CONTENT_LENGTH") or "").strip()
    if not raw:
        return None
    if len(raw) > CONTENT_LENGTH_MAX_DIGITS and raw.isascii() and raw.isdigit():
        return sys.maxsize
    length = int_or_none(raw, minimum=0)
    if length is None:
        raise WidgetHttpError(400, "invalid", "Content-Length", "Content-Length must be a number.")
    return length


def _too_large(max_bytes: int) -> WidgetHttpError:
    return WidgetHttpError(413, "payload_too_large", "body", f"The body must be at most {max_bytes} bytes.")


def widget_identity(*, website: Website, token: str | None) -> WidgetIdentity | None:
    """The identity in the request's token, if it is valid for this website."""
    return widget_token_read(token=token, website_id=website.pk) if token else None


# --- rate limits (common.rate_limit, with the request's cache reads, in one round trip) ------------


def ip_limit(ip: str) -> Limit:
    return Limit("ip", ip_hash(ip), settings.PARLEY_WIDGET_RATE_PER_IP)


def contact_limit(identity: WidgetIdentity) -> Limit:
    return Limit("contact", f"{identity.website_id}:{identity.contact_id}", settings.PARLEY_WIDGET_RATE_PER_CONTACT)


def rate_limit(
    limits: Sequence[Limit],
    *,
    read_keys: Sequence[str] = (),
    field: str | None = None,
    ticket: FastTicket | None = None,
) -> CacheReads:
    """common.rate_limit.rate_limit, a limit exceeded answering the widget protocol's 429 with Retry-After
    (naming `field` when given: the files of an upload); a ping's `ticket` offered to the same round trip."""
    try:
        done = preflight_queue(limits, read_keys, ticket) if ticket is not None else None
        if done is None:
            return limiter.rate_limit(limits, read_keys=read_keys)
        now, counts, values = done
        limiter.refuse_over(limits, counts, now=now)
        return CacheReads(values)
    except RateLimited as over:
        raise _too_many(over, field=field) from None


def _too_many(over: RateLimited, *, field: str | None = None) -> WidgetHttpError:
    limit = over.limit
    if limit.message:
        named, message, retry_after = "", limit.message, limit.window
    else:
        retry_after = limit.retry_after(over.now)
        named, message = limit.scope, f"Too many requests; try again in {retry_after} seconds."
    headers = {"Retry-After": str(retry_after)}
    return WidgetHttpError(429, "rate_limited", named if field is None else field, message, headers=headers)


# --- the view decorator --------------------------------------------------------------------------


class WidgetCall:
    """One widget request: its website, client IP, and whether it was counted against that IP yet."""

    def __init__(self, request: HttpRequest, website: Website, ip: str | None, *, counted: bool) -> None:
        self.request, self.website, self.ip, self.counted = request, website, ip, counted
        self.deferred: DeferredCount | None = None

    def defer_ip_count(self) -> DeferredCount:
        """The IP's count, left to the service (a first page view: counted in the round trip that queues it,
        else before anything is written); a request refused before that is counted by the decorator."""
        limits = [ip_limit(self.ip)] if self.ip and not self.counted else []
        self.counted = True
        self.deferred = DeferredCount(limits, refuse=_too_many)
        return self.deferred

    def was_counted(self) -> bool:
        return self.counted and (self.deferred is None or self.deferred.counted)

    def preflight(
        self,
        identity: WidgetIdentity | None,
        *,
        read_keys: Sequence[str] = (),
        count_ip: bool | None = None,
        ticket: FastTicket | None = None,
    ) -> CacheReads:
        """Count the request against its IP (unless counted already) and its contact's limit, reading
        `read_keys` in the same round trip, where a ping's `ticket` may queue its page view."""
        limits = []
        if self.ip and not self.counted and count_ip is not False:
            limits.append(ip_limit(self.ip))
        if identity is not None:
            limits.append(contact_limit(identity))
        self.counted = True
        return rate_limit(limits, read_keys=read_keys, ticket=ticket)


def widget_endpoint(*, methods: tuple[str, ...], count_ip_first: bool = True) -> Callable[..., Any]:
    """A public widget endpoint: no session, no CSRF, website and origin checked, JSON errors.

    Every request counts once against its IP's limit: up front (`count_ip_first`), or in the
    view's own preflight (with the contact's limit and cache reads, one round trip), or, for a
    request refused before that, once the answer is known.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, app_id: str, **kwargs: Any) -> HttpResponse:
            ip = client_ip(request)
            call = website = None
            try:
                if count_ip_first:
                    rate_limit([ip_limit(ip)] if ip else [])
                elif request.method not in methods:
                    raise _wrong_method(methods)
                website = widget_website(request, app_id)
                if request.method not in methods:
                    raise _wrong_method(methods)
                call = WidgetCall(request, website, ip, counted=count_ip_first)
                response = view(call, **kwargs)
            except Exception as exc:
                error = widget_error(exc)
                if error is None:
                    raise
                if count_ip_first or error.status == 405:
                    return _answer(request, error.response(), website)
                response = error.response()
            if not count_ip_first and (call is None or not call.was_counted()):
                # A refused request counts against its IP too (and may turn into a 429).
                try:
                    rate_limit([ip_limit(ip)] if ip else [])
                except WidgetHttpError as error:
                    return _answer(request, error.response(), website)
            return _answer(request, response, website)

        return wrapper

    return decorate


def _answer(request: HttpRequest, response: HttpResponse, website: Website | None) -> HttpResponse:
    """The response, with its CORS headers once the website is known (its origin was checked then: allowed, or
    none sent); before that (an unknown app id, a 429 counted first) django-cors-headers decides, as for any path.
    A GET's answer (a contact's conversations, read with the token in its query) is never kept in a browser's cache,
    unless its view says how long it may be (POSTs are not cached: the ping pays nothing)."""
    if request.method == "GET" and not response.has_header("Cache-Control"):
        response["Cache-Control"] = "no-store"
    return response if website is None else cors_headers_set(response, origin=request.headers.get("Origin"))


def _wrong_method(methods: tuple[str, ...]) -> WidgetHttpError:
    return WidgetHttpError(405, "method_not_allowed", "", f"Use {' or '.join(methods)}.")
