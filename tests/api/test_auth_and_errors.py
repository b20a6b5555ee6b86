import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services import api_token_create, api_token_revoke
from contacts.models import Tag

pytestmark = pytest.mark.django_db


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["type"] == "error.list"
    assert body["request_id"]
    assert body["errors"][0]["code"] == code
    assert body["errors"][0]["message"]
    if field:
        assert body["errors"][0]["field"] == field
    assert "Traceback" not in response.content.decode()


def test_missing_token_is_401_in_intercoms_envelope():
    assert_error(APIClient().get("/api/contacts"), 401, "unauthorized")


def test_wrong_token_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer pk_not-a-real-token")
    assert_error(client.get("/api/me"), 401, "unauthorized")


def test_revoked_token_is_refused(teammate):
    token, raw = api_token_create(user=teammate)
    api_token_revoke(token=token)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert_error(client.get("/api/me"), 401, "unauthorized")


def test_token_of_a_deactivated_teammate_is_refused(teammate, api):
    teammate.is_active = False
    teammate.save()
    assert_error(api.get("/api/me"), 401, "unauthorized")


def test_token_acts_as_its_teammate_and_records_last_use_at_most_once_a_minute(api, teammate):
    assert api.get("/api/me").json()["email"] == "agent@parley.test"
    token = ApiToken.objects.get(user=teammate)
    first_use = token.last_used_at
    assert first_use is not None
    api.get("/api/me")
    token.refresh_from_db()
    assert token.last_used_at == first_use
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - dt.timedelta(minutes=2))
    api.get("/api/me")
    token.refresh_from_db()
    assert token.last_used_at > first_use


def test_rate_limit_headers_and_429_over_the_limit(api, settings, mid_window_clock):  # at 1_800_000_030
    settings.PARLEY_API_RATE_LIMIT_PER_MINUTE = 3
    responses = [api.get("/api/me") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[0]["X-RateLimit-Limit"] == "3"
    assert responses[0]["X-RateLimit-Remaining"] == "2"
    assert responses[0]["X-RateLimit-Reset"] == "1800000060"
    assert responses[3]["X-RateLimit-Remaining"] == "0"
    assert_error(responses[3], 429, "rate_limit_exceeded")


def test_unknown_path_is_404_in_the_envelope(api):
    assert_error(api.get("/api/no/such/thing"), 404, "not_found")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "PROPFIND"])
@pytest.mark.parametrize(
    "path", ["/api", "/api/", "/api/companiez", "/api/contacts/1/nope", "/api/contacts/", "/api/%00"]
)
def test_any_unknown_path_and_method_is_a_json_404_even_without_a_token(method, path):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).generic(method, path)  # as curl sends it: no CSRF token
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["type"] == "error.list"
    assert body["errors"][0]["code"] == "not_found"


def test_unknown_contact_is_404(api):
    assert_error(api.get("/api/contacts/999999"), 404, "not_found")
    assert_error(api.get("/api/contacts/not-an-id"), 404, "not_found")


def test_wrong_method_is_405_in_the_envelope(api):
    assert_error(api.delete("/api/contacts"), 405, "method_not_allowed")


@pytest.mark.parametrize("method", ["PATCH", "PROPFIND", "DELETE"])
@pytest.mark.parametrize("path", ["/api/contacts", "/api/tags", "/api/me", "/api/teams", "/api/messages"])
def test_every_wrong_method_on_a_known_path_is_405_in_the_envelope(api, method, path):
    assert_error(api.generic(method, path), 405, "method_not_allowed")


def test_malformed_json_is_400_not_a_crash(api):
    response = api.generic("POST", "/api/contacts", "{not json", content_type="application/json")
    assert_error(response, 400, "parameter_invalid")


@pytest.mark.parametrize(
    "charset", ["nonsense", "", "utf-7", "utf-16", "UTF-32", "cp037", "bz2_codec", "idna", "raw_unicode_escape", "../x"]
)
def test_a_body_in_any_charset_but_utf_8_is_415_naming_the_content_type(api, charset):
    """An attack: an unknown charset was read as UTF-8, and EBCDIC, UTF-7 ("+ADw-" for "<") or UTF-16 were decoded,
    where JSON between systems is UTF-8."""
    body = '{"name": "Ada"}'.encode("utf-16") if charset == "utf-16" else b'{"name": "Ada"}'
    response = api.generic("POST", "/api/tags", body, content_type=f"application/json; charset={charset}")
    assert_error(response, 415, "unsupported_media_type", "Content-Type")
    assert "UTF-8" in response.json()["errors"][0]["message"]
    assert not Tag.objects.exists()


@pytest.mark.parametrize("charset", ["utf-8", "UTF8", "us-ascii", None])
def test_json_in_utf_8_or_ascii_is_read(api, charset):
    content_type = "application/json" + (f"; charset={charset}" if charset else "")
    response = api.generic("POST", "/api/tags", '{"name": "Café"}'.encode(), content_type=content_type)
    assert response.status_code == 200, response.content
    assert Tag.objects.get().name == "Café"


def test_a_number_of_more_digits_than_python_reads_is_400_without_pythons_advice(api):
    response = api.generic("POST", "/api/tags", '{"name": ' + "9" * 5000 + "}", content_type="application/json")
    assert_error(response, 400, "parameter_invalid", "body")
    assert "a number has more than 4300 digits" in response.json()["errors"][0]["message"]
    assert "sys." not in response.content.decode()


def test_a_body_of_another_media_type_is_415_naming_the_content_type(api):
    response = api.generic("POST", "/api/tags", "<tag/>", content_type="text/xml")
    assert_error(response, 415, "unsupported_media_type", "Content-Type")


def test_non_object_body_is_400(api):
    assert_error(api.post("/api/contacts", [1, 2], format="json"), 400, "parameter_invalid", "body")


def test_unexpected_error_is_500_without_traceback(api, monkeypatch):
    from api.views import admins

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(admins.AdminsView, "get", explode)
    api.raise_request_exception = False
    response = api.get("/api/admins")
    assert_error(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()


def test_intercom_version_header_is_accepted_and_ignored(api):
    assert api.get("/api/me", HTTP_INTERCOM_VERSION="1.4").status_code == 200


def test_a_body_over_the_upload_limit_is_a_413_in_the_envelope(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/api/contacts", {"role": "lead", "name": "x" * 2000}, format="json")
    assert_error(response, 413, "parameter_invalid", "body")
    assert "larger than the API accepts" in response.json()["errors"][0]["message"]
