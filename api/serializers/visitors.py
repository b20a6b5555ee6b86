"""Visitors: the body of POST /visitors/convert."""

from rest_framework import serializers

from api.serializers.contacts import CONTACT_ROLE_CHOICES


class VisitorRefInput(serializers.Serializer):
    id = serializers.CharField(required=False, max_length=20)
    user_id = serializers.CharField(required=False, max_length=255)
    email = serializers.CharField(required=False, max_length=254)


class VisitorConvertInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=CONTACT_ROLE_CHOICES)
    user = VisitorRefInput()
    visitor = VisitorRefInput()
