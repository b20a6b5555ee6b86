"""Segments: saved contact filters in the search API's language; cached counts; the contact list's sidebar and
"Save as segment" (one step, from the list); tried as a viewer and with hostile input."""

import datetime as dt
import json
import re
from urllib.parse import urlencode

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from companies import selectors as company_selectors
from companies import services as company_services
from contacts import services as contact_services
from contacts.models import Contact, DataAttribute
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP, ensure_teammate_groups
from contacts.search import contacts_left_out, contacts_matching
from segments import selectors, services, tasks
from segments.changelist_query import UnsavableFilter, changelist_query
from segments.models import Segment
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import ContactFactory, LeadFactory, TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:contacts_contact_changelist")
ADD = reverse("admin:segments_segment_add")
SAVE = reverse("admin:segments_segment_save_list")
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
                                               {"field": "companies.name", "operator": "~", "value": "ada"},
                                               {"field": "external_id", "operator": "=", "value": "ada"}]}),
        ("q=bo", {"operator": "OR", "value": [{"field": "name", "operator": "^", "value": "bo"},
                                              {"field": "email", "operator": "^", "value": "bo"},
                                              {"field": "companies.name", "operator": "^", "value": "bo"},
                                              {"field": "external_id", "operator": "=", "value": "bo"}]}),
        ("company=7", {"field": "companies.id", "operator": "=", "value": 7}),
        ("seen=never", {"field": "last_seen_at", "operator": "=", "value": None}),
        ("seen=today", {"field": "last_seen_at", "operator": ">", "value": "today"}),
        ("seen=7d", {"field": "last_seen_at", "operator": ">", "value": "now-7d"}),
        ("seen_days=45", {"field": "last_seen_at", "operator": ">", "value": "now-45d"}),
        ("seen=stale", {"field": "last_seen_at", "operator": "<", "value": "now-270d"}),  # the retention TTL
        ("not_tag=7", {"field": "tag_id", "operator": "!=", "value": "7"}),  # the sidebar's "not tagged"
        ("tag=7&not_tag=8", {"operator": "AND", "value": [{"field": "tag_id", "operator": "=", "value": "7"},
                                                          {"field": "tag_id", "operator": "!=", "value": "8"}]}),
    ],
)  # fmt: skip
def test_the_contact_list_filters_become_a_query(params, expected):
    assert changelist_query(QueryDict(params)) == expected


@pytest.mark.parametrize("params", ["", "o=1", "seen=bogus", "seen_days=0", "seen_days=٣", "seen_days=3651",
                                    "event=signed-up", "role__exact=visitor", "tag=abc", "not_tag=abc", "ca__nope=1", "whatever=1",
                                    "company=abc", "company=0", "company=1e400", "company=٣",
                                    "marketing_consent=given"])  # fmt: skip
def test_filters_a_segment_cannot_keep_are_refused_by_name(params):
    with pytest.raises(UnsavableFilter) as refused:
        changelist_query(QueryDict(params))
    if params not in ("", "o=1"):
        assert [name for name, _ in refused.value.problems] == [params.split("=")[0]]


def test_every_filter_a_segment_cannot_keep_is_named_together():
    with pytest.raises(UnsavableFilter) as refused:
        changelist_query(QueryDict("event=signed-up&role__exact=user&marketing_consent=given&ca__nope=1"))
    assert [name for name, _ in refused.value.problems] == ["event", "marketing_consent", "ca__nope"]


def save_list(client: Client, filters: str, name: str, person_type: str = "contact"):
    """What the sidebar's "Save as segment" posts: the list's query string and a name."""
    return client.post(SAVE, {"person_type": person_type, "filters": filters, "name": name}, follow=True)


