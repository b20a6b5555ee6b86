"""Teams: Intercom's team object, with its members' admin ids."""

from typing import Any

from rest_framework import serializers

from api.fields import IdField
from conversations.models import Team


class TeamOutput(serializers.Serializer):
    type = serializers.CharField(default="team")
    id = IdField(source="pk")
    name = serializers.CharField()
    admin_ids = serializers.ListField(child=serializers.IntegerField(), help_text="Active staff members only.")


class TeamListOutput(serializers.Serializer):
    type = serializers.CharField(default="team.list")
    teams = TeamOutput(many=True)


def team_json(team: Team) -> dict[str, Any]:
    """A team with the ids of its members (prefetched by the selector)."""
    return {
        "type": "team",
        "id": str(team.pk),
        "name": team.name,
        "admin_ids": [member.pk for member in team.members.all()],
    }


def team_list_json(teams: list[Team]) -> dict[str, Any]:
    return {"type": "team.list", "teams": [team_json(team) for team in teams]}
