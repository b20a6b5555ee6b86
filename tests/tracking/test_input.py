"""Every kind of bad input gets a clear 4xx JSON error naming the field, and writes nothing."""

import json
import time
import types

import pytest
from django.test import override_settings

from contacts.models import Contact
from tests.tracking.conftest import ORIGIN, Widget
from tracking.models import Event, PageView

pytestmark = pytest.mark.django_db


def _error(response, status):
    assert response.status_code == status, response.content
    return response.json()["error"]


def _nothing_written():
    assert not Contact.objects.exists()
    assert not PageView.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"page": "https://shop.example/"}, "page"),
        ({"page": {"url": 42}}, "page.url"),
        ({"page": {"url": "https://shop.example/", "title": ["x"]}}, "page.title"),
        ({"page": {"url": "https://shop.example/"}, "consent": "yes"}, "consent"),
        ({"page": {"url": "https://shop.example/"}, "anonymous_id": 12}, "anonymous_id"),
        ({"page": {"url": "https://shop.example/"}, "anonymous_id": "not-a-uuid"}, "anonymous_id"),
        ({"page": {"url": "https://shop.example/"}, "user": "ada"}, "user"),
        ({"page": {"url": "https://shop.example/"}, "user": {"email": "not an email"}}, "user.email"),
        ({"page": {"url": "https://shop.example/"}, "user": {"name": "x" * 256}}, "user.name"),
        ({"page": {"url": "https://shop.example/"}, "user": {"user_id": True}}, "user.user_id"),
        ({"page": {"url": "https://shop.example/"}, "user": {"created_at": "yesterday"}}, "user.created_at"),
        ({"page": {"url": "https://shop.example/"}, "user": {"custom_attributes": [1]}}, "user.custom_attributes"),
        (
            {"page": {"url": "https://shop.example/"}, "user": {"custom_attributes": {"a": {"b": 1}}}},
            "user.custom_attributes.a",
        ),
        ({"page": {"url": "https://shop.example/"}, "user": {"is_admin": True}}, "user.is_admin"),
        ({"page": {"url": "https://shop.example/"}, "browser_language": "français!"}, "browser_language"),
        ({"page": {"url": "https://shop.example/"}, "browser_language": "en\n"}, "browser_language"),
        ({"page": {"url": "https://shop.example/"}, "user": {"language_override": "de\n"}}, "user.language_override"),
        ({"page": {"url": "https://shop.example/"}, "user": {"user_id": "u", "user_hash": "ab\n"}}, "user.user_hash"),
        ({"page": {"url": "https://shop.example/"}, "surprise": 1}, "surprise"),
        ({"page": {"url": "https://shop.example/", "title": "a\x00b"}}, "page.title"),
        ({"page": {"url": "https://shop.example/"}, "user": {"name": "\ud800"}}, "user.name"),
    ],
)
def test_wrong_types_and_values_are_refused_naming_the_field(widget, body, field):
    assert _error(widget.post("ping", body), 400)["field"] == field
    _nothing_written()


@pytest.mark.parametrize(
    "url",
    ["not a url", "javascript:alert(1)", "/relative/path", "https://", "ftp://shop.example/", "https://shop.example:99999/",
     "https://shop.example/" + "a" * 2100],
)  # fmt: skip
def test_malformed_urls_are_refused(widget, url):
    error = _error(widget.post("ping", {"page": {"url": url}}), 400)
    assert error["field"] == "page.url"
    _nothing_written()


def test_malformed_referrer_is_refused(widget):
    assert _error(widget.post("ping", {"page": {"url": "https://shop.example/", "referrer": "::"}}), 400)["field"] == (
        "page.referrer"
    )


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"\xff\xfe{not utf8", "invalid_encoding"), (b"{", "invalid_json"), (b"[1, 2]", "invalid"), (b"", "required"),
     (b'{"page": NaN}', "invalid_json")],
)  # fmt: skip
def test_bodies_that_are_not_a_json_object_are_refused(widget, raw, code):
    error = _error(widget.post("ping", raw=raw), 400)
    assert (error["field"], error["code"]) == ("body", code)
    _nothing_written()