def page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_a_teammate_saves_the_filtered_list_as_a_segment_in_one_step_and_opens_it_in_one_click(admin_client):
    DataAttribute.objects.create(name="vip", label="VIP", data_type="boolean")
    french_vip = UserContactFactory(country="FR", custom_attributes={"vip": True})
    UserContactFactory(country="FR", custom_attributes={"vip": False})
    UserContactFactory(country="DE", custom_attributes={"vip": True})
    listed = admin_client.get(CONTACTS, {"country": "FR", "ca__vip": "true"}).content.decode()
    assert 'id="parley-segment-name"' in listed and "Country is “FR” · VIP is yes" in listed  # said before saving
    saved = save_list(admin_client, "country=FR&ca__vip=true&o=2", "French VIPs")
    segment = Segment.objects.get()
    assert segment.query == {"operator": "AND", "value": [FRENCH, {"field": "custom_attributes.vip", "operator": "=",
                                                                   "value": True}]}  # fmt: skip
    assert saved.redirect_chain == [(f"{CONTACTS}?segment={segment.pk}", 302)]
    assert page_messages(saved) == ["Saved segment “French VIPs”: Country is “FR” · VIP is yes — 1 contact right now."]
    assert [c.pk for c in saved.context["cl"].result_list] == [french_vip.pk]
    assert "French VIPs (≈1)" in saved.content.decode()  # counted at once: the sidebar shows it already
    assert segment.created_by is not None


def test_a_list_that_cannot_be_saved_says_why_before_saving_and_nothing_is_saved(admin_client):
    page = admin_client.get(CONTACTS, {"role__exact": "user", "event": "signed-up"}).content.decode()
    assert 'id="parley-segment-name"' not in page  # no form to fill in vain
    assert "Can\u2019t be saved as a segment:" in page and "“event”: the search language has no events" in page
    refused = save_list(admin_client, "role__exact=user&event=signed-up", "Signed up")
    assert page_messages(refused)[0].startswith("Not saved: “event”: the search language has no events")
    assert refused.redirect_chain[-1][0] == f"{CONTACTS}?role__exact=user&event=signed-up"
    nothing = admin_client.get(CONTACTS).content.decode()
    assert "Filter or search the contacts, then save them here." in nothing
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "A segment needs a name."), ("a\x00b", "NUL"), ("x" * 101, "at most 100"), ("Taken", "exists")],
)
def test_a_bad_name_is_refused_and_the_list_comes_back_as_it_was(admin_client, superuser, name, message):
    services.segment_create(name="Taken", query=FRENCH, teammate=superuser)
    refused = save_list(admin_client, "country=FR", name)
    assert message in page_messages(refused)[0]
    assert refused.redirect_chain[-1][0] == f"{CONTACTS}?country=FR"
    assert Segment.objects.count() == 1


@pytest.mark.parametrize(
    "filters",
    ["country=" + "x" * 2000, "seen_days=1e400", "q=%00", "segment=٣", "tag=²", "ca__vip=true", "\r\nLocation: x"],
)
def test_hostile_list_filters_are_refused_in_words_never_a_500(admin_client, filters):
    response = save_list(admin_client, filters, "Hostile")
    assert response.status_code == 200 and page_messages(response)[0].startswith("Not saved:")
    assert not Segment.objects.exists()


def test_the_save_view_takes_a_post_from_a_teammate_who_may_add_segments(admin_client):
    assert admin_client.get(SAVE).status_code == 405
    viewer = teammate_client(VIEWER_GROUP, "vera")
    assert viewer.post(SAVE, {"person_type": "contact", "filters": "country=FR", "name": "Mine"}).status_code == 403
    assert not Segment.objects.exists()


def test_a_big_segment_is_counted_by_the_task_and_the_confirmation_says_so(admin_client, monkeypatch):
    monkeypatch.setattr(services, "QUICK_COUNT_LIMIT", 2)
    UserContactFactory.create_batch(3, country="FR")
    saved = save_list(admin_client, "country=FR", "France")
    assert page_messages(saved)[0].endswith("— more than 2 contacts (the exact count follows in a moment).")
    assert Segment.objects.get().member_count is None


def test_a_relative_segment_moves_with_the_days(teammate):
    now = timezone.now()
    seen_20_days_ago = UserContactFactory(last_seen_at=now - dt.timedelta(days=20))
    UserContactFactory(last_seen_at=now - dt.timedelta(days=40))
    segment = services.segment_create(name="Recent", query=changelist_query(QueryDict("seen=30d")), teammate=teammate)
    assert list(selectors.segment_members(segment=segment)) == [seen_20_days_ago]
    with time_machine.travel(now + dt.timedelta(days=15), tick=False):
        assert list(selectors.segment_members(segment=segment)) == []
        assert services.segment_count_refresh(segment_id=segment.pk) == 0


