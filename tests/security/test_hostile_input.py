"""Bad input found by the outside test (issue 13, finding 9): each answers 4xx JSON naming the field."""

import json

import pytest

from contacts.models import Contact
from tests.contacts.factories import ContactFactory
from tests.security.conftest import assert_json_error
from tests.tracking.conftest import CHROME_MAC
from tracking.widget_auth import widget_token_sign

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"


def _widget_post(client, path, raw):
    # A browser's user agent: without one a ping is a bot's, answered without a contact or warnings.
    return client.generic(
        "POST", path, raw, content_type="text/plain;charset=UTF-8", HTTP_ORIGIN=ORIGIN, HTTP_USER_AGENT=CHROME_MAC
    )


@pytest.fixture
def token(website):
    return widget_token_sign(contact_id=ContactFactory().pk, website_id=website.pk)


# --- widget endpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["ping", "update", "events", "shutdown", "conversations", "poll"])
def test_nul_in_the_app_id_is_an_unknown_app_id(client, endpoint):
    response = _widget_post(client, f"/widget-api/ab%00cd/{endpoint}", "{}")
    assert_json_error(response, status=404, field="app_id")


def test_nul_in_the_app_id_with_an_origin_does_not_reach_the_database(client):
    response = client.options("/widget-api/%00/ping", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert response.status_code < 500


def test_lone_surrogate_in_a_chat_body_is_refused_naming_the_field(client, website, token):
    raw = '{"token": "TOKEN", "body": "hi \\ud800 there"}'.replace("TOKEN", token)
    response = _widget_post(client, f"/widget-api/{website.app_id}/conversations", raw)
    assert_json_error(response, status=400, field="body")


def test_lone_surrogate_in_a_reply_is_refused(client, website, token):
    started = _widget_post(
        client, f"/widget-api/{website.app_id}/conversations", json.dumps({"token": token, "body": "Hello"})
    )
    public_id = started.json()["conversation"]["id"]
    raw = '{"token": "TOKEN", "body": "\\udfff"}'.replace("TOKEN", token)
    response = _widget_post(client, f"/widget-api/{website.app_id}/conversations/{public_id}/reply", raw)
    assert_json_error(response, status=400, field="body")


def test_surrogate_in_a_custom_attribute_name_is_refused(client, website):
    raw = '{"page": {"url": "https://shop.example/"}, "user": {"email": "a@b.example", "custom_attributes": {"\\ud800": 1}}}'
    response = _widget_post(client, f"/widget-api/{website.app_id}/ping", raw)
    assert_json_error(response, status=400, field="user.custom_attributes")


@pytest.mark.parametrize(
    ("method", "action"), [("get", ""), ("post", "/reply"), ("post", "/read"), ("post", "/rating")]
)
def test_nul_in_a_conversation_id_is_not_found(client, website, token, method, action):
    path = f"/widget-api/{website.app_id}/conversations/ab%00cd{action}"
    if method == "get":
        response = client.get(path, {"token": token}, HTTP_ORIGIN=ORIGIN)
    else:
        response = _widget_post(
            client, path, json.dumps({"token": token, "body": "Hi", "request_id": "1", "rating": 4})
        )
    assert_json_error(response, status=404)


@pytest.mark.parametrize("since", ["2024-01-01T00:00:00+99:00", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00\x00"])
def test_poll_cursor_out_of_range_is_refused(client, website, token, since):
    response = client.get(f"/widget-api/{website.app_id}/poll", {"token": token, "since": since}, HTTP_ORIGIN=ORIGIN)
    assert_json_error(response, status=400, field="since")


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_non_finite_number_in_event_metadata_is_refused(client, website, token, number):
    raw = '{"token": "TOKEN", "name": "paid", "metadata": {"amount": NUMBER}}'.replace("TOKEN", token).replace(
        "NUMBER", number
    )
    response = _widget_post(client, f"/widget-api/{website.app_id}/events", raw)
    field = "metadata.amount" if number.endswith("400") else "body"  # NaN/Infinity are not JSON at all
    assert_json_error(response, status=400, field=field)


def test_non_finite_number_in_custom_attributes_is_refused(client, website):
    raw = '{"page": {"url": "https://shop.example/"}, "user": {"email": "a@b.example", "custom_attributes": {"ltv": 1e400}}}'
    response = _widget_post(client, f"/widget-api/{website.app_id}/ping", raw)
    assert_json_error(response, status=400, field="user.custom_attributes.ltv")
    assert not Contact.objects.filter(email="a@b.example").exists()


def test_unicode_digits_in_content_length_are_refused(client, website):
    response = client.generic(
        "POST", f"/widget-api/{website.app_id}/ping", "{}", content_type="text/plain", CONTENT_LENGTH="²"
    )
    assert response.status_code < 500


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/widget-api/{app}/nope"),
        ("post", "/widget-api/{app}/conversations/a/b/c"),
        ("get", "/widget-api/"),
        ("get", "/widget-api/unknownapp/ping/"),
    ],
)
def test_unknown_widget_paths_answer_json_404(client, website, method, path):
    response = getattr(client, method)(path.format(app=website.app_id))
    assert_json_error(response, status=404)


@pytest.mark.parametrize("endpoint", ["ping", "update", "events", "shutdown"])
def test_wrong_method_on_a_tracking_endpoint_answers_json_405(client, website, endpoint):
    response = client.get(f"/widget-api/{website.app_id}/{endpoint}", HTTP_ORIGIN=ORIGIN)
    assert_json_error(response, status=405)


def test_wrong_method_on_a_chat_endpoint_answers_json_405(client, website):
    response = client.delete(f"/widget-api/{website.app_id}/poll", HTTP_ORIGIN=ORIGIN)
    assert_json_error(response, status=405)


# --- email endpoints ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/e/c/forged", 404),
        ("get", "/e/c/%00", 404),
        ("get", "/e/u/forged", 404),
        ("post", "/e/u/forged", 404),
        ("post", "/e/o/forged.gif", 405),
        ("delete", "/e/c/forged", 405),
        ("get", "/email/inbound", 405),
        ("get", "/e/nothing", 404),
    ],
)
def test_email_endpoint_refusals_answer_json(client, method, path, status):
    assert_json_error(getattr(client, method)(path), status=status)


