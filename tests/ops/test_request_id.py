"""The request id: kept from the proxy when it is a UUID, made otherwise, always answered."""

import re

import pytest

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize(
    "given",
    ["<script>alert(1)</script>", "abc\x00def", "1e400", "\ud800", "x" * 5000, "../../etc/passwd", "٣٣٣٣"],
)
def test_a_hostile_request_id_is_replaced_by_a_fresh_one(client, given):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=given)
    assert response.status_code == 200
    assert HEX_ID.match(response["X-Request-ID"])
    assert given not in response["X-Request-ID"]


def test_a_proxys_uuid_is_kept_and_a_missing_one_is_made(client):
    given = "0f8e5a2b-d4c9-4b1e-9d7c-3a6b5e4f2000"
    assert client.get("/healthz", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given
    first, second = client.get("/healthz")["X-Request-ID"], client.get("/healthz")["X-Request-ID"]
    assert HEX_ID.match(first) and HEX_ID.match(second) and first != second


def test_the_widget_cors_answer_keeps_its_own_expose_headers(client, website):
    response = client.options(
        f"/widget-api/{website.app_id}/ping",
        HTTP_ORIGIN="https://shop.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert response.status_code == 200
    assert response["X-Request-ID"]
    assert "X-Request-ID" not in response.get("Access-Control-Expose-Headers", "")