@pytest.mark.parametrize(
    "number",
    ["1e400", "-1E+400", "2e308", "0.5e309", "1" + "0" * 309 + ".5", "-" + "9" * 400 + ".0", "1e-400", "-2.5E-999"],
)
def test_a_number_no_float_holds_is_refused_naming_its_field(widget, number):
    raw = '{"page": {"url": "https://shop.example/"}, "user": {"custom_attributes": {"spend": ' + number + "}}}"
    error = _error(widget.post("ping", raw=raw), 400)
    assert error["field"] == "user.custom_attributes.spend"
    _nothing_written()


@pytest.mark.parametrize("number", ["1e-320", "1.5e308", "9" * 308 + ".5", "-0.0e0", "0e-400"])
def test_a_number_a_float_holds_is_accepted(widget, number):
    raw = '{"page": {"url": "https://shop.example/1e5"}, "user": {"custom_attributes": {"spend": ' + number + "}}}"
    assert widget.post("ping", raw=raw).status_code == 200


def test_oversized_body_is_refused_with_413(widget):
    body = {"page": {"url": "https://shop.example/"}, "user": {"custom_attributes": {"blob": "x" * 40_000}}}
    error = _error(widget.post("ping", body), 413)
    assert error["code"] == "payload_too_large"
    _nothing_written()


def test_unsupported_content_type_is_refused(widget):
    response = widget.post("ping", {"page": {"url": "https://shop.example/"}}, content_type="multipart/form-data; b=x")
    assert _error(response, 415)["field"] == "Content-Type"


def test_application_json_is_accepted(widget):
    assert (
        widget.post("ping", {"page": {"url": "https://shop.example/"}}, content_type="application/json").status_code
        == 200
    )


def test_unknown_app_id_is_404(client, website):
    website.app_id = "nosuchid"
    error = _error(Widget(client, website).ping(), 404)
    assert (error["code"], error["field"]) == ("unknown_app_id", "app_id")


def test_get_is_not_allowed(client, website):
    assert client.get(f"/widget-api/{website.app_id}/ping").status_code == 405


@pytest.mark.parametrize("created_at", [4102444800, "2099-01-01T00:00:00Z", 315532800, "1970-01-01T00:00:00Z", 10**20])
def test_future_and_far_past_signup_dates_are_refused(widget, created_at):
    response = widget.ping(user={"user_id": "u-1", "created_at": created_at})
    assert _error(response, 400)["field"] == "user.created_at"
    _nothing_written()


@pytest.mark.parametrize("created_at", [4102444800, 946684800, -5, "2099-01-01T00:00:00Z"])
def test_future_and_far_past_event_dates_are_refused(widget, created_at):
    widget.ping()
    assert _error(widget.event("bought", created_at=created_at), 400)["field"] == "created_at"
    assert not Event.objects.exists()


def test_custom_attribute_errors_from_contact_rules_name_the_attribute(widget):
    from contacts.models import Contact, DataAttribute

    DataAttribute.objects.create(name="seats", data_type=DataAttribute.DataType.INTEGER)
    response = widget.ping(user={"user_id": "u-1", "custom_attributes": {"seats": "many"}})
    # Issue 12: the attribute is named in a warning and left out; the rest of the ping is applied.
    assert response.status_code == 200
    assert [w["field"] for w in response.json()["warnings"]] == ["user.custom_attributes.seats"]
    assert "seats" not in Contact.objects.get().custom_attributes


def test_error_answers_are_json_with_code_field_and_message(widget):
    error = _error(widget.post("ping", {"page": {"url": "nope"}}), 400)
    assert set(error) == {"code", "field", "message"}
    assert error["message"]


# --- CORS -----------------------------------------------------------------------------------------


def test_allowed_origin_gets_the_cors_header(widget):
    response = widget.ping()
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Credentials" not in response


