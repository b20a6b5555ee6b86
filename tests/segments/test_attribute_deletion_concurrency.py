"""A custom attribute deleted while a segment whose filter names it is saved, each in its own transaction and
connection: one of the two is refused, never both kept (the segment's filter would stop compiling: its list, its
count and a message to it would fail). The definition's row is the lock both take (contacts.services.
data_attribute_delete, segments.services). PostgreSQL only, as for tags (test_tag_deletion_concurrency)."""

import pytest
from django.db import connection

from contacts import services as contact_services
from contacts.models import DataAttribute
from segments.models import Segment
from segments.services import segment_create
from tests.concurrency import first_then_second
from tests.contacts.factories import DataAttributeFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def _save_segment(name):
    return lambda: segment_create(name="Not pro", query={"field": f"custom_attributes.{name}", "operator": "!=",
                                                         "value": "pro"}, teammate=None)  # fmt: skip


def _delete(pk):
    return lambda: contact_services.data_attribute_delete(attribute=DataAttribute.objects.get(pk=pk))


def test_an_attribute_deleted_while_a_segment_naming_it_is_saved_is_kept():
    plan = DataAttributeFactory(name="plan")
    outcomes = first_then_second(_save_segment("plan"), _delete(plan.pk))
    assert outcomes["first"] == "kept"
    assert "the segment “Not pro”" in str(outcomes["second"])
    assert DataAttribute.objects.filter(pk=plan.pk).exists() and Segment.objects.filter(name="Not pro").exists()


def test_a_segment_saved_while_the_attribute_it_names_is_deleted_is_refused():
    plan = DataAttributeFactory(name="plan")
    outcomes = first_then_second(_delete(plan.pk), _save_segment("plan"))
    assert outcomes["first"] == "kept"
    assert "custom_attributes.plan is not a field you can search on" in str(outcomes["second"])
    assert not DataAttribute.objects.exists() and not Segment.objects.exists()