@pytest.mark.parametrize(
    "params",
    [
        {"role__exact": "user", "seen": "7d"},
        {"seen": "today"},
        {"seen_days": "3", "tag": "VIP"},
        {"seen": "stale", "role__exact": "lead"},
        {"seen": "never", "country": "DE"},
        {"q": "ri", "unsubscribed_from_emails__exact": "0"},
        {"q": "rivera acme", "seen_days": "30"},
        # The search box also matches the name of a contact's company (a word, or its start below 3 characters).
        {"q": "Hooli"},
        {"q": "hooli rivera"},
        {"q": "st"},
        {"q": "ind", "role__exact": "user"},
        {"q": "acme"},  # Bo Acme and Rivera Acme by name, Rick at Acme Hooli by its company's
        # The Company filter (the sidebar, or the company page's "All its people in the contact list").
        {"company": "Stark Industries"},
        {"company": "Hooli", "seen": "7d"},
        {"company": "Acme Hooli", "q": "ri"},
        # "Not tagged VIP", alone and beside other filters.
        {"not_tag": "VIP"},
        {"not_tag": "VIP", "seen": "7d", "country": "FR"},
        {"not_tag": "VIP", "company": "Hooli"},
    ],
)
def test_a_saved_list_holds_exactly_the_contacts_the_list_showed(admin_client, params):
    """The list's own filters and the segment's query, side by side on the same rows."""
    now = timezone.now()
    vip = TagFactory(name="VIP")
    companies = {name: CompanyFactory(name=name) for name in ("Hooli", "Stark Industries", "Acme Hooli", "Pied Piper")}
    memberships = {"Jamie Rivera": ["Hooli"], "Ana Ribeiro": ["Stark Industries", "Hooli"], "Rita": ["Pied Piper"],
                   "Rick": ["Acme Hooli"], "Old Lead": ["Stark Industries"]}  # fmt: skip
    # Jamie was seen nine seconds ago: "today" whatever the hour the test runs at.
    for days, role, country, name in [
        (0.0001, "user", "FR", "Jamie Rivera"), (2, "user", "DE", "Ana Ribeiro"), (5, "lead", "FR", "Rita"),
        (10, "user", "FR", "Bo Acme"), (29, "user", "DE", "Rivera Acme"), (45, "lead", "DE", "Rick"),
        (400, "lead", "FR", "Old Lead"), (None, "user", "DE", "Never Seen"),
    ]:  # fmt: skip
        contact = UserContactFactory(
            role=role, country=country, name=name, last_seen_at=now - dt.timedelta(days=days) if days else None
        )
        if days in (2, 29, 45):
            contact.tags.add(vip)
        for company in memberships.get(name, []):
            company_services.company_attach(company=companies[company], contact=contact)
    for tag_parameter in ("tag", "not_tag"):
        if params.get(tag_parameter):
            params = {**params, tag_parameter: str(vip.pk)}
    if params.get("company"):
        params = {**params, "company": str(companies[params["company"]].pk)}
    listed = {c.pk for c in admin_client.get(CONTACTS, params).context["cl"].result_list}
    query = changelist_query(QueryDict(urlencode(params)))
    segment = services.segment_create(name="Same", query=query, teammate=None)
    assert set(selectors.segment_members(segment=segment).values_list("pk", flat=True)) == listed
    assert listed  # each case lists someone


def test_a_word_naming_more_companies_than_the_list_looks_up_still_holds_what_the_list_showed(
    admin_client, monkeypatch
):
    """Past COMPANY_WORD_MATCHES companies the list finds their people by the name itself, not by the first few."""
    monkeypatch.setattr(company_selectors, "COMPANY_WORD_MATCHES", 2)
    people = []
    for index in range(4):
        person = UserContactFactory(name=f"Person {index}")
        company_services.company_attach(company=CompanyFactory(name=f"Hooli {index}"), contact=person)
        people.append(person.pk)
    UserContactFactory(name="Elsewhere")
    listed = {c.pk for c in admin_client.get(CONTACTS, {"q": "hooli"}).context["cl"].result_list}
    segment = services.segment_create(name="Hooli", query=changelist_query(QueryDict("q=hooli")), teammate=None)
    assert listed == set(people) == set(selectors.segment_members(segment=segment).values_list("pk", flat=True))


