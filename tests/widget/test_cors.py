"""CORS of the widget endpoints: an allowed origin reads every answer, errors included (the messenger shows them and
backs off on a 429); a refused origin reads none (no Access-Control-Allow-Origin: the browser hides the answer),
whatever the endpoint, the method, the status or a preflight. The messenger tells "not set up" from "offline" by
itself (widget/js/parley.js; tests/e2e/test_messenger_journey.py)."""

import json

import pytest
from django.db import OperationalError

from tests.tracking.conftest import Widget
from tests.tracking.factories import ORIGIN

pytestmark = pytest.mark.django_db

ACAO = "Access-Control-Allow-Origin"
EVIL = "https://evil.example"
# Every widget endpoint, as the messenger calls it (the origin is checked before anything else is read).
ENDPOINTS = [
    ("POST", "ping"), ("POST", "update"), ("POST", "events"), ("POST", "shutdown"), ("GET", "conversations"),
    ("POST", "conversations"), ("GET", "conversations/c1"), ("POST", "conversations/c1/reply"),
    ("POST", "conversations/c1/read"), ("POST", "conversations/c1/rating"), ("GET", "poll"), ("GET", "availability"),
    ("GET", "messages"), ("POST", "messages/d1/seen"), ("POST", "messages/d1/reply"), ("GET", "attachments/limits"),
    ("GET", "attachments/a1"),
]  # fmt: skip


def _call(client, website, method, path, *, origin, body=None, **headers):
    url = f"/widget-api/{website.app_id}/{path}"
    data = json.dumps(body if body is not None else {"token": "x"}) if method == "POST" else ""
    return client.generic(method, url, data, content_type="text/plain", HTTP_ORIGIN=origin, **headers)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_refused_origin_reads_no_answer_of_any_endpoint(client, website, method, path):
    response = _call(client, website, method, path, origin=EVIL)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"  # for a non-browser client, still said
    assert ACAO not in response
    assert "origin" in response["Vary"].lower()  # a cache never serves one origin's answer to another


@pytest.mark.parametrize(
    "origin",
    ["null", "https://shop.example.evil.example", "https://evil.example/<script>", "http://shop.example",
     "https://shop.example:8443", "https://shop.example\x00", "https://\u0663.example", "https://" + "a" * 5000],
)  # fmt: skip
def test_hostile_origins_are_refused_without_cors_headers(client, website, origin):
    response = _call(client, website, "POST", "ping", origin=origin, body={"page": {"url": "https://x.example/"}})
    assert response.status_code == 403
    assert response.json()["error"]["field"] == "Origin"
    assert ACAO not in response


def test_an_unknown_app_id_is_a_404_no_page_reads(client, website):
    response = client.post("/widget-api/nope/ping", "{}", content_type="text/plain", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 404
    assert ACAO not in response


def test_an_allowed_origin_reads_every_error(client, website, settings, monkeypatch, mid_window_clock):
    widget = Widget(client, website)
    assert widget.ping().status_code == 200

    def answered(response, status):
        assert response.status_code == status, response.content
        assert response[ACAO] == ORIGIN
        assert "Access-Control-Allow-Credentials" not in response
        return response.json()["error"]

    assert answered(widget.post("ping", {"page": {"url": "nope"}}), 400)["field"] == "page.url"
    assert answered(widget.post("ping", raw="[" * 100), 400)
    assert answered(_call(client, website, "GET", "poll?token=forged", origin=ORIGIN), 403)["code"] == "invalid_token"
    missing = _call(client, website, "GET", f"conversations/nope?token={widget.token}", origin=ORIGIN)
    assert answered(missing, 404)
    assert answered(_call(client, website, "DELETE", "ping", origin=ORIGIN), 405)
    assert answered(widget.post("ping", {"page": {"url": "https://shop.example/"}}, content_type="image/png"), 415)
    assert answered(widget.post("ping", raw="x" * (settings.PARLEY_WIDGET_MAX_BODY_BYTES + 1)), 413)

    settings.PARLEY_WIDGET_RATE_PER_IP = 1
    over = widget.ping()
    assert answered(over, 429)["code"] == "rate_limited"
    assert "Retry-After" in over["Access-Control-Expose-Headers"]  # the messenger may read when to come back
    assert int(over["Retry-After"]) > 0

    settings.PARLEY_WIDGET_RATE_PER_IP = 1000
    monkeypatch.setattr("widget.tracking_views.tracking_services.widget_ping", _database_down)
    assert answered(widget.ping(), 503)["code"] == "service_unavailable"


def _database_down(*args, **kwargs):
    raise OperationalError("the database is down")


def test_an_outage_before_the_website_is_read_is_readable_by_every_page(client, website, monkeypatch):
    """Its origins cannot be checked then: the 503 had no CORS header, the browser hid it as a refused origin's, and
    the messenger told the visitor the chat "isn't set up". It says only that Parley is down, to any page."""
    monkeypatch.setattr("widget.http.website_for_app_id", _database_down)
    for origin in (ORIGIN, EVIL):
        response = _call(client, website, "POST", "ping", origin=origin, body={"page": {"url": ORIGIN + "/"}})
        assert response.status_code == 503
        assert response[ACAO] == "*"
        assert "Access-Control-Allow-Credentials" not in response
        assert response.json()["error"]["code"] == "service_unavailable"
        assert "Retry-After" in response["Access-Control-Expose-Headers"]


def test_a_preflight_is_answered_for_an_allowed_origin_only(client, website):
    def preflight(origin, app_id=website.app_id):
        return client.options(
            f"/widget-api/{app_id}/ping", HTTP_ORIGIN=origin,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST", HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
        )  # fmt: skip

    allowed = preflight(ORIGIN)
    assert allowed.status_code == 200 and allowed[ACAO] == ORIGIN
    assert "POST" in allowed["Access-Control-Allow-Methods"]
    for refused in (preflight(EVIL), preflight("null"), preflight(ORIGIN, app_id="nope")):
        assert ACAO not in refused
        assert "Access-Control-Allow-Methods" not in refused


# --- the endpoints set their own CORS headers, as django-cors-headers would --------------------------------------

CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Allow-Methods",
                "Access-Control-Allow-Headers", "Access-Control-Max-Age", "Vary")  # fmt: skip