def test_errors_for_allowed_origins_are_readable_by_the_page(widget):
    response = widget.post("ping", {"page": {"url": "nope"}})
    assert response.status_code == 400
    assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_disallowed_origin_is_403_the_page_cannot_read(client, website):
    widget = Widget(client, website, origin="https://evil.example")
    response = widget.ping()
    error = _error(response, 403)
    assert (error["code"], error["field"]) == ("origin_not_allowed", "Origin")
    # No CORS header: the browser hides the answer from the page (its widget still says "not set up": issue 12,
    # widget/js/parley.js); it holds nothing but the refusal.
    assert "Access-Control-Allow-Origin" not in response
    assert set(response.json()) == {"error"}
    assert "Access-Control-Allow-Credentials" not in response
    _nothing_written()


def test_origin_of_another_website_is_refused(client, website):
    from tracking import services

    other = services.website_create(name="Other", allowed_origins=["https://other.example"])
    assert Widget(client, other).ping().status_code == 403


def test_preflight_for_application_json_is_answered_for_allowed_origins(client, website):
    response = client.options(
        f"/widget-api/{website.app_id}/ping",
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "content-type" in response["Access-Control-Allow-Headers"]


def test_preflight_from_a_disallowed_origin_gets_no_cors_headers(client, website):
    response = client.options(
        f"/widget-api/{website.app_id}/ping",
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "Access-Control-Allow-Origin" not in response


def test_origin_change_in_admin_applies_at_once(client, website):
    from tracking import services

    services.website_update(website=website, allowed_origins=["https://new.example"])
    assert Widget(client, website).ping().status_code == 403
    assert Widget(client, website, origin="https://new.example").ping().status_code == 200


def test_requests_without_origin_are_not_browser_pages_and_are_served(client, website):
    assert Widget(client, website, origin=None).ping().status_code == 200


# --- rate limits ----------------------------------------------------------------------------------


@override_settings(PARLEY_WIDGET_RATE_PER_IP=3)
def test_rate_limit_per_ip_answers_429_with_retry_after(client, website, mid_window_clock):
    widgets = [Widget(client, website, ip="198.51.100.7") for _ in range(4)]
    statuses = [w.ping().status_code for w in widgets]
    assert statuses == [200, 200, 200, 429]
    response = widgets[3].ping()
    assert response["Retry-After"] == "31"
    assert response.json()["error"]["code"] == "rate_limited"
    assert Widget(client, website, ip="198.51.100.8").ping().status_code == 200  # other clients are unaffected


@override_settings(PARLEY_WIDGET_RATE_PER_CONTACT=3)
def test_rate_limit_per_contact_answers_429(client, website, mid_window_clock):
    first = Widget(client, website, ip="198.51.100.1")
    first.ping()
    token = first.token
    statuses = []
    for n in range(4):  # one contact spread over many IPs
        widget = Widget(client, website, ip=f"198.51.100.{10 + n}")
        widget.token = token
        statuses.append(widget.event("clicked").status_code)
    assert statuses == [202, 202, 202, 429]


@override_settings(PARLEY_WIDGET_RATE_PER_IP=3)
def test_refused_requests_count_against_the_ip_too(client, website, mid_window_clock):
    widget = Widget(client, website, ip="198.51.100.9")
    statuses = [widget.post("ping", raw="{not json").status_code for _ in range(3)]
    assert statuses == [400, 400, 400]
    assert widget.ping().status_code == 429  # a client sending garbage is limited like any other


def test_rate_limit_keys_never_contain_the_ip(client, website, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rl-test"}}
    from django.core.cache import cache

    Widget(client, website, ip="198.51.100.77").ping()
    keys = list(cache._cache.keys())
    assert keys and not any("198.51.100.77" in key for key in keys)


def test_the_ip_subject_is_the_hmac_of_the_address_under_the_current_secret_key(settings):
    import hashlib
    import hmac

    from common.rate_limit import ip_hash

    settings.SECRET_KEY = "one-key-" * 8
    first = ip_hash("203.0.113.5")
    assert first == hmac.new(settings.SECRET_KEY.encode(), b"203.0.113.5", hashlib.sha256).hexdigest()[:24]
    assert ip_hash("203.0.113.6") != first  # the keyed state, copied, took nothing from the last address
    assert ip_hash("203.0.113.5") == first
    settings.SECRET_KEY = "another-key-" * 8
    assert ip_hash("203.0.113.5") not in (first, ip_hash("203.0.113.6"))


# --- tokens -----------------------------------------------------------------------------------------


def test_ping_keeps_a_fresh_token_and_renews_an_old_one(widget, monkeypatch):
    from tracking import widget_auth

    widget.ping()
    contact_id = widget_auth.widget_token_read(token=widget.token, website_id=widget.website.pk).contact_id

    def token_signed_seconds_ago(seconds):
        with monkeypatch.context() as patched:
            patched.setattr(widget_auth, "time", types.SimpleNamespace(time=lambda: time.time() - seconds))
            return widget_auth.widget_token_sign(
                contact_id=contact_id, website_id=widget.website.pk, tracking_consent=True
            )

    widget.token = recent = token_signed_seconds_ago(600)
    widget.ping("https://shop.example/next")
    assert widget.token == recent  # under an hour old, same contact: sent back as it came
    widget.token = old = token_signed_seconds_ago(widget_auth.WIDGET_TOKEN_RENEW_SECONDS + 5)
    widget.ping("https://shop.example/later")
    renewed = widget_auth.widget_token_read(token=widget.token, website_id=widget.website.pk)
    assert widget.token != old and renewed.contact_id == contact_id
    assert renewed.issued_at >= int(time.time()) - 5


def test_a_token_past_its_week_is_refused_even_once_verified(widget, monkeypatch):
    from django.core import signing

    from tracking import widget_auth

    widget.ping()
    assert widget_auth.widget_token_read(token=widget.token, website_id=widget.website.pk) is not None
    week_later = time.time() + widget_auth.WIDGET_TOKEN_MAX_AGE_SECONDS + 5
    clock = types.SimpleNamespace(time=lambda: week_later)
    monkeypatch.setattr(widget_auth, "time", clock)
    monkeypatch.setattr(signing, "time", clock)
    assert widget_auth.widget_token_read(token=widget.token, website_id=widget.website.pk) is None
    assert _error(widget.event("clicked"), 403)["field"] == "token"


def test_events_without_token_are_refused(widget):
    widget.ping()
    assert _error(widget.post("events", {"name": "x"}), 400)["field"] == "token"
    assert _error(widget.post("events", {"name": "x", "token": "forged"}), 403)["field"] == "token"


def test_shutdown_is_idempotent_and_accepts_no_token(widget):
    assert widget.post("shutdown", {}).status_code == 200
    assert widget.post("shutdown", {"token": "garbage"}).status_code == 200
    assert _error(widget.post("shutdown", {"token": 5}), 400)["field"] == "token"


def test_json_body_keys_are_exact(widget):
    response = widget.post("ping", raw=json.dumps({"page": {"url": "https://shop.example/", "extra": 1}}))
    assert _error(response, 400)["field"] == "page.extra"


def test_parallel_requests_on_the_embedded_file_cache_never_pass_the_limit(settings, tmp_path, mid_window_clock):
    """The file cache's add and incr read then write; without the lock 32 parallel requests let several
    times the limit through (outside review, finding 6). Redis counts in one Lua script instead."""
    import threading

    from django.core.cache import caches

    from common.rate_limit import Limit
    from widget.http import WidgetHttpError, rate_limit

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    }
    assert caches["default"].__class__.__name__ == "FileBasedCache"
    limit, requests = 5, 32
    start = threading.Barrier(requests)
    passed, refused = [], []

    def one_request():
        start.wait()
        try:
            rate_limit([Limit("ip", "parallel", limit)])
        except WidgetHttpError:
            refused.append(1)
        else:
            passed.append(1)
        finally:
            caches["default"].close()

    threads = [threading.Thread(target=one_request) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(passed), len(refused)) == (limit, requests - limit)


def test_a_token_this_server_signed_is_read_back_without_checking_its_signature_again(monkeypatch):
    """A sign-in's answer reads its own new token (the conversations it may see), and the browser's next page view
    sends it back: the signature this process just made is not checked again; any other token still is."""
    from tracking import widget_auth

    token = widget_auth.widget_token_sign(contact_id=5, website_id=7, verified=True)
    checked = []
    verify = widget_auth._verify
    monkeypatch.setattr(widget_auth, "_verify", lambda t: checked.append(t) or verify(t))
    identity = widget_auth.widget_token_read(token=token, website_id=7)
    assert (identity.contact_id, identity.website_id, identity.verified, identity.tracking_consent) == (
        5,
        7,
        True,
        False,
    )
    assert identity.issued_at > time.time() - 60 and checked == []
    assert widget_auth.widget_token_read(token=token, website_id=8) is None  # another website's reading
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert widget_auth.widget_token_read(token=forged, website_id=7) is None and checked == [forged]


def test_tokens_are_signed_with_the_current_secret_key_and_read_with_its_fallbacks():
    from django.core import signing

    from tracking import widget_auth

    old_key, new_key = "k" * 40 + "old-secret-key", "k" * 40 + "new-secret-key"
    with override_settings(SECRET_KEY=old_key):
        old_token = widget_auth.widget_token_sign(contact_id=5, website_id=7)
    widget_auth._verified.clear()  # every reading below checks the signature
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[old_key]):
        new_token = widget_auth.widget_token_sign(contact_id=6, website_id=7)
        widget_auth._verified.clear()
        assert widget_auth.widget_token_read(token=old_token, website_id=7).contact_id == 5  # rotated out, still read
        assert widget_auth.widget_token_read(token=new_token, website_id=7).contact_id == 6
    assert signing.loads(new_token, key=new_key, salt=widget_auth.WIDGET_TOKEN_SALT)["c"] == 6
    with pytest.raises(signing.BadSignature):
        signing.loads(new_token, key=old_key, salt=widget_auth.WIDGET_TOKEN_SALT)
    widget_auth._verified.clear()
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[]):
        assert widget_auth.widget_token_read(token=old_token, website_id=7) is None  # the old key retired