def test_the_company_filter_and_the_company_search_are_said_and_saved(admin_client):
    stark = CompanyFactory(name="Stark Industries")
    tony = UserContactFactory(name="Tony")
    company_services.company_attach(company=stark, contact=tony)
    UserContactFactory(name="Happy")
    page = admin_client.get(CONTACTS, {"company": stark.pk}).content.decode()
    assert "Can\u2019t be saved" not in page and "Company is “Stark Industries”" in page
    searched = admin_client.get(CONTACTS, {"q": "Stark"}).content.decode()
    assert "company name contains “Stark”" in searched
    saved = save_list(admin_client, f"company={stark.pk}", "Stark people")
    assert page_messages(saved) == [
        "Saved segment “Stark people”: Company is “Stark Industries” — 1 contact right now."
    ]
    assert [c.pk for c in saved.context["cl"].result_list] == [tony.pk]
    assert Segment.objects.get().query == {"field": "companies.id", "operator": "=", "value": stark.pk}


def test_a_company_name_is_escaped_in_the_sidebar(admin_client):
    company = CompanyFactory(name="<script>alert(1)</script>")
    page = admin_client.get(CONTACTS, {"company": company.pk}).content.decode()
    assert "<script>alert(1)</script>" not in page and escape("“<script>alert(1)</script>”") in page


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
    page = viewer.get(CONTACTS, {"role__exact": "user"}).content.decode()
    assert "France" in page and 'id="parley-save-segment"' not in page
    raw = {"person_type": "contact", "name": "Mine", "query": '{"field": "role", "operator": "=", "value": "user"}'}
    assert viewer.post(ADD, raw).status_code == 403
    agent = teammate_client(AGENT_GROUP, "robin")
    assert 'id="parley-segment-name"' in agent.get(CONTACTS, {"role__exact": "user"}).content.decode()
    assert (
        agent.post(SAVE, {"person_type": "contact", "filters": "role__exact=user", "name": "Mine"}).status_code == 302
    )
    segment = Segment.objects.get(name="Mine")
    delete = reverse("admin:segments_segment_delete", args=[segment.pk])
    assert agent.post(delete, {"post": "yes"}).status_code == 403


def test_writing_a_filter_by_hand_is_for_superusers_and_agents_see_it_in_words(admin_client, superuser):
    agent = teammate_client(AGENT_GROUP, "robin")
    sent_back = agent.get(ADD, follow=True)
    assert sent_back.redirect_chain == [(CONTACTS, 302)]
    assert "Save as segment" in page_messages(sent_back)[0]
    raw = {"person_type": "contact", "name": "Mine", "query": '{"field": "role", "operator": "=", "value": "user"}'}
    assert agent.post(ADD, raw).status_code == 302 and not Segment.objects.exists()
    tag = TagFactory(name="VIP")
    query = {"operator": "AND", "value": [{"field": "role", "operator": "=", "value": "user"},
                                          {"field": "last_seen_at", "operator": ">", "value": "now-30d"},
                                          {"field": "tag_id", "operator": "=", "value": str(tag.pk)}]}  # fmt: skip
    segment = services.segment_create(name="Recent VIPs", query=query, teammate=superuser)
    change = reverse("admin:segments_segment_change", args=[segment.pk])
    page = agent.get(change).content.decode()
    assert "Role is user · last seen within 30 days · tag VIP" in page
    assert 'name="query"' not in page and "now-30d" in page  # the filter, read-only
    renamed = agent.post(change, {"name": "Recent VIP users"})
    assert renamed.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.query) == ("Recent VIP users", query)
    assert 'name="query"' in admin_client.get(change).content.decode()  # a superuser may edit it


