"""Django's session, common, CSRF, authentication and message middleware, skipped on the widget's public API; and
django-cors-headers', which leaves the widget endpoints' answers to them (CorsMiddleware below).

A widget request (/widget-api/…, one per page view on every customer site) reads no session, user, CSRF cookie
or flash message: its views are csrf_exempt and authenticate by the widget token alone (widget/http.py). The
five layers still cost a fifth of the framework's work per request (a session store, a lazy user, the message
storage, cookie parsing), so on that prefix each one hands the request straight to the next (CommonMiddleware
still sets the answer's Content-Length); every other path runs them as Django does. Each is a subclass of Django's
own, so the admin's checks (admin.E408 to E410) and anything else that looks for them by class still find them.
"""

import functools
import zoneinfo
from collections.abc import Callable
from typing import Any

from corsheaders.middleware import CorsMiddleware as CorsHeadersMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware as DjangoCsrfViewMiddleware
from django.utils import timezone

from widget.http import CORS_HEADERS_SET, WIDGET_API_PREFIX


def widget_api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(WIDGET_API_PREFIX)


def _not_on_widget_api(middleware: type, on_widget_api: Callable[[HttpResponse], HttpResponse] | None = None) -> type:
    """`middleware` (a MiddlewareMixin), except on the widget's API, where it passes the request on untouched (and
    the answer through `on_widget_api`, when given: the part of its work the widget's answers still need)."""

    def __call__(self: Any, request: HttpRequest) -> HttpResponse:
        if widget_api_request(request):
            response = self.get_response(request)
            return response if on_widget_api is None else on_widget_api(response)
        return middleware.__call__(self, request)

    namespace: dict[str, Any] = {
        "__call__": __call__,
        "__doc__": f"{middleware.__module__}.{middleware.__qualname__}, not on {WIDGET_API_PREFIX}.",
        "__module__": __name__,
        # Synchronous only (this __call__): under ASGI, Django adapts it like any sync middleware.
        "async_capable": False,
    }
    if hasattr(middleware, "process_view"):

        def process_view(self: Any, request: HttpRequest, view: Callable[..., Any], *args: Any) -> Any:
            return None if widget_api_request(request) else middleware.process_view(self, request, view, *args)

        namespace["process_view"] = process_view
    return type(middleware.__name__, (middleware,), namespace)


def _content_length(response: HttpResponse) -> HttpResponse:
    """What CommonMiddleware's answer ends with: the Content-Length of a body known whole. Without it gunicorn sends
    an HTTP/1.1 answer chunked: three writes to the socket instead of two, and chunks for the browser to parse."""
    if not response.streaming and not response.has_header("Content-Length"):
        response.headers["Content-Length"] = str(len(response.content))
    return response


SessionMiddleware = _not_on_widget_api(DjangoSessionMiddleware)
CommonMiddleware = _not_on_widget_api(DjangoCommonMiddleware, on_widget_api=_content_length)
CsrfViewMiddleware = _not_on_widget_api(DjangoCsrfViewMiddleware)
AuthenticationMiddleware = _not_on_widget_api(DjangoAuthenticationMiddleware)
MessageMiddleware = _not_on_widget_api(DjangoMessageMiddleware)


class CorsMiddleware(CorsHeadersMiddleware):
    """django-cors-headers' middleware, which leaves alone an answer whose endpoint set its CORS headers already
    (widget.http.widget_endpoint, which knows the website and has checked the origin against it): corsheaders would
    match its URL regex, the allowed-origin lists and then ask widget.http.cors_origin_allowed, which looks the
    website up again. Preflights (OPTIONS) and every other answer take corsheaders' own way."""

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode or request.method == "OPTIONS":
            return super().__call__(request)
        response = self.get_response(request)
        if not getattr(response, CORS_HEADERS_SET, False):
            self.add_response_headers(request, response)
        return response


# Set by the admin's pages (static/parley/admin/time_zone.js) to the time zone the teammate's browser names.
TIME_ZONE_COOKIE = "parley_tz"
ADMIN_PREFIX = "/admin/"


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def teammate_time_zone(request: HttpRequest) -> zoneinfo.ZoneInfo | None:
    """The IANA zone the admin's cookie names, when it is one (anything else, a path or a NUL: None)."""
    name = request.COOKIES.get(TIME_ZONE_COOKIE, "")
    return zoneinfo.ZoneInfo(name) if name in _time_zones() else None


class TeammateTimeZoneMiddleware:
    """The admin's times (a message's, a snooze's, a list's, the dates typed in its forms) in the teammate's own time
    zone, the one their browser names; UTC (TIME_ZONE) until their browser has said. Other pages keep TIME_ZONE."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = teammate_time_zone(request) if request.path_info.startswith(ADMIN_PREFIX) else None
        if zone is None:
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)