def _cors_of(response):
    return {name: response.get(name) for name in CORS_HEADERS}


def _request(client, website, method, path, origin):
    """As _call, with no Origin header at all for None (a server's request)."""
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    data = json.dumps({"token": "x"}) if method == "POST" else ""
    return client.generic(method, f"/widget-api/{website.app_id}/{path}", data, content_type="text/plain", **headers)


@pytest.mark.parametrize(("method", "path"), [*ENDPOINTS, ("DELETE", "ping"), ("PUT", "conversations")])
@pytest.mark.parametrize("origin", [ORIGIN, EVIL, None])
def test_every_answer_carries_the_cors_headers_django_cors_headers_gives_it(client, website, settings, method, path,
                                                                           origin):  # fmt: skip
    """config.middleware.CorsMiddleware leaves a widget endpoint's answer to the endpoint once it knows the website
    (widget.http.cors_headers_set): the headers are those corsheaders' own middleware sets, on errors too."""
    ours = _request(client, website, method, path, origin)
    settings.MIDDLEWARE = [
        "corsheaders.middleware.CorsMiddleware" if name == "config.middleware.CorsMiddleware" else name
        for name in settings.MIDDLEWARE
    ]
    theirs = _request(client, website, method, path, origin)
    assert ours.status_code == theirs.status_code
    assert _cors_of(ours) == _cors_of(theirs)


def test_a_ping_answer_takes_the_short_way_with_the_website_it_knows(client, website):
    response = _call(client, website, "POST", "ping", origin=ORIGIN, body={"page": {"url": f"{ORIGIN}/"}})
    assert response.status_code == 200
    assert response.parley_cors_headers_set  # corsheaders' middleware did not look the website up again
    assert response[ACAO] == ORIGIN and response["Vary"] == "origin"


def test_a_preflight_and_a_429_before_the_website_is_known_keep_django_cors_headers_way(
    client, website, settings, mid_window_clock
):
    preflight = client.options(
        f"/widget-api/{website.app_id}/ping", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert preflight.status_code == 200 and preflight[ACAO] == ORIGIN
    assert "POST" in preflight["Access-Control-Allow-Methods"]

    settings.PARLEY_WIDGET_RATE_PER_IP = 1
    for _ in range(2):
        limited = _call(client, website, "GET", "availability", origin=ORIGIN)
    assert limited.status_code == 429  # counted before the website is looked up: corsheaders' signal allows it
    assert limited[ACAO] == ORIGIN and limited["Access-Control-Expose-Headers"] == "Retry-After"


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p in ENDPOINTS if m == "GET" and p != "attachments/limits"])
def test_no_get_answer_is_kept_in_a_browsers_cache(client, website, method, path):
    """They are a contact's (read with the token in the query), or an error about one: never stored on disk."""
    response = _call(client, website, method, path, origin=ORIGIN)
    assert response["Cache-Control"] == "no-store", response.status_code
    limits = _call(client, website, "GET", "attachments/limits", origin=ORIGIN)
    assert "public" in limits["Cache-Control"]  # the website's own limits, the same for everyone: cached
