"""Segments: saved contact filters in the search API's language; cached counts; the contact list's sidebar and
"Save these filters as a segment"; tried as a viewer and with hostile input."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts import services as contact_services
from contacts.models import Contact, DataAttribute
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP, ensure_teammate_groups
from segments import selectors, services, tasks
from segments.changelist_query import UnsavableFilter, changelist_query
from segments.models import Segment
from tests.contacts.factories import ContactFactory, LeadFactory, TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:contacts_contact_changelist")
ADD = reverse("admin:segments_segment_add")
FRENCH = {"field": "location.country_code", "operator": "=", "value": "FR"}


def teammate_client(group: str, username: str) -> Client:
    ensure_teammate_groups()
    user = get_user_model().objects.create_user(username, f"{username}@parley.test", None, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def test_members_are_what_the_search_api_returns_users_and_leads_not_archived(teammate):
    french_user, french_lead = UserContactFactory(country="FR"), LeadFactory(country="FR")
    UserContactFactory(country="FR", is_archived=True)
    ContactFactory(country="FR")  # an anonymous visitor: not one of the API's contacts
    UserContactFactory(country="DE")
    segment = services.segment_create(name="France", query=FRENCH, teammate=teammate)
    assert set(selectors.segment_members(segment=segment)) == {french_user, french_lead}
    assert services.segment_count_refresh(segment_id=segment.pk) == 2
    segment.refresh_from_db()
    assert segment.member_count == 2 and segment.counted_at is not None


def test_the_beat_task_recounts_every_segment(teammate):
    vip = TagFactory(name="vip")
    services.segment_create(name="France", query=FRENCH, teammate=teammate)
    services.segment_create(name="VIP", query={"field": "tag_id", "operator": "=", "value": str(vip.pk)},
                            teammate=teammate)  # fmt: skip
    contact_services.contact_tag(contact=UserContactFactory(country="FR"), tag=vip)
    assert tasks.refresh_segment_counts() == 2
    assert dict(Segment.objects.values_list("name", "member_count")) == {"France": 1, "VIP": 1}


@pytest.mark.parametrize(
    ("name", "query", "field"),
    [
        ("", FRENCH, "name"),
        ("x" * 101, FRENCH, "name"),
        ("a\x00b", FRENCH, "name"),
        ("ok", {}, "query"),
        ("ok", {"field": "password", "operator": "=", "value": "x"}, "query"),
        ("ok", {"field": "created_at", "operator": ">", "value": "1e400"}, "query"),
        ("ok", {"field": "email", "operator": "=", "value": "\ud800"}, "query"),
        ("ok", {"operator": "AND", "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [
            {"operator": "OR", "value": [FRENCH]}]}]}]}, "query"),
        ("ok", {"operator": "AND", "value": [FRENCH] * 16}, "query"),
        ("ok", {"field": "name", "operator": "~", "value": "x" * 30_000}, "query"),
    ],
)  # fmt: skip
def test_bad_segments_are_refused_naming_the_field(teammate, name, query, field):
    with pytest.raises(ValidationError) as refused:
        services.segment_create(name=name, query=query, teammate=teammate)
    assert field in refused.value.message_dict
    assert not Segment.objects.exists()


def test_names_are_unique_and_a_rename_or_new_filter_is_checked(teammate):
    segment = services.segment_create(name="France", query=FRENCH, teammate=teammate)
    with pytest.raises(ValidationError):
        services.segment_create(name="France", query=FRENCH, teammate=teammate)
    other = services.segment_create(name="Germany", query={**FRENCH, "value": "DE"}, teammate=teammate)
    with pytest.raises(ValidationError):
        services.segment_update(segment=other, name="France")
    Segment.objects.filter(pk=segment.pk).update(member_count=5)
    updated = services.segment_update(segment=Segment.objects.get(pk=segment.pk), query={**FRENCH, "value": "BE"})
    assert (updated.query["value"], updated.member_count) == ("BE", None)  # recounted by a task


def test_contact_segments_is_one_query_whatever_the_number_of_segments(teammate):
    contact = UserContactFactory(country="FR", name="Ada")
    services.segment_create(name="France", query=FRENCH, teammate=teammate)
    services.segment_create(
        name="Named Ada", query={"field": "name", "operator": "=", "value": "ada"}, teammate=teammate
    )
    services.segment_create(name="Germany", query={**FRENCH, "value": "DE"}, teammate=teammate)
    with CaptureQueriesContext(connection) as few:
        assert [s.name for s in selectors.contact_segments(contact=contact)] == ["France", "Named Ada"]
    for index in range(12):
        services.segment_create(name=f"s{index}", query={**FRENCH, "value": f"X{index % 9}"}, teammate=teammate)
    with CaptureQueriesContext(connection) as many:
        selectors.contact_segments(contact=contact)
    assert len(many) == len(few)


# --- the contact list: save its filters, open a segment in one click -----------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("country=FR", FRENCH),
        ("role__exact=user&unsubscribed_from_emails__exact=0&o=1&p=2", {"operator": "AND", "value": [
            {"field": "role", "operator": "=", "value": "user"},
            {"field": "unsubscribed_from_emails", "operator": "=", "value": False}]}),
        ("q=ada", {"operator": "OR", "value": [{"field": "name", "operator": "~", "value": "ada"},
                                               {"field": "email", "operator": "~", "value": "ada"},
                                               {"field": "external_id", "operator": "=", "value": "ada"}]}),
        ("seen=never", {"field": "last_seen_at", "operator": "=", "value": None}),
    ],
)  # fmt: skip
def test_the_contact_list_filters_become_a_query(params, expected):
    assert changelist_query(QueryDict(params)) == expected


@pytest.mark.parametrize("params", ["", "o=1", "seen=7d", "seen_days=3", "event=signed-up", "role__exact=visitor",
                                    "tag=abc", "ca__nope=1", "whatever=1"])  # fmt: skip
def test_filters_a_segment_cannot_keep_are_refused_by_name(params):
    with pytest.raises(UnsavableFilter):
        changelist_query(QueryDict(params))


def test_a_teammate_saves_the_filtered_list_as_a_segment_and_opens_it_in_one_click(admin_client):
    DataAttribute.objects.create(name="vip", label="VIP", data_type="boolean")
    french_vip = UserContactFactory(country="FR", custom_attributes={"vip": True})
    UserContactFactory(country="FR", custom_attributes={"vip": False})
    UserContactFactory(country="DE", custom_attributes={"vip": True})
    listed = admin_client.get(CONTACTS, {"country": "FR", "ca__vip": "true"}).content.decode()
    assert 'id="parley-save-segment"' in listed
    form = admin_client.get(ADD, {"from_contacts": "country=FR&ca__vip=true"})
    query = form.context["adminform"].form.initial["query"]
    assert query == {"operator": "AND", "value": [FRENCH, {"field": "custom_attributes.vip", "operator": "=",
                                                           "value": True}]}  # fmt: skip
    import json

    saved = admin_client.post(ADD, {"person_type": "contact", "name": "French VIPs", "query": json.dumps(query)})
    segment = Segment.objects.get()
    assert saved.status_code == 302 and saved["Location"] == f"{CONTACTS}?segment={segment.pk}"
    services.segment_count_refresh(segment_id=segment.pk)
    page = admin_client.get(saved["Location"])
    assert [c.pk for c in page.context["cl"].result_list] == [french_vip.pk]
    assert "French VIPs (≈1)" in page.content.decode()


def test_an_unsavable_list_shows_why_and_a_bad_query_is_a_form_error(admin_client):
    refused = admin_client.get(ADD, {"from_contacts": "seen=7d"}, follow=True)
    assert "relative to today" in refused.content.decode()
    bad = admin_client.post(
        ADD, {"person_type": "contact", "name": "Bad", "query": '{"field": "password", "operator": "=", "value": 1}'}
    )
    assert bad.status_code == 200 and "password is not a field you can search on" in bad.content.decode()
    nul = admin_client.post(
        ADD, {"person_type": "contact", "name": "a\x00", "query": '{"field": "role", "operator": "=", "value": "user"}'}
    )
    assert nul.status_code == 200
    assert not Segment.objects.exists()


def test_hostile_segment_names_are_escaped_in_the_sidebar(admin_client, superuser):
    services.segment_create(name="<script>alert(1)</script>", query=FRENCH, teammate=superuser)
    page = admin_client.get(CONTACTS).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_unknown_or_hostile_segment_parameter_lists_nobody(admin_client, superuser):
    UserContactFactory()
    for value in ("999999", "1e400", "٣", "abc"):
        page = admin_client.get(CONTACTS, {"segment": value})
        assert page.status_code in (200, 302)
        if page.status_code == 200:
            assert list(page.context["cl"].result_list) == []


def test_the_contact_list_with_segments_costs_the_same_queries_for_2_or_15_segments(admin_client, superuser):
    UserContactFactory.create_batch(3, country="FR")

    def count() -> int:
        admin_client.get(CONTACTS)
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(CONTACTS).status_code == 200
        return len(queries)

    for index in range(2):
        services.segment_create(name=f"s{index}", query=FRENCH, teammate=superuser)
    small = count()
    for index in range(2, 15):
        services.segment_create(name=f"s{index}", query=FRENCH, teammate=superuser)
    assert count() == small
    segment = Segment.objects.first()
    with CaptureQueriesContext(connection) as opened:
        admin_client.get(CONTACTS, {"segment": segment.pk})
    assert len(opened) <= small + 2  # the segment itself, and its query's data attributes


def test_a_viewer_sees_segments_but_cannot_save_one_and_an_agent_can():
    Segment.objects.create(name="France", query=FRENCH)
    viewer = teammate_client(VIEWER_GROUP, "vera")
    page = viewer.get(CONTACTS).content.decode()
    assert "France" in page and 'id="parley-save-segment"' not in page
    assert (
        viewer.post(
            ADD,
            {"person_type": "contact", "name": "Mine", "query": '{"field": "role", "operator": "=", "value": "user"}'},
        ).status_code
        == 403
    )
    agent = teammate_client(AGENT_GROUP, "robin")
    assert 'id="parley-save-segment"' in agent.get(CONTACTS).content.decode()
    assert (
        agent.post(
            ADD,
            {"person_type": "contact", "name": "Mine", "query": '{"field": "role", "operator": "=", "value": "user"}'},
        ).status_code
        == 302
    )
    assert Segment.objects.filter(name="Mine").exists()
    segment = Segment.objects.get(name="Mine")
    delete = reverse("admin:segments_segment_delete", args=[segment.pk])
    assert agent.post(delete, {"post": "yes"}).status_code == 403


def test_contacts_keep_their_rows_when_a_segment_is_deleted(teammate):
    UserContactFactory(country="FR")
    segment = services.segment_create(name="France", query=FRENCH, teammate=teammate)
    services.segment_delete(segment=segment)
    assert Contact.objects.count() == 1 and not Segment.objects.exists()


def test_filters_added_to_an_open_segment_narrow_it(teammate):
    segment = services.segment_create(name="France", query=FRENCH, teammate=teammate)
    query = changelist_query(QueryDict(f"segment={segment.pk}&role__exact=lead"))
    assert query == {"operator": "AND", "value": [FRENCH, {"field": "role", "operator": "=", "value": "lead"}]}
    with pytest.raises(UnsavableFilter):
        changelist_query(QueryDict("segment=999999"))


def test_the_segment_list_and_page_show_the_cached_count_and_edit_the_filter(admin_client, superuser):
    segment = services.segment_create(name="France", query=FRENCH, teammate=superuser)
    listed = admin_client.get(reverse("admin:segments_segment_changelist")).content.decode()
    assert "counting…" in listed and f"?segment={segment.pk}" in listed
    services.segment_count_refresh(segment_id=segment.pk)
    assert "≈0" in admin_client.get(reverse("admin:segments_segment_changelist")).content.decode()
    change = reverse("admin:segments_segment_change", args=[segment.pk])
    assert admin_client.get(change).status_code == 200
    edited = admin_client.post(change, {"name": "Belgium", "query": '{"field": "location.country_code", '
                                                                    '"operator": "=", "value": "BE"}'})  # fmt: skip
    assert edited.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.query["value"], segment.member_count) == ("Belgium", "BE", None)
