"""Visitors: Intercom's visitor object (Parley's anonymous contacts) and the bodies of PUT /visitors and convert."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import unix
from api.serializers.base import WORKSPACE_ID, blank_to_none
from api.serializers.contacts import CONTACT_ROLE_CHOICES
from contacts.models import Contact


class VisitorRefInput(serializers.Serializer):
    id = serializers.CharField(required=False, max_length=20)
    user_id = serializers.CharField(required=False, max_length=255)
    email = serializers.CharField(required=False, max_length=254)


class VisitorConvertInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=CONTACT_ROLE_CHOICES)
    user = VisitorRefInput()
    visitor = VisitorRefInput()


class VisitorUpdateInput(serializers.Serializer):
    """Intercom's PUT /visitors: the visitor by `id` or `user_id`, and what to change."""

    id = serializers.CharField(required=False, max_length=20)
    user_id = serializers.CharField(required=False, max_length=255)
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    custom_attributes = serializers.JSONField(required=False, help_text="Contact data attributes; null removes one.")


@extend_schema_field(OpenApiTypes.OBJECT)
class _ObjectField(serializers.DictField):
    pass


class VisitorOutput(serializers.Serializer):
    type = serializers.CharField(default="visitor")
    id = serializers.CharField()
    user_id = serializers.CharField(help_text="The widget's anonymous id (a UUID).")
    anonymous = serializers.BooleanField()
    email = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    pseudonym = serializers.CharField(allow_null=True)
    avatar = _ObjectField()
    app_id = serializers.CharField()
    companies = _ObjectField()
    location_data = _ObjectField()
    las_request_at = serializers.IntegerField(allow_null=True, help_text="Intercom's spelling; = last_request_at.")
    last_request_at = serializers.IntegerField(allow_null=True)
    created_at = serializers.IntegerField()
    remote_created_at = serializers.IntegerField(allow_null=True)
    signed_up_at = serializers.IntegerField(allow_null=True)
    updated_at = serializers.IntegerField()
    session_count = serializers.IntegerField()
    social_profiles = _ObjectField()
    owner_id = serializers.CharField(allow_null=True)
    unsubscribed_from_emails = serializers.BooleanField()
    marked_email_as_spam = serializers.BooleanField()
    has_hard_bounced = serializers.BooleanField()
    tags = _ObjectField()
    segments = _ObjectField()
    custom_attributes = _ObjectField()
    referrer = serializers.CharField(allow_null=True)
    utm_campaign = serializers.CharField(allow_null=True)
    utm_content = serializers.CharField(allow_null=True)
    utm_medium = serializers.CharField(allow_null=True)
    utm_source = serializers.CharField(allow_null=True)
    utm_term = serializers.CharField(allow_null=True)
    do_not_track = serializers.BooleanField(allow_null=True)


def visitor_json(visitor: Contact) -> dict[str, Any]:
    """Intercom's visitor object; expects api.selectors.contacts_for_output() prefetches (tags)."""
    last_request_at = unix(visitor.last_seen_at)
    return {
        "type": "visitor",
        "id": str(visitor.pk),
        "user_id": str(visitor.anonymous_id),
        "anonymous": True,
        "email": blank_to_none(visitor.email),
        "phone": blank_to_none(visitor.phone),
        "name": blank_to_none(visitor.name),
        "pseudonym": None,
        "avatar": {"type": "avatar", "image_url": blank_to_none(visitor.avatar)},
        "app_id": WORKSPACE_ID,
        "companies": {"type": "company.list", "companies": []},
        "location_data": {
            "type": "location_data",
            "city_name": blank_to_none(visitor.city),
            "country_code": blank_to_none(visitor.country),
            "country_name": blank_to_none(visitor.country_name),
            "continent_code": None,
            "postal_code": None,
            "region_name": None,
            "timezone": None,
        },
        "las_request_at": last_request_at,
        "last_request_at": last_request_at,
        "created_at": unix(visitor.created_at),
        "remote_created_at": None,
        "signed_up_at": unix(visitor.signed_up_at),
        "updated_at": unix(visitor.updated_at),
        "session_count": visitor.web_sessions_count,
        "social_profiles": {"type": "social_profile.list", "social_profiles": []},
        "owner_id": str(visitor.owner_id) if visitor.owner_id else None,
        "unsubscribed_from_emails": visitor.unsubscribed_from_emails,
        "marked_email_as_spam": False,
        "has_hard_bounced": False,
        "tags": {
            "type": "tag.list",
            "tags": [{"type": "tag", "id": str(tag.pk), "name": tag.name} for tag in visitor.tags.all()],
        },
        "segments": {"type": "segment.list", "segments": []},
        "custom_attributes": visitor.custom_attributes or {},
        # Parley keeps these per web session, not on the person; Intercom's visitor shows the first touch.
        "referrer": None,
        "utm_campaign": None,
        "utm_content": None,
        "utm_medium": None,
        "utm_source": None,
        "utm_term": None,
        "do_not_track": None,
    }
