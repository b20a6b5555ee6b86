"""Widget ingest endpoints: ping, update, events, shutdown (see docs/widget-protocol.md).

Thin views: parse and check the request, call one service, shape the answer.
"""

import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from rest_framework.exceptions import APIException
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from contacts.models import Contact
from tracking import payloads, services
from tracking.enrichment import accept_language, client_ip
from tracking.models import Website
from tracking.payloads import PayloadError
from tracking.widget_auth import WidgetIdentity
from tracking.widget_http import (
    CacheReads,
    WidgetHttpError,
    rate_limit_ip,
    widget_identity,
    widget_json_body,
    widget_preflight,
    widget_website,
)


def _first_error(error: ValidationError) -> tuple[str, str]:
    if hasattr(error, "error_dict"):
        field, messages = next(iter(error.message_dict.items()))
        return field, messages[0]
    return "body", error.messages[0]


def widget_exception_handler(exc: Exception, context: dict[str, Any]) -> JsonResponse | None:
    """DRF's own refusals (405, bad method) in the widget's error shape; anything else reaches handler500 (JSON)."""
    if isinstance(exc, APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "invalid"
        return WidgetHttpError(exc.status_code, str(code), "", str(exc.detail)).response()
    return None


class JSONOnly(BaseContentNegotiation):
    """The widget API answers JSON whatever the Accept header says (DRF's documented
    IgnoreClientContentNegotiation): no header parsing on every page view."""

    def select_parser(self, request: Any, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: list[Any], format_suffix: str | None = None) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


class WidgetEndpoint(APIView):
    """A public widget endpoint: no session auth, no CSRF, CORS per website, JSON errors."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    throttle_classes: list[Any] = []
    parser_classes: list[Any] = []  # the body is read and capped by widget_json_body
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], JsonResponse | None]:
        return widget_exception_handler

    def post(self, request: Any, app_id: str) -> JsonResponse:
        django_request: HttpRequest = request._request
        ip = client_ip(django_request)
        self.counted = False
        response = self.respond(django_request, app_id, ip)
        if not self.counted:
            # A refused request counts against its IP too (and may turn into a 429).
            try:
                rate_limit_ip(ip)
            except WidgetHttpError as error:
                return error.response()
        return response

    def respond(self, django_request: HttpRequest, app_id: str, ip: str | None) -> JsonResponse:
        try:
            website = widget_website(django_request, app_id)
            body = widget_json_body(django_request)
            facts = services.RequestFacts(
                now=timezone.now(),
                ip=ip,
                user_agent=django_request.META.get("HTTP_USER_AGENT", ""),
                browser_language=accept_language(django_request),
            )
            return self.handle(website=website, body=body, facts=facts)
        except WidgetHttpError as error:
            return error.response()
        except PayloadError as error:
            return WidgetHttpError.from_payload(error).response()
        except ValidationError as error:
            field, message = _first_error(error)
            return WidgetHttpError(400, "invalid", field, message).response()
        except services.WidgetTokenInvalid:
            return WidgetHttpError(
                403, "invalid_token", "token", "The token is missing, expired or not for this website; ping again."
            ).response()

    def handle(self, *, website: Website, body: dict[str, Any], facts: services.RequestFacts) -> JsonResponse:
        raise NotImplementedError

    def preflight(
        self, website: Website, token: str | None, facts: services.RequestFacts, *, reads: bool = True
    ) -> tuple[WidgetIdentity | None, CacheReads]:
        """The token's identity, once the request is counted against its IP and contact limits;
        with the contact's hot-path cache entries read in the same round trip."""
        identity = widget_identity(website=website, token=token)
        read_keys = services.widget_read_keys(identity) if reads else []
        self.counted = True
        return identity, widget_preflight(ip=facts.ip, identity=identity, read_keys=read_keys)


def _contact_json(contact: Contact | None) -> dict[str, Any] | None:
    return None if contact is None else {"role": contact.role, "name": contact.name}


IDENTITY_REFUSED_WARNING = (
    "Not signed in: identity verification needs user_hash = HMAC-SHA256 of user_id (or of email) with the "
    "website's identity secret, computed on your server; this user_hash is missing or wrong, so the visitor "
    "stays anonymous."
)


def _warnings(answer: services.WidgetAnswer) -> list[dict[str, str]]:
    """What the site got wrong, one entry each; the widget prints every message in the console."""
    warnings = []
    if answer.identity_refused:
        warnings.append({"field": "user.user_hash", "message": f"Parley: {IDENTITY_REFUSED_WARNING}"})
    for name, reason in answer.ignored_attributes.items():
        message = (
            f"Parley: custom attribute {json.dumps(name, ensure_ascii=False)} not applied (the rest was): {reason}"
        )
        warnings.append({"field": f"user.custom_attributes.{name}", "message": message})
    return warnings


def _answer(website: Website, answer: services.WidgetAnswer) -> dict[str, Any]:
    anonymous_id = str(answer.contact.anonymous_id) if answer.contact is not None and answer.tracking else None
    shape = {
        "anonymous_id": anonymous_id,
        "token": answer.token,
        "tracking": website.tracking_mode,
        "contact": _contact_json(answer.contact),
    }
    if answer.ignored_attributes:
        # Only a verified user (valid user_hash) defines new custom attributes, and an invalid value is
        # dropped (the rest is applied): say what was left out and why.
        shape["ignored_custom_attributes"] = list(answer.ignored_attributes)
    if warnings := _warnings(answer):
        shape["warnings"] = warnings
    return shape


class PingView(WidgetEndpoint):
    """One per page view: records it and answers with the token and the widget state."""

    def handle(self, *, website: Website, body: dict[str, Any], facts: services.RequestFacts) -> JsonResponse:
        ping = payloads.clean_ping(body, now=facts.now)
        identity, reads = self.preflight(website, ping.token, facts)
        if ping.browser_language:
            facts = services.RequestFacts(
                now=facts.now, ip=facts.ip, user_agent=facts.user_agent, browser_language=ping.browser_language
            )
        answer = services.widget_ping(website=website, ping=ping, identity=identity, facts=facts, reads=reads)
        state = services.widget_state(contact=answer.contact, reads=reads)
        return JsonResponse({**_answer(website, answer), **state})


class UpdateView(WidgetEndpoint):
    """User fields and, in single-page apps, a new page view."""

    def handle(self, *, website: Website, body: dict[str, Any], facts: services.RequestFacts) -> JsonResponse:
        update = payloads.clean_update(body, now=facts.now)
        identity, reads = self.preflight(website, update.token, facts)
        answer = services.widget_update(website=website, update=update, identity=identity, facts=facts, reads=reads)
        return JsonResponse(_answer(website, answer))


class EventsView(WidgetEndpoint):
    """Track a custom event for the token's contact: 202."""

    def handle(self, *, website: Website, body: dict[str, Any], facts: services.RequestFacts) -> JsonResponse:
        event = payloads.clean_event(body, now=facts.now)
        identity, reads = self.preflight(website, event.token, facts)
        tracked, duplicate = services.widget_event(
            website=website, event=event, identity=identity, facts=facts, reads=reads
        )
        return JsonResponse({"tracked": tracked, "duplicate": duplicate}, status=202)


class ShutdownView(WidgetEndpoint):
    """The site logged the user out: the widget forgets it; the next page view starts a new session."""

    def handle(self, *, website: Website, body: dict[str, Any], facts: services.RequestFacts) -> JsonResponse:
        payloads.only_fields(body, {"token"})
        token = payloads.clean_token(body.get("token"), required=False)
        identity, _ = self.preflight(website, token, facts, reads=False)
        services.widget_shutdown(website=website, identity=identity)
        return JsonResponse({"ok": True})


ping_view = PingView.as_view()
update_view = UpdateView.as_view()
events_view = EventsView.as_view()
shutdown_view = ShutdownView.as_view()
