"""POST /contacts/search with Parley's company fields: `companies.id` (the company object's id) and `companies.name`
select the contacts at such a company, combine with every other field and with segment_id; hostile values are 400s
naming the field; a page costs the same fixed number of queries with or without them."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from companies import services as company_services
from contacts import search
from segments import services as segment_services
from tests.api.test_auth_and_errors import assert_error
from tests.api.test_search_size_caps import or_tree
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import UserContactFactory

pytestmark = pytest.mark.django_db

SEARCH = "/api/contacts/search"


@pytest.fixture
def people(api):
    hooli, stark = CompanyFactory(name="Hooli"), CompanyFactory(name="Stark Industries")
    gavin, tony, lone = (UserContactFactory(name=name) for name in ("Gavin", "Tony", "Lone"))
    company_services.company_attach(company=hooli, contact=gavin)
    company_services.company_attach(company=stark, contact=tony)
    return {"hooli": hooli, "stark": stark, "gavin": gavin, "tony": tony, "lone": lone}


def found(api, query, **body) -> list[int]:
    response = api.post(SEARCH, {"query": query, **body}, format="json")
    assert response.status_code == 200, response.content
    return sorted(int(contact["id"]) for contact in response.json()["data"])


def test_company_fields_find_the_contacts_at_a_company(api, people):
    gavin, tony, lone = people["gavin"].pk, people["tony"].pk, people["lone"].pk
    # The id the company object carries (a string there, as Intercom's ids), as a string or a number.
    company_id = api.get(f"/api/companies/{people['stark'].pk}").json()["id"]
    assert found(api, {"field": "companies.id", "operator": "=", "value": company_id}) == [tony]
    assert found(api, {"field": "companies.id", "operator": "NIN", "value": [int(company_id)]}) == [gavin, lone]
    assert found(api, {"field": "companies.id", "operator": "=", "value": None}) == [lone]
    assert found(api, {"field": "companies.name", "operator": "~", "value": "HOO"}) == [gavin]
    assert found(api, {"field": "companies.name", "operator": "!=", "value": "hooli"}) == [tony, lone]
    either = {"operator": "OR", "value": [
        {"field": "companies.name", "operator": "^", "value": "stark"},
        {"field": "name", "operator": "=", "value": "lone"},
    ]}  # fmt: skip
    assert found(api, either) == [tony, lone]


def test_a_segment_of_a_companys_people_works_through_segment_id(api, people, teammate):
    segment = segment_services.segment_create(
        name="Stark people", query={"field": "companies.id", "operator": "=", "value": people["stark"].pk},
        teammate=teammate,
    )  # fmt: skip
    assert found(api, {"field": "segment_id", "operator": "=", "value": str(segment.pk)}) == [people["tony"].pk]
    assert found(api, {"field": "segment_id", "operator": "!=", "value": str(segment.pk)}) == sorted(
        [people["gavin"].pk, people["lone"].pk]
    )


@pytest.mark.parametrize(
    ("field", "operator", "value", "named"),
    [
        ("companies.name", ">", "a", "companies.name"),
        ("companies.name", "=", None, "companies.name"),
        ("companies.name", "~", "x" * 1001, "companies.name"),
        ("companies.name", "IN", ["x"] * 1001, "companies.name"),
        ("companies.name", "=", "a\x00", "query.value"),  # the body's own check names its place
        ("companies.name", "=", "\ud800", "query.value"),
        ("companies.id", "=", "1e400", "companies.id"),
        ("companies.id", "=", "<script>", "companies.id"),
        ("companies.id", "=", "٣", "companies.id"),
        ("companies.id", "=", "9" * 30, "companies.id"),
        ("companies.id", "~", "1", "companies.id"),
        ("companies.id", "IN", [], "companies.id"),
    ],
)
def test_hostile_company_filters_are_400s_naming_the_field(api, people, field, operator, value, named):
    body = json.dumps({"query": {"field": field, "operator": operator, "value": value}})  # a lone surrogate escaped
    assert_error(api.post(SEARCH, body, content_type="application/json"), 400, "parameter_invalid", named)


def test_an_infinite_json_number_is_a_400(api, people):
    body = '{"query": {"field": "companies.id", "operator": "=", "value": 1e400}}'
    assert_error(api.post(SEARCH, body, content_type="application/json"), 400, "parameter_invalid", "query.value")


def test_company_lists_over_the_values_cap_are_a_400_naming_query(api, people):
    lists = [{"field": "companies.id", "operator": "IN", "value": list(range(1, 1001))} for _ in range(11)]
    response = api.post(SEARCH, {"query": {"operator": "OR", "value": lists}}, format="json")
    assert_error(response, 400, "parameter_invalid", "query")


def test_a_search_through_companies_costs_a_fixed_number_of_queries(api, people):
    api.get("/api/me")  # the token's last use is written once a minute: not part of the count

    def count(query, per_page: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = api.post(SEARCH, {"query": query, "pagination": {"per_page": per_page}}, format="json")
            assert response.status_code == 200, response.content
        return len(queries)

    users = {"field": "role", "operator": "=", "value": "user"}
    baseline = count(users, 2)
    one = {"operator": "AND", "value": [users, {"field": "companies.name", "operator": "~", "value": "i"}]}
    many = {"operator": "AND", "value": [
        users, {"field": "companies.name", "operator": "!~", "value": "x"},
        {"field": "companies.id", "operator": "IN", "value": [people["hooli"].pk, people["stark"].pk]},
        {"field": "companies.name", "operator": "IN", "value": ["hooli", "stark industries"]},
    ]}  # fmt: skip
    assert count(one, 2) == count(one, 50) == count(many, 50) == baseline
    for contact in UserContactFactory.create_batch(4):
        company_services.company_attach(company=people["hooli"], contact=contact)
    assert count(many, 50) == baseline


def test_a_search_through_company_fields_at_both_caps_runs_and_one_filter_more_is_a_400(api, people):
    """Every filter a subquery on memberships, at 200 filters and 10,000 values in one OR chain (SQLite's depth and
    variables, PostgreSQL's parameters)."""
    lists = [
        {"field": "companies.name", "operator": "IN", "value": [f"n{i}-{n}" for n in range(1000)]} for i in range(9)
    ]
    singles = [
        {"field": "companies.name", "operator": "~", "value": f"nowhere {i}"} if i % 2
        else {"field": "companies.id", "operator": "=", "value": 10**9 + i}
        for i in range(190)
    ]  # fmt: skip
    stark = {"field": "companies.id", "operator": "IN", "value": [*range(10**9, 10**9 + 809), people["stark"].pk]}
    at_cap = or_tree([*lists, *singles, stark])
    assert search.query_size(at_cap) == search.QuerySize(search.MAX_QUERY_FILTERS, search.MAX_QUERY_VALUES)
    assert found(api, at_cap) == [people["tony"].pk]
    one_more = or_tree([*lists, *singles, {"field": "companies.name", "operator": "=", "value": "x"}, stark])
    assert search.query_size(one_more).filters == search.MAX_QUERY_FILTERS + 1
    assert_error(api.post(SEARCH, {"query": one_more}, format="json"), 400, "parameter_invalid", "query")
