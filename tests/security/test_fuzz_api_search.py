"""Hypothesis fuzzing of Intercom's search DSL (contacts and conversations): real field names and
operators with hostile values, groups nested past the limits, odd field names. Every answer is a
200 list or a 400 in the error envelope naming a field; never a server error.
"""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.views.conversations import CONVERSATION_FIELDS
from contacts.models import Contact
from contacts.search import CONTACT_FIELDS, OPERATORS
from contacts.services import data_attribute_create
from tests.contacts.factories import ContactFactory
from tests.security.conftest import fuzz_record
from tests.security.test_fuzz_public_endpoints import FUZZ, json_values, text

pytestmark = pytest.mark.django_db
CUSTOM = ["custom_attributes.plan", "custom_attributes.seats", "custom_attributes.ltv", "custom_attributes.vip",
          "custom_attributes.renews_on", "custom_attributes.missing"]  # fmt: skip


def usually(common, rare, *, percent=85):
    """Mostly the plausible strategy (so that cases get past the first check), sometimes the hostile one."""
    return st.integers(min_value=1, max_value=100).flatmap(lambda n: common if n <= percent else rare)


def query_strategy(field_names):
    names = usually(st.sampled_from(field_names), text)
    operators = usually(st.sampled_from(OPERATORS), st.one_of(st.sampled_from(["AND", "OR", "", "=="]), text))
    plausible = st.one_of(
        st.integers(min_value=-5, max_value=2_000_000_000),
        st.sampled_from(["user", "lead", "open", "closed", "priority", "ada@example.com", "example.com", "pro"]),
        st.booleans(),
        st.floats(min_value=-1e6, max_value=1e6),
    )
    scalar = usually(plausible, st.one_of(st.integers(min_value=-(2**70), max_value=2**70), json_values))
    values = usually(scalar, st.lists(scalar, max_size=5), percent=75)
    leaf = st.fixed_dictionaries({"field": names, "operator": operators, "value": values})
    return st.recursive(
        leaf,
        lambda children: st.fixed_dictionaries(
            {
                "operator": st.sampled_from(["AND", "OR"]),
                "value": usually(st.lists(children, min_size=1, max_size=4), st.lists(children, max_size=17)),
            }
        ),
        max_leaves=12,
    )


@pytest.fixture
def people():
    for name, data_type in (("plan", "string"), ("seats", "integer"), ("ltv", "float"), ("vip", "boolean"),
                            ("renews_on", "date")):  # fmt: skip
        data_attribute_create(name=name, data_type=data_type, model="contact", label=name, description="")
    ContactFactory(role=Contact.Role.USER, external_id="u-1", email="ada@example.com", custom_attributes={"seats": 3})


@pytest.mark.parametrize(
    ("path", "field_names"),
    [
        ("/api/contacts/search", [*CONTACT_FIELDS, *CUSTOM]),
        ("/api/conversations/search", list(CONVERSATION_FIELDS)),
    ],
)
def test_fuzz_search_dsl(api, people, path, field_names):
    name = f"api search {path.split('/')[2]}"

    @FUZZ
    @given(
        query=query_strategy(field_names),
        per_page=st.one_of(st.none(), st.integers(min_value=-5, max_value=200), text, st.just(1e300)),
        huge_literals=st.booleans(),
    )
    def run(query, per_page, huge_literals):
        body = {"query": query}
        if per_page is not None:
            body["pagination"] = {"per_page": per_page}
        raw = json.dumps(body, ensure_ascii=True, allow_nan=True)
        if huge_literals:
            raw = raw.replace("Infinity", "1e400")
        response = api.generic("POST", path, raw, content_type="application/json")
        fuzz_record(name, response.status_code)
        assert response.status_code in (200, 400), response.content[:400]
        answer = response.json()
        if response.status_code == 400:
            assert answer["type"] == "error.list"
            assert all(error.get("field") for error in answer["errors"]), answer
        else:
            assert answer["type"] in ("list", "conversation.list")

    run()
