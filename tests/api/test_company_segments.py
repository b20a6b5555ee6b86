"""Company segments through the API: GET /segments lists both kinds, GET /companies/{id}/segments,
GET /companies?segment_id=, the company object's segments; a segment of the wrong kind, an unknown one and
hostile ids are clear 4xx; every read costs a fixed number of queries."""

from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from companies.models import Company
from segments import services
from segments.models import Segment
from tests.api.test_auth_and_errors import assert_error
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import UserContactFactory

pytestmark = pytest.mark.django_db

COMPANY = Segment.PersonType.COMPANY
ENTERPRISE = {"field": "plan", "operator": "=", "value": "enterprise"}
FRENCH = {"field": "location.country_code", "operator": "=", "value": "FR"}
HOSTILE_IDS = ["999999", "1e400", "٣", "²", "abc", "9" * 30, "<script>", "-1", "1.0"]


@pytest.fixture
def enterprise(teammate) -> Segment:
    return services.segment_create(name="Enterprise", query=ENTERPRISE, teammate=teammate, person_type=COMPANY)


@pytest.fixture
def france(teammate) -> Segment:
    return services.segment_create(name="France", query=FRENCH, teammate=teammate)


def test_the_segment_list_holds_both_kinds_each_saying_what_it_holds(api, enterprise, france):
    CompanyFactory.create_batch(2, plan="enterprise")
    services.segment_counts_refresh()
    listed = api.get("/api/segments?include_count=true").json()
    assert [(s["name"], s["person_type"], s["count"]) for s in listed["segments"]] == [
        ("Enterprise", "company", 2), ("France", "contact", 0),
    ]  # fmt: skip
    assert [s["name"] for s in api.get("/api/segments?type=company").json()["segments"]] == ["Enterprise"]
    assert [s["name"] for s in api.get("/api/segments?type=contact").json()["segments"]] == ["France"]
    assert_error(api.get("/api/segments?type=visitor"), 400, "parameter_invalid", "type")
    one = api.get(f"/api/segments/{enterprise.pk}?include_count=true").json()
    assert (one["type"], one["id"], one["person_type"], one["count"]) == ("segment", str(enterprise.pk), "company", 2)


def test_a_companys_segments_and_its_objects_segments(api, enterprise, france, teammate):
    services.segment_create(name="Big", query={"field": "size", "operator": ">", "value": 100}, teammate=teammate,
                            person_type=COMPANY)  # fmt: skip
    acme = CompanyFactory(plan="enterprise", size=5)
    attached = api.get(f"/api/companies/{acme.pk}/segments").json()
    assert attached["type"] == "list"
    assert [(s["type"], s["name"], s["person_type"]) for s in attached["data"]] == [
        ("segment", "Enterprise", "company")
    ]
    company = api.get(f"/api/companies/{acme.pk}").json()
    assert company["segments"]["type"] == "segment.list"
    assert [s["id"] for s in company["segments"]["segments"]] == [str(enterprise.pk)]
    listed = api.get("/api/companies").json()["data"]
    assert [s["name"] for s in listed[0]["segments"]["segments"]] == ["Enterprise"]
    assert api.get(f"/api/companies/{CompanyFactory(plan='pro').pk}/segments").json() == {"type": "list", "data": []}
    # The contact's own list holds contact segments only.
    contact = UserContactFactory(country="FR")
    assert [s["name"] for s in api.get(f"/api/contacts/{contact.pk}/segments").json()["data"]] == ["France"]


@pytest.mark.parametrize("company_id", HOSTILE_IDS)
def test_an_unknown_or_hostile_company_is_404(api, company_id):
    assert_error(api.get(f"/api/companies/{quote(company_id)}/segments"), 404, "not_found")


def test_companies_in_a_segment_page_by_page(api, enterprise):
    members = CompanyFactory.create_batch(5, plan="enterprise")
    CompanyFactory.create_batch(3, plan="pro")
    for index, company in enumerate(members):
        Company.objects.filter(pk=company.pk).update(last_request_at=f"2026-01-0{index + 1}T00:00:00Z")
    first = api.get(f"/api/companies?segment_id={enterprise.pk}&per_page=2").json()
    assert first["type"] == "list" and first["total_count"] == 5
    assert [c["id"] for c in first["data"]] == [str(members[4].pk), str(members[3].pk)]
    assert f"segment_id={enterprise.pk}" in first["pages"]["next"] and "page=2" in first["pages"]["next"]
    last = api.get(f"/api/companies?segment_id={enterprise.pk}&per_page=2&page=3&order=desc").json()
    assert [c["id"] for c in last["data"]] == [str(members[0].pk)] and "next" not in last["pages"]
    ascending = api.get(f"/api/companies?segment_id={enterprise.pk}&per_page=5&order=asc").json()
    assert [c["id"] for c in ascending["data"]] == [str(c.pk) for c in members]


def test_a_contact_segment_where_companies_are_listed_is_400_naming_it(api, france):
    response = api.get(f"/api/companies?segment_id={france.pk}")
    assert_error(response, 400, "parameter_invalid", "segment_id")
    assert "“France” is a segment of contacts, not of companies." in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("segment_id", HOSTILE_IDS)
def test_an_unknown_or_hostile_segment_id_is_404_naming_it(api, segment_id):
    assert_error(api.get("/api/companies", {"segment_id": segment_id}), 404, "not_found", "segment_id")


def test_segment_id_and_tag_id_together_are_refused(api, enterprise):
    assert_error(api.get(f"/api/companies?segment_id={enterprise.pk}&tag_id=1"), 400, "parameter_invalid",
                 "segment_id")  # fmt: skip


def test_a_nul_in_a_segment_id_is_a_clear_4xx(api):
    response = api.get("/api/companies?segment_id=1%00")
    assert response.status_code in (400, 404)
    assert response.json()["type"] == "error.list"


def test_segment_reads_cost_a_fixed_number_of_queries(api, enterprise, teammate):
    api.get("/api/me")  # the token's last use is written once a minute: not part of the count

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(path).status_code == 200
        return len(queries)

    hub = CompanyFactory(plan="enterprise")
    paths = [f"/api/companies?segment_id={enterprise.pk}&per_page=20", f"/api/companies/{hub.pk}/segments",
             f"/api/companies/{hub.pk}", "/api/companies?per_page=20", "/api/companies/scroll?per_page=20",
             "/api/segments?include_count=true"]  # fmt: skip
    CompanyFactory.create_batch(2, plan="enterprise")
    services.segment_create(name="s0", query={**ENTERPRISE, "value": "x"}, teammate=teammate, person_type=COMPANY)
    small = [count(path) for path in paths]
    CompanyFactory.create_batch(25, plan="enterprise")
    for index in range(1, 15):
        services.segment_create(name=f"s{index}", query={**ENTERPRISE, "value": f"x{index}"}, teammate=teammate,
                                person_type=COMPANY)  # fmt: skip
    assert [count(path) for path in paths] == small
