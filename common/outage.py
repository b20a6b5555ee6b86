"""503, not 500, while a backing service (PostgreSQL, Redis, the broker) does not answer.

A request that cannot be served because PostgreSQL, Redis or the Celery broker is unreachable
answers 503 with `Retry-After` and the error shape of its API: Intercom's envelope under /api/,
the widget protocol's `{"error": {...}}` elsewhere. Nothing is cached between requests, so the
first request after the service comes back is served again (no restart).
"""

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import kombu.exceptions
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from common.redis_cache import REDIS_UNAVAILABLE

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
# What a backing service that is down, restarting or unreachable raises at the caller.
SERVICE_UNAVAILABLE = (OperationalError, InterfaceError, *REDIS_UNAVAILABLE, kombu.exceptions.OperationalError)
SERVICE_UNAVAILABLE_CODE = "service_unavailable"
SERVICE_UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; try again shortly."
API_PREFIX = "/api/"
_LOG_EVERY_SECONDS = 5.0
_last_logged = {"at": 0.0}


def is_service_unavailable(error: BaseException) -> bool:
    return isinstance(error, SERVICE_UNAVAILABLE)


def outage_log(error: BaseException) -> None:
    """One warning every few seconds while a service is down, rather than an error per request."""
    now = time.monotonic()
    if now - _last_logged["at"] >= _LOG_EVERY_SECONDS:
        _last_logged["at"] = now
        logger.warning("A backing service is unavailable (%s); answering 503.", error.__class__.__name__)


def service_unavailable_response(request: HttpRequest, error: BaseException) -> JsonResponse:
    """The 503 answer in the error shape of this request's API."""
    outage_log(error)
    if request.path_info.startswith(API_PREFIX):
        body: dict[str, Any] = {
            "type": "error.list",
            "request_id": uuid.uuid4().hex,
            "errors": [{"code": SERVICE_UNAVAILABLE_CODE, "message": SERVICE_UNAVAILABLE_MESSAGE}],
        }
    else:
        body = {"error": {"code": SERVICE_UNAVAILABLE_CODE, "field": "", "message": SERVICE_UNAVAILABLE_MESSAGE}}
    response = JsonResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response._has_been_logged = True  # outage_log said it; Django would log an error per request
    return response


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
