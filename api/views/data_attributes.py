"""Data attributes: definitions of custom attributes (list, create, update; delete, a Parley extension)."""

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import ParameterInvalid
from api.serializers.data_attributes import (
    DataAttributeCreateInput,
    DataAttributeDeletedOutput,
    DataAttributeListOutput,
    DataAttributeOutput,
    DataAttributeUpdateInput,
)
from api.views.base import IntercomView
from contacts import services
from contacts.models import DataAttribute
from contacts.services import AlreadyExists


def _options(values: dict[str, Any]) -> list[Any] | None:
    """Intercom sends options as [{"value": "…"}]; plain values are accepted too."""
    if "options" not in values:
        return None
    options = []
    for index, option in enumerate(values["options"]):
        value = option.get("value") if isinstance(option, dict) else option
        if value is None:
            raise ParameterInvalid(f"options[{index}].value", "Each option needs a value.")
        options.append(value)
    return options


class DataAttributesView(IntercomView):
    @extend_schema(
        operation_id="ListDataAttributes",
        parameters=[
            OpenApiParameter("model", str, enum=DataAttribute.Model.values),
            OpenApiParameter("include_archived", bool),
        ],
        responses=DataAttributeListOutput,
    )
    def get(self, request: Request) -> Response:
        model = request.query_params.get("model")
        if model and model not in DataAttribute.Model.values:
            raise ParameterInvalid("model", f"model must be one of: {', '.join(DataAttribute.Model.values)}.")
        include_archived = request.query_params.get("include_archived", "false").lower() in ("true", "1")
        attributes = selectors.data_attribute_list(model=model, include_archived=include_archived)
        return Response({"type": "list", "data": DataAttributeOutput(attributes, many=True).data})

    @extend_schema(operation_id="CreateDataAttribute", request=DataAttributeCreateInput, responses=DataAttributeOutput)
    def post(self, request: Request) -> Response:
        values = self.parse(DataAttributeCreateInput, self.body(request))
        data_type = values["data_type"]
        options = _options(values)
        if data_type == "options":
            data_type = DataAttribute.DataType.STRING
            if not options:
                raise ParameterInvalid("options", "An options attribute needs at least one option.")
        try:
            attribute = services.data_attribute_create(
                name=values["name"],
                data_type=data_type,
                model=values["model"],
                label=values.get("label", ""),
                description=values.get("description", ""),
                options=options,
                actor=request.user,
            )
        except AlreadyExists:
            raise
        except ValidationError as error:
            # The name check speaks of `custom_attributes.<name>`; here the input field is `name`.
            if hasattr(error, "error_dict"):
                raise ValidationError(
                    {
                        ("name" if key.startswith("custom_attributes.") else key): value
                        for key, value in error.error_dict.items()
                    }
                ) from None
            raise
        return Response(DataAttributeOutput(attribute).data)


class DataAttributeView(IntercomView):
    @extend_schema(operation_id="UpdateDataAttribute", request=DataAttributeUpdateInput, responses=DataAttributeOutput)
    def put(self, request: Request, attribute_id: str) -> Response:
        """Update label, description, archived or options; name and type never change."""
        attribute = selectors.data_attribute_get(attribute_id=attribute_id)
        values = self.parse(DataAttributeUpdateInput, self.body(request))
        attribute = services.data_attribute_update(
            attribute=attribute,
            label=values.get("label"),
            description=values.get("description"),
            archived=values.get("archived"),
            options=_options(values),
        )
        return Response(DataAttributeOutput(attribute).data)

    @extend_schema(operation_id="DeleteDataAttribute", responses={200: DataAttributeDeletedOutput})
    def delete(self, request: Request, attribute_id: str) -> Response:
        """Delete a definition (Parley's; Intercom only archives them): one a saved segment's filter names is a 400
        naming `name` that lists those segments."""
        attribute = selectors.data_attribute_get(attribute_id=attribute_id)
        answer = {"type": "data_attribute", "id": str(attribute.pk), "deleted": True}
        services.data_attribute_delete(attribute=attribute)
        return Response(answer)
