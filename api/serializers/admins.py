"""Admins: the teammates (staff users) the API acts as."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import IdField, StrictBooleanField
from api.serializers.base import WORKSPACE_ID


class AdminAvatarOutput(serializers.Serializer):
    type = serializers.CharField(default="avatar")
    image_url = serializers.CharField(allow_null=True, default=None)


class AdminOutput(serializers.Serializer):
    type = serializers.SerializerMethodField()
    id = IdField(source="pk")
    name = serializers.SerializerMethodField()
    email = serializers.EmailField()
    job_title = serializers.SerializerMethodField()
    away_mode_enabled = serializers.SerializerMethodField()
    away_mode_reassign = serializers.SerializerMethodField()
    has_inbox_seat = serializers.SerializerMethodField()
    team_ids = serializers.SerializerMethodField()
    avatar = serializers.SerializerMethodField()
    email_verified = serializers.SerializerMethodField()

    def get_type(self, user: Any) -> str:
        return "admin"

    def get_name(self, user: Any) -> str:
        return user.get_full_name() or user.get_username()

    def get_job_title(self, user: Any) -> str | None:
        return None

    def _profile(self, user: Any) -> Any:
        try:
            return user.parley_profile  # select_related by api.selectors.teammates
        except ObjectDoesNotExist:
            return None

    def get_away_mode_enabled(self, user: Any) -> bool:
        profile = self._profile(user)
        return bool(profile and profile.away_mode_enabled)

    def get_away_mode_reassign(self, user: Any) -> bool:
        profile = self._profile(user)
        return bool(profile and profile.away_mode_reassign)

    def get_has_inbox_seat(self, user: Any) -> bool:
        return True

    def get_team_ids(self, user: Any) -> list[int]:
        return [team.pk for team in user.parley_teams.all()]  # prefetched by api.selectors.teammates

    @extend_schema_field(AdminAvatarOutput)
    def get_avatar(self, user: Any) -> dict[str, Any]:
        return {"type": "avatar", "image_url": None}

    def get_email_verified(self, user: Any) -> bool:
        return bool(user.email)


class MeOutput(AdminOutput):
    app = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_app(self, user: Any) -> dict[str, Any]:
        return {
            "type": "app",
            "id_code": WORKSPACE_ID,
            "name": getattr(settings, "PARLEY_WORKSPACE_NAME", "Parley"),
            "created_at": None,
            "secure": True,
            "identity_verification": True,
            "timezone": "UTC",
            "region": "self-hosted",
        }


class AdminAwayInput(serializers.Serializer):
    away_mode_enabled = StrictBooleanField()
    away_mode_reassign = StrictBooleanField()
    away_reason = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Parley: shown to teammates."
    )


class AdminListOutput(serializers.Serializer):
    type = serializers.CharField(default="admin.list")
    admins = AdminOutput(many=True)