def test_open_pixel_answers_the_image_even_for_a_forged_token(client):
    response = client.get("/e/o/%00%F0.gif")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"


@pytest.mark.parametrize("charset", ["x-unknown", "bogus\x00", "utf-8\x00"])
def test_inbound_email_in_an_unknown_charset_is_not_a_server_error(client, charset):
    from django.core import mail

    from conversations import services
    from tests.conversations.factories import TeammateFactory

    user = ContactFactory(role=Contact.Role.USER, email="ada@example.com", external_id="ada")
    message = services.message_send(
        sender=TeammateFactory(), channel="email", subject="News", body="Hi", contact_ids=[user.pk]
    )
    services.message_deliver_batch(message_id=message.pk, batch_size=10)
    raw = (
        f"From: ada@example.com\r\nTo: {mail.outbox[-1].reply_to[0]}\r\nSubject: Re\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: text/plain; charset="{charset}"\r\n\r\nThanks\r\n'
    ).encode()
    response = client.generic("POST", "/email/inbound", raw, content_type="message/rfc822")
    # Refused naming the body today; decoding with replacement (issue 13, finding 14) would accept it.
    assert response.status_code in (201, 400), response.content[:300]
    assert response["Content-Type"].startswith("application/json")


# --- REST API -----------------------------------------------------------------------------------

WEIRD_IDS = ["²", "٣", "1²", "%00", "99999999999999999999999999999999", "-1", "1.5", "%F0%9F%98%80"]


@pytest.mark.parametrize("weird", WEIRD_IDS)
@pytest.mark.parametrize(
    "path",
    [
        "/api/contacts/{}",
        "/api/contacts/{}/tags",
        "/api/contacts/{}/notes",
        "/api/notes/{}",
        "/api/tags/{}",
        "/api/admins/{}",
        "/api/conversations/{}",
        "/api/conversations/{}/parts",
        "/api/contacts/find_by_external_id/{}",
    ],
)
def test_odd_ids_in_api_paths_are_not_found(api, path, weird):
    response = api.get(path.format(weird))
    assert response.status_code in (404, 405), response.content[:300]
    assert response.json()["type"] == "error.list"


@pytest.mark.parametrize("weird", ["²", "٣", 10**30, 2**63, -(2**63) - 1, "\x00", 1.5, True, [], {}])
def test_odd_ids_in_api_bodies_are_refused_naming_the_field(api, weird):
    contact = ContactFactory(role=Contact.Role.USER, external_id="u-1", email="u1@example.com")
    response = api.post("/api/contacts/merge", {"from": weird, "into": str(contact.pk)}, format="json")
    assert_json_error(response, field="from")
    response = api.post(f"/api/contacts/{contact.pk}/tags", {"id": weird}, format="json")
    assert_json_error(response, field="id")
    response = api.post("/api/conversations", {"from": {"type": "user", "id": weird}, "body": "Hi"}, format="json")
    assert_json_error(response)


