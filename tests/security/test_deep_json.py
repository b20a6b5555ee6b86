"""JSON nested deeper than the interpreter's stack (~2 KB of `[[[[…`) or than any document Parley reads is
invalid JSON everywhere a body or a form field is parsed: a 400 naming `body` in the API's envelope, the
widget's 400, the admin form's "Enter a valid JSON." — never a 500 from the decoder's RecursionError."""

import json

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import RequestFactory
from rest_framework.test import APIClient

from api.services import api_token_create
from common.admin_forms import JSONFormField
from common.parsing import JSON_MAX_DEPTH, json_loads, json_too_deep
from contacts.models import DataAttribute
from contacts.permissions import VIEWER_GROUP, ensure_teammate_groups
from segments.models import Segment

pytestmark = pytest.mark.django_db

ORIGIN = "https://shop.example"
# What the outside review sent: past the stack's limit, so the decoder raises RecursionError.
STACK_DEEP = "[" * 1000 + "]" * 1000
OBJECTS_STACK_DEEP = '{"a":' * 1000 + "1" + "}" * 1000


def nested(depth: int) -> str:
    """A list nested `depth` levels deep: `[[…[1]…]]`."""
    return "[" * depth + "1" + "]" * depth


def _client(user) -> APIClient:
    _token, raw = api_token_create(user=user, name="deep")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def viewer(teammate):
    ensure_teammate_groups()
    teammate.groups.add(Group.objects.get(name=VIEWER_GROUP))
    return teammate


def _assert_body_refused(response) -> None:
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["type"] == "error.list"
    [error] = answer["errors"]
    assert error["field"] == "body" and error["code"] == "parameter_invalid"
    assert "nested more than" in error["message"]


def test_common_json_loads_refuses_deep_documents_as_invalid_json():
    assert json_loads(nested(JSON_MAX_DEPTH)) is not None
    assert not json_too_deep(json.loads(nested(JSON_MAX_DEPTH)))
    assert json_too_deep(json.loads(nested(JSON_MAX_DEPTH + 1)))
    for text in (nested(JSON_MAX_DEPTH + 1), STACK_DEEP, OBJECTS_STACK_DEEP, "[" * 100_000):
        with pytest.raises(ValueError, match="nested more than"):
            json_loads(text)
    # Many brackets side by side nest nothing: a long flat list is fine.
    assert len(json_loads("[" + ",".join(["[]"] * 500) + "]")) == 500


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/contacts/search"),
        ("post", "/api/conversations/search"),
        ("post", "/api/companies"),
        ("post", "/api/contacts"),
        ("post", "/api/tags"),
        ("put", "/api/admins/{me}/away"),
    ],
)
@pytest.mark.parametrize(
    "body", [STACK_DEEP, OBJECTS_STACK_DEEP, nested(JSON_MAX_DEPTH + 1)], ids=["list", "obj", "65"]
)
def test_every_api_endpoint_refuses_a_deeply_nested_body_naming_body(superuser, method, path, body):
    client = _client(superuser)
    response = getattr(client, method)(path.format(me=superuser.pk), data=body, content_type="application/json")
    _assert_body_refused(response)


@pytest.mark.parametrize("path", ["/api/contacts/search", "/api/conversations/search"])
def test_a_viewer_token_gets_the_same_400(viewer, path):
    _assert_body_refused(_client(viewer).post(path, data=STACK_DEEP, content_type="application/json"))


def test_a_body_at_the_depth_limit_reaches_the_view(superuser):
    # 64 levels (the body, its query, the value's 62 lists) decode: the search then refuses the query itself,
    # naming it, not the body's nesting.
    query = {"field": "name", "operator": "=", "value": json.loads(nested(JSON_MAX_DEPTH - 2))}
    response = _client(superuser).post("/api/contacts/search", data={"query": query}, format="json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] != "body" and "nested" not in error["message"]


def test_a_cursor_nesting_deep_is_refused_naming_it(superuser):
    import base64

    cursor = base64.urlsafe_b64encode(f"c2:{STACK_DEEP}".encode()).decode().rstrip("=")
    response = _client(superuser).get("/api/contacts", {"starting_after": cursor})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "starting_after"


def test_the_widget_refuses_a_deep_body_as_it_did(client, website):
    for body in (STACK_DEEP, nested(JSON_MAX_DEPTH + 1)):
        response = client.post(
            f"/widget-api/{website.app_id}/ping", data=body, content_type="text/plain", HTTP_ORIGIN=ORIGIN
        )
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "body"


def test_admin_json_fields_refuse_deep_json_as_a_form_error(admin_client):
    response = admin_client.post(
        "/admin/contacts/dataattribute/add/",
        {"name": "plan", "label": "Plan", "model": "contact", "data_type": "string", "options": STACK_DEEP},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["options"] == ["Enter a valid JSON."]
    assert not DataAttribute.objects.exists()

    for query in (STACK_DEEP, nested(JSON_MAX_DEPTH + 1)):
        response = admin_client.post("/admin/segments/segment/add/", {"name": "Deep", "person_type": "contact",
                                                                      "query": query})  # fmt: skip
        assert response.status_code == 200
        assert response.context["adminform"].form.errors["query"] == ["Enter a valid JSON."]
    assert not Segment.objects.exists()


def test_a_lone_surrogate_in_an_admin_json_field_is_a_form_error_shown_escaped(admin_client):
    query = '{"field": "name", "operator": "=", "value": "\\ud800"}'  # valid JSON text, refused by the service
    response = admin_client.post("/admin/segments/segment/add/", {"name": "Odd", "person_type": "contact",
                                                                  "query": query})  # fmt: skip
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert "\\ud800" in response.content.decode()  # shown again as the JSON escape, not as a raw surrogate
    assert not Segment.objects.exists()


# Admins whose JSON model fields never reach a Django form a teammate can post, and why.
JSON_FIELDS_NEVER_IN_A_FORM = {
    "conversations.Conversation": "its change page is the thread page (conversations/admin/thread.py); no add form",
}


def test_every_admin_json_form_field_reads_through_the_depth_checked_decoder(superuser):
    request = RequestFactory().get("/admin/")
    request.user = superuser
    plain = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.label in JSON_FIELDS_NEVER_IN_A_FORM:
            continue
        forms_to_check = []
        if model_admin.has_add_permission(request):
            forms_to_check.append(model_admin.get_form(request, None))
        if model_admin.has_change_permission(request):
            forms_to_check.append(model_admin.get_form(request, model(), change=True))
        for form in forms_to_check:
            for name, field in form.base_fields.items():
                if isinstance(field, forms.JSONField) and not isinstance(field, JSONFormField):
                    plain.append(f"{model._meta.label}.{name}")
    assert plain == []
