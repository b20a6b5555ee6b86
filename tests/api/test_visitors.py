"""GET /visitors?user_id=, PUT /visitors, POST /visitors/convert: Intercom's visitor shapes over Parley's anonymous contacts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from contacts import services as contact_services
from contacts.models import Contact, DataAttribute
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from tests.api.test_auth_and_errors import assert_error
from tests.api.test_messages_teams import _client_for
from tests.contacts.factories import ContactFactory, LeadFactory, TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db


def test_a_visitor_is_found_by_its_user_id_in_intercoms_shape(api):
    visitor = ContactFactory(city="Lyon", country="FR", country_name="France", web_sessions_count=3)
    contact_services.contact_tag(contact=visitor, tag=TagFactory(name="pricing-page"))
    body = api.get(f"/api/visitors?user_id={visitor.anonymous_id}").json()
    assert (body["type"], body["id"], body["user_id"], body["anonymous"]) == (
        "visitor", str(visitor.pk), str(visitor.anonymous_id), True,
    )  # fmt: skip
    assert body["location_data"]["city_name"] == "Lyon" and body["location_data"]["country_code"] == "FR"
    assert body["session_count"] == 3 and body["las_request_at"] == int(visitor.last_seen_at.timestamp())
    assert [t["name"] for t in body["tags"]["tags"]] == ["pricing-page"]
    assert body["segments"] == {"type": "segment.list", "segments": []}


@pytest.mark.parametrize("user_id", ["nope", "1e400", "٣", "00000000-0000-0000-0000-000000000000", "%00", "<script>"])
def test_an_unknown_or_malformed_user_id_is_404(api, user_id):
    ContactFactory()
    assert_error(api.get(f"/api/visitors?user_id={user_id}"), 404, "not_found", "user_id")


def test_user_id_is_required(api):
    assert_error(api.get("/api/visitors"), 400, "parameter_not_found", "user_id")


def test_leads_and_users_are_not_visitors(api):
    for contact in (LeadFactory(), UserContactFactory()):
        assert_error(api.get(f"/api/visitors?user_id={contact.anonymous_id}"), 404, "not_found")
        response = api.put("/api/visitors", {"id": str(contact.pk), "name": "Hijack"}, format="json")
        assert_error(response, 404, "not_found", "id")
        contact.refresh_from_db()
        assert contact.name != "Hijack"


def test_put_sets_name_and_custom_attributes_by_id_or_user_id(api):
    DataAttribute.objects.create(name="campaign", label="Campaign", data_type="string")
    visitor = ContactFactory()
    by_id = api.put("/api/visitors", {"id": str(visitor.pk), "name": "Curious <b>cat</b>"}, format="json")
    assert by_id.status_code == 200, by_id.content
    assert by_id.json()["name"] == "Curious <b>cat</b>"
    by_user_id = api.put("/api/visitors", {"user_id": str(visitor.anonymous_id), "custom_attributes": {"campaign": "spring"}},
                         format="json").json()  # fmt: skip
    assert (by_user_id["name"], by_user_id["custom_attributes"]) == ("Curious <b>cat</b>", {"campaign": "spring"})
    visitor.refresh_from_db()
    assert (visitor.role, visitor.custom_attributes) == (Contact.Role.VISITOR, {"campaign": "spring"})


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "x"}, 400, "id"),
        ({"id": "1e400", "name": "x"}, 404, "id"),
        ({"id": "{visitor}", "name": "x" * 256}, 400, "name"),
        ({"id": "{visitor}", "custom_attributes": {"unknown": "x"}}, 400, "custom_attributes.unknown"),
        ({"id": "{visitor}", "custom_attributes": {"campaign": 10**30}}, 400, "custom_attributes.campaign"),
        ({"id": "{visitor}", "custom_attributes": "campaign"}, 400, "custom_attributes"),
    ],
)
def test_bad_updates_are_refused_naming_the_field(api, body, status, field):
    DataAttribute.objects.create(name="campaign", label="Campaign", data_type="string")
    visitor = ContactFactory()
    body = {key: (str(visitor.pk) if value == "{visitor}" else value) for key, value in body.items()}
    with override_settings(PARLEY_AUTO_CREATE_CUSTOM_ATTRIBUTES=False):
        response = api.put("/api/visitors", body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["errors"][0]["field"] == field
    visitor.refresh_from_db()
    assert (visitor.name, visitor.custom_attributes) == ("", {})


def test_nul_and_1e400_in_a_visitor_update_are_400(api):
    visitor = ContactFactory()
    for raw in (
        f'{{"id": "{visitor.pk}", "name": "a\\u0000"}}',
        f'{{"id": "{visitor.pk}", "custom_attributes": {{"n": 1e400}}}}',
    ):
        response = api.generic("PUT", "/api/visitors", raw, content_type="application/json")
        assert response.status_code == 400, response.content


def test_a_viewer_reads_visitors_but_cannot_update_or_convert_them():
    visitor = ContactFactory()
    viewer, _ = _client_for(VIEWER_GROUP, "vera")
    assert viewer.get(f"/api/visitors?user_id={visitor.anonymous_id}").status_code == 200
    assert_error(viewer.put("/api/visitors", {"id": str(visitor.pk), "name": "x"}, format="json"), 403, "forbidden")
    convert = {"type": "lead", "visitor": {"id": str(visitor.pk)}, "user": {"email": "v@example.com"}}
    assert_error(viewer.post("/api/visitors/convert", convert, format="json"), 403, "forbidden")
    agent, _ = _client_for(AGENT_GROUP, "robin")
    assert agent.put("/api/visitors", {"id": str(visitor.pk), "name": "x"}, format="json").status_code == 200


def test_get_visitor_costs_a_fixed_number_of_queries(api):
    visitor = ContactFactory()
    api.get("/api/me")  # the token's last use is written once a minute: not part of the count
    with CaptureQueriesContext(connection) as few:
        api.get(f"/api/visitors?user_id={visitor.anonymous_id}")
    for index in range(10):
        contact_services.contact_tag(contact=visitor, tag=TagFactory(name=f"t{index}"))
    with CaptureQueriesContext(connection) as many:
        api.get(f"/api/visitors?user_id={visitor.anonymous_id}")
    assert len(many) == len(few)


def test_converting_a_lead_through_visitors_convert_is_404(api):
    lead = LeadFactory()
    response = api.post("/api/visitors/convert", {"type": "user", "visitor": {"id": str(lead.pk)},
                                                  "user": {"user_id": "x-1"}}, format="json")  # fmt: skip
    assert_error(response, 404, "not_found", "visitor")
