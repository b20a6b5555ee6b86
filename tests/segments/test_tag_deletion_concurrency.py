"""A tag deleted while a segment naming it is saved, each in its own transaction and connection: one of the two is
refused, never both kept (a segment naming a deleted tag would hold everyone: `tag_id != it`). The tag's row is the
lock both take (contacts.services.tag_delete, segments.services). PostgreSQL only: SQLite serialises every writer,
so it could not show a race."""

import pytest
from django.db import connection

from contacts import services as contact_services
from contacts.models import Tag
from segments.models import Segment
from segments.services import segment_create
from tests.concurrency import first_then_second
from tests.contacts.factories import TagFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def _save_segment(tag_id):
    return lambda: segment_create(name="Not VIPs", query={"field": "tag_id", "operator": "!=", "value": tag_id},
                                  teammate=None)  # fmt: skip


def _delete(tag_id):
    return lambda: contact_services.tag_delete(tag=Tag.objects.get(pk=tag_id))


def test_a_tag_deleted_while_a_segment_naming_it_is_saved_is_kept():
    tag = TagFactory(name="VIP")
    outcomes = first_then_second(_save_segment(tag.pk), _delete(tag.pk))
    assert outcomes["first"] == "kept"
    assert "the segment “Not VIPs”" in str(outcomes["second"])
    assert Tag.objects.filter(pk=tag.pk).exists() and Segment.objects.filter(name="Not VIPs").exists()


def test_a_segment_saved_while_the_tag_it_names_is_deleted_is_refused():
    tag = TagFactory(name="VIP")
    outcomes = first_then_second(_delete(tag.pk), _save_segment(tag.pk))
    assert outcomes["first"] == "kept"
    assert f"No tag has the id {tag.pk}" in str(outcomes["second"])
    assert not Tag.objects.exists() and not Segment.objects.exists()