def test_not_tagged_is_a_sidebar_filter_saved_as_a_segment_without_writing_json(admin_client):
    vip = TagFactory(name="VIP")
    tagged = UserContactFactory(name="Ada")
    tagged.tags.add(vip)
    untagged = UserContactFactory(name="Bo")
    listed = admin_client.get(CONTACTS, {"not_tag": vip.pk})
    assert [c.pk for c in listed.context["cl"].result_list] == [untagged.pk]
    page = listed.content.decode()
    assert 'data-filter-title="not tagged"' in page and "Not tagged VIP" in page  # the filter, then it in words
    saved = save_list(admin_client, f"not_tag={vip.pk}", "Not VIP yet")
    segment = Segment.objects.get()
    assert segment.query == {"field": "tag_id", "operator": "!=", "value": str(vip.pk)}
    assert page_messages(saved)[0].startswith("Saved segment “Not VIP yet”: Not tagged VIP — 1 contact right now")
    assert [c.pk for c in saved.context["cl"].result_list] == [untagged.pk]


def test_the_add_page_starts_with_an_empty_filter_not_null(admin_client):
    page = admin_client.get(ADD).content.decode()
    textarea = re.search(r'<textarea name="query"[^>]*>(.*?)</textarea>', page, re.S)
    assert textarea is not None and textarea.group(1).strip() == ""
    assert ">null<" not in page and "null\n</textarea>" not in page
    assert 'placeholder="{&quot;operator&quot;: &quot;AND&quot;' in page  # the shape of a filter, as a hint
    assert "!= for not tagged" in page and "Save as segment" in page
    empty = admin_client.post(ADD, {"person_type": "contact", "name": "Nothing", "query": ""})
    assert empty.status_code == 200 and "This field is required." in empty.content.decode()
    assert not Segment.objects.exists()


def test_a_superuser_writes_a_filter_by_hand_and_a_bad_one_is_a_form_error(admin_client):
    bad = admin_client.post(
        ADD, {"person_type": "contact", "name": "Bad", "query": '{"field": "password", "operator": "=", "value": 1}'}
    )
    assert bad.status_code == 200 and "password is not a field you can search on" in bad.content.decode()
    nul = admin_client.post(
        ADD, {"person_type": "contact", "name": "a\x00", "query": '{"field": "role", "operator": "=", "value": "user"}'}
    )
    assert nul.status_code == 200
    assert not Segment.objects.exists()
    saved = admin_client.post(ADD, {"person_type": "contact", "name": "Users",
                                    "query": '{"field": "role", "operator": "=", "value": "user"}'}, follow=True)  # fmt: skip
    assert page_messages(saved) == ["Saved segment “Users”: Role is user — 0 contacts right now."]


def test_segments_come_first_in_the_sidebar(admin_client):
    page = admin_client.get(CONTACTS).content.decode()
    titles = re.findall(r'data-filter-title="([^"]+)"', page)
    assert titles[0] == "segments" and len(titles) >= 7


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


def test_an_open_segment_says_what_it_holds_even_to_a_viewer(superuser):
    segment = services.segment_create(name="France", query=FRENCH, teammate=superuser)
    viewer = teammate_client(VIEWER_GROUP, "vera")
    page = viewer.get(CONTACTS, {"segment": segment.pk}).content.decode()
    assert "It holds:</strong> Country is “FR”" in page and 'id="parley-segment-name"' not in page
    narrowed = Client()
    narrowed.force_login(superuser)
    page = narrowed.get(CONTACTS, {"segment": segment.pk, "role__exact": "lead"}).content.decode()
    assert "Country is “FR” · role is lead" in page and 'id="parley-segment-name"' in page  # a narrower one to save


# --- who a contact segment leaves out: anonymous visitors and archived contacts, said on the page ------------------