@pytest.mark.parametrize("raw", ['{"per_page": 1e400}', '{"per_page": "²"}', '{"per_page": 10000000000000000000000}'])
def test_huge_or_odd_page_sizes_in_search_are_refused(api, raw):
    body = '{"query": {"field": "name", "operator": "=", "value": "x"}, "pagination": PAGINATION}'.replace(
        "PAGINATION", raw
    )
    response = api.generic("POST", "/api/contacts/search", body, content_type="application/json")
    assert_json_error(response, status=400, field="pagination.per_page")


@pytest.mark.parametrize("value", ["²", "1e400", "10000000000000000000000"])
def test_huge_or_odd_page_sizes_in_lists_are_refused(api, value):
    assert_json_error(api.get("/api/contacts", {"per_page": value}), status=400, field="per_page")
    assert_json_error(api.get("/api/conversations", {"per_page": value}), status=400, field="per_page")


def test_odd_notes_page_is_refused(api):
    contact = ContactFactory(role=Contact.Role.USER, external_id="u-2")
    for page in ("²", "٣٣", "99999999999999999999"):
        response = api.get(f"/api/contacts/{contact.pk}/notes", {"page": page})
        assert response.status_code in (200, 400), response.content[:300]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"field": "name\x00", "operator": "=", "value": "x"}, "query.field"),
        ({"field": "name", "operator": "=", "value": "x\x00"}, "query.value"),
        ({"field": "external_id", "operator": "~", "value": "\x00"}, "query.value"),
        ({"field": "role", "operator": "=", "value": "\x00"}, "query.value"),
        ({"field": "\x00", "operator": "=", "value": 1}, "query.field"),
        ({"field": "id", "operator": "=", "value": "²"}, "id"),
        ({"field": "id", "operator": "=", "value": 10**30}, "id"),
        ({"field": "owner_id", "operator": ">", "value": -(10**30)}, "owner_id"),
        ({"field": "tag_id", "operator": "=", "value": 10**30}, "tag_id"),
        ({"field": "created_at", "operator": ">", "value": 10**30}, "created_at"),
        ({"field": "created_at", "operator": ">", "value": "²"}, "created_at"),
    ],
)
def test_hostile_search_values_and_field_names_are_refused(api, query, field):
    response = api.post("/api/contacts/search", {"query": query}, format="json")
    assert_json_error(response, status=400, field=field)
    response = api.post("/api/conversations/search", {"query": query}, format="json")
    assert 400 <= response.status_code < 500, response.content[:300]


def test_lone_surrogate_anywhere_in_an_api_body_is_refused(api):
    body = '{"role": "user", "external_id": "x", "name": "\\ud83d"}'
    response = api.generic("POST", "/api/contacts", body, content_type="application/json")
    assert_json_error(response, status=400, field="name")
    body = '{"query": {"field": "custom_attributes.\\udc00", "operator": "=", "value": 1}}'
    response = api.generic("POST", "/api/contacts/search", body, content_type="application/json")
    assert_json_error(response, status=400, field="query.field")


@pytest.mark.parametrize("role", ["\x00", "us\x00er", "²", 1e300])
def test_enum_fields_with_hostile_values_are_refused(api, role):
    response = api.post("/api/contacts", {"role": role, "email": "e@example.com"}, format="json")
    assert_json_error(response, status=400, field="role")


@pytest.mark.parametrize("external_id", ["a%00b", "%00", "%ED%A0%80"])
def test_find_by_external_id_with_nul_or_surrogate_is_not_found(api, external_id):
    response = api.get(f"/api/contacts/find_by_external_id/{external_id}")
    assert_json_error(response, status=404)


@pytest.mark.parametrize("params", [{"user_id": "\x00"}, {"email": "a\x00@b"}, {"intercom_user_id": "²"}])
def test_event_list_lookups_with_hostile_values_are_not_found(api, params):
    response = api.get("/api/events", {"type": "user", **params})
    assert_json_error(response, status=404)


