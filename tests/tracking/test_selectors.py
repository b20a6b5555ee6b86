"""The widget's contact read: its once-compiled SELECT gives what the ORM gives, field for field."""

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Model
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from tests.contacts.factories import UserContactFactory
from tracking.selectors import contact_for_widget, contact_row_where

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


@pytest.mark.django_db(transaction=True)  # outside the test's own transaction, to see the lock refused there
def test_a_user_is_read_by_user_id_and_locked_only_inside_a_transaction():
    user = UserContactFactory(external_id="u-9")

    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        assert contact_row_where("external_id", "u-9", for_update=True).pk == user.pk
    locked = connection.features.has_select_for_update
    assert ("FOR UPDATE" in captured.captured_queries[-1]["sql"]) == locked
    assert contact_row_where("external_id", "u-unknown") is None
    with pytest.raises(TransactionManagementError):
        contact_row_where("external_id", "u-9", for_update=True)


def test_only_a_unique_field_names_one_contact():
    with pytest.raises(ImproperlyConfigured):
        contact_row_where("name", "Ada")
