"""A tag that a saved segment's filter names (`tag_id`, at any depth, in a list, of a contact or a company segment) is
not deleted, in the admin (one or a selection) or the API: without it, `tag_id != it` or `tag_id NIN [it]` would
silently hold for everyone. The refusal names the segments. A segment cannot be saved naming a tag that does not
exist either (the same widening, from the other side)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from api.services import api_token_create
from contacts import services
from contacts.models import Tag
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from segments.models import Segment
from segments.selectors import segment_members
from segments.services import segment_create, segment_update
from tests.contacts.factories import TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:contacts_tag_changelist")


@pytest.fixture
def vip():
    """ "VIP", named by three contact segments (`!=`, `NIN` with its id as text, deep in an OR group) and a company
    segment; "Spare", named by none."""
    tag = TagFactory(name="VIP")
    TagFactory(name="Spare")
    segment_create(name="Not VIPs", query={"field": "tag_id", "operator": "!=", "value": tag.pk}, teammate=None)
    segment_create(name="Others", query={"field": "tag_id", "operator": "NIN", "value": [str(tag.pk)]}, teammate=None)
    nested = {"operator": "AND", "value": [
        {"field": "role", "operator": "=", "value": "user"},
        {"operator": "OR", "value": [{"field": "tag_id", "operator": "=", "value": tag.pk},
                                     {"field": "name", "operator": "=", "value": "Ada"}]},
    ]}  # fmt: skip
    segment_create(name="Ada or VIPs", query=nested, teammate=None)
    segment_create(name="VIP companies", query={"field": "tag_id", "operator": "=", "value": tag.pk}, teammate=None,
                   person_type=Segment.PersonType.COMPANY)  # fmt: skip
    segment_create(name="Users", query={"field": "role", "operator": "=", "value": "user"}, teammate=None)
    return tag


def test_the_service_refuses_naming_every_segment_that_filters_on_it(vip):
    tagged, untagged = UserContactFactory(), UserContactFactory()
    services.contact_tag(contact=tagged, tag=vip)
    not_vips = Segment.objects.get(name="Not VIPs")
    assert list(segment_members(segment=not_vips)) == [untagged]

    with pytest.raises(ValidationError) as refused:
        services.tag_delete(tag=vip)
    [message] = refused.value.message_dict["id"]
    assert message == (
        "The tag “VIP” is used by the segment “Ada or VIPs”, the segment “Not VIPs”, the segment “Others” and "
        "the segment “VIP companies”. Change or delete them first."
    )
    # Nothing changed: the tag, its link, and what the segment holds.
    assert Tag.objects.filter(pk=vip.pk).exists() and tagged.tags.filter(pk=vip.pk).exists()
    assert list(segment_members(segment=not_vips)) == [untagged]

    services.tag_delete(tag=Tag.objects.get(name="Spare"))
    assert not Tag.objects.filter(name="Spare").exists()
    # Once no segment names it, it goes.
    Segment.objects.exclude(name="Users").delete()
    services.tag_delete(tag=vip)
    assert not Tag.objects.filter(pk=vip.pk).exists()


def test_a_segment_naming_a_tag_that_does_not_exist_is_not_saved(vip):
    missing = vip.pk + 1000
    with pytest.raises(ValidationError) as refused:
        segment_create(name="Everyone", query={"field": "tag_id", "operator": "!=", "value": missing}, teammate=None)
    assert refused.value.message_dict == {"query": [f"tag_id: No tag has the id {missing}."]}
    users = Segment.objects.get(name="Users")
    with pytest.raises(ValidationError, match="No tag has the id"):
        segment_update(segment=users, query={"field": "tag_id", "operator": "NIN", "value": [str(missing)]})
    # A segment whose tag went before this rule still takes a new name (its filter, unchanged, is not checked again).
    legacy = Segment.objects.get(name="Not VIPs")
    Segment.objects.filter(pk=legacy.pk).update(query={"field": "tag_id", "operator": "!=", "value": missing})
    legacy.refresh_from_db()
    assert segment_update(segment=legacy, name="Not VIPs (old)").name == "Not VIPs (old)"


def test_the_admin_delete_page_names_the_segments_and_offers_no_button(admin_client, vip):
    url = reverse("admin:contacts_tag_delete", args=[vip.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "cannot be deleted while these use it" in text
    assert "the segment “Not VIPs”" in text and "the segment “VIP companies”" in text
    assert 'name="post"' not in text  # no confirmation form
    assert admin_client.post(url, {"post": "yes"}).status_code == 200  # the same page again, nothing deleted
    assert Tag.objects.filter(pk=vip.pk).exists()


def test_the_admin_bulk_delete_refuses_a_selection_holding_a_used_tag(admin_client, vip):
    spare = Tag.objects.get(name="Spare")
    selection = {"action": "delete_selected", "_selected_action": [vip.pk, spare.pk]}
    page = admin_client.post(CHANGELIST, selection)
    assert page.status_code == 200
    text = page.content.decode()
    assert "cannot be deleted while these use them" in text and "the segment “Others”" in text
    assert 'name="post"' not in text
    admin_client.post(CHANGELIST, {**selection, "post": "yes"})
    assert Tag.objects.count() == 2

    # An unused one alone still goes, through the service.
    response = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [spare.pk],
                                              "post": "yes"})  # fmt: skip
    assert response.status_code == 302
    assert list(Tag.objects.values_list("name", flat=True)) == ["VIP"]


def test_the_bulk_delete_confirmation_of_one_tag_reads_in_the_singular(admin_client, vip):
    spare = Tag.objects.get(name="Spare")
    page = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [spare.pk]})
    text = page.content.decode()
    assert "<h1>Delete 1 tag</h1>" in text and "&rsaquo; Delete 1 tag" in text  # title and breadcrumbs
    assert "<title>Delete 1 tag |" in text
    assert "multiple objects" not in text and "Delete 1 tags" not in text
    assert "Are you sure you want to delete the selected tag?" in text
    two = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [spare.pk, vip.pk]})
    assert "<h1>Cannot delete tags</h1>" in two.content.decode()  # VIP is in use: Django's refusal title

    refused = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [vip.pk]})
    text = refused.content.decode()
    assert "<h1>Cannot delete tag</h1>" in text
    assert "The tag “VIP” cannot be deleted while these use it:" in text and "These tags" not in text


def test_the_bulk_delete_confirmation_of_several_unused_tags_counts_them(admin_client, vip):
    spare = Tag.objects.get(name="Spare")
    other = Tag.objects.create(name="Other")
    page = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [spare.pk, other.pk]})
    assert "<h1>Delete 2 tags</h1>" in page.content.decode()


def test_the_api_refuses_with_intercoms_400_naming_the_segments(superuser, vip):
    _token, raw = api_token_create(user=superuser, name="tags")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    refused = api.delete(f"/api/tags/{vip.pk}")
    assert refused.status_code == 400
    body = refused.json()
    assert body["type"] == "error.list"
    [error] = body["errors"]
    assert error["code"] == "tag_has_dependent_objects" and error["field"] == "id"
    assert "the segment “Not VIPs”" in error["message"]
    assert Tag.objects.filter(pk=vip.pk).exists()

    spare = Tag.objects.get(name="Spare")
    assert api.delete(f"/api/tags/{spare.pk}").status_code == 200
    assert api.delete(f"/api/tags/{spare.pk}").status_code == 404


@pytest.mark.parametrize("group", [VIEWER_GROUP, AGENT_GROUP])
def test_only_who_may_delete_tags_hears_which_segments_use_one(vip, group):
    teammate = get_user_model().objects.create_user(group, f"{group}@parley.test", "x", is_staff=True)
    teammate.groups.add(Group.objects.get(name=group))
    _token, raw = api_token_create(user=teammate, name=group)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for tag in (vip, Tag.objects.get(name="Spare")):
        refused = api.delete(f"/api/tags/{tag.pk}")
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["code"] == "forbidden"
    assert Tag.objects.count() == 2


@pytest.mark.parametrize(
    "weird", ["²", "٣", "%00", "%ED%A0%80", "1e400", "1.5", "-1", "99999999999999999999999", "<b>1</b>"]
)
def test_deleting_a_tag_by_an_id_that_is_no_id_is_a_json_404(superuser, vip, weird):
    _token, raw = api_token_create(user=superuser, name="tags")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.delete(f"/api/tags/{weird}")
    assert response.status_code == 404
    assert response.json()["type"] == "error.list"
    assert Tag.objects.count() == 2


@pytest.mark.parametrize("value", ["٣", "<b>1</b>", "1.5", 10**30, True, "\x00"])
def test_a_segment_naming_a_tag_by_a_value_that_is_no_id_is_refused_naming_the_query(vip, value):
    with pytest.raises(ValidationError) as refused:
        segment_create(name="Odd", query={"field": "tag_id", "operator": "!=", "value": value}, teammate=None)
    assert list(refused.value.message_dict) == ["query"]


def test_a_tag_an_assignment_rule_or_a_saved_reply_names_is_not_deleted(admin_client, superuser):
    """Deleting it took the rule whose condition it is with it, and silently left a rule without its "add tag"
    action or a saved reply without the tag it adds."""
    from conversations.models import AssignmentRule, SavedReply

    billing, urgent, spare = TagFactory(name="Billing"), TagFactory(name="Urgent"), TagFactory(name="Spare")
    AssignmentRule.objects.create(name="Billing to finance", contact_tag=billing)
    AssignmentRule.objects.create(name="Flag refunds", message_contains="refund", add_tag=urgent)
    SavedReply.objects.create(name="Escalate", body="On it.").tags.add(urgent)
    with pytest.raises(ValidationError) as refused:
        services.tag_delete(tag=billing)
    assert refused.value.message_dict["id"] == [
        "The tag “Billing” is used by the assignment rule “Billing to finance”. Change or delete it first."
    ]
    with pytest.raises(ValidationError, match="the assignment rule “Flag refunds” and the saved reply “Escalate”"):
        services.tag_delete(tag=urgent)
    page = admin_client.get(reverse("admin:contacts_tag_delete", args=[billing.pk])).content.decode()
    assert "the assignment rule “Billing to finance”" in page and 'name="post"' not in page
    _token, raw = api_token_create(user=superuser, name="tags")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    answer = api.delete(f"/api/tags/{urgent.pk}")
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "tag_has_dependent_objects"
    assert AssignmentRule.objects.count() == 2 and SavedReply.objects.get().tags.get() == urgent
    services.tag_delete(tag=spare)  # named by nothing: goes
    assert not Tag.objects.filter(pk=spare.pk).exists()
