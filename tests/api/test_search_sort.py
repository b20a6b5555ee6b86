"""Contact and conversation search with `sort: {field, order}` on indexed fields: order, paging, refusals, query counts."""

import base64
import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact
from conversations import services
from conversations.models import Conversation
from tests.api.test_auth_and_errors import assert_error
from tests.contacts.factories import UserContactFactory

pytestmark = pytest.mark.django_db

EVERY_USER = {"field": "role", "operator": "=", "value": "user"}


def _all_pages(api, path, body):
    """Every id in the order the pages give them, following pages.next."""
    ids, pages = [], 0
    while True:
        answer = api.post(path, body, format="json")
        assert answer.status_code == 200, answer.content
        data = answer.json()
        key = "data" if "data" in data else "conversations"
        ids += [item["id"] for item in data[key]]
        pages += 1
        following = data["pages"].get("next")
        if not following:
            return ids, pages
        body = {**body, "pagination": {**body.get("pagination", {}), "starting_after": following["starting_after"]}}


@pytest.fixture
def users():
    base = timezone.now().replace(microsecond=0)
    # Ties (same signed_up_at) and nulls: the primary key breaks ties.
    moments = [base - dt.timedelta(days=2), None, base, base - dt.timedelta(days=2), None, base + dt.timedelta(seconds=1),
               base - dt.timedelta(microseconds=5)]  # fmt: skip
    return [UserContactFactory(signed_up_at=moment) for moment in moments]


@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_contacts_sorted_by_a_date_page_through_in_order_with_ties_and_nulls(api, users, order):
    body = {"query": EVERY_USER, "sort": {"field": "signed_up_at", "order": order}, "pagination": {"per_page": 2}}
    ids, pages = _all_pages(api, "/api/contacts/search", body)
    with_value = sorted((u for u in users if u.signed_up_at), key=lambda u: (u.signed_up_at, u.pk),
                        reverse=order == "descending")  # fmt: skip
    without = sorted((u for u in users if not u.signed_up_at), key=lambda u: u.pk, reverse=order == "descending")
    # Nulls count as the largest value (as in a PostgreSQL index): last ascending, first descending.
    expected = with_value + without if order == "ascending" else without + with_value
    assert ids == [str(u.pk) for u in expected]
    assert pages == 4


def test_contacts_sorted_by_external_id_and_by_id_ascending(api):
    made = [UserContactFactory(external_id=name) for name in ("b", "a", "c")]
    body = {"query": EVERY_USER, "sort": {"field": "external_id", "order": "ascending"}, "pagination": {"per_page": 1}}
    assert _all_pages(api, "/api/contacts/search", body)[0] == [str(made[1].pk), str(made[0].pk), str(made[2].pk)]
    body["sort"] = {"field": "id", "order": "ascending"}
    assert _all_pages(api, "/api/contacts/search", body)[0] == [str(c.pk) for c in made]


def test_the_default_order_is_descending(api, users):
    ids, _ = _all_pages(api, "/api/contacts/search", {"query": EVERY_USER, "sort": {"field": "signed_up_at"}})
    assert ids[2] == str(users[5].pk)  # after the two without a sign-up time


@pytest.mark.parametrize(
    ("sort", "field"),
    [
        ({"field": "name"}, "sort.field"),  # searchable, but not indexed for ordering
        ({"field": "custom_attributes.plan"}, "sort.field"),
        ({"field": "<script>x</script>"}, "sort.field"),
        ({"field": ""}, "sort.field"),
        ({"field": 5}, "sort.field"),
        ({"field": "created_at", "order": "sideways"}, "sort.order"),
        ("created_at", "sort"),
        ([{"field": "created_at"}], "sort"),
    ],
)
def test_sorting_on_an_unindexed_or_unknown_field_is_400_naming_it(api, sort, field):
    response = api.post("/api/contacts/search", {"query": EVERY_USER, "sort": sort}, format="json")
    assert_error(response, 400, "parameter_invalid", field)
    if isinstance(sort, dict) and sort.get("field") == "name":
        assert "name" in response.json()["errors"][0]["message"]


