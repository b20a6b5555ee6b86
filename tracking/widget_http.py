"""HTTP plumbing shared by every widget endpoint (tracking and chat): website and origin checks,
CORS per website, body size cap and JSON parsing, cache-backed rate limits (with the cache reads a
request needs, in the same round trip), the error shape.
"""

import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from redis.exceptions import NoScriptError

from config.redis_cache import REDIS_UNAVAILABLE
from ops.parsing import int_or_none
from tracking.models import Website
from tracking.payloads import PayloadError, parse_json_object
from tracking.selectors import origin_allowed, website_for_app_id
from tracking.widget_auth import WidgetIdentity, widget_token_read

WIDGET_API_PREFIX = "/widget-api/"
RATE_WINDOW_SECONDS = 60
ACCEPTED_CONTENT_TYPES = ("", "text/plain", "application/json")


class WidgetHttpError(Exception):
    """An answer other than success: status, machine code, the field at fault, a human message."""

    def __init__(self, status: int, code: str, field: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.field, self.message = status, code, field, message
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        body = {"error": {"code": self.code, "field": self.field, "message": self.message}}
        response = JsonResponse(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response

    @classmethod
    def from_payload(cls, error: PayloadError) -> "WidgetHttpError":
        return cls(400, error.code, error.field, error.message)


def widget_website(request: HttpRequest, app_id: str) -> Website:
    """The website of this app id, if the request's Origin (when it sends one) is allowed."""
    website = website_for_app_id(app_id=app_id)
    if website is None:
        raise WidgetHttpError(404, "unknown_app_id", "app_id", "No website has this app id.")
    origin = request.headers.get("Origin")
    # Browsers always send Origin on cross-origin requests; its absence means a non-browser client.
    if origin is not None and not origin_allowed(website=website, origin=origin):
        # Readable by the refused page (CORS), so its widget can say "not set up" rather than "offline";
        # the answer holds nothing but this refusal.
        raise WidgetHttpError(
            403, "origin_not_allowed", "Origin", "This origin is not in the website's allowed origins.",
            headers={"Access-Control-Allow-Origin": origin, "Vary": "Origin"},
        )  # fmt: skip
    return website


def cors_origin_allowed(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    """django-cors-headers' check_request_enabled: allow an origin per website on /widget-api/<app_id>/."""
    path = request.path_info
    origin = request.headers.get("Origin")
    if not origin or not path.startswith(WIDGET_API_PREFIX):
        return False
    app_id = path[len(WIDGET_API_PREFIX) :].split("/", 1)[0]
    try:
        website = website_for_app_id(app_id=app_id)
    except DatabaseError:  # PostgreSQL is down: the view answers 503 (config.outage), without CORS headers
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
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared:
        length = int_or_none(declared, minimum=0)
        if length is None:
            raise WidgetHttpError(400, "invalid", "Content-Length", "Content-Length must be a number.")
        if length > max_bytes:
            raise _too_large(max_bytes)
    raw = request.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    try:
        return parse_json_object(raw)
    except PayloadError as error:
        raise WidgetHttpError.from_payload(error) from None


def _too_large(max_bytes: int) -> WidgetHttpError:
    return WidgetHttpError(413, "payload_too_large", "body", f"The body must be at most {max_bytes} bytes.")


def widget_identity(*, website: Website, token: str | None) -> WidgetIdentity | None:
    return widget_token_read(token=token, website_id=website.pk) if token else None


class CacheReads:
    """Cache entries a widget request read ahead, in its preflight round trip; other keys are read on demand."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self._values = values or {}

    def get(self, key: str) -> Any:
        if key in self._values:
            return self._values[key]
        return caches["default"].get(key)


def _window_key(scope: str, subject: str, now: float) -> str:
    return f"ratelimit:{scope}:{subject}:{int(now // RATE_WINDOW_SECONDS)}"


# Counts each window (setting its expiry when it opens) and reads the other keys, atomically, as
# one command: the hot path pays for one command's packing and parsing instead of six.
_COUNT_AND_READ = """
local windows = tonumber(ARGV[1])
local replies = {}
for index, key in ipairs(KEYS) do
    if index <= windows then
        replies[index] = redis.call('INCR', key)
        if replies[index] == 1 then redis.call('EXPIRE', key, ARGV[2]) end
    else
        replies[index] = redis.call('GET', key)
    end
end
return replies
"""
_COUNT_AND_READ_SHA = hashlib.sha1(_COUNT_AND_READ.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1


def _count_and_read(window_keys: list[str], read_keys: Sequence[str]) -> tuple[list[int], dict[str, Any]]:
    """Count one request in each fixed window and read the given cache entries: one command on Redis."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        available = getattr(backend, "available", None)
        if available is not None and not available():
            return _fail_open(window_keys, read_keys)
        try:
            return _count_and_read_redis(backend, window_keys, read_keys)
        except REDIS_UNAVAILABLE as error:
            # Rate limits fail open (docs/deployment.md): the request goes on without the cache.
            mark_unavailable = getattr(backend, "mark_unavailable", None)
            if mark_unavailable is not None:
                mark_unavailable(error)
            return _fail_open(window_keys, read_keys)
    values = backend.get_many(read_keys) if read_keys else {}
    return [_hit_elsewhere(backend, key) for key in window_keys], {key: values.get(key) for key in read_keys}


def _fail_open(window_keys: list[str], read_keys: Sequence[str]) -> tuple[list[int], dict[str, Any]]:
    """No count (nothing is over a limit) and every entry missing: what an unreachable cache gives."""
    return [0] * len(window_keys), dict.fromkeys(read_keys)


def _count_and_read_redis(
    backend: RedisCache, window_keys: list[str], read_keys: Sequence[str]
) -> tuple[list[int], dict[str, Any]]:
    """The count-and-read script on Redis (raises what an unreachable Redis raises)."""
    client = backend._cache.get_client(None, write=True)
    # make_key, not make_and_validate_key: these keys are ours, and the check walks every character.
    keys = [backend.make_key(key) for key in (*window_keys, *read_keys)]
    arguments = (len(keys), *keys, len(window_keys), RATE_WINDOW_SECONDS + 5)
    try:
        replies = client.evalsha(_COUNT_AND_READ_SHA, *arguments)
    except NoScriptError:  # a restarted or flushed Redis: load it again
        replies = client.eval(_COUNT_AND_READ, *arguments)
    counts = [int(count) for count in replies[: len(window_keys)]]
    loads = backend._cache._serializer.loads
    raw = replies[len(window_keys) :]
    return counts, {key: None if value is None else loads(value) for key, value in zip(read_keys, raw, strict=True)}


def _hit_elsewhere(backend: Any, key: str) -> int:
    """The window count on other cache backends (local memory when embedded)."""
    if backend.add(key, 1, RATE_WINDOW_SECONDS + 5):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired in between
        backend.add(key, 1, RATE_WINDOW_SECONDS + 5)
        return 1


def _rate_limited(scope: str, now: float) -> WidgetHttpError:
    retry_after = max(1, int(RATE_WINDOW_SECONDS - now % RATE_WINDOW_SECONDS) + 1)
    return WidgetHttpError(
        429,
        "rate_limited",
        scope,
        f"Too many requests; try again in {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )


def widget_preflight(*, ip: str | None, identity: WidgetIdentity | None, read_keys: Sequence[str] = ()) -> CacheReads:
    """Count the request against its per-IP and per-contact limits (fixed one-minute windows in the
    shared cache; over a limit → 429 with Retry-After) and read the cache entries the request will
    need, all in one round trip."""
    now = time.time()
    limits: list[tuple[str, int]] = []
    window_keys: list[str] = []
    if ip:
        limits.append(("ip", settings.PARLEY_WIDGET_RATE_PER_IP))
        window_keys.append(_window_key("ip", _ip_key(ip), now))
    if identity is not None:
        limits.append(("contact", settings.PARLEY_WIDGET_RATE_PER_CONTACT))
        window_keys.append(_window_key("contact", f"{identity.website_id}:{identity.contact_id}", now))
    counts, values = _count_and_read(window_keys, read_keys)
    for (scope, limit), count in zip(limits, counts, strict=True):
        if count > limit:
            raise _rate_limited(scope, now)
    return CacheReads(values)


def _ip_key(ip: str) -> str:
    # The cache never holds the address itself, only a keyed hash of it.
    return hmac.new(settings.SECRET_KEY.encode(), ip.encode(), hashlib.sha256).hexdigest()[:24]


def rate_limit_ip(ip: str | None) -> None:
    widget_preflight(ip=ip, identity=None)


def rate_limit_contact(identity: WidgetIdentity | None) -> None:
    if identity is not None:
        widget_preflight(ip=None, identity=identity)
