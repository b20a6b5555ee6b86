"""Segments saved before a tag in use could not be deleted (and before a segment could not name a missing tag) may
still name a tag that no longer exists: `tag_id != 7` then holds for everyone. They are surfaced, never rewritten:
`manage.py segments_deleted_tags` lists them (exit status 1), the segment list flags each ("names a deleted tag:
#7") and filters them, the segment's page says what it does and how to fix it, and a message cannot be sent to one."""

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import Tag
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from contacts.services import contact_tag
from conversations.models import Message
from conversations.services.outbound import message_send
from segments import selectors, services
from segments.models import Segment
from tests.contacts.factories import TagFactory, UserContactFactory
from tests.segments.test_segments import teammate_client

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:segments_segment_changelist")
COMPOSE = reverse("admin:conversations_message_add")


def _not_tagged(tag_id):
    return {"field": "tag_id", "operator": "!=", "value": tag_id}


@pytest.fixture
def legacy():
    """What an install upgraded from before the rules may hold: "Not VIPs" and the company segment "Not VIP
    companies" name the tag VIP, deleted since (as it could be then); "Odd" names #999999, which never existed; "VIPs
    or Gold" names VIP and Gold, which still exists; "Gold" is healthy."""
    vip, gold = TagFactory(name="VIP"), TagFactory(name="Gold")
    services.segment_create(name="Not VIPs", query=_not_tagged(vip.pk), teammate=None)
    services.segment_create(name="Not VIP companies", query=_not_tagged(vip.pk), teammate=None,
                            person_type=Segment.PersonType.COMPANY)  # fmt: skip
    either = {"operator": "OR", "value": [{"field": "tag_id", "operator": "=", "value": str(vip.pk)},
                                          {"field": "tag_id", "operator": "=", "value": gold.pk}]}  # fmt: skip
    services.segment_create(name="VIPs or Gold", query=either, teammate=None)
    services.segment_create(name="Gold", query={"field": "tag_id", "operator": "=", "value": gold.pk}, teammate=None)
    Segment.objects.create(name="Odd", query=_not_tagged(999_999))  # saved before a missing tag was refused
    Tag.objects.filter(pk=vip.pk).delete()  # deleted before a tag in use was refused
    return {"vip": vip.pk, "gold": gold.pk}


def _by_name(found):
    return {segment.name: tag_ids for segment, tag_ids in found}


def test_the_selector_finds_every_segment_naming_a_deleted_tag_with_its_ids(legacy):
    vip = legacy["vip"]
    assert _by_name(selectors.segments_naming_deleted_tags()) == {
        "Not VIP companies": [vip], "Not VIPs": [vip], "Odd": [999_999], "VIPs or Gold": [vip],
    }  # fmt: skip
    with CaptureQueriesContext(connection) as captured:
        selectors.segments_naming_deleted_tags()
    assert len(captured) == 2  # the segments, then their tags together


