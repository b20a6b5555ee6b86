"""Conversation search with a field that is no text (an outside attacker review): since state and priority are
checked against their values (api.views.conversations.CONVERSATION_CHOICES, a dict), a filter whose `field` is a
JSON array or object reaches `field in CONVERSATION_CHOICES`, which raises TypeError (unhashable) before the
compiler can refuse it: a 500 for any token that may read conversations, a viewer's included."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from api.services import api_token_create
from contacts.permissions import VIEWER_GROUP
from conversations import services
from tests.contacts.factories import UserContactFactory
from tests.security.conftest import assert_json_error

pytestmark = pytest.mark.django_db

SEARCH = "/api/conversations/search"


@pytest.fixture
def viewer_api():
    viewer = get_user_model().objects.create_user("viewer", "viewer@parley.test", "x", is_staff=True)
    viewer.groups.add(Group.objects.get(name=VIEWER_GROUP))
    _token, raw = api_token_create(user=viewer, name="viewer")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.parametrize("field", ['["state"]', '["open"]', '{"state": 1}', "[]"])
@pytest.mark.parametrize("nested", [False, True], ids=["top", "in a group"])
def test_a_filter_whose_field_is_an_array_or_an_object_is_a_400_not_a_500(viewer_api, field, nested):
    services.conversation_start_by_contact(contact=UserContactFactory(), body="Help")
    query = f'{{"field": {field}, "operator": "=", "value": "open"}}'
    if nested:
        query = f'{{"operator": "AND", "value": [{{"field": "state", "operator": "=", "value": "open"}}, {query}]}}'
    response = viewer_api.post(SEARCH, f'{{"query": {query}}}', content_type="application/json")
    assert_json_error(response, status=400)
