"""POST /contacts/search with relative moments ("now-30d", read when the search runs) and Intercom's `segment_id`
(a segment's members now, combinable with other filters); hostile values are 400s naming the field; a page costs
a fixed number of queries."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.services import conversation_start_by_contact
from segments import services
from segments.models import Segment
from tests.api.test_auth_and_errors import assert_error
from tests.contacts.factories import ContactFactory, LeadFactory, TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db

SEARCH = "/api/contacts/search"
SEEN_30_DAYS = {"field": "last_seen_at", "operator": ">", "value": "now-30d"}


def days_ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def found(api, query, **body) -> list[int]:
    response = api.post(SEARCH, {"query": query, **body}, format="json")
    assert response.status_code == 200, response.content
    return sorted(int(contact["id"]) for contact in response.json()["data"])


def test_relative_moments_select_by_the_time_of_the_search(api):
    recent = UserContactFactory(last_seen_at=days_ago(2))
    month_old = UserContactFactory(last_seen_at=days_ago(40))
    never = UserContactFactory(last_seen_at=None)
    assert found(api, SEEN_30_DAYS) == [recent.pk]
    assert found(api, {**SEEN_30_DAYS, "operator": "<"}) == [month_old.pk]  # last seen more than 30 days ago
    assert found(api, {"field": "last_seen_at", "operator": ">", "value": "now-6w"}) == sorted(
        [recent.pk, month_old.pk]
    )
    assert found(api, {"field": "last_seen_at", "operator": ">", "value": "now-36h"}) == []
    assert found(api, {"field": "created_at", "operator": "<", "value": "now+1d"}) == [
        recent.pk,
        month_old.pk,
        never.pk,
    ]
    assert found(api, {"field": "created_at", "operator": ">", "value": "now+1d"}) == []
    # 29 days on, the same query says something else: it is read when it runs, not when it was written.
    with time_machine.travel(timezone.now() + dt.timedelta(days=29), tick=False):
        assert found(api, SEEN_30_DAYS) == []


def test_today_is_the_start_of_the_day_in_utc(api):
    with time_machine.travel(dt.datetime(2024, 5, 10, 15, tzinfo=dt.UTC), tick=False):
        this_morning = UserContactFactory(last_seen_at=timezone.now().replace(hour=1))
        UserContactFactory(last_seen_at=timezone.now() - dt.timedelta(hours=16))  # yesterday evening
        assert found(api, {"field": "last_seen_at", "operator": ">", "value": "today"}) == [this_morning.pk]
        assert len(found(api, {"field": "last_seen_at", "operator": ">", "value": "today-1d"})) == 2


def test_a_relative_moment_works_in_conversation_search_too(api):
    conversation_start_by_contact(contact=UserContactFactory(), body="Hi")
    response = api.post(
        "/api/conversations/search",
        {"query": {"field": "created_at", "operator": ">", "value": "now-1h"}},
        format="json",
    )
    assert response.status_code == 200 and len(response.json()["conversations"]) == 1


@pytest.mark.parametrize(
    "value",
    [
        "now-1e400d", "now-٣d", "now-²d", "now-30d\x00", "now-9999999d", "now-36501d", "now-5215w", "now - 30d",
        "now-30", "Now-30d", "now-30y", "yesterday", "now-30d\n", "now-0x1fd", "now-1_0d", "1e400",
        {"relative": "-30d"}, ["now-30d"], True, "",
    ],
)  # fmt: skip
def test_hostile_relative_values_are_400s_naming_the_field(api, value):
    response = api.post(SEARCH, {"query": {"field": "last_seen_at", "operator": ">", "value": value}}, format="json")
    # A NUL is refused by the body's own check, which names its place in the body.
    assert_error(response, 400, "parameter_invalid", "query.value" if "\x00" in str(value) else "last_seen_at")


@pytest.mark.parametrize("operator", ["=", "!=", "IN", "NIN"])
def test_a_relative_moment_is_compared_with_greater_or_less_than_only(api, operator):
    value = ["now-30d"] if operator in ("IN", "NIN") else "now-30d"
    response = api.post(
        SEARCH, {"query": {"field": "last_seen_at", "operator": operator, "value": value}}, format="json"
    )
    assert_error(response, 400, "parameter_invalid", "last_seen_at")
    assert "> or <" in response.json()["errors"][0]["message"]


# --- segment_id ----------------------------------------------------------------------------------


@pytest.fixture
def recent_users(teammate) -> Segment:
    return services.segment_create(
        name="Recent users",
        query={"operator": "AND", "value": [{"field": "role", "operator": "=", "value": "user"}, SEEN_30_DAYS]},
        teammate=teammate,
    )


def test_segment_id_finds_the_segments_members_now_and_combines_with_other_filters(api, recent_users):
    vip = TagFactory(name="VIP")
    ada = UserContactFactory(last_seen_at=days_ago(1), name="Ada")
    bo = UserContactFactory(last_seen_at=days_ago(3), name="Bo")
    bo.tags.add(vip)
    cy = UserContactFactory(last_seen_at=days_ago(45), name="Cy")
    LeadFactory(last_seen_at=days_ago(1))
    ContactFactory(last_seen_at=days_ago(1))  # an anonymous visitor: in no contact segment
    segment = {"field": "segment_id", "operator": "=", "value": str(recent_users.pk)}
    assert found(api, segment) == sorted([ada.pk, bo.pk])
    assert found(api, {**segment, "value": recent_users.pk}) == sorted([ada.pk, bo.pk])  # a number works too
    assert found(
        api, {"operator": "AND", "value": [segment, {"field": "tag_id", "operator": "=", "value": str(vip.pk)}]}
    ) == [bo.pk]
    named_cy = {"field": "name", "operator": "=", "value": "Cy"}
    assert found(api, {"operator": "OR", "value": [segment, named_cy]}) == sorted([ada.pk, bo.pk, cy.pk])
    users = {"field": "role", "operator": "=", "value": "user"}
    assert found(api, {"operator": "AND", "value": [{**segment, "operator": "!="}, users]}) == [cy.pk]
    assert found(api, {"field": "segment_id", "operator": "IN", "value": [str(recent_users.pk)]}) == sorted(
        [ada.pk, bo.pk]
    )


def test_a_segment_that_holds_archived_contacts_keeps_them_in_a_search_by_its_id(api, teammate):
    archived = UserContactFactory(is_archived=True)
    UserContactFactory()
    segment = services.segment_create(
        name="Archived", query={"field": "archived", "operator": "=", "value": True}, teammate=teammate
    )
    assert found(api, {"field": "segment_id", "operator": "=", "value": str(segment.pk)}) == [archived.pk]


@pytest.mark.parametrize(
    "value", ["999999", "1e400", "٣", "²", "abc", "9" * 30, "", None, True, 1.5, {"id": "1"}, "1\x00"]
)
def test_an_unknown_or_malformed_segment_id_is_a_400_naming_segment_id(api, recent_users, value):
    response = api.post(SEARCH, {"query": {"field": "segment_id", "operator": "=", "value": value}}, format="json")
    # A NUL is refused by the body's own check, which names its place in the body.
    assert_error(response, 400, "parameter_invalid", "query.value" if value == "1\x00" else "segment_id")


@pytest.mark.parametrize("field", ["last_seen_at", "segment_id"])
def test_an_infinite_json_number_is_a_400(api, field):
    body = '{"query": {"field": "FIELD", "operator": ">", "value": 1e400}}'.replace("FIELD", field)
    assert_error(api.post(SEARCH, body, content_type="application/json"), 400, "parameter_invalid", "query.value")


def test_a_company_segment_is_a_400_naming_segment_id(api, teammate):
    companies = services.segment_create(
        name="Enterprise", query={"field": "plan", "operator": "=", "value": "enterprise"}, teammate=teammate,
        person_type=Segment.PersonType.COMPANY,
    )  # fmt: skip
    response = api.post(
        SEARCH, {"query": {"field": "segment_id", "operator": "=", "value": str(companies.pk)}}, format="json"
    )
    assert_error(response, 400, "parameter_invalid", "segment_id")
    assert "segment of companies" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(("operator", "value"), [(">", "1"), ("~", "1"), ("IN", []), ("IN", "1"), ("NIN", ["1"] * 300)])
def test_segment_id_operators_are_checked(api, recent_users, operator, value):
    response = api.post(SEARCH, {"query": {"field": "segment_id", "operator": operator, "value": value}}, format="json")
    assert_error(response, 400, "parameter_invalid", "segment_id")


def test_a_search_by_segment_costs_a_fixed_number_of_queries(api, teammate, recent_users):
    api.get("/api/me")  # the token's last use is written once a minute: not part of the count
    others = [
        services.segment_create(name=f"Seen {days}", query={**SEEN_30_DAYS, "value": f"now-{days}d"}, teammate=teammate)
        for days in (7, 14, 60)
    ]
    tag = TagFactory()
    for contact in UserContactFactory.create_batch(3, last_seen_at=days_ago(1)):
        contact.tags.add(tag)

    def count(query, per_page: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = api.post(SEARCH, {"query": query, "pagination": {"per_page": per_page}}, format="json")
            assert response.status_code == 200, response.content
        return len(queries)

    one = {"field": "segment_id", "operator": "=", "value": str(recent_users.pk)}
    baseline = count(SEEN_30_DAYS, 2)
    assert count(one, 2) == count(one, 50) == baseline + 1  # + the segment itself
    many = {"operator": "OR", "value": [one, *({**one, "value": str(s.pk)} for s in others)]}
    assert count(many, 50) == baseline + 1  # every segment named, in one query
    UserContactFactory.create_batch(6, last_seen_at=days_ago(2))
    assert count(many, 50) == baseline + 1


def test_a_segment_cannot_hold_another_segment(teammate, recent_users):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        services.segment_create(
            name="Nested", query={"field": "segment_id", "operator": "=", "value": str(recent_users.pk)},
            teammate=teammate,
        )  # fmt: skip
    assert refused.value.message_dict["query"] == [
        "segment_id: a segment cannot name another segment; use its filters."
    ]
