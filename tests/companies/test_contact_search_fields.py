"""The contact search's company fields (companies.search, registered with contacts.search): `companies.id` and
`companies.name` select the contacts at such a company, each operator; negative ones the contacts at no such
company; hostile values refused naming the field; one SQL query per search, whatever the number of filters."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from companies import services as company_services
from contacts.search import MAX_IN_VALUES, contact_search_q, contacts_matching
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import ContactFactory, UserContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, object]:
    """Gavin at Hooli, Richard at Pied Piper, Tony at Stark Industries, Pepper at Hooli and Stark, Lone at none."""
    companies = {
        "hooli": CompanyFactory(name="Hooli"),
        "pied": CompanyFactory(name="Pied Piper"),
        "stark": CompanyFactory(name="Stark Industries"),
        "html": CompanyFactory(name="<b>Bold</b> & 100% _Co"),
    }
    contacts = {name: UserContactFactory(name=name) for name in ("Gavin", "Richard", "Tony", "Pepper", "Lone", "Bo")}
    for contact, company in [("Gavin", "hooli"), ("Richard", "pied"), ("Tony", "stark"), ("Pepper", "hooli"),
                             ("Pepper", "stark"), ("Bo", "html")]:  # fmt: skip
        company_services.company_attach(company=companies[company], contact=contacts[contact])
    return {**companies, **contacts}


def names(query) -> list[str]:
    return sorted(contacts_matching(query).values_list("name", flat=True))


def by_name(operator: str, value) -> dict:
    return {"field": "companies.name", "operator": operator, "value": value}


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("=", "hooli", ["Gavin", "Pepper"]),  # case-insensitive, as the contact list's search box
        ("=", "Hoo", []),
        ("!=", "HOOLI", ["Bo", "Lone", "Richard", "Tony"]),  # at no company named so: Lone, at none, too
        ("~", "IND", ["Pepper", "Tony"]),
        ("~", "i", ["Gavin", "Pepper", "Richard", "Tony"]),  # Pepper once, though at two such companies
        ("!~", "ind", ["Bo", "Gavin", "Lone", "Richard"]),
        ("^", "pied", ["Richard"]),
        ("^", "piper", []),
        ("$", "PIPER", ["Richard"]),
        ("IN", ["hooli", "PIED PIPER"], ["Gavin", "Pepper", "Richard"]),
        ("NIN", ["hooli", "pied piper"], ["Bo", "Lone", "Tony"]),
        # Values are text, never markup or a LIKE pattern: HTML, % and _ match themselves.
        ("~", "<b>", ["Bo"]),
        ("~", "100%", ["Bo"]),
        ("~", "%", ["Bo"]),
        ("^", "_", []),
        ("$", "% _co", ["Bo"]),
    ],
)
def test_companies_name_selects_the_contacts_at_a_company_so_named(people, operator, value, expected):
    assert names(by_name(operator, value)) == expected


@pytest.mark.parametrize(
    ("operator", "companies", "expected"),
    [
        ("=", ["stark"], ["Pepper", "Tony"]),
        ("!=", ["stark"], ["Bo", "Gavin", "Lone", "Richard"]),
        ("IN", ["hooli", "pied"], ["Gavin", "Pepper", "Richard"]),
        ("NIN", ["hooli", "pied"], ["Bo", "Lone", "Tony"]),
    ],
)
def test_companies_id_selects_the_contacts_at_that_company(people, operator, companies, expected):
    ids = [people[company].pk for company in companies]
    value = ids if operator in ("IN", "NIN") else ids[0]
    assert names({"field": "companies.id", "operator": operator, "value": value}) == expected
    as_text = [str(pk) for pk in ids] if operator in ("IN", "NIN") else str(ids[0])  # as Intercom's SDKs send ids
    assert names({"field": "companies.id", "operator": operator, "value": as_text}) == expected


def test_companies_id_null_is_the_contacts_at_no_company(people):
    assert names({"field": "companies.id", "operator": "=", "value": None}) == ["Lone"]
    assert names({"field": "companies.id", "operator": "!=", "value": None}) == [
        "Bo", "Gavin", "Pepper", "Richard", "Tony",
    ]  # fmt: skip


def test_company_fields_combine_with_the_others_and_keep_the_contacts_rules(people):
    ContactFactory(name="Visitor")  # an anonymous visitor (at no company): not one of the search's contacts
    company_services.company_attach(company=people["hooli"], contact=UserContactFactory(name="Ex", is_archived=True))
    stark = {"field": "companies.id", "operator": "=", "value": people["stark"].pk}
    assert names({"operator": "AND", "value": [by_name("=", "hooli"), stark]}) == ["Pepper"]
    assert names({"operator": "OR", "value": [by_name("^", "pied"), {"field": "name", "operator": "=", "value": "lone"}]}) == [
        "Lone", "Richard",
    ]  # fmt: skip
    assert names(by_name("=", "hooli")) == ["Gavin", "Pepper"]
    archived = {"field": "archived", "operator": "=", "value": True}
    assert names({"operator": "AND", "value": [by_name("=", "hooli"), archived]}) == ["Ex"]


def test_a_search_through_companies_is_one_query_whatever_the_number_of_company_filters(people):
    def queries(query) -> int:
        with CaptureQueriesContext(connection) as captured:
            list(contacts_matching(query))
        return len(captured)

    many = {"operator": "OR", "value": [
        by_name("~", "i"), by_name("!=", "x"), by_name("IN", ["a", "b"]),
        {"field": "companies.id", "operator": "NIN", "value": [people["hooli"].pk]},
        {"field": "companies.id", "operator": "=", "value": None},
    ]}  # fmt: skip
    assert queries(by_name("=", "hooli")) == queries(many) == 1
    UserContactFactory.create_batch(5)
    assert queries(many) == 1


@pytest.mark.parametrize(
    ("field", "operator", "value"),
    [
        ("companies.name", "=", "a\x00b"),
        ("companies.name", "~", "\ud800"),
        ("companies.name", "IN", ["ok", "\udfff"]),
        ("companies.name", "~", "x" * 1001),
        ("companies.name", ">", "a"),
        ("companies.name", "<", "a"),
        ("companies.name", "~", ["hooli"]),
        ("companies.name", "=", {"name": "hooli"}),
        ("companies.name", "=", True),
        ("companies.name", "=", None),
        ("companies.name", "IN", []),
        ("companies.name", "IN", "hooli"),
        ("companies.name", "NIN", ["x"] * (MAX_IN_VALUES + 1)),
        ("companies.id", "=", "1e400"),
        ("companies.id", "=", float("inf")),
        ("companies.id", "=", 1.5),
        ("companies.id", "=", "٣"),
        ("companies.id", "=", "abc"),
        ("companies.id", "=", "<script>"),
        ("companies.id", "=", 2**70),
        ("companies.id", "=", True),
        ("companies.id", "~", "1"),
        ("companies.id", ">", 1),
        ("companies.id", "^", "1"),
        ("companies.id", "IN", list(range(MAX_IN_VALUES + 1))),
        ("companies.id", "NIN", [1, "x\x00"]),
    ],
)
def test_hostile_company_filters_are_refused_naming_the_field(people, field, operator, value):
    with pytest.raises(ValidationError) as refused:
        contact_search_q({"field": field, "operator": operator, "value": value})
    assert list(refused.value.message_dict) == [field]


def test_a_query_over_the_size_caps_through_company_fields_is_refused_naming_query(people):
    lists = [by_name("IN", [f"c{index}-{n}" for n in range(MAX_IN_VALUES)]) for index in range(11)]
    with pytest.raises(ValidationError) as refused:
        contact_search_q({"operator": "OR", "value": lists})  # 11,000 values
    assert list(refused.value.message_dict) == ["query"]


def test_the_longest_allowed_in_lists_run(people):
    hooli = people["hooli"]
    values = [f"other {n}" for n in range(MAX_IN_VALUES - 1)] + ["HOOLI"]
    ids = [*range(10**6, 10**6 + MAX_IN_VALUES - 1), hooli.pk]
    query = {
        "operator": "AND",
        "value": [by_name("IN", values), {"field": "companies.id", "operator": "IN", "value": ids}],
    }
    assert names(query) == ["Gavin", "Pepper"]
