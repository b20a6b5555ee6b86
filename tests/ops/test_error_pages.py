"""Parley's own error pages (templates/400.html, 403.html, 403_csrf.html, 404.html, 500.html): what a teammate reads when the
admin refuses, cannot find, or fails, in words that say what to do next; JSON where a machine calls."""

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django_guid import set_guid

from config.urls import permission_denied, server_error

pytestmark = pytest.mark.django_db


def test_a_teammate_whose_role_does_not_allow_a_page_is_told_what_to_do(client, teammate):
    client.force_login(teammate)  # staff, no role: may not add teammates
    page = client.get("/admin/auth/user/add/")
    assert page.status_code == 403
    text = page.content.decode()
    assert "<title>Not allowed | Parley</title>" in text
    assert "Your role in Parley does not allow what you asked for." in text
    assert "ask whoever runs Parley for your team (a superuser)" in text
    assert '<a href="/admin/">Back to the admin' in text


def test_a_missing_page_says_so_and_shows_its_address_as_text(admin_client):
    page = admin_client.get("/no-such-page/<script>alert(1)</script>/")
    assert page.status_code == 404
    text = page.content.decode()
    assert "There is nothing here" in text
    assert "<script>alert(1)</script>" not in text and "%3Cscript%3E" in text


def test_a_form_sent_without_its_security_check_says_nothing_was_changed():
    browser = Client(enforce_csrf_checks=True)
    browser.get("/admin/login/")  # the CSRF cookie is set; the form's token is not sent
    page = browser.post("/admin/login/", {"username": "boss", "password": "x"})
    assert page.status_code == 403
    text = page.content.decode()
    assert "This form could not be sent" in text
    assert "Nothing was changed. Go back, reload the page, and send the form again." in text
    no_cookie = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "boss", "password": "x"})
    assert "does not keep this site's cookies" in no_cookie.content.decode()


def test_a_host_name_parley_does_not_answer_to_gets_a_page_that_says_what_to_check(client):
    page = client.get("/admin/", HTTP_HOST="<b>parley.elsewhere.example</b>")
    assert page.status_code == 400
    text = page.content.decode()
    assert "<title>Bad request | Parley</title>" in text
    assert "This request could not be read" in text and "add that name to <code>ALLOWED_HOSTS</code>" in text
    assert "elsewhere" not in text  # the refused name is not echoed back
    api = client.get("/api/contacts", HTTP_HOST="parley.elsewhere.example")
    assert (api.status_code, api.json()["errors"][0]["code"]) == (400, "parameter_invalid")


def test_a_server_error_page_names_the_request_for_whoever_runs_parley():
    set_guid("4f1c2a9e0b7d4c55a3e1d2f3a4b5c6d7")
    page = server_error(RequestFactory().get("/admin/conversations/conversation/"))
    assert page.status_code == 500
    text = page.content.decode()
    assert "Something went wrong on Parley" in text
    assert "<code>4f1c2a9e0b7d4c55a3e1d2f3a4b5c6d7</code>" in text


@pytest.mark.parametrize("path", ["/api/contacts", "/widget-api/abc/ping"])
def test_machines_get_a_refusal_as_json(path):
    answer = permission_denied(RequestFactory().get(path), PermissionDenied())
    assert answer.status_code == 403
    assert "forbidden" in json.dumps(json.loads(answer.content))