def test_event_summary_count_beyond_an_integer_column_is_refused(api):
    ContactFactory(role=Contact.Role.USER, external_id="u-3")
    body = {
        "user_id": "u-3",
        "event_summaries": {"event_name": "x", "count": 10**12, "first": 1700000000, "last": 1700000001},
    }
    response = api.post("/api/events/summaries", body, format="json")
    assert_json_error(response, status=400, field="event_summaries.count")


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/api/nope"), ("post", "/api/contacts/1/nope/more"), ("get", "/api/")]
)
def test_unknown_api_paths_answer_the_error_envelope(api, client, method, path):
    for caller in (api, client):
        assert_json_error(getattr(caller, method)(path), status=404)


@pytest.mark.parametrize(("method", "path"), [("delete", "/api/contacts"), ("patch", "/api/tags"), ("put", "/api/me")])
def test_wrong_methods_on_api_paths_answer_the_error_envelope(api, method, path):
    body = assert_json_error(getattr(api, method)(path), status=405)
    assert body["errors"][0]["code"] == "method_not_allowed"


# --- admin --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/admin/conversations/conversation/?q=²",
        "/admin/conversations/conversation/?q=99999999999999999999999",
        "/admin/conversations/conversation/?team=²",
        "/admin/conversations/conversation/²/change/",
        "/admin/conversations/conversation/99999999999999999999999/change/",
        "/admin/conversations/conversation/99999999999999999999999/poll/",
        "/admin/contacts/contact/?tag=²",
        "/admin/contacts/contact/?seen_days=²",
        "/admin/contacts/contact/?seen_days=٣",
        "/admin/contacts/contact/?q=%00",
        "/admin/contacts/contact/²/change/",
        "/admin/contacts/tag/²/change/",
        "/admin/tracking/website/²/change/",
    ],
)
def test_admin_urls_with_odd_numbers_do_not_crash(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code < 500


def test_admin_custom_attribute_filter_with_non_finite_numbers(admin_client):
    from contacts.services import data_attribute_create

    data_attribute_create(name="ltv", data_type="float", model="contact", label="LTV", description="")
    data_attribute_create(name="seats", data_type="integer", model="contact", label="Seats", description="")
    for url in (
        "/admin/contacts/contact/?ca__ltv=1e400",
        "/admin/contacts/contact/?ca__ltv=nan",
        "/admin/contacts/contact/?ca__seats=²",
        "/admin/contacts/contact/?ca__seats=99999999999999999999999",
    ):
        assert admin_client.get(url).status_code < 500, url


ADMIN_ODD_QUERIES = [
    "q=²",
    "q=٣",
    "q=%00",
    "q=a%00b",
    "q=99999999999999999999999",
    "q=-1",
    "o=²",
    "p=²",
    "p=99999999999999999999999",
]


def _admin_models():
    from django.contrib import admin

    return sorted(f"{model._meta.app_label}/{model._meta.model_name}" for model in admin.site._registry)


@pytest.mark.parametrize("model", _admin_models())
def test_every_admin_changelist_and_change_url_survives_odd_numbers_and_nul(admin_client, model):
    for query in ADMIN_ODD_QUERIES:
        response = admin_client.get(f"/admin/{model}/?{query}")
        assert response.status_code < 500, (model, query)
    for object_id in ("²", "٣", "%00", "99999999999999999999999", "-1"):
        for view in ("change", "delete", "history"):
            response = admin_client.get(f"/admin/{model}/{object_id}/{view}/")
            assert response.status_code < 500, (model, object_id, view)


@pytest.mark.parametrize("number", [10**30, 2**63, -(2**63) - 1, "²"])
def test_numbers_beyond_bigint_in_api_bodies_are_refused_or_not_found(api, number):
    from contacts.services import data_attribute_create

    data_attribute_create(name="seats", data_type="integer", model="contact", label="Seats", description="")
    contact = ContactFactory(role=Contact.Role.USER, external_id="u-9", email="u9@example.com")
    answers = [
        api.post("/api/contacts", {"role": "user", "email": "n@example.com", "owner_id": number}, format="json"),
        api.put(f"/api/contacts/{contact.pk}", {"signed_up_at": number}, format="json"),
        api.put(f"/api/contacts/{contact.pk}", {"custom_attributes": {"seats": number}}, format="json"),
        api.post(f"/api/contacts/{contact.pk}/notes", {"body": "x", "admin_id": number}, format="json"),
        api.put(f"/api/data_attributes/{number}", {"label": "x"}, format="json"),
        api.post("/api/events", {"event_name": "x", "user_id": "u-9", "created_at": number}, format="json"),
        api.post("/api/events", {"event_name": "x", "id": number}, format="json"),
        api.get("/api/events", {"type": "user", "intercom_user_id": number, "per_page": number}),
        api.post(
            "/api/contacts/search",
            {"query": {"field": "custom_attributes.seats", "operator": ">", "value": number}},
            format="json",
        ),
    ]
    for response in answers:
        if response.status_code >= 400:
            assert_json_error(response)
        else:  # stored as given in a JSON column (a custom attribute), or matched nothing
            assert response.status_code in (200, 202), response.content[:300]


def _explode(*args, **kwargs):
    raise RuntimeError("a bug, not bad input")


@pytest.mark.parametrize(
    ("target", "method", "path"),
    [
        ("tracking.services.widget_ping", "post", "/widget-api/{app}/ping"),
        ("conversations.selectors.contact_poll", "get", "/widget-api/{app}/poll?token={token}"),
        ("conversations.email_links.tracking_token_read", "get", "/e/c/anything"),
        ("conversations.services.email_reply_receive", "post", "/email/inbound"),
    ],
)
def test_an_unexpected_error_on_a_public_endpoint_is_a_json_500(
    client, website, token, monkeypatch, target, method, path
):
    monkeypatch.setattr(target, _explode)
    client.raise_request_exception = False
    url = path.format(app=website.app_id, token=token)
    if method == "post":
        response = client.post(
            url, '{"page": {"url": "https://shop.example/"}}', content_type="text/plain", HTTP_ORIGIN=ORIGIN
        )
    else:
        response = client.get(url, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert b"a bug" not in response.content


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12), (" 12 ", 12), (12, 12), ("²", None), ("٣", None), ("1²", None), ("", None), ("-3", None),
     (True, None), (12.0, None), (2**63 - 1, 2**63 - 1), (2**63, None), (str(2**63), None), ("9" * 400, None)],
)  # fmt: skip
def test_one_integer_check_for_ids_everywhere(value, expected):
    from common.parsing import int_or_none

    assert int_or_none(value) == expected