def test_the_command_lists_them_and_exits_with_status_1_changing_nothing(legacy):
    before = dict(Segment.objects.values_list("name", "query"))
    out = io.StringIO()
    with pytest.raises(CommandError, match="4 segment\\(s\\) name a deleted tag"):
        call_command("segments_deleted_tags", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    not_vips = Segment.objects.get(name="Not VIPs")
    assert f"Segment {not_vips.pk} “Not VIPs” (contacts): names deleted tag(s) #{legacy['vip']}" in lines
    assert dict(Segment.objects.values_list("name", "query")) == before  # surfaced, never rewritten

    Segment.objects.exclude(name="Gold").delete()
    out = io.StringIO()
    call_command("segments_deleted_tags", stdout=out)  # no error: status 0
    assert out.getvalue() == "No segment names a deleted tag.\n"


def _list(client, query=""):
    with CaptureQueriesContext(connection) as captured:
        page = client.get(CHANGELIST + query)
    assert page.status_code == 200
    return page.content.decode(), len(captured)


def test_the_segment_list_flags_each_one_in_the_same_queries_however_many(admin_client, legacy):
    page, queries = _list(admin_client)
    vip = legacy["vip"]
    assert page.count(f"names a deleted tag: #{vip}<") == 3 and "names a deleted tag: #999999<" in page
    assert page.count("names a deleted tag") == 4 and ">Names a deleted tag</a>" in page  # the rows; the filter
    for index in range(15):
        Segment.objects.create(name=f"Old {index:02}", query=_not_tagged(vip))
    page, more_queries = _list(admin_client)
    assert page.count(f"names a deleted tag: #{vip}<") == 3 + 15
    assert more_queries == queries


def test_the_list_filter_shows_only_them(admin_client, legacy):
    page, _queries = _list(admin_client, "?problem=deleted_tag")
    for name in ("Not VIPs", "Not VIP companies", "Odd", "VIPs or Gold"):
        assert f">{name}</a>" in page
    assert ">Gold</a>" not in page
    assert ">Gold</a>" in _list(admin_client, "?problem=nothing-like-it")[0]  # an unknown choice: every segment


@pytest.mark.parametrize("group", [None, AGENT_GROUP, VIEWER_GROUP])
def test_its_page_says_what_it_does_and_how_to_fix_it_to_whoever_reads_it(admin_client, legacy, group):
    client = admin_client if group is None else teammate_client(group, f"t-{group}")
    not_vips = Segment.objects.get(name="Not VIPs")
    page = client.get(reverse("admin:segments_segment_change", args=[not_vips.pk])).content.decode()
    assert f"Names a deleted tag: #{legacy['vip']}." in page
    assert "holds others than when it was saved" in page
    assert f"take out the tag_id filter naming #{legacy['vip']}" in page and "“Save as segment”" in page
    gold = Segment.objects.get(name="Gold")
    healthy = client.get(reverse("admin:segments_segment_change", args=[gold.pk])).content.decode()
    assert "deleted tag" not in healthy


def test_a_superuser_fixes_the_filter_and_one_still_naming_the_tag_is_refused(admin_client, legacy):
    not_vips = Segment.objects.get(name="Not VIPs")
    change = reverse("admin:segments_segment_change", args=[not_vips.pk])
    still = {"operator": "AND", "value": [_not_tagged(legacy["vip"]), {"field": "role", "operator": "=",
                                                                        "value": "user"}]}  # fmt: skip
    refused = admin_client.post(change, {"name": "Not VIPs", "query": json.dumps(still)})
    assert refused.status_code == 200 and f"No tag has the id {legacy['vip']}." in refused.content.decode()
    fixed = admin_client.post(change, {"name": "Not Gold", "query": json.dumps(_not_tagged(legacy["gold"]))})
    assert fixed.status_code == 302
    page = admin_client.get(change).content.decode()
    assert "deleted tag" not in page
    assert "Not VIPs" not in _by_name(selectors.segments_naming_deleted_tags())


def test_an_agent_still_renames_one(legacy):
    agent = teammate_client(AGENT_GROUP, "agent-a")
    odd = Segment.objects.get(name="Odd")
    response = agent.post(reverse("admin:segments_segment_change", args=[odd.pk]), {"name": "Odd (to fix)"})
    assert response.status_code == 302
    odd.refresh_from_db()
    assert (odd.name, odd.query) == ("Odd (to fix)", _not_tagged(999_999))


def test_a_message_is_not_sent_to_one(superuser, legacy):
    everyone = [UserContactFactory() for _ in range(3)]
    not_vips = Segment.objects.get(name="Not VIPs")
    with pytest.raises(ValidationError) as refused:
        message_send(sender=superuser, channel=Message.Channel.IN_APP, body="Hi", segment=not_vips)
    assert refused.value.message_dict == {"segment": [
        f"The segment “Not VIPs” names a deleted tag (#{legacy['vip']}), so it holds others than when it was saved: "
        "fix its filter first (its page says how)."
    ]}  # fmt: skip
    assert not Message.objects.exists()
    gold = Segment.objects.get(name="Gold")
    contact_tag(contact=everyone[0], tag=Tag.objects.get(pk=legacy["gold"]))
    assert message_send(sender=superuser, channel=Message.Channel.IN_APP, body="Hi", segment=gold).recipients_count == 1


def test_the_compose_page_refuses_one_before_the_preview(admin_client, legacy):
    UserContactFactory()
    not_vips = Segment.objects.get(name="Not VIPs")
    page = admin_client.post(COMPOSE, {"channel": "in_app", "body": "Hi", "segment": not_vips.pk}).content.decode()
    assert f"The segment “Not VIPs” names a deleted tag (#{legacy['vip']})" in page
    assert "Preview and send" not in page and not Message.objects.exists()


@pytest.mark.parametrize("weird", ["%00", "deleted_tag%00", "¹", "<b>x</b>"])
def test_a_hostile_filter_choice_is_never_a_500(admin_client, legacy, weird):
    assert admin_client.get(f"{CHANGELIST}?problem={weird}").status_code in (200, 400)
