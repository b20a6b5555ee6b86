"""Teams: GET /teams and GET /teams/{id}, the teams conversations are assigned to."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.serializers.teams import TeamListOutput, TeamOutput, team_json, team_list_json
from api.views.base import IntercomView


class TeamsView(IntercomView):
    @extend_schema(operation_id="ListTeams", responses=TeamListOutput)
    def get(self, request: Request) -> Response:
        """Every team by name, with its members (two queries whatever the number of teams)."""
        return Response(team_list_json(selectors.teams_list()))


class TeamView(IntercomView):
    @extend_schema(operation_id="RetrieveTeam", responses=TeamOutput)
    def get(self, request: Request, team_id: str) -> Response:
        return Response(team_json(selectors.team_get(team_id=team_id, queryset=selectors.teams_with_members())))