def test_a_list_showing_visitors_says_before_saving_that_the_segment_leaves_them_out(admin_client):
    """The contact list shows anonymous visitors and archived contacts; a segment holds users and leads (the API's
    contacts): the page says so next to the filter in words, so the count after saving is no surprise."""
    vip = TagFactory(name="VIP")
    kept = [UserContactFactory(name="Ada"), LeadFactory(name="Bo")]
    left_out = [ContactFactory(name="Anonymous"), UserContactFactory(name="Gone", is_archived=True)]
    for contact in (*kept, *left_out):
        contact.tags.add(vip)
    listed = admin_client.get(CONTACTS, {"tag": vip.pk})
    assert len(listed.context["cl"].result_list) == 4  # the list shows all four
    page = listed.content.decode()
    said = (
        "Anonymous visitors and archived contacts are left out: a segment holds users and leads that are not archived"
    )
    assert said in page and 'aria-describedby="parley-segment-preview parley-segment-left-out"' in page
    saved = save_list(admin_client, f"tag={vip.pk}", "VIP")
    assert page_messages(saved) == ["Saved segment “VIP”: Tag VIP — 2 contacts right now."]
    assert {c.pk for c in saved.context["cl"].result_list} == {c.pk for c in kept}
    assert said in saved.content.decode()  # the open segment says it too, under "It holds"
    segment = Segment.objects.get()
    change = admin_client.get(reverse("admin:segments_segment_change", args=[segment.pk])).content.decode()
    assert 'id="parley-segment-left-out">' + escape(said) in change


def test_a_list_of_users_only_names_just_the_archived_ones_and_a_company_list_nobody(admin_client):
    UserContactFactory(country="FR")
    page = admin_client.get(CONTACTS, {"role__exact": "user", "country": "FR"}).content.decode()
    assert "Archived contacts are left out unless the filter names “archived”." in page
    assert "Anonymous visitors" not in page
    CompanyFactory(plan="pro")
    companies = admin_client.get(reverse("admin:companies_company_changelist"), {"plan": "pro"}).content.decode()
    assert 'id="parley-segment-preview"' in companies and 'id="parley-segment-left-out"' not in companies


@pytest.mark.parametrize(
    ("query", "left_out"),
    [
        (FRENCH, ("visitors", "archived")),
        ({"field": "role", "operator": "=", "value": "lead"}, ("archived",)),
        ({"operator": "AND", "value": [FRENCH, {"field": "role", "operator": "IN", "value": ["user"]}]}, ("archived",)),
        ({"operator": "OR", "value": [FRENCH, {"field": "role", "operator": "=", "value": "user"}]},
         ("visitors", "archived")),  # an OR does not keep one role
        ({"field": "role", "operator": "!=", "value": "user"}, ("visitors", "archived")),
        ({"operator": "AND", "value": [FRENCH, {"field": "archived", "operator": "=", "value": True}]}, ("visitors",)),
    ],
)  # fmt: skip
def test_whom_a_contact_search_leaves_out_follows_its_rule(teammate, query, left_out):
    assert contacts_left_out(query) == left_out
    # The rule itself: a visitor matching every filter is never selected; an archived contact only when asked.
    visitor = ContactFactory(country="FR", is_archived="archived" not in left_out)
    assert not contacts_matching(query).filter(pk=visitor.pk).exists()


def test_a_filter_over_the_search_caps_is_a_form_error_in_the_admin(admin_client):
    from contacts.search import QUERY_TOO_LARGE
    from tests.api.test_search_size_caps import intercoms_three_levels

    huge = admin_client.post(
        ADD, {"person_type": "contact", "name": "Huge", "query": json.dumps(intercoms_three_levels())}
    )
    assert huge.status_code == 200 and escape(QUERY_TOO_LARGE) in huge.content.decode()
    assert not Segment.objects.exists()


def test_an_empty_segment_or_token_list_says_how_rows_come_and_segments_name_their_creator(admin_client, teammate):
    """A walk: "0 segments" and "0 API tokens" alone, nothing saying how one is made; a segment named its teammate by
    username."""
    from django.urls import reverse

    segments_url = reverse("admin:segments_segment_changelist")
    for url, said in [
        (segments_url, "use “Save as segment” in its sidebar"),
        (reverse("admin:api_apitoken_changelist"), "No API tokens yet. Add one to call the REST API"),
    ]:
        assert said in admin_client.get(url).content.decode()
        assert "parley-empty-list-help" not in admin_client.get(url, {"q": "nothing"}).content.decode()

    viewer = teammate_client(VIEWER_GROUP, "vera")
    read = viewer.get(segments_url)
    assert read.status_code == 200 and "parley-empty-list-help" not in read.content.decode()  # not to who cannot add
    services.segment_create(name="France", query=FRENCH, teammate=teammate)
    page = admin_client.get(segments_url).content.decode()
    assert "parley-empty-list-help" not in page
    assert '<td class="field-created_by_name">Alex</td>' in page
