"""Visitors: POST /visitors/convert turns an anonymous visitor into a lead or a user."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import NotFound, ParameterInvalid
from api.serializers.contacts import ContactOutput, contact_json
from api.serializers.visitors import VisitorConvertInput
from api.views.base import IntercomView
from contacts import services
from contacts.models import Contact


def _visitor(reference: dict[str, Any]) -> Contact:
    """A visitor by id, or by `user_id` (Intercom's visitor user_id is Parley's anonymous id), or by email."""
    if reference.get("id"):
        pk = selectors.pk_from_id(reference["id"])
        visitor = selectors.visitor_get_by_reference(pk=pk) if pk is not None else None
    elif reference.get("user_id"):
        visitor = selectors.visitor_get_by_reference(anonymous_id=reference["user_id"])
    elif reference.get("email"):
        visitor = selectors.visitor_get_by_reference(email=reference["email"])
    else:
        raise ParameterInvalid("visitor", "visitor needs id, user_id or email.")
    if visitor is None:
        raise NotFound("Visitor Not Found", field="visitor")
    return visitor


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
