"""A search's size caps: every query within them runs on SQLite and PostgreSQL, one filter or one value more is a
400 naming `query` (never a 503), and a statement the database refuses as too large is no outage."""

import logging

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, connections
from django.test.utils import CaptureQueriesContext

from common import outage
from contacts import search
from contacts.models import DataAttribute
from conversations.services import conversation_start_by_contact
from segments import services
from segments.selectors import contact_segments
from tests.api.test_auth_and_errors import assert_error
from tests.contacts.factories import DataAttributeFactory, LeadFactory, TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db

CONTACTS = "/api/contacts/search"
CONVERSATIONS = "/api/conversations/search"
GROUP = search.MAX_FILTERS_PER_GROUP


def or_tree(leaves: list[dict]) -> dict:
    """The leaves in OR groups of OR groups under one OR (three levels, as deep as a query nests): Django joins
    them into one flat chain, the longest a query can make."""
    groups = [{"operator": "OR", "value": leaves[i : i + GROUP]} for i in range(0, len(leaves), GROUP)]
    middles = [{"operator": "OR", "value": groups[i : i + GROUP]} for i in range(0, len(groups), GROUP)]
    assert len(middles) <= GROUP
    return {"operator": "OR", "value": middles}


def intercoms_three_levels() -> dict:
    """The review's query: three levels of 15, 3,375 filters, within the nesting and per-group limits."""
    leaf = {"field": "id", "operator": "=", "value": "1"}
    return {
        "operator": "OR",
        "value": [{"operator": "OR", "value": [{"operator": "OR", "value": [leaf] * 15}] * 15}] * 15,
    }


