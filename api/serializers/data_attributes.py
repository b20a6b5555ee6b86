"""Data attributes: definitions of custom attributes."""

from rest_framework import serializers

from api.fields import UnixTimeField
from contacts.models import DataAttribute


class DataAttributeOutput(serializers.Serializer):
    type = serializers.SerializerMethodField()
    id = serializers.IntegerField(source="pk")
    model = serializers.CharField()
    name = serializers.CharField()
    full_name = serializers.SerializerMethodField()
    label = serializers.CharField()
    description = serializers.CharField()
    data_type = serializers.CharField()
    options = serializers.ListField(child=serializers.JSONField())
    api_writable = serializers.SerializerMethodField()
    messenger_writable = serializers.SerializerMethodField()
    ui_writable = serializers.SerializerMethodField()
    custom = serializers.SerializerMethodField()
    archived = serializers.BooleanField()
    created_at = UnixTimeField(allow_null=True)
    updated_at = UnixTimeField(allow_null=True)
    admin_id = serializers.SerializerMethodField()

    def get_type(self, attribute: DataAttribute) -> str:
        return "data_attribute"

    def get_full_name(self, attribute: DataAttribute) -> str:
        return attribute.full_name if hasattr(attribute, "full_name") else f"custom_attributes.{attribute.name}"

    def get_api_writable(self, attribute: DataAttribute) -> bool:
        return attribute.pk is not None

    def get_messenger_writable(self, attribute: DataAttribute) -> bool:
        return attribute.pk is not None

    def get_ui_writable(self, attribute: DataAttribute) -> bool:
        return True

    def get_custom(self, attribute: DataAttribute) -> bool:
        return attribute.pk is not None

    def get_admin_id(self, attribute: DataAttribute) -> str | None:
        return str(attribute.created_by_id) if attribute.created_by_id else None


class DataAttributeDeletedOutput(serializers.Serializer):
    type = serializers.CharField(default="data_attribute")
    id = serializers.CharField()
    deleted = serializers.BooleanField()


class DataAttributeListOutput(serializers.Serializer):
    type = serializers.CharField(default="list")
    data = DataAttributeOutput(many=True)


class DataAttributeCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=190)
    model = serializers.ChoiceField(choices=DataAttribute.Model.values)
    data_type = serializers.ChoiceField(choices=[*DataAttribute.DataType.values, "options"])
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    label = serializers.CharField(required=False, allow_blank=True, max_length=255)
    options = serializers.ListField(required=False, max_length=500)
    messenger_writable = serializers.BooleanField(required=False, help_text="Accepted and ignored.")


class DataAttributeUpdateInput(serializers.Serializer):
    label = serializers.CharField(required=False, allow_blank=True, max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    archived = serializers.BooleanField(required=False)
    options = serializers.ListField(required=False, max_length=500)
    messenger_writable = serializers.BooleanField(required=False, help_text="Accepted and ignored.")
