from collections import Counter, defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from api.services import api_token_create
from contacts.permissions import ensure_teammate_groups
from tests.tracking.conftest import bank, blog  # noqa: F401 - two websites, shared with the tracking tests


@pytest.fixture
def teammate_client(db):
    """A logged-in admin client of a new teammate of `group` (viewer, agent), named after it."""

    def login(group):
        ensure_teammate_groups()
        user = get_user_model().objects.create_user(group, f"{group}@parley.test", "x", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def superuser_token(superuser):
    _token, raw = api_token_create(user=superuser, name="hostile-input")
    return raw


@pytest.fixture
def api(superuser_token):
    """A plain HTTP client carrying a superuser's bearer token: every refusal here is about the input."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {superuser_token}")
    return client


def assert_json_error(response, status=None, field=None):
    """A refusal, not a crash: 4xx, JSON, and (when given) naming the field."""
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    if status is not None:
        assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    if response.wsgi_request.path_info.startswith("/api/"):
        assert body["type"] == "error.list"
        errors = body["errors"]
        if field is not None:
            assert field in [error.get("field") for error in errors], errors
    else:
        assert "error" in body
        if field is not None:
            assert body["error"]["field"] == field, body
    return body


# Cases run per fuzzed endpoint (Hypothesis) and per API operation (Schemathesis), printed at the end.
FUZZ_CASES: Counter = Counter()
FUZZ_STATUSES: dict[str, Counter] = defaultdict(Counter)


def fuzz_record(name, status_code):
    """Count one case of an endpoint and the class of its answer (2xx, 3xx, 4xx, 5xx)."""
    FUZZ_CASES[name] += 1
    FUZZ_STATUSES[name][f"{status_code // 100}xx"] += 1


def pytest_terminal_summary(terminalreporter):
    if FUZZ_CASES:
        terminalreporter.section("hostile-input cases")
        for name, count in sorted(FUZZ_CASES.items()):
            statuses = ", ".join(f"{key} {value}" for key, value in sorted(FUZZ_STATUSES[name].items()))
            terminalreporter.write_line(f"{name}: {count} cases ({statuses})")
        terminalreporter.write_line(f"total: {sum(FUZZ_CASES.values())} cases")
