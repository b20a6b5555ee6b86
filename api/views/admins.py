"""Admins: the teammates (staff users) the API acts as and can assign to."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.permissions import acting_teammate_check
from api.serializers.admins import AdminAwayInput, AdminListOutput, AdminOutput, MeOutput
from api.views.base import IntercomView
from conversations import services


class MeView(IntercomView):
    @extend_schema(operation_id="IdentifyAdmin", responses=MeOutput)
    def get(self, request: Request) -> Response:
        """The teammate the token acts as."""
        return Response(MeOutput(request.user).data)


class AdminsView(IntercomView):
    @extend_schema(operation_id="ListAdmins", responses=AdminListOutput)
    def get(self, request: Request) -> Response:
        return Response({"type": "admin.list", "admins": AdminOutput(selectors.teammates(), many=True).data})


class AdminView(IntercomView):
    @extend_schema(operation_id="RetrieveAdmin", responses=AdminOutput)
    def get(self, request: Request, admin_id: str) -> Response:
        return Response(AdminOutput(selectors.teammate_get(admin_id=admin_id)).data)


class AdminAwayView(IntercomView):
    @extend_schema(operation_id="SetAwayAdmin", request=AdminAwayInput, responses=AdminOutput)
    def put(self, request: Request, admin_id: str) -> Response:
        """Switch an admin's away mode: away admins get no new conversations from the assignment rules and round
        robin; with away_mode_reassign, a contact's reply in their conversations is routed again."""
        admin = acting_teammate_check(request, selectors.teammate_get(admin_id=admin_id), field="id")
        values = self.parse(AdminAwayInput, request.data)
        services.teammate_away_set(
            teammate=admin,
            away=values["away_mode_enabled"],
            reassign=values["away_mode_reassign"],
            reason=values.get("away_reason"),
        )
        return Response(AdminOutput(selectors.teammate_get(admin_id=admin.pk)).data)