def in_lists(field: str, value: str | int, count: int) -> list[dict]:
    """`field IN` `count` copies of `value`, in lists of at most MAX_IN_VALUES."""
    sizes = [search.MAX_IN_VALUES] * (count // search.MAX_IN_VALUES) + [count % search.MAX_IN_VALUES]
    return [{"field": field, "operator": "IN", "value": [value] * size} for size in sizes if size]


def found(response) -> list[int]:
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    return sorted(int(row["id"]) for row in body.get("data", body.get("conversations")))


def heaviest_at_the_caps(*, attribute: str, target_email: str, filters: int, values: int) -> dict:
    """A query of exactly `filters` filters and `values` values, of the kinds that cost the most SQL, in one OR
    chain: custom attributes (a path and a value per comparison on SQLite), email domains (compared one value at
    a time), leads (two roles per value), missing attributes (three conditions per filter); the last filter,
    `email IN`, selects the target and takes the values left."""
    # The values compared one at a time (custom attributes, email domains) as many as a query may hold, the rest
    # in lists that compile to one SQL IN (roles: two per value).
    half = search.MAX_QUERY_VALUES_ONE_BY_ONE // 2
    one_by_one = [
        {"field": f"custom_attributes.{attribute}", "operator": "IN", "value": [f"plan-{i}" for i in range(half)]},
        {"field": "email_domain", "operator": "IN", "value": [f"d{i}.example" for i in range(half)]},
    ]
    roles = {"field": "role", "operator": "IN", "value": ["lead"] * 1000}
    lists = 2 + (values - filters - 2 * half) // 999
    left = values - 2 * half - (lists - 2) * 1000 - (filters - lists - 1)
    assert 1 <= left <= 1000
    leaves = [*one_by_one, *[roles] * (lists - 2)]
    leaves += [{"field": f"custom_attributes.{attribute}", "operator": "=", "value": None}] * (filters - lists - 1)
    leaves.append({"field": "email", "operator": "IN", "value": [target_email] * left})
    query = or_tree(leaves)
    assert search.query_size(query) == search.QuerySize(filters, values, search.MAX_QUERY_VALUES_ONE_BY_ONE)
    return query


def test_a_contact_search_at_both_caps_runs_and_one_filter_or_one_value_more_is_a_400(api):
    attribute = DataAttributeFactory(name="plan", model=DataAttribute.Model.CONTACT).name
    target = UserContactFactory(email="ada@example.com", custom_attributes={"plan": "x"})
    LeadFactory(email="lead@other.example")  # a lead: the role IN lists select it
    filters, values = search.MAX_QUERY_FILTERS, search.MAX_QUERY_VALUES
    query = heaviest_at_the_caps(attribute=attribute, target_email=target.email, filters=filters, values=values)
    assert target.pk in found(api.post(CONTACTS, {"query": query}, format="json"))

    for over in ({"filters": filters + 1, "values": values}, {"filters": filters, "values": values + 1}):
        query = heaviest_at_the_caps(attribute=attribute, target_email=target.email, **over)
        response = api.post(CONTACTS, {"query": query}, format="json")
        assert_error(response, 400, "parameter_invalid", field="query")
        assert f"at most {filters} filters and {values:,} values" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("field", ["custom_attributes.seats", "email_domain"])
def test_values_compared_one_at_a_time_are_capped_over_the_whole_query(api, field):
    # 10 lists of 1,000 custom-attribute values passed the other caps and held a worker 20 s and 1 GB.
    DataAttributeFactory(name="seats", model=DataAttribute.Model.CONTACT, data_type=DataAttribute.DataType.INTEGER)
    target = UserContactFactory(email="ada@d7.example", custom_attributes={"seats": 7})
    value = (lambda i: i) if field.startswith("custom") else (lambda i: f"d{i}.example")
    cap = search.MAX_QUERY_VALUES_ONE_BY_ONE
    lists = [{"field": field, "operator": "IN", "value": [value(i) for i in range(start, start + 500)]}
             for start in range(0, cap, 500)]  # fmt: skip
    assert found(api.post(CONTACTS, {"query": {"operator": "OR", "value": lists}}, format="json")) == [target.pk]
    lists[-1]["value"].append(value(cap))
    response = api.post(CONTACTS, {"query": {"operator": "OR", "value": lists}}, format="json")
    assert_error(response, 400, "parameter_invalid", field="query")
    assert "at most 1,000 values in a whole query" in response.json()["errors"][0]["message"]


def test_segments_named_by_segment_id_carry_their_values_compared_one_at_a_time(api, superuser):
    DataAttributeFactory(name="seats", model=DataAttribute.Model.CONTACT, data_type=DataAttribute.DataType.INTEGER)
    target = UserContactFactory(custom_attributes={"seats": 7})
    heavy = services.segment_create(
        name="Seats", query={"field": "custom_attributes.seats", "operator": "IN", "value": list(range(600))},
        teammate=superuser,
    )  # fmt: skip
    once = {"field": "segment_id", "operator": "=", "value": str(heavy.pk)}
    assert found(api.post(CONTACTS, {"query": once}, format="json")) == [target.pk]
    twice = {**once, "operator": "IN", "value": [str(heavy.pk)] * 2}  # 1,200 values compared one at a time
    response = api.post(CONTACTS, {"query": twice}, format="json")
    assert_error(response, 400, "parameter_invalid", field="query")
    assert "at most 1,000 values in a whole query" in response.json()["errors"][0]["message"]


def test_intercoms_three_levels_of_fifteen_is_a_400_naming_query_not_a_503(api):
    for path in (CONTACTS, CONVERSATIONS):
        response = api.post(path, {"query": intercoms_three_levels()}, format="json")
        assert_error(response, 400, "parameter_invalid", field="query")
        assert "Retry-After" not in response


def test_a_conversation_search_at_the_caps_runs_and_one_filter_more_is_a_400(api):
    conversation = conversation_start_by_contact(contact=UserContactFactory(), body="Hello")
    mine = in_lists("id", str(conversation.pk), search.MAX_QUERY_VALUES - search.MAX_QUERY_FILTERS + 10)
    assert len(mine) == 10
    others = [{"field": "state", "operator": "=", "value": "snoozed"}] * (search.MAX_QUERY_FILTERS - len(mine))
    at_cap = or_tree([*others, *mine])
    assert search.query_size(at_cap) == search.QuerySize(search.MAX_QUERY_FILTERS, search.MAX_QUERY_VALUES)
    assert found(api.post(CONVERSATIONS, {"query": at_cap}, format="json")) == [conversation.pk]
    one_filter_more = or_tree([*others, {"field": "tag_ids", "operator": "IN", "value": ["1"]}, *mine])
    one_filter_more["value"][-1]["value"][-1]["value"][-1]["value"].pop()  # the values stay at the cap
    assert search.query_size(one_filter_more).filters == search.MAX_QUERY_FILTERS + 1
    assert search.query_size(one_filter_more).values == search.MAX_QUERY_VALUES
    response = api.post(CONVERSATIONS, {"query": one_filter_more}, format="json")
    assert_error(response, 400, "parameter_invalid", field="query")


@pytest.mark.parametrize(
    ("field", "value", "operator"),
    [("email_domain", "d500.example", "IN"), ("created_at", None, "IN"), ("custom_attributes.plan", "p500", "IN")],
)
def test_a_list_compared_one_value_at_a_time_runs_whole_and_still_selects_exactly(api, field, value, operator):
    DataAttributeFactory(name="plan", model=DataAttribute.Model.CONTACT)
    contact = UserContactFactory(email="ada@d500.example", custom_attributes={"plan": "p500"})
    UserContactFactory(email="bob@elsewhere.example", custom_attributes={"plan": "other"})
    values = {
        "email_domain": [f"d{i}.example" for i in range(1000)],
        "created_at": [str(int(contact.created_at.timestamp()) + i) for i in range(-500, 500)],
        "custom_attributes.plan": [f"p{i}" for i in range(1000)],
    }[field]
    if field == "created_at":
        contact.created_at = contact.created_at.replace(microsecond=0)
        contact.save(update_fields=["created_at"])
    query = {"field": field, "operator": "IN", "value": values}
    assert found(api.post(CONTACTS, {"query": query}, format="json")) == [contact.pk]
    nin = found(api.post(CONTACTS, {"query": {**query, "operator": "NIN"}}, format="json"))
    assert contact.pk not in nin and len(nin) == 1


def segment_of(teammate, name: str, *, contact_id: int, values: int):
    """A contact segment of `id IN` lists holding `values` values in all, its member the contact `contact_id`."""
    query = {"operator": "OR", "value": in_lists("id", contact_id, values)}
    return services.segment_create(name=name, query=query, teammate=teammate)


def test_segment_id_counts_the_filters_and_values_of_the_segments_it_names(api, teammate):
    contact = UserContactFactory()
    # A segment keeps at most 20,000 bytes of filter: the caps are reached by naming several.
    segments = [segment_of(teammate, f"S{i}", contact_id=contact.pk, values=2_000) for i in range(5)]
    four = {"field": "segment_id", "operator": "IN", "value": [str(s.pk) for s in segments[:4]]}
    # 1 filter and 4 values, carrying 8 filters and 8,000 values; `id IN` lists take the values left.
    left = search.MAX_QUERY_VALUES - 4 - 8_000
    at_cap = {"operator": "OR", "value": [four, *in_lists("id", "0", left)]}
    assert search.query_size(at_cap).values + 8_000 == search.MAX_QUERY_VALUES
    assert found(api.post(CONTACTS, {"query": at_cap}, format="json")) == [contact.pk]
    one_value_more = {"operator": "OR", "value": [four, *in_lists("id", "0", left + 1)]}
    response = api.post(CONTACTS, {"query": one_value_more}, format="json")
    assert_error(response, 400, "parameter_invalid", field="query")
    all_five = {**four, "value": [str(s.pk) for s in segments]}  # 10,005 values with their filters
    assert_error(api.post(CONTACTS, {"query": all_five}, format="json"), 400, "parameter_invalid", field="query")


def test_the_deepest_search_at_the_filter_cap_runs_through_tags_and_a_segment_through_tags(api, teammate):
    # The segment's members are a subquery of the search, each tag filter an EXISTS below their chain: SQLite
    # counts the OR chains again at each level.
    tag = TagFactory(name="vip")
    contact = UserContactFactory()
    contact.tags.add(tag)
    half = search.MAX_QUERY_FILTERS // 2
    tagged = [{"field": "tag_id", "operator": "=", "value": str(tag.pk)}]
    by_name = [{"field": "name", "operator": "=", "value": f"n{i}"} for i in range(half - 1)]
    segment = services.segment_create(name="Tagged", query=or_tree([*by_name, *tagged]), teammate=teammate)
    named = {"field": "segment_id", "operator": "=", "value": str(segment.pk)}
    at_cap = or_tree([*by_name[: search.MAX_QUERY_FILTERS - half - 2], *tagged, named])
    assert search.query_size(at_cap).filters + half == search.MAX_QUERY_FILTERS
    assert found(api.post(CONTACTS, {"query": at_cap}, format="json")) == [contact.pk]
    one_more = or_tree([*by_name[: search.MAX_QUERY_FILTERS - half - 1], *tagged, named])
    assert_error(api.post(CONTACTS, {"query": one_more}, format="json"), 400, "parameter_invalid", field="query")


def test_a_segment_over_the_caps_is_refused_when_saved_naming_query(teammate):
    with pytest.raises(ValidationError) as refused:
        services.segment_create(name="Huge", query=intercoms_three_levels(), teammate=teammate)
    assert refused.value.message_dict == {"query": [search.QUERY_TOO_LARGE]}


def test_a_contact_page_reads_segments_whose_filters_together_exceed_one_statement(teammate):
    contact = UserContactFactory()
    segments = [segment_of(teammate, f"S{i:02}", contact_id=contact.pk, values=2_000) for i in range(12)]
    # 24,000 values in all: three statements, each within a search's caps.
    with CaptureQueriesContext(connection) as queries:
        held = contact_segments(contact=contact)
    assert held == segments
    assert len(queries) == 1 + 3  # the segment list, then one statement per run


def test_a_statement_the_database_finds_too_large_is_no_outage_but_an_unreachable_database_is():
    too_large = ["SELECT 1" + " + 1" * 200_000]  # as deep as it is long on both
    if connection.vendor == "sqlite":  # PostgreSQL flattens an OR chain; SQLite parses it as deep as it is long
        too_large.append("SELECT 1 WHERE " + " OR ".join(["1 = 1"] * 2_000))
    for sql in too_large:
        with pytest.raises(OperationalError) as refused, connection.cursor() as cursor:
            cursor.execute(sql)
        assert outage.is_statement_too_large(refused.value), refused.value
        assert not outage.is_service_unavailable(refused.value)

    unreachable = connections.create_connection("default")
    unreachable.settings_dict = {**unreachable.settings_dict, "PORT": "1", "NAME": "/nonexistent/dir/db.sqlite3"}
    try:
        with pytest.raises(OperationalError) as down:
            unreachable.ensure_connection()
    finally:
        unreachable.close()
    assert outage.is_service_unavailable(down.value) and not outage.is_statement_too_large(down.value)


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_a_search_the_database_refuses_answers_500_with_the_real_error_in_the_log(api, monkeypatch, caplog):
    # Only if the caps were wrong: lifted here, SQLite refuses the 3,375-long OR chain.
    monkeypatch.setattr(search, "MAX_QUERY_FILTERS", 10_000)
    with caplog.at_level(logging.WARNING):
        response = api.post(CONTACTS, {"query": intercoms_three_levels()}, format="json")
    assert_error(response, 500, "server_error")
    assert "Retry-After" not in response
    assert "Expression tree is too large" in caplog.text
    assert "unavailable" not in caplog.text