def test_a_cursor_from_another_sort_or_forged_is_400(api, users):
    body = {"query": EVERY_USER, "sort": {"field": "signed_up_at"}, "pagination": {"per_page": 2}}
    cursor = api.post("/api/contacts/search", body, format="json").json()["pages"]["next"]["starting_after"]
    other = {**body, "sort": {"field": "created_at"}, "pagination": {"starting_after": cursor}}
    assert_error(api.post("/api/contacts/search", other, format="json"), 400, "parameter_invalid",
                 "pagination.starting_after")  # fmt: skip
    unsorted = {"query": EVERY_USER, "pagination": {"starting_after": cursor}}
    assert_error(api.post("/api/contacts/search", unsorted, format="json"), 400, "parameter_invalid",
                 "pagination.starting_after")  # fmt: skip

    def forged(payload):
        return base64.urlsafe_b64encode(f"c2:{payload}".encode()).decode().rstrip("=")

    for payload in ('[1,2,"signed_up_at","not a number"]', '[1,2,"signed_up_at",1e400]', "[1,2,3]", "{}", "[" * 5000,
                    '[1,2,"signed_up_at",99999999999999999999999]', '[1,2,"signed_up_at",[1]]',
                    '["x",2,"signed_up_at",1]', '[1,2,"signed_up_at","\\u0000"]'):  # fmt: skip
        response = api.post("/api/contacts/search", {**body, "pagination": {"starting_after": forged(payload)}},
                            format="json")  # fmt: skip
        assert response.status_code == 400, (payload, response.content)


def test_a_sorted_search_costs_the_same_queries_for_3_or_40_contacts(api):
    body = {"query": EVERY_USER, "sort": {"field": "last_seen_at", "order": "ascending"}, "pagination": {"per_page": 2}}
    UserContactFactory.create_batch(3)
    api.get("/api/me")  # the token's last use is written once a minute: not part of the count

    def count() -> int:
        first = api.post("/api/contacts/search", body, format="json").json()
        cursor = first["pages"]["next"]["starting_after"]
        with CaptureQueriesContext(connection) as queries:
            page = api.post("/api/contacts/search", {**body, "pagination": {"per_page": 2, "starting_after": cursor}},
                            format="json")  # fmt: skip
        assert page.status_code == 200
        return len(queries)

    small = count()
    UserContactFactory.create_batch(37)
    assert count() == small


def test_conversations_sorted_by_waiting_since_and_created_at(api):
    contacts = UserContactFactory.create_batch(4)
    conversations = [services.conversation_start_by_contact(contact=c, body="Hi") for c in contacts]
    base = timezone.now()
    waiting = [base - dt.timedelta(hours=1), None, base - dt.timedelta(hours=3), base - dt.timedelta(hours=2)]
    for conversation, moment in zip(conversations, waiting, strict=True):
        Conversation.objects.filter(pk=conversation.pk).update(waiting_since=moment)
    body = {"query": {"field": "state", "operator": "=", "value": "open"},
            "sort": {"field": "waiting_since", "order": "ascending"}, "pagination": {"per_page": 1}}  # fmt: skip
    ids, _ = _all_pages(api, "/api/conversations/search", body)
    assert ids == [str(conversations[i].pk) for i in (2, 3, 0, 1)]
    body["sort"] = {"field": "created_at", "order": "ascending"}
    assert _all_pages(api, "/api/conversations/search", body)[0] == [str(c.pk) for c in conversations]
    body["sort"] = {"field": "priority"}
    assert_error(api.post("/api/conversations/search", body, format="json"), 400, "parameter_invalid", "sort.field")


def test_contact_count_is_unchanged_by_sorting(api, users):
    sorted_page = api.post("/api/contacts/search", {"query": EVERY_USER, "sort": {"field": "signed_up_at"}},
                           format="json").json()  # fmt: skip
    assert sorted_page["total_count"] == Contact.objects.count() == len(users)
    assert json.dumps(sorted_page)  # serialisable, no datetimes leak out
