"""The custom attribute cap holds for the REST API too, with a clear 4xx naming the field."""

import pytest

from contacts.models import DataAttribute
from tests.contacts.factories import DataAttributeFactory

pytestmark = pytest.mark.django_db


def test_creating_a_data_attribute_beyond_the_cap_is_refused(api, settings):
    settings.PARLEY_MAX_CUSTOM_ATTRIBUTES = 2
    DataAttributeFactory(name="plan")
    DataAttributeFactory(name="old", archived=True)  # archived definitions still hold their name and type
    DataAttributeFactory(name="topic", model=DataAttribute.Model.CONVERSATION)  # counted per model

    response = api.post("/api/data_attributes", {"name": "seats", "model": "contact", "data_type": "integer"},
                        format="json")  # fmt: skip

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error.list"
    assert body["errors"][0]["field"] == "name"
    assert "At most 2 custom attributes" in body["errors"][0]["message"]
    assert not DataAttribute.objects.filter(name="seats").exists()
    conversation = api.post("/api/data_attributes", {"name": "channel", "model": "conversation", "data_type": "string"},
                            format="json")  # fmt: skip
    assert conversation.status_code == 200


def test_the_admin_refuses_a_definition_beyond_the_cap_on_its_form(admin_client, settings):
    settings.PARLEY_MAX_CUSTOM_ATTRIBUTES = 1
    DataAttributeFactory(name="plan")

    response = admin_client.post(
        "/admin/contacts/dataattribute/add/",
        {"name": "seats", "model": "contact", "data_type": "integer", "label": "Seats", "options": "[]"},
    )

    assert response.status_code == 200  # the form again, with the error
    assert "At most 1 custom attributes" in response.content.decode()
    assert not DataAttribute.objects.filter(name="seats").exists()
