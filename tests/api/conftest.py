import pytest
from intercom import Intercom
from rest_framework.test import APIClient

from api.services import api_token_create


@pytest.fixture
def api_token(teammate):
    # These tests exercise the API's behaviour with every right; test_authorization_matrix.py covers narrower ones.
    teammate.is_superuser = True
    teammate.save(update_fields=["is_superuser"])
    _token, raw = api_token_create(user=teammate, name="tests")
    return raw


@pytest.fixture
def api(api_token):
    """A plain HTTP client carrying the bearer token, for exact status codes and bodies."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token}", HTTP_INTERCOM_VERSION="2.11")
    return client


@pytest.fixture
def intercom(live_server, api_token):
    """The official python-intercom SDK pointed at a live Parley server."""
    return Intercom(token=api_token, base_url=live_server.url + "/api", timeout=30)
