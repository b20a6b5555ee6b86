"""Intercom's error envelope for every error under /api/: codes, exception handler, fallbacks."""

import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

from common.outage import (
    RETRY_AFTER_SECONDS,
    SERVICE_UNAVAILABLE_CODE,
    SERVICE_UNAVAILABLE_MESSAGE,
    is_service_unavailable,
    outage_log,
)
from contacts.services import AlreadyExists, ContactIdentityTaken, TagInUse

logger = logging.getLogger(__name__)

UNAUTHORIZED = "unauthorized"
NOT_FOUND = "not_found"
PARAMETER_NOT_FOUND = "parameter_not_found"
PARAMETER_INVALID = "parameter_invalid"
CONFLICT = "conflict"
TAG_HAS_DEPENDENT_OBJECTS = "tag_has_dependent_objects"
RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
FORBIDDEN = "forbidden"
METHOD_NOT_ALLOWED = "method_not_allowed"
SERVER_ERROR = "server_error"


class ApiError(exceptions.APIException):
    """An error with Intercom's code and, when it concerns one input, the field's name."""

    def __init__(self, *, code: str, message: str, field: str | None = None, status_code: int = 400) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.errors = [error_item(code=code, message=message, field=field)]


class NotFound(ApiError):
    def __init__(self, message: str = "Resource Not Found", field: str | None = None) -> None:
        super().__init__(code=NOT_FOUND, message=message, field=field, status_code=status.HTTP_404_NOT_FOUND)


class ParameterInvalid(ApiError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(code=PARAMETER_INVALID, message=message, field=field)


class ParameterNotFound(ApiError):
    def __init__(self, field: str, message: str | None = None) -> None:
        super().__init__(code=PARAMETER_NOT_FOUND, message=message or f"{field} is required.", field=field)


class BodyTooLarge(ApiError):
    """A request body over what its call accepts: 413 naming `body`."""

    def __init__(self, max_bytes: int) -> None:
        message = f"The request body is larger than the API accepts ({max_bytes / 1_048_576:.1f} MB)."
        super().__init__(code=PARAMETER_INVALID, message=message, field="body", status_code=413)


class RateLimitExceeded(ApiError):
    def __init__(self) -> None:
        super().__init__(
            code=RATE_LIMIT_EXCEEDED,
            message="Rate limit exceeded; see X-RateLimit-Reset.",
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        )


def error_item(*, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"code": code, "message": message}
    if field:
        item["field"] = field
    return item


def envelope(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "error.list", "request_id": uuid.uuid4().hex, "errors": errors}


def _flatten_drf_detail(detail: Any, prefix: str = "") -> list[dict[str, Any]]:
    """DRF's nested {"field": ["message"]} as Intercom error items naming the field."""
    if isinstance(detail, dict):
        items = []
        for key, value in detail.items():
            if isinstance(key, int):  # a list's errors by index (ListSerializer, ListField): `files[0].name`
                items += _flatten_drf_detail(value, f"{prefix}[{key}]")
                continue
            name = key if key != "non_field_errors" else ""
            items += _flatten_drf_detail(value, f"{prefix}.{name}" if prefix and name else (name or prefix))
        return items
    if isinstance(detail, list):
        items = []
        for index, value in enumerate(detail):
            items += _flatten_drf_detail(value, f"{prefix}[{index}]" if isinstance(value, dict) else prefix)
        return items
    code = getattr(detail, "code", "invalid")
    intercom_code = PARAMETER_NOT_FOUND if code in ("required", "null") else PARAMETER_INVALID
    return [error_item(code=intercom_code, message=str(detail), field=prefix or None)]


def conflict_items(error: AlreadyExists) -> list[dict[str, Any]]:
    """A service's AlreadyExists as Intercom's conflict; for a contact, Intercom's words and the holder's id."""
    if isinstance(error, ContactIdentityTaken):
        message = f"A contact matching those details already exists with id={error.contact_pk}"
    else:
        message = error.messages[0]
    return [error_item(code=CONFLICT, message=message, field=error.field)]


def validation_error_items(error: DjangoValidationError) -> list[dict[str, Any]]:
    if hasattr(error, "error_dict"):
        return [
            error_item(code=PARAMETER_INVALID, message=message, field=field if field != "__all__" else None)
            for field, messages in error.message_dict.items()
            for message in messages
        ]
    return [error_item(code=PARAMETER_INVALID, message=message) for message in error.messages]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler: every error, expected or not, becomes Intercom's envelope."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApiError):
        status_code, errors = exc.status_code, exc.errors
    elif isinstance(exc, TagInUse):  # Intercom's answer to deleting a tag a segment uses
        status_code = 400
        errors = [error_item(code=TAG_HAS_DEPENDENT_OBJECTS, message=exc.messages[0], field="id")]
    elif isinstance(exc, AlreadyExists):
        status_code, errors = status.HTTP_409_CONFLICT, conflict_items(exc)
    elif isinstance(exc, DjangoValidationError):
        status_code, errors = 400, validation_error_items(exc)
    elif isinstance(exc, Http404 | ObjectDoesNotExist):
        status_code, errors = 404, [error_item(code=NOT_FOUND, message="Resource Not Found")]
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        status_code = 401
        errors = [error_item(code=UNAUTHORIZED, message=str(exc.detail) or "Access Token Invalid")]
    elif isinstance(exc, PermissionDenied | exceptions.PermissionDenied):
        status_code, errors = 403, [error_item(code=FORBIDDEN, message="Forbidden")]
    elif isinstance(exc, exceptions.MethodNotAllowed):
        status_code, errors = 405, [error_item(code=METHOD_NOT_ALLOWED, message=str(exc.detail))]
    elif isinstance(exc, RequestDataTooBig):  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE, read by request.body
        too_large = BodyTooLarge(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        status_code, errors = too_large.status_code, too_large.errors
    elif isinstance(exc, exceptions.ParseError):
        message = f"Invalid JSON body: {exc.detail}"
        status_code, errors = 400, [error_item(code=PARAMETER_INVALID, message=message, field="body")]
    elif isinstance(exc, exceptions.ValidationError):
        status_code, errors = 400, _flatten_drf_detail(exc.detail)
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        status_code = exc.status_code
        errors = [error_item(code=exc.default_code, message=str(exc.detail), field="Content-Type")]
    elif isinstance(exc, exceptions.Throttled):
        status_code, errors = 429, RateLimitExceeded().errors
    elif isinstance(exc, exceptions.APIException):
        status_code = exc.status_code
        errors = [
            error_item(
                code=str(exc.get_codes()) if isinstance(exc.get_codes(), str) else "error", message=str(exc.detail)
            )
        ]
    elif is_service_unavailable(exc):  # PostgreSQL, Redis or the broker is down: try again, not a bug
        status_code, errors = 503, [error_item(code=SERVICE_UNAVAILABLE_CODE, message=SERVICE_UNAVAILABLE_MESSAGE)]
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        outage_log(exc)
    else:
        logger.exception("Unhandled error in API view %s", context.get("view").__class__.__name__)
        status_code, errors = 500, [error_item(code=SERVER_ERROR, message="Internal server error.")]
    if status_code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    response = Response(envelope(errors), status=status_code, headers=headers)
    if status_code == 503:
        response._has_been_logged = True  # outage_log said it; Django would log an error per request
    return response


@csrf_exempt  # a POST to an unknown path is a 404, not the CSRF check's HTML page (no session acts here)
def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Catch-all for unknown paths under /api/ (Django would answer with an HTML page)."""
    return JsonResponse(envelope([error_item(code=NOT_FOUND, message="Resource Not Found")]), status=404)