# --- moments and numbers beyond their range (outside review, findings 1 and 4) ------------------

# Valid ISO 8601 whose UTC lies outside years 1-9999: converting them raised OverflowError. And moments in years 1-9999
# in UTC but not in every time zone: a record holding one could not be shown to a teammate in Berlin or New York.
OVERFLOWING_MOMENTS = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T12:00:00Z",
                       "0001-01-01T12:00:00Z"]  # fmt: skip


@pytest.mark.parametrize("moment", OVERFLOWING_MOMENTS)
def test_a_signup_time_some_time_zone_cannot_show_is_refused_naming_the_field(client, website, moment):
    body = {"page": {"url": "https://shop.example/"}, "user": {"created_at": moment}}
    response = _widget_post(client, f"/widget-api/{website.app_id}/ping", json.dumps(body))
    assert_json_error(response, status=400, field="user.created_at")


@pytest.mark.parametrize("moment", OVERFLOWING_MOMENTS)
def test_an_event_time_some_time_zone_cannot_show_is_refused_naming_the_field(client, website, token, moment):
    body = {"token": token, "name": "paid", "created_at": moment}
    response = _widget_post(client, f"/widget-api/{website.app_id}/events", json.dumps(body))
    assert_json_error(response, status=400, field="created_at")


@pytest.mark.parametrize("moment", OVERFLOWING_MOMENTS)
def test_a_poll_cursor_some_time_zone_cannot_show_is_refused(client, website, token, moment):
    response = client.get(f"/widget-api/{website.app_id}/poll", {"token": token, "since": moment}, HTTP_ORIGIN=ORIGIN)
    assert_json_error(response, status=400, field="since")


@pytest.mark.parametrize("moment", OVERFLOWING_MOMENTS)
def test_a_datetime_attribute_some_time_zone_cannot_show_is_dropped_with_a_warning(client, website, moment):
    from contacts.services import data_attribute_create

    data_attribute_create(name="renews_at", data_type="datetime", model="contact", label="Renews", description="")
    body = {"page": {"url": "https://shop.example/"}, "user": {"custom_attributes": {"renews_at": moment}}}
    response = _widget_post(client, f"/widget-api/{website.app_id}/ping", json.dumps(body))
    assert response.status_code == 200, response.content[:300]
    assert [w["field"] for w in response.json()["warnings"]] == ["user.custom_attributes.renews_at"]
    assert not Contact.objects.filter(custom_attributes__has_key="renews_at").exists()


