"""A tag a saved segment names is not deleted, and a segment naming a missing tag is not saved (an outside attacker
review): two ways a segment still names a tag the guard does not see, after which `tag_id != it` holds for every
contact once the tag goes."""

import contextlib

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from contacts import services as contact_services
from contacts.models import Tag
from segments.models import Segment
from segments.selectors import MAX_SEGMENTS, segment_members
from segments.services import segment_create
from tests.concurrency import first_then_second
from tests.contacts.factories import TagFactory, UserContactFactory


def _not_tagged(tag_id: int) -> dict:
    """A filter the search compiles as `tag_id != tag_id`, inside a group that also carries `field: "tag_id"`: the
    compiler reads the node as a group (its operator) and compiles its children; contacts.search.query_tag_ids reads
    it as a filter on tag_id whose value (a list of filters) names no tag, and does not look inside."""
    return {"field": "tag_id", "operator": "AND", "value": [{"field": "tag_id", "operator": "!=", "value": tag_id}]}


@pytest.mark.django_db
def test_a_segment_naming_a_tag_inside_a_group_that_carries_a_field_keeps_its_tag():
    vip = TagFactory(name="VIP")
    tagged, untagged = UserContactFactory(), UserContactFactory()
    contact_services.contact_tag(contact=tagged, tag=vip)
    segment = segment_create(name="Not VIPs", query=_not_tagged(vip.pk), teammate=None)
    assert list(segment_members(segment=segment)) == [untagged]  # the filter is live: it does name the tag

    with pytest.raises(ValidationError, match="the segment “Not VIPs”"):
        contact_services.tag_delete(tag=vip)
    assert list(segment_members(segment=segment)) == [untagged]  # never widened to everyone


@pytest.mark.django_db
def test_a_segment_naming_a_missing_tag_inside_such_a_group_is_not_saved():
    missing = TagFactory(name="Gone").pk + 1000
    with pytest.raises(ValidationError, match=f"No tag has the id {missing}"):
        segment_create(name="Everyone", query=_not_tagged(missing), teammate=None)


# --- more segments than the guard reads ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two transactions at once need PostgreSQL")
def test_two_segments_saved_at_once_at_the_cap_cannot_hide_a_tag_from_the_deletion_guard():
    """segment_create counts the segments without a lock, so two saved at once at MAX_SEGMENTS - 1 both pass:
    MAX_SEGMENTS + 1 segments. The deletion guard once read segment_list(), the first MAX_SEGMENTS by name, so the
    tag the last one by name uses was deleted without a word, and that segment then held everyone."""
    Segment.objects.bulk_create(
        Segment(name=f"a {index:03}", query={"field": "role", "operator": "=", "value": "user"})
        for index in range(MAX_SEGMENTS - 1)
    )
    vip = TagFactory(name="VIP")
    outcomes = first_then_second(
        lambda: segment_create(
            name="m Users", query={"field": "role", "operator": "=", "value": "user"}, teammate=None
        ),
        lambda: segment_create(
            name="zz Not VIPs", query={"field": "tag_id", "operator": "!=", "value": vip.pk}, teammate=None
        ),
    )

    saved = Segment.objects.count()
    with contextlib.suppress(ValidationError):  # refused while a segment names it: what must happen
        contact_services.tag_delete(tag=Tag.objects.get(pk=vip.pk))
    orphaned = Segment.objects.filter(name="zz Not VIPs").exists() and not Tag.objects.filter(pk=vip.pk).exists()
    assert not orphaned, f"{saved} segments saved ({outcomes}); the tag went and “zz Not VIPs” now holds everyone"
