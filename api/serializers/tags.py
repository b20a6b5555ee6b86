"""Tags: Intercom's tag object and the inputs that create, rename and attach one."""

from collections.abc import Iterable
from typing import Any

from rest_framework import serializers

from api.fields import IdField
from contacts.models import Tag


class TagOutput(serializers.Serializer):
    type = serializers.SerializerMethodField()
    id = IdField(source="pk")
    name = serializers.CharField()

    def get_type(self, tag: Tag) -> str:
        return "tag"


class TagListOutput(serializers.Serializer):
    type = serializers.CharField(default="list")
    data = TagOutput(many=True)


class TagCreateInput(serializers.Serializer):
    """Create a tag, or rename one when `id` is given."""

    name = serializers.CharField(max_length=255)
    id = serializers.CharField(required=False, max_length=20)


class TagAttachInput(serializers.Serializer):
    id = serializers.CharField(max_length=20)
    admin_id = serializers.CharField(required=False, max_length=20)


class TagDetachInput(serializers.Serializer):
    admin_id = serializers.CharField(required=False, max_length=20)


def tag_list_json(tags: Iterable[Tag]) -> dict[str, Any]:
    """Intercom's tag list (GET /tags and GET /contacts/{id}/tags)."""
    return {"type": "list", "data": TagOutput(tags, many=True).data}