@pytest.mark.parametrize("moment", OVERFLOWING_MOMENTS)
def test_a_datetime_attribute_some_time_zone_cannot_show_is_refused_by_the_api(api, moment):
    from contacts.services import data_attribute_create

    data_attribute_create(name="renews_at", data_type="datetime", model="contact", label="Renews", description="")
    body = {"role": "user", "email": "r@example.com", "custom_attributes": {"renews_at": moment}}
    assert_json_error(api.post("/api/contacts", body, format="json"), status=400, field="custom_attributes.renews_at")
    contact = ContactFactory(role=Contact.Role.USER, external_id="u-10")
    response = api.put(f"/api/contacts/{contact.pk}", {"custom_attributes": {"renews_at": moment}}, format="json")
    assert_json_error(response, status=400, field="custom_attributes.renews_at")


# Unix seconds of 9999-12-31T23:59:59Z and 0001-01-01T00:00:00Z: in years 1-9999 in UTC, not in Berlin or New York.
UNIX_EDGES = [253402300799, -62135596800]


@pytest.mark.parametrize("seconds", UNIX_EDGES)
def test_a_contact_or_company_time_some_time_zone_cannot_show_is_refused_by_the_api(api, seconds):
    """An attack review: the API stored these, and the record's admin page (its conversations' too) answered 400 to
    every teammate east or west of UTC. A re-check: the refusal says which seconds are taken."""
    from contacts.services import data_attribute_create

    data_attribute_create(name="renews_at", data_type="datetime", model="contact", label="Renews", description="")
    contact = ContactFactory(role=Contact.Role.USER, external_id="u-12")
    response = api.put(f"/api/contacts/{contact.pk}", {"signed_up_at": seconds}, format="json")
    assert_json_error(response, status=400, field="signed_up_at")
    assert "a day or more from either end" in response.content.decode()
    response = api.post("/api/companies", {"company_id": "edge", "remote_created_at": seconds}, format="json")
    assert_json_error(response, status=400, field="remote_created_at")
    body = {"custom_attributes": {"renews_at": seconds}}
    response = api.put(f"/api/contacts/{contact.pk}", body, format="json")
    assert_json_error(response, status=400, field="custom_attributes.renews_at")
    assert "Unix seconds within years 1 to 9999, a day or more from either end" in response.content.decode()
    contact.refresh_from_db()
    assert contact.signed_up_at is None


@pytest.mark.parametrize(
    "moment",
    ["\u0661\u0662\u0663\u0664-\u0660\u0661-\u0660\u0661T00:00:00Z", "\uff12\uff10\uff12\uff14-01-01T00:00:00Z"],
)
def test_a_datetime_attribute_in_other_digits_is_refused_by_the_api(api, moment):
    from contacts.services import data_attribute_create

    data_attribute_create(name="renews_at", data_type="datetime", model="contact", label="Renews", description="")
    data_attribute_create(name="renews_on", data_type="date", model="contact", label="Renews on", description="")
    contact = ContactFactory(role=Contact.Role.USER, external_id="u-11")
    for name, value in (("renews_at", moment), ("renews_on", moment[:10])):
        response = api.put(f"/api/contacts/{contact.pk}", {"custom_attributes": {name: value}}, format="json")
        assert_json_error(response, status=400, field=f"custom_attributes.{name}")


@pytest.mark.parametrize(
    "number", ["\u0661\u0662\u0663", "\uff11\uff12\uff13", "1_000", "123\u0660", "0x10", " ", "1e3x"]
)
def test_unix_times_in_the_api_take_ascii_digits_only(api, number):
    response = api.post("/api/contacts", {"role": "lead", "signed_up_at": number}, format="json")
    assert_json_error(response, status=400, field="signed_up_at")
    assert not Contact.objects.exists()


def test_unix_times_in_the_api_still_take_numbers_and_their_text(api):
    for value in (1700000000, 1700000000.7, "1700000000"):
        response = api.post("/api/contacts", {"role": "lead", "signed_up_at": value}, format="json")
        assert response.status_code == 200, response.content[:300]
        assert response.json()["signed_up_at"] == 1700000000


@pytest.mark.parametrize("value", ["\u0661\u0662\u0663", "1_000", "\uff11\uff12\uff13"])
def test_search_dates_and_numbers_take_ascii_digits_only(api, value):
    from contacts.services import data_attribute_create

    data_attribute_create(name="ltv", data_type="float", model="contact", label="LTV", description="")
    for field in ("signed_up_at", "custom_attributes.ltv"):
        response = api.post("/api/contacts/search", {"query": {"field": field, "operator": ">", "value": value}},
                            format="json")  # fmt: skip
        assert_json_error(response, status=400, field=field)


