"""Visitors (Parley's anonymous contacts): GET /visitors?user_id=, PUT /visitors, POST /visitors/convert."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import NotFound, ParameterInvalid, ParameterNotFound
from api.serializers.contacts import ContactOutput, contact_json
from api.serializers.visitors import VisitorConvertInput, VisitorOutput, VisitorUpdateInput, visitor_json
from api.views.base import IntercomView
from api.views.contacts import DEFINE_ATTRIBUTES_PERMISSION
from contacts import services
from contacts.models import Contact


def _visitor(reference: dict[str, Any], *, field: str = "visitor") -> Contact:
    """A visitor by id, or by `user_id` (Intercom's visitor user_id is Parley's anonymous id), or by email."""
    if reference.get("id"):
        visitor = selectors.visitor_get_by_reference(pk=selectors.pk_from_id(reference["id"]) or 0)
    elif reference.get("user_id"):
        visitor = selectors.visitor_get_by_reference(anonymous_id=reference["user_id"])
    elif reference.get("email"):
        visitor = selectors.visitor_get_by_reference(email=reference["email"])
    else:
        raise ParameterInvalid(
            field, f"{field} needs id, user_id or email." if field == "visitor" else "id or user_id is required."
        )
    if visitor is None:
        raise NotFound("Visitor Not Found", field=field)
    return visitor


class VisitorsView(IntercomView):
    @extend_schema(
        operation_id="RetrieveVisitorWithUserId",
        parameters=[
            OpenApiParameter("user_id", str, required=True, description="The visitor's user_id (anonymous id).")
        ],
        responses=VisitorOutput,
    )
    def get(self, request: Request) -> Response:
        """A visitor by its user_id: the anonymous id the widget keeps in its cookie."""
        user_id = request.query_params.get("user_id")
        if not user_id:
            raise ParameterNotFound("user_id")
        return Response(visitor_json(_visitor({"user_id": user_id}, field="user_id")))

    @extend_schema(operation_id="UpdateVisitor", request=VisitorUpdateInput, responses=VisitorOutput)
    def put(self, request: Request) -> Response:
        """Set a visitor's name and custom attributes (the visitor named by `id` or `user_id`)."""
        values = self.parse(VisitorUpdateInput, self.body(request))
        visitor = _visitor({"id": values.get("id"), "user_id": values.get("user_id")}, field="id")
        fields = {"name": values["name"]} if "name" in values else {}
        services.contact_update(
            contact=visitor,
            custom_attributes=values.get("custom_attributes"),
            define_attributes=request.user.has_perm(DEFINE_ATTRIBUTES_PERMISSION),
            **fields,
        )
        return Response(visitor_json(_visitor({"id": str(visitor.pk)})))


class VisitorConvertView(IntercomView):
    @extend_schema(operation_id="ConvertVisitor", request=VisitorConvertInput, responses=ContactOutput)
    def post(self, request: Request) -> Response:
        """Convert to a lead, or to a user: merged into the user when one matches, else promoted."""
        values = self.parse(VisitorConvertInput, self.body(request))
        visitor = _visitor(values["visitor"])
        user_ref = values["user"]
        user = None
        if values["type"] != "lead":
            user = selectors.contact_get_by_reference(
                user_id=user_ref.get("user_id"), email=user_ref.get("email"), intercom_user_id=user_ref.get("id")
            )
            if user_ref.get("id") and (user is None or user.role != Contact.Role.USER):
                raise NotFound("User Not Found", field="user.id")
        contact = services.visitor_convert(
            visitor=visitor,
            role=Contact.Role.LEAD if values["type"] == "lead" else Contact.Role.USER,
            external_id=user_ref.get("user_id"),
            email=user_ref.get("email"),
            user=user,
        )
        return Response(contact_json(selectors.contact_get(contact_id=contact.pk)))
