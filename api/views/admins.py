"""Admins: the teammates (staff users) the API acts as and can assign to."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.serializers.admins import AdminListOutput, AdminOutput, MeOutput
from api.views.base import IntercomView


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