@pytest.mark.parametrize("number", [10**30, 2**63, -(2**63) - 1])
def test_integer_attributes_beyond_64_bits_are_refused_by_the_api_and_dropped_by_the_widget(
    api, client, website, number
):
    from contacts.services import data_attribute_create

    data_attribute_create(name="seats", data_type="integer", model="contact", label="Seats", description="")
    data_attribute_create(name="ltv", data_type="float", model="contact", label="LTV", description="")
    body = {"role": "user", "email": "s@example.com", "custom_attributes": {"seats": number}}
    assert_json_error(api.post("/api/contacts", body, format="json"), status=400, field="custom_attributes.seats")
    body = {"role": "user", "email": "s@example.com", "custom_attributes": {"ltv": 10**400}}
    assert_json_error(api.post("/api/contacts", body, format="json"), status=400, field="custom_attributes.ltv")
    body = {"page": {"url": "https://shop.example/"}, "user": {"custom_attributes": {"seats": number}}}
    response = _widget_post(client, f"/widget-api/{website.app_id}/ping", json.dumps(body))
    assert response.status_code == 200, response.content[:300]
    assert [w["field"] for w in response.json()["warnings"]] == ["user.custom_attributes.seats"]
    assert not Contact.objects.filter(custom_attributes__has_key="seats").exists()


def test_integer_attributes_at_the_64_bit_bounds_are_kept(api):
    from contacts.services import data_attribute_create

    data_attribute_create(name="seats", data_type="integer", model="contact", label="Seats", description="")
    for number in (2**63 - 1, -(2**63)):
        body = {"role": "user", "email": f"{number}@example.com", "custom_attributes": {"seats": number}}
        response = api.post("/api/contacts", body, format="json")
        assert response.status_code == 200, response.content[:300]
        assert response.json()["custom_attributes"]["seats"] == number


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2024-01-31T10:00:00Z", "2024-01-31T10:00:00+00:00"), ("2024-01-31T10:00:00+02:00", "2024-01-31T08:00:00+00:00"),
     ("2024-01-31 10:00", "2024-01-31T10:00:00+00:00"), (1706695200, "2024-01-31T10:00:00+00:00"),
     ("9999-12-31T23:59:59Z", None), ("9999-12-31T23:59:59-01:00", None), ("0001-01-01T23:59:59Z", None),
     ("9999-12-30T23:59:59Z", "9999-12-30T23:59:59+00:00"), ("0001-01-02T00:00:00Z", "0001-01-02T00:00:00+00:00"),
     (253402300799, None), (253402214399, "9999-12-30T23:59:59+00:00"),
     ("0001-01-01T00:00:00+01:00", None), ("\u0662\u0660\u0662\u0664-01-31", None), ("2024-01-31T10:00:00\x00", None),
     ("1706695200", None), (10**20, None), (float("nan"), None), (True, None), ("2" * 400, None)],
)  # fmt: skip
def test_one_moment_check_for_input_from_outside(value, expected):
    from common.parsing import moment_or_none

    moment = moment_or_none(value)
    assert (moment.isoformat() if moment else None) == expected


# --- forms Django cannot decode (outside review, finding 2) -------------------------------------