@pytest.mark.parametrize(("consent", "verified"), [(False, False), (True, False), (False, True), (True, True)])
def test_a_widget_token_is_what_djangos_signing_dumps_makes_of_its_payload(monkeypatch, consent, verified):
    """The token is signed without Django's signer classes (for speed), so it must stay their format exactly:
    the same string signing.dumps makes at the same moment, which signing.loads reads back."""
    from django.core import signing

    from tracking import widget_auth

    monkeypatch.setattr(time, "time", lambda: 1_796_300_000.1239)
    token = widget_auth.widget_token_sign(
        contact_id=2_147_483_648, website_id=7, tracking_consent=consent, verified=verified
    )
    payload = {"c": 2_147_483_648, "w": 7, "m": 1_796_300_000_123, **({"x": 1} if consent else {})}
    payload.update({"v": 1} if verified else {})
    assert token == signing.dumps(payload, salt=widget_auth.WIDGET_TOKEN_SALT, compress=False)
    assert signing.loads(token, salt=widget_auth.WIDGET_TOKEN_SALT) == payload
    with override_settings(SECRET_KEY="k" * 50 + "another"), pytest.raises(signing.BadSignature):
        signing.loads(token, salt=widget_auth.WIDGET_TOKEN_SALT)


def test_a_widget_token_of_any_payload_or_key_type_is_what_djangos_signing_dumps_makes(monkeypatch):
    """Parley's callers sign primary keys, but a token is never unreadable whatever it is given: a payload of other
    types is signed by Django itself, and a bytes SECRET_KEY derives the same key as Django's (an attacker review)."""
    from django.core import signing

    from tracking import widget_auth

    monkeypatch.setattr(time, "time", lambda: 1_796_300_000.5)
    token = widget_auth.widget_token_sign(contact_id="5", website_id=7)
    assert signing.loads(token, salt=widget_auth.WIDGET_TOKEN_SALT)["c"] == "5"
    with override_settings(SECRET_KEY=b"k" * 50 + b"bytes"):
        token = widget_auth.widget_token_sign(contact_id=5, website_id=7)
        payload = {"c": 5, "w": 7, "m": 1_796_300_000_500}
        assert token == signing.dumps(payload, salt=widget_auth.WIDGET_TOKEN_SALT, compress=False)
