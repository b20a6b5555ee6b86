"""On PostgreSQL a contact search at the filter cap plans and runs in bounded time through the fields that read other
rows, `companies.id`, `companies.name` and `segment_id` (tag filters: test_search_tags.py): 200 of them joined by AND
took the planner minutes, each a subquery it pulled up into a join. And a filter on what a contact lacks stays an
anti-join or an index probe once the rows it reads outgrow work_mem, where a NOT IN rescans them for every contact."""

import pytest
from django.db import connection, transaction

from companies.models import Company, CompanyContact
from segments import services
from segments.selectors import contacts_search
from tests.api.test_search_tags import found, on_postgresql, tree
from tests.contacts.factories import TagFactory, UserContactFactory

pytestmark = [pytest.mark.django_db, on_postgresql]

# Each statement of a search within this: a planner exploding, or a rescan per row, fails the test in seconds.
TIMEOUT = "SET LOCAL statement_timeout = '5s'"


def companies(operator: str, field: str, value) -> dict:
    return {"field": f"companies.{field}", "operator": operator, "value": value}


@pytest.fixture
def two_hundred_companies():
    """Company 000 to 199: Everywhere at each, Most at all but the last, Lone at the last one only."""
    made = Company.objects.bulk_create(Company(company_id=f"c{i}", name=f"Company {i:03}") for i in range(200))
    everywhere, most, lone = (UserContactFactory(name=name) for name in ("Everywhere", "Most", "Lone"))
    UserContactFactory(name="Nowhere")
    CompanyContact.objects.bulk_create(
        [CompanyContact(company=company, contact=everywhere) for company in made]
        + [CompanyContact(company=company, contact=most) for company in made[:-1]]
        + [CompanyContact(company=made[-1], contact=lone)]
    )
    return made


def segments_of(made: list[Company], count: int) -> list:
    return [
        services.segment_create(name=f"At {company.name}", query=companies("=", "id", str(company.pk)), teammate=None)
        for company in made[:count]
    ]


PLANS = {
    "200 companies.id ANDed": (
        lambda made: tree("AND", [companies("=", "id", str(c.pk)) for c in made]),
        ["Everywhere"],
    ),
    "200 companies.name ANDed": (
        lambda made: tree("AND", [companies("~", "name", c.name) for c in made]),
        ["Everywhere"],
    ),
    "200 companies.id ORed, not at the last": (
        lambda made: {
            "operator": "AND",
            "value": [
                tree("OR", [companies("=", "id", str(c.pk)) for c in made[:-1]]),
                companies("!=", "id", str(made[-1].pk)),
            ],
        },
        ["Most"],
    ),
    # Each naming counts its segment's filter: 100 namings are the 200 filters of the cap.
    "100 segment_id ANDed": (
        lambda made: tree(
            "AND", [{"field": "segment_id", "operator": "=", "value": str(s.pk)} for s in segments_of(made, 10) * 10]
        ),
        ["Everywhere", "Most"],
    ),
}


@pytest.mark.parametrize("shape", PLANS)
def test_two_hundred_filters_through_companies_or_segments_plan_and_run_in_bounded_time(api, two_hundred_companies,
                                                                                         shape):  # fmt: skip
    query, expected = PLANS[shape]
    query = query(two_hundred_companies)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(TIMEOUT)
        assert found(api, query) == expected


def plan_nodes(plan: dict) -> list[dict]:
    return [plan, *(node for child in plan.get("Plans", []) for node in plan_nodes(child))]


LACKING = {
    "companies.id = null": lambda acme, segment: companies("=", "id", None),
    "tag_id = null": lambda acme, segment: {"field": "tag_id", "operator": "=", "value": None},
    "companies.id !=": lambda acme, segment: companies("!=", "id", str(acme.pk)),
    "segment_id !=": lambda acme, segment: {"field": "segment_id", "operator": "!=", "value": str(segment.pk)},
}


@pytest.mark.parametrize("lacking", LACKING)
def test_a_filter_on_what_contacts_lack_is_an_anti_join_not_a_rescan_per_contact(lacking):
    # A NOT IN is a subplan hashed only while its rows fit in work_mem: past it (659k tag links), every contact
    # rescanned them all (366 s). An anti-join reads them once, whatever their number.
    acme = Company.objects.create(company_id="acme", name="Acme")
    UserContactFactory(name="Nowhere")
    at_acme = UserContactFactory(name="At Acme")
    at_acme.tags.add(TagFactory(name="vip"))
    CompanyContact.objects.create(company=acme, contact=at_acme)
    segment = services.segment_create(name="At Acme", query=companies("=", "id", str(acme.pk)), teammate=None)
    matching = contacts_search(query=LACKING[lacking](acme, segment))
    assert list(matching.values_list("name", flat=True)) == ["Nowhere"]
    sql, params = matching.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        nodes = plan_nodes(cursor.fetchone()[0][0]["Plan"])
    assert any(node.get("Join Type") == "Anti" for node in nodes)
    assert not [node for node in nodes if "Subplan Name" in node]


def test_parleys_database_runs_without_the_jit_compiler():
    """JIT compilation turned some hostile search shapes into 10-20 s queries (0.1-1.6 s without it): the
    migration turns it off for the database, so every new connection, through PgBouncer too, starts without."""
    import psycopg

    settings = connection.settings_dict
    fresh = psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or None
    )
    try:
        assert fresh.execute("SHOW jit").fetchone()[0] == "off"
    finally:
        fresh.close()