@pytest.mark.parametrize(
    "path", ["/admin/login/", "/admin/contacts/contact/", "/demo/", "/widget-api/x/ping", "/api/contacts"]
)
@pytest.mark.parametrize("charset", ["latin1", "utf-16"])
def test_a_form_in_another_charset_is_a_clean_400_for_anyone(path, charset):
    """Django refuses the body (BadRequest); the 400 handler must not read request.POST again (CSRF)."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.cookies["csrftoken"] = "abcdefghijklmnopqrstuvwxyzABCDEF"
    content_type = f"application/x-www-form-urlencoded; charset={charset}"
    # No Origin header: a foreign one fails the CSRF origin check before the body is read.
    response = client.generic("POST", path, b"a=b", content_type=content_type)
    if path.startswith(("/api/", "/widget-api/")):
        assert_json_error(response)
    else:
        assert response.status_code == 400, (response.status_code, response.content[:300])


# --- attribute names that read as lookups (outside review, finding 3) ---------------------------


def _stored_attribute(name, data_type):
    """A definition from before "__" was refused: written as a row, as an older release did."""
    from contacts.models import DataAttribute

    return DataAttribute.objects.create(model="contact", name=name, label=name, data_type=data_type)


@pytest.mark.parametrize("name", ["vip__contains", "tier__gt", "q__regex", "a__b"])
def test_new_attribute_names_with_a_lookup_separator_are_refused_by_the_api(api, name):
    body = {"name": name, "model": "contact", "data_type": "boolean"}
    assert_json_error(api.post("/api/data_attributes", body, format="json"), status=400)
    body = {"role": "user", "email": "v@example.com", "custom_attributes": {name: True}}
    assert_json_error(api.post("/api/contacts", body, format="json"), status=400, field=f"custom_attributes.{name}")
    from contacts.models import DataAttribute

    assert not DataAttribute.objects.filter(name=name).exists()


def test_a_verified_ping_drops_a_new_name_with_a_lookup_separator_with_a_warning(client, website):
    from contacts.models import DataAttribute
    from tests.tracking.factories import user_hash as sign

    user_hash = sign(website, "u-77")
    body = {
        "page": {"url": "https://shop.example/"},
        "user": {
            "user_id": "u-77",
            "user_hash": user_hash,
            "custom_attributes": {"vip__contains": True, "plan": "pro"},
        },
    }
    response = _widget_post(client, f"/widget-api/{website.app_id}/ping", json.dumps(body))
    assert response.status_code == 200, response.content[:300]
    assert [w["field"] for w in response.json()["warnings"]] == ["user.custom_attributes.vip__contains"]
    assert list(DataAttribute.objects.values_list("name", flat=True)) == ["plan"]


def test_a_stored_name_with_a_lookup_separator_filters_the_admin_list_as_a_key(admin_client):
    _stored_attribute("vip__contains", "boolean")
    _stored_attribute("tier__gt", "integer").__class__.objects.filter(name="tier__gt").update(options=[3, 30])
    vip = ContactFactory(role=Contact.Role.USER, custom_attributes={"vip__contains": True, "tier__gt": 3})
    other = ContactFactory(role=Contact.Role.USER, custom_attributes={"vip__contains": False, "tier__gt": 30})
    for query, expected in (("ca__vip__contains=true", vip), ("ca__vip__contains=false", other),
                            ("ca__tier__gt=3", vip), ("ca__tier__gt=30", other)):  # fmt: skip
        response = admin_client.get(f"/admin/contacts/contact/?{query}")
        assert response.status_code == 200, (query, response.status_code)
        shown = {contact.pk for contact in response.context["cl"].result_list}
        assert shown == {expected.pk}, query


def test_a_stored_name_with_a_lookup_separator_is_searched_as_a_key(api):
    _stored_attribute("z__contains", "string")
    match = ContactFactory(role=Contact.Role.USER, custom_attributes={"z__contains": "abc"})
    ContactFactory(role=Contact.Role.USER, custom_attributes={"z": "abc"})
    ContactFactory(role=Contact.Role.USER, custom_attributes={"z": {"contains": "abc"}})
    for operator, value in (("=", "abc"), ("~", "b"), ("^", "a"), ("$", "c")):
        query = {"field": "custom_attributes.z__contains", "operator": operator, "value": value}
        response = api.post("/api/contacts/search", {"query": query}, format="json")
        assert response.status_code == 200, response.content[:300]
        assert [row["id"] for row in response.json()["data"]] == [str(match.pk)], operator
    query = {"field": "custom_attributes.z__contains", "operator": "=", "value": None}
    response = api.post("/api/contacts/search", {"query": query}, format="json")
    assert str(match.pk) not in [row["id"] for row in response.json()["data"]]


def test_a_user_or_a_tag_named_beyond_ascii_twice_is_a_conflict_or_the_same_not_a_500(api):
    """Schemathesis: the second POST /api/tags of a name with "Ç" was a 500 on SQLite (its LOWER() folds ASCII only,
    where the lookup lowered in Python); a user's email the same."""
    for email in ("ann@Ça.example", "ANN@Ça.example"):
        response = api.post("/api/contacts", {"role": "user", "email": email}, format="json")
    assert response.status_code == 409, response.content[:300]
    first = api.post("/api/tags", {"name": "Ça va"}, format="json").json()
    assert api.post("/api/tags", {"name": "ÇA VA"}, format="json").json()["id"] == first["id"]
