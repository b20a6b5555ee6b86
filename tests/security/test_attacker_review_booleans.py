"""Values an outside attacker review found read loosely through the API, kept strict: a boolean that is not true or
false (a JSON boolean, or its text in any case, as every boolean of the search language) is a 400 naming the field,
never quietly false; so is a conversation state or priority that is none of theirs (`state != "opne"` matched all)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from api.services import api_token_create
from companies import services as company_services
from companies.models import CompanyTag
from contacts import services as contact_services
from contacts.models import ContactTag
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from conversations import services
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import TagFactory, UserContactFactory
from tests.security.conftest import assert_json_error

pytestmark = pytest.mark.django_db

SEARCH = "/api/conversations/search"


@pytest.fixture
def conversations(superuser):
    """One open conversation and one closed, both read by the teammates."""
    still_open = services.conversation_start_by_contact(contact=UserContactFactory(), body="Help")
    closed = services.conversation_start_by_contact(contact=UserContactFactory(), body="Thanks")
    services.conversation_close(conversation=closed, teammate=superuser)
    return still_open, closed


def _found(api, query):
    response = api.post(SEARCH, {"query": query}, format="json")
    assert response.status_code == 200, response.json()
    return {int(c["id"]) for c in response.json()["conversations"]}


@pytest.mark.parametrize("field", ["open", "read"])
@pytest.mark.parametrize(
    "value", ['"banana"', '"yes"', '"1"', '""', '"true "', '"<b>true</b>"', '"٣"', "1", "0", "null", "[true]",
              '{"value": true}'],
)  # fmt: skip
def test_a_search_on_open_or_read_with_anything_but_true_or_false_is_refused(api, conversations, field, value):
    body = f'{{"query": {{"field": "{field}", "operator": "=", "value": {value}}}}}'
    response = api.post(SEARCH, body, content_type="application/json")
    assert_json_error(response, status=400, field=field)


@pytest.mark.parametrize("value", ['"tru\\u0000e"', '"\\ud800"', "1e400"])
def test_what_no_column_holds_is_refused_naming_where_it_is(api, conversations, value):
    body = f'{{"query": {{"field": "open", "operator": "=", "value": {value}}}}}'
    assert_json_error(api.post(SEARCH, body, content_type="application/json"), status=400, field="query.value")


def test_open_is_true_or_false_or_their_text_in_any_case(api, conversations):
    still_open, closed = conversations
    for value in (True, "true", "TRUE", "True"):
        assert _found(api, {"field": "open", "operator": "=", "value": value}) == {still_open.pk}
        assert _found(api, {"field": "open", "operator": "!=", "value": value}) == {closed.pk}
    for value in (False, "false", "False"):
        assert _found(api, {"field": "open", "operator": "=", "value": value}) == {closed.pk}


@pytest.mark.parametrize("operator", [">", "<", "~", "IN", "NIN"])
def test_open_takes_no_other_operator(api, conversations, operator):
    value = [True] if operator in ("IN", "NIN") else True
    response = api.post(SEARCH, {"query": {"field": "open", "operator": operator, "value": value}}, format="json")
    assert_json_error(response, status=400, field="open")


@pytest.mark.parametrize("field", ["state", "priority"])
@pytest.mark.parametrize("value", ['"opne"', '"Open"', '"<b>open</b>"', '"٣"', "1", "true", '["open", "x"]', "{}"])
def test_a_state_or_priority_that_is_none_of_theirs_is_refused(api, conversations, field, value):
    for operator in ("IN", "NIN") if value.startswith("[") else ("=", "!="):
        body = f'{{"query": {{"field": "{field}", "operator": "{operator}", "value": {value}}}}}'
        assert_json_error(api.post(SEARCH, body, content_type="application/json"), status=400, field=field)


def test_states_and_priorities_still_search(api, conversations):
    still_open, closed = conversations
    assert _found(api, {"field": "state", "operator": "!=", "value": "closed"}) == {still_open.pk}
    assert _found(api, {"field": "state", "operator": "IN", "value": ["open", "snoozed"]}) == {still_open.pk}
    assert _found(api, {"field": "priority", "operator": "=", "value": "not_priority"}) == {still_open.pk, closed.pk}


# --- POST /tags: `untag` of each user or company ----------------------------------------------------------------


def _token_of(group):
    user = get_user_model().objects.create_user(group, f"{group}@parley.test", "x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    _token, raw = api_token_create(user=user, name=group)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def tagged():
    """A user and a company, both tagged "VIP"."""
    tag = TagFactory(name="VIP")
    contact, company = UserContactFactory(), CompanyFactory(company_id="acme")
    contact_services.contact_tag(contact=contact, tag=tag)
    company_services.company_tag(company=company, tag=tag)
    return tag, contact, company


def _references(key, reference, untag):
    return {"name": "VIP", key: [{**reference, "untag": untag}]}


def _links(tag):
    return ContactTag.objects.filter(tag=tag).count(), CompanyTag.objects.filter(tag=tag).count()


@pytest.mark.parametrize("key", ["users", "companies"])
@pytest.mark.parametrize("untag", [True, "true", "TRUE", "True"])
def test_untag_as_true_or_its_text_untags(api, tagged, key, untag):
    tag, contact, company = tagged
    reference = {"id": str(contact.pk)} if key == "users" else {"company_id": company.company_id}
    response = api.post("/api/tags", _references(key, reference, untag), format="json")
    assert response.status_code == 200, response.json()
    assert _links(tag) == ((0, 1) if key == "users" else (1, 0))


@pytest.mark.parametrize("key", ["users", "companies"])
@pytest.mark.parametrize("untag", [False, "false", None])
def test_untag_as_false_its_text_or_null_tags(api, tagged, key, untag):
    tag, _contact, _company = tagged
    reference = {"id": str(UserContactFactory().pk)} if key == "users" else {"company_id": CompanyFactory().company_id}
    assert api.post("/api/tags", _references(key, reference, untag), format="json").status_code == 200
    assert _links(tag) == ((2, 1) if key == "users" else (1, 2))


@pytest.mark.parametrize("key", ["users", "companies"])
@pytest.mark.parametrize(
    "untag", ['"yes"', '"1"', '""', '"banana"', '"true "', '"<script>alert(1)</script>"', '"٣"', "1", "0", "[true]",
              '{"untag": true}'],
)  # fmt: skip
def test_any_other_untag_is_refused_naming_it_and_changes_nothing(api, tagged, key, untag):
    tag, contact, _company = tagged
    reference = f'"id": "{contact.pk}"' if key == "users" else '"company_id": "acme"'
    body = f'{{"name": "VIP", "{key}": [{{{reference}, "untag": {untag}}}]}}'
    response = api.post("/api/tags", body, content_type="application/json")
    assert_json_error(response, status=400, field=f"{key}[0].untag")
    assert _links(tag) == (1, 1)


@pytest.mark.parametrize("untag", ['"tr\\u0000ue"', '"\\ud800"', "1e400"])
def test_what_no_column_holds_in_untag_is_refused_naming_it(api, tagged, untag):
    _tag, contact, _company = tagged
    body = f'{{"name": "VIP", "users": [{{"id": "{contact.pk}", "untag": {untag}}}]}}'
    assert_json_error(api.post("/api/tags", body, content_type="application/json"), status=400, field="users[0].untag")
    assert _links(tagged[0]) == (1, 1)


def test_a_viewer_may_not_untag_through_a_string_and_an_agent_may(tagged):
    tag, contact, company = tagged
    body = {"name": "VIP", "users": [{"id": str(contact.pk), "untag": "true"}],
            "companies": [{"id": str(company.pk), "untag": "true"}]}  # fmt: skip
    viewer, agent = _token_of(VIEWER_GROUP), _token_of(AGENT_GROUP)
    assert_json_error(viewer.post("/api/tags", body, format="json"), status=403)
    assert _links(tag) == (1, 1)
    assert agent.post("/api/tags", body, format="json").status_code == 200
    assert _links(tag) == (0, 0)
    # A viewer may not write tags at all, whatever the value; an agent's bad value is named.
    body["companies"][0]["untag"] = "yes"
    assert_json_error(viewer.post("/api/tags", body, format="json"), status=403)
    assert_json_error(agent.post("/api/tags", body, format="json"), status=400, field="companies[0].untag")
