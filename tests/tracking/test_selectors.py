"""The widget's contact read: its once-compiled SELECT gives what the ORM gives, field for field."""

import datetime as dt

import pytest
from django.db.models import Model

from contacts.models import Contact
from tests.contacts.factories import UserContactFactory
from tracking.selectors import contact_for_widget

pytestmark = pytest.mark.django_db


def _fields(contact: Model) -> dict:
    return {field.attname: getattr(contact, field.attname) for field in Contact._meta.concrete_fields}


def test_the_widgets_contact_read_equals_the_orms_row_with_json_dates_and_nulls_decoded():
    user = UserContactFactory(
        external_id="u-1",
        email="ada@example.com",
        custom_attributes={"plan": "pro", "seats": 3, "beta": True, "nested": {"a": [1, 2]}},
        signed_up_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )

    read = contact_for_widget(contact_id=user.pk)

    assert _fields(read) == _fields(Contact.objects.get(pk=user.pk))
    assert read.custom_attributes["nested"] == {"a": [1, 2]}
    assert not read._state.adding  # a row from the database: saving it updates, never inserts
    read.name = "Ada"
    read.save(update_fields=["name"])
    assert Contact.objects.get(pk=user.pk).name == "Ada"


def test_a_contact_that_no_longer_exists_reads_as_none():
    user = UserContactFactory()
    user.delete()

    assert contact_for_widget(contact_id=user.pk) is None
