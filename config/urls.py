import sys
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseServerError, JsonResponse
from django.template import loader
from django.urls import include, path
from django.views import defaults
from django.views.generic import RedirectView
from django_guid import get_guid

from api.errors import FORBIDDEN, NOT_FOUND, PARAMETER_INVALID, SERVER_ERROR, envelope, error_item, not_found_view
from common import outage
from contacts.admin import sign_in, two_step
from conversations import urls as conversations_urls
from widget import urls as widget_urls

admin.site.site_header = "Parley"
admin.site.site_title = "Parley"
admin.site.index_title = "Customer messaging"
# "View site" shows the demo shop in demo mode; a real install has no site of its own to show.
HOME_URL = "/demo/" if settings.PARLEY_DEMO_PAGES else "/admin/"
admin.site.site_url = "/demo/" if settings.PARLEY_DEMO_PAGES else None

# A backing service that is down answers 503 with Retry-After even when a middleware meets it.
urlpatterns = [
    path("", include("widget.urls")),  # first: the widget's ping is the most frequent request by far
    path("", include("ops.urls")),
    # The widget's chat endpoints keep their url names beside the email links: conversations:widget_poll, …
    path("", include(([*widget_urls.chat_urlpatterns, *conversations_urls.urlpatterns], "conversations"))),
    path("api/", include("api.urls")),
    path("api", not_found_view),  # the bare prefix too: JSON, not a redirect to /api/
    # The admin's sign-in and password pages (before the admin's own, which would take their paths): the sign-in
    # page links the reset; the emails link the confirmations.
    path("admin/login/", sign_in.sign_in_view),  # the admin's own page ("admin:login"), plus a cookie
    path("admin/password_change/", admin.site.admin_view(sign_in.PasswordChangeView.as_view(), cacheable=True)),
    path("admin/password_reset/", sign_in.PasswordResetView.as_view(), name="admin_password_reset"),
    path("admin/password_reset/done/", sign_in.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("admin/reset/<uidb64>/<token>/", sign_in.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("admin/reset/done/", sign_in.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("admin/welcome/<uidb64>/<token>/", sign_in.TeammateWelcomeView.as_view(), name="teammate_welcome"),
    path("admin/two-step/", two_step.two_step_sign_in_view, name="two_step_sign_in"),
    path("admin/two-step/setup/", two_step.two_step_setup_view, name="two_step_setup"),
    path("admin/", admin.site.urls),
    # A bare visit lands on the demo shop (demo mode) or in the admin, where teammates work.
    path("", RedirectView.as_view(url=HOME_URL, permanent=False), name="home"),
]

# Machines call these paths: their errors are JSON, never Django's HTML pages.
API_PREFIX = "/api/"
JSON_ERROR_PREFIXES = outage.JSON_ERROR_PREFIXES


def _json_error(request: HttpRequest, *, status: int, code: str, message: str) -> HttpResponse | None:
    """The error in the shape the caller of this path reads, or None for the admin and other pages."""
    path = request.path_info
    if path.startswith(API_PREFIX):
        return JsonResponse(envelope([error_item(code=code, message=message)]), status=status)
    if path.startswith(JSON_ERROR_PREFIXES):
        return JsonResponse({"error": {"code": code, "field": "", "message": message}}, status=status)
    return None


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    answer = _json_error(request, status=400, code=PARAMETER_INVALID, message="Bad request.")
    # Not defaults.bad_request: its CSRF decorator reads request.POST again, and a form Django cannot
    # decode (a charset other than UTF-8) would raise inside the handler. A plain context, as the 500's.
    return answer or HttpResponseBadRequest(loader.render_to_string("400.html", {}))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    answer = _json_error(request, status=403, code=FORBIDDEN, message="Forbidden.")
    return answer or defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    answer = _json_error(request, status=404, code=NOT_FOUND, message="Resource Not Found")
    return answer or defaults.page_not_found(request, exception)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    # An outage raised outside a view (in a middleware) still answers 503 with Retry-After.
    error = sys.exc_info()[1]
    if error is not None and outage.is_service_unavailable(error):
        return outage.service_unavailable_response(request, error)
    answer = _json_error(request, status=500, code=SERVER_ERROR, message="Internal server error.")
    # The request's id (as in the log's lines) lets whoever runs Parley find the error. A plain context: the
    # error may be the database's, which a request context's processors would ask again.
    return answer or HttpResponseServerError(loader.render_to_string("500.html", {"request_id": get_guid() or ""}))


handler400 = bad_request
handler403 = permission_denied
handler404 = page_not_found
handler500 = server_error
