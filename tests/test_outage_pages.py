"""A backing service down or too far behind: the 503 in the shape its caller reads (common/outage.py). The
scripts' paths answer JSON whatever they accept; a browser's visit to a page gets a page that says what is going
on, reloading itself after Retry-After when it was a plain visit."""

import json

import pytest
from django.db import OperationalError
from django.test import RequestFactory

from common.outage import RETRY_AFTER_SECONDS, ServiceBehind, service_unavailable_response

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _answer(method: str, path: str, accept: str, error: Exception):
    request = getattr(RequestFactory(), method)(path, HTTP_ACCEPT=accept)
    response = service_unavailable_response(request, error)
    assert response.status_code == 503 and response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    return response


def test_a_browser_visit_to_an_admin_page_gets_a_page_that_reloads_itself():
    response = _answer(
        "get", '/admin/contacts/contact/?q="><script>alert(1)</script>', BROWSER_ACCEPT, OperationalError()
    )
    page = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert "<h1>Parley is temporarily unavailable</h1>" in page
    assert f'<meta http-equiv="refresh" content="{RETRY_AFTER_SECONDS}">' in page
    assert (
        "<script>" not in page and 'href="/admin/contacts/contact/?q=%22%3E%3Cscript%3E' in page
    )  # the address, encoded


def test_a_form_sent_while_behind_says_so_and_is_not_sent_again_by_itself():
    page = _answer("post", "/admin/contacts/contact/", BROWSER_ACCEPT, ServiceBehind("queued")).content.decode()
    assert "<h1>Parley is catching up</h1>" in page and "send it again" in page
    assert "http-equiv" not in page


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/admin/conversations/conversation/1/updates", "*/*"),  # the admin's own scripts
        ("/widget-api/abc/ping", BROWSER_ACCEPT),
        ("/email/unsubscribe/x", BROWSER_ACCEPT),
    ],
)
def test_scripts_get_the_widget_protocols_json_error(path, accept):
    body = json.loads(_answer("get", path, accept, OperationalError()).content)
    assert body["error"]["code"] == "service_unavailable"


def test_the_api_answers_intercoms_error_envelope_even_to_a_browser():
    body = json.loads(_answer("get", "/api/contacts", BROWSER_ACCEPT, OperationalError()).content)
    assert body["type"] == "error.list" and body["errors"][0]["code"] == "service_unavailable"


def test_the_page_never_links_to_another_site_and_is_never_stored():
    """A path starting with "//" would make the "Try again now" link point to another host (found by an attacker
    review); the answer varies with Accept and no cache keeps it."""
    request = RequestFactory().get("/", HTTP_ACCEPT=BROWSER_ACCEPT)
    request.path = request.path_info = "//evil.example/admin/"  # (as a server hands it over: no host in it)
    response = service_unavailable_response(request, OperationalError())
    page = response.content.decode()
    assert 'href="//' not in page and 'href="/%2Fevil.example/admin/"' in page
    assert "Accept" in response["Vary"] and "no-store" in response["Cache-Control"]
    api = _answer("get", "/api/contacts", BROWSER_ACCEPT, OperationalError())
    assert "no-store" in api["Cache-Control"] and not api.has_header("Vary")
