"""503, not 500, while a backing service (PostgreSQL, Redis, the broker) does not answer, or is too far behind.

A request that cannot be served because PostgreSQL, Redis or the Celery broker is unreachable
answers 503 with `Retry-After` and the error shape of its API: Intercom's envelope under /api/,
the widget protocol's `{"error": {...}}` for the widget's and emails' endpoints and any other
script's request; a page a browser asked for (the admin) gets a page saying so, which reloads
itself when it was a plain visit. Nothing is cached between requests, so the first request after
the service comes back is served again (no restart).

A statement the database refuses as too large (SQLite's "too many SQL variables" or "Expression tree is too
large", PostgreSQL's program_limit_exceeded errors) is an OperationalError too, but no outage: retrying cannot
help, so it is left to the caller (a 500 with the database's message in the log), never a 503.
"""

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import kombu.exceptions
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import escape_leading_slashes

from common.redis_cache import REDIS_UNAVAILABLE

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class ServiceBehind(Exception):
    """A backing service answers, but too far behind to serve this request in time (workers catching up)."""


# What a backing service that is down, restarting, unreachable or far behind raises at the caller.
SERVICE_UNAVAILABLE = (
    OperationalError, InterfaceError, *REDIS_UNAVAILABLE, kombu.exceptions.OperationalError, ServiceBehind,
)  # fmt: skip
SERVICE_UNAVAILABLE_CODE = "service_unavailable"
SERVICE_UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; try again shortly."
# SQLite's messages for a statement over its limits (sqlite3 gives no error code for them).
SQLITE_STATEMENT_TOO_LARGE = (
    "too many SQL variables",
    "Expression tree is too large",
    "parser stack overflow",
    "string or blob too big",
    "too many terms in compound SELECT",
    "too many FROM clause terms",
    "too many columns",
    "too many arguments on function",
    "LIKE or GLOB pattern too complex",
)
# PostgreSQL's SQLSTATE class 54, program_limit_exceeded (statement_too_complex, too_many_arguments, …).
POSTGRESQL_LIMIT_EXCEEDED_CLASS = "54"
# psycopg refusing, before sending, more parameters than the protocol carries (65,535).
POSTGRESQL_TOO_MANY_PARAMETERS = "number of parameters must be between"
API_PREFIX = "/api/"
# Paths whose callers are scripts reading the widget protocol's JSON errors, whatever they accept (config/urls.py).
WIDGET_API_PREFIX = "/widget-api/"
JSON_ERROR_PREFIXES = (WIDGET_API_PREFIX, "/e/", "/email/")
_LOG_EVERY_SECONDS = 5.0
_last_logged = {"at": 0.0}


def is_statement_too_large(error: BaseException) -> bool:
    """Whether the database refused the statement itself as over its limits (a bug to fix, not an outage)."""
    if not isinstance(error, OperationalError):
        return False
    sqlstate = getattr(error.__cause__, "sqlstate", None) or ""  # psycopg's error, which Django's wraps
    message = str(error)
    return (
        sqlstate.startswith(POSTGRESQL_LIMIT_EXCEEDED_CLASS)
        or POSTGRESQL_TOO_MANY_PARAMETERS in message
        or any(marker in message for marker in SQLITE_STATEMENT_TOO_LARGE)
    )


def is_service_unavailable(error: BaseException) -> bool:
    return isinstance(error, SERVICE_UNAVAILABLE) and not is_statement_too_large(error)


def outage_log(error: BaseException) -> None:
    """One warning every few seconds while a service is down, rather than an error per request."""
    now = time.monotonic()
    if now - _last_logged["at"] >= _LOG_EVERY_SECONDS:
        _last_logged["at"] = now
        logger.warning("A backing service is unavailable (%s); answering 503.", error.__class__.__name__)


def service_unavailable_response(request: HttpRequest, error: BaseException) -> HttpResponse:
    """The 503 answer in the error shape of this request's API, or a page for a browser's visit."""
    outage_log(error)
    path = request.path_info
    if path.startswith(API_PREFIX):
        body: dict[str, Any] = {
            "type": "error.list",
            "request_id": uuid.uuid4().hex,
            "errors": [{"code": SERVICE_UNAVAILABLE_CODE, "message": SERVICE_UNAVAILABLE_MESSAGE}],
        }
        response: HttpResponse = JsonResponse(body, status=503)
    elif not path.startswith(JSON_ERROR_PREFIXES) and "text/html" in request.headers.get("Accept", ""):
        response = _page(request, behind=isinstance(error, ServiceBehind))
    else:
        body = {"error": {"code": SERVICE_UNAVAILABLE_CODE, "field": "", "message": SERVICE_UNAVAILABLE_MESSAGE}}
        response = JsonResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if path.startswith(WIDGET_API_PREFIX):
        # The website, and so the origins it allows, cannot be read now: every page may read this answer (it says
        # only that Parley is down, and widget calls carry no credentials). Without it the browser hid the 503 like
        # a refused origin's answer, and the messenger told the visitor the chat "isn't set up".
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = "Retry-After"
    add_never_cache_headers(response)
    if not path.startswith((API_PREFIX, *JSON_ERROR_PREFIXES)):
        patch_vary_headers(response, ["Accept"])  # a page or JSON, by what the caller accepts
    response._has_been_logged = True  # outage_log said it; Django would log an error per request
    return response


def _page(request: HttpRequest, *, behind: bool) -> HttpResponse:
    """What a teammate sees instead of an admin page: what is going on, and that a retry in a moment works. A
    plain visit reloads itself then; a form sent (an action, a save) is left to the teammate to send again.
    Rendered without the request's context: nothing here may need the database or the cache."""
    context = {
        "behind": behind,
        "retry_after": RETRY_AFTER_SECONDS,
        "reload": request.method in ("GET", "HEAD"),
        "path": escape_leading_slashes(request.get_full_path()),  # "//host/…" would link to another site
    }
    return HttpResponse(render_to_string("503.html", context), status=503)


class ServiceUnavailableMiddleware:
    """A view that raised because a backing service is down answers 503 (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_service_unavailable(exception):
            return service_unavailable_response(request, exception)
        return None
