"""What every Intercom-shaped view shares: token auth, permissions, rate limit headers, the error envelope."""

import io
from typing import Any

from django.http import HttpRequest
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from api.auth import ApiTokenAuthentication, rate_limit_hit
from api.errors import BodyTooLarge, ParameterInvalid, ParameterNotFound, RateLimitExceeded, exception_handler
from api.fields import json_body_check
from api.pagination import Cursor, Sort, cursor_decode, per_page_clean, sort_clean
from api.parsers import JSONParser
from api.permissions import TeammatePermissions
from common.parsing import int_or_none


class IntercomView(APIView):
    """Base view; `Intercom-Version` is accepted and ignored (Parley serves the 2.x shapes)."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [TeammatePermissions]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self):
        return exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.rate_limit = rate_limit_hit(token=request.auth)
        if self.rate_limit.exceeded:
            raise RateLimitExceeded()

    def finalize_response(self, request: HttpRequest, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        rate_limit = getattr(self, "rate_limit", None)
        if rate_limit is not None:
            for name, value in rate_limit.headers().items():
                response[name] = value
        return response

    def body(self, request: Request, *, max_bytes: int | None = None) -> dict[str, Any]:
        """The JSON object in the body. `max_bytes`: a call carrying files reads up to that many bytes from the
        stream itself instead of Django's DATA_UPLOAD_MAX_MEMORY_SIZE (a 413 naming `body` above it)."""
        data = request.data if max_bytes is None else _json_read_bounded(request, max_bytes=max_bytes)
        if not isinstance(data, dict):
            raise ParameterInvalid("body", "The request body must be a JSON object.")
        json_body_check(data)
        return data

    def list_params(self, request: Request) -> tuple[int, Cursor | None]:
        """The page size and cursor of a list request (`per_page` and `starting_after` in the query)."""
        return (
            per_page_clean(request.query_params.get("per_page")),
            cursor_decode(request.query_params.get("starting_after")),
        )

    def search_body(self, request: Request) -> tuple[Any, int, Cursor | None]:
        """The query, page size and cursor of a search request (Intercom's POST …/search body)."""
        body = self.body(request)
        if "query" not in body:
            raise ParameterNotFound("query")
        pagination = body.get("pagination") or {}
        if not isinstance(pagination, dict):
            raise ParameterInvalid("pagination", "pagination must be an object.")
        per_page = per_page_clean(pagination.get("per_page"), field="pagination.per_page")
        cursor = cursor_decode(pagination.get("starting_after"), field="pagination.starting_after")
        return body["query"], per_page, cursor

    def search_sort(self, request: Request, fields: dict[str, tuple[str, str]]) -> Sort | None:
        """The `sort: {field, order}` of a search body, on one of `fields` (indexed ones) only."""
        return sort_clean(self.body(request).get("sort"), fields=fields)

    def parse(self, serializer_class: type[Serializer], data: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


# Digits of a Content-Length that cannot be real (a petabyte has 16): refused as too large, never parsed.
CONTENT_LENGTH_MAX_DIGITS = 18


def _json_read_bounded(request: Request, *, max_bytes: int) -> Any:
    """The body's JSON, read from the stream: refused by its declared length before a byte is read, and by what
    arrives past `max_bytes` (a body sent without a length); parsed as DRF's JSONParser parses (400 naming body)."""
    parser = request.negotiator.select_parser(request, request.parsers)
    if request.content_type and parser is None:
        raise UnsupportedMediaType(request.content_type)
    declared = str(request.META.get("CONTENT_LENGTH") or "0").strip()
    if len(declared) > CONTENT_LENGTH_MAX_DIGITS or (int_or_none(declared, minimum=0) or 0) > max_bytes:
        raise BodyTooLarge(max_bytes)
    raw = request._request.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise BodyTooLarge(max_bytes)
    if not raw:
        return {}
    # The request's own media type: its charset is checked as every other call's (api.parsers).
    media_type = request.content_type or "application/json"
    return (parser or JSONParser()).parse(io.BytesIO(raw), media_type, {"request": request})
