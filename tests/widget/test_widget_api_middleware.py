"""The widget's public API skips Django's session, common, CSRF, authentication and message layers
(config/middleware.py); every other path still runs them."""

import pytest
from django.contrib.messages.storage.base import BaseStorage
from django.http import HttpResponse
from django.test import Client, RequestFactory

from config import middleware

SKIPPED = (
    middleware.SessionMiddleware,
    middleware.CommonMiddleware,
    middleware.CsrfViewMiddleware,
    middleware.AuthenticationMiddleware,
    middleware.MessageMiddleware,
)


def _seen(layers, path: str):
    """The request as the view gets it, once `layers` (outermost first) handled a POST to `path`."""
    seen = {}

    def view(request):
        seen["request"] = request
        return HttpResponse("ok")

    handler = view
    for layer in reversed(layers):
        handler = layer(handler)
    handler(RequestFactory().post(path, data="{}", content_type="text/plain"))
    return seen["request"]


def test_on_the_widget_api_the_request_passes_through_untouched():
    request = _seen(SKIPPED, "/widget-api/abc/ping")
    assert not hasattr(request, "session") and not hasattr(request, "user") and not hasattr(request, "_messages")


def test_elsewhere_the_request_gets_its_session_user_and_messages():
    request = _seen(SKIPPED, "/admin/")
    assert hasattr(request, "session") and request.user.is_anonymous and isinstance(request._messages, BaseStorage)


@pytest.mark.django_db
def test_the_admin_still_refuses_a_post_without_its_csrf_token(superuser):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    response = client.post("/admin/logout/")
    assert response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, status",
    [('{"page": {"url": "https://shop.example/", "title": "Shop"}}', 200), ('{"page": 1e400}', 400)],
)
def test_a_widget_answer_says_its_length(client, website, body, status):
    """CommonMiddleware sets Content-Length; skipped on the widget's API, its answers still carry it (without it
    gunicorn sends them chunked: a write more per answer, chunks for the browser to parse)."""
    response = client.post(
        f"/widget-api/{website.app_id}/ping", data=body, content_type="text/plain", HTTP_ORIGIN="https://shop.example"
    )
    assert response.status_code == status
    assert response["Content-Length"] == str(len(response.content))
