"""PUT /admins/{id}/away (Intercom's away mode) is real: routing skips away admins, and the admin objects say so."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from api.services import api_token_create
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from conversations.models import Team, TeammateProfile

pytestmark = pytest.mark.django_db


def _client(user):
    _token, raw = api_token_create(user=user, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _member(group):
    user = get_user_model().objects.create_user(group, f"{group}@parley.test", "x", is_staff=True)
    if group in (AGENT_GROUP, VIEWER_GROUP):
        user.groups.add(Group.objects.get(name=group))
    return user


def test_sdk_sets_away_mode_and_admins_show_it(intercom, teammate):
    team = Team.objects.create(name="Billing")
    team.members.add(teammate)
    admin = intercom.admins.away(admin_id=teammate.pk, away_mode_enabled=True, away_mode_reassign=True)
    assert admin.away_mode_enabled is True and admin.away_mode_reassign is True
    assert admin.team_ids == [team.pk]
    profile = TeammateProfile.objects.get(teammate=teammate)
    assert profile.away_mode_enabled and profile.away_mode_reassign
    listed = intercom.admins.list().admins
    assert listed[0].away_mode_enabled is True
    back = intercom.admins.away(admin_id=teammate.pk, away_mode_enabled=False, away_mode_reassign=False)
    assert back.away_mode_enabled is False


def test_agent_sets_own_away_mode_with_a_reason_but_not_another_admins():
    agent, other = _member(AGENT_GROUP), _member("other")
    client = _client(agent)
    ok = client.put(f"/api/admins/{agent.pk}/away", {"away_mode_enabled": True, "away_mode_reassign": False,
                                                      "away_reason": "Lunch"}, format="json")  # fmt: skip
    assert ok.status_code == 200 and ok.json()["away_mode_enabled"] is True
    assert TeammateProfile.objects.get(teammate=agent).away_reason == "Lunch"
    refused = client.put(f"/api/admins/{other.pk}/away", {"away_mode_enabled": True, "away_mode_reassign": False},
                         format="json")  # fmt: skip
    assert refused.status_code == 403 and refused.json()["type"] == "error.list"
    assert not TeammateProfile.objects.filter(teammate=other, away_mode_enabled=True).exists()


def test_viewer_cannot_set_away_mode():
    viewer = _member(VIEWER_GROUP)
    response = _client(viewer).put(
        f"/api/admins/{viewer.pk}/away", {"away_mode_enabled": True, "away_mode_reassign": False}, format="json"
    )
    assert response.status_code == 403
    assert not TeammateProfile.objects.filter(teammate=viewer, away_mode_enabled=True).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"away_mode_reassign": False}, "away_mode_enabled"),
        ({"away_mode_enabled": "true", "away_mode_reassign": False}, "away_mode_enabled"),
        ({"away_mode_enabled": 1, "away_mode_reassign": False}, "away_mode_enabled"),
        ({"away_mode_enabled": True, "away_mode_reassign": None}, "away_mode_reassign"),
        ({"away_mode_enabled": True, "away_mode_reassign": False, "away_reason": "x" * 101}, "away_reason"),
        ({"away_mode_enabled": True, "away_mode_reassign": False, "away_reason": "a\x00b"}, "away_reason"),
        ('{"away_mode_enabled": true, "away_mode_reassign": false, "away_reason": "\\ud800"}', "away_reason"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(api, teammate, body, field):
    url = f"/api/admins/{teammate.pk}/away"
    if isinstance(body, str):  # a lone surrogate only travels as a JSON escape
        response = api.generic("PUT", url, body.encode(), content_type="application/json")
    else:
        response = api.put(url, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert error.get("field") == field or field in error["message"], error
    assert not TeammateProfile.objects.filter(away_mode_enabled=True).exists()


@pytest.mark.parametrize("admin_id", ["999999", "1e400", "²", "abc", "-1", "99999999999999999999999"])
def test_unknown_admin_ids_are_404(api, admin_id):
    response = api.put(f"/api/admins/{admin_id}/away", {"away_mode_enabled": True, "away_mode_reassign": False},
                       format="json")  # fmt: skip
    assert response.status_code == 404
    assert response.json()["errors"][0]["message"] == "Admin Not Found"


def test_admin_list_costs_fixed_queries_whatever_the_profiles_and_teams(api, teammate):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations import services

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/admins").status_code == 200
        return len(captured)

    api.get("/api/admins")  # warm: the token's first use
    few = count()
    team = Team.objects.create(name="Support")
    for index in range(6):
        user = get_user_model().objects.create_user(f"t{index}", f"t{index}@parley.test", "x", is_staff=True)
        services.teammate_away_set(teammate=user, away=index % 2 == 0)
        team.members.add(user)
    assert count() == few
