"""Company segments: saved company filters (the search language over company fields), cached counts, the company
list's sidebar and "Save these filters as a segment"; a segment of one kind where the other is expected."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from companies import services as company_services
from companies.search import companies_matching
from contacts.models import DataAttribute
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from conversations import services as conversation_services
from segments import selectors, services, tasks
from segments.changelist_query import UnsavableFilter, changelist_query
from segments.models import Segment
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import TagFactory, UserContactFactory
from tests.segments.test_segments import teammate_client

pytestmark = pytest.mark.django_db

COMPANIES = reverse("admin:companies_company_changelist")
CONTACTS = reverse("admin:contacts_contact_changelist")
ADD = reverse("admin:segments_segment_add")
SAVE = reverse("admin:segments_segment_save_list")
COMPANY = Segment.PersonType.COMPANY
ENTERPRISE = {"field": "plan", "operator": "=", "value": "enterprise"}
FRENCH = {"field": "location.country_code", "operator": "=", "value": "FR"}


def _company_segment(name: str, query: dict, teammate=None) -> Segment:
    return services.segment_create(name=name, query=query, teammate=teammate, person_type=COMPANY)


# --- the language and the service ---------------------------------------------------------------


def test_a_company_segment_holds_the_companies_its_filter_selects_and_counts_them(teammate):
    DataAttribute.objects.create(name="seats", label="Seats", data_type="integer", model="company")
    big = CompanyFactory(plan="enterprise", size=500, custom_attributes={"seats": 40})
    CompanyFactory(plan="enterprise", size=5, custom_attributes={"seats": 2})
    CompanyFactory(plan="pro", size=800)
    query = {"operator": "AND", "value": [ENTERPRISE, {"field": "size", "operator": ">", "value": 50},
                                          {"field": "custom_attributes.seats", "operator": ">", "value": 10}]}  # fmt: skip
    segment = _company_segment("Big enterprise", query, teammate)
    assert segment.person_type == "company"
    assert list(selectors.segment_companies(segment=segment)) == [big]
    assert services.segment_count_refresh(segment_id=segment.pk) == 1
    segment.refresh_from_db()
    assert segment.member_count == 1 and segment.counted_at is not None


def test_tagged_companies_are_listed_once_and_the_beat_counts_both_kinds(teammate):
    b2b, vip = TagFactory(name="b2b"), TagFactory(name="vip")
    acme = CompanyFactory()
    for tag in (b2b, vip):
        company_services.company_tag(company=acme, tag=tag, actor=teammate)
    either = {"field": "tag_id", "operator": "IN", "value": [b2b.pk, vip.pk]}
    segment = _company_segment("Tagged", either, teammate)
    assert list(companies_matching(segment.query)) == [acme]
    services.segment_create(name="France", query=FRENCH, teammate=teammate)
    UserContactFactory(country="FR")
    assert tasks.refresh_segment_counts() == 2
    assert dict(Segment.objects.values_list("name", "member_count")) == {"Tagged": 1, "France": 1}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (FRENCH, "location.country_code"),  # a contact field: not one of a company's
        ({"field": "email", "operator": "=", "value": "a@b.c"}, "email"),
        ({"field": "size", "operator": ">", "value": "1e400"}, "size"),
        ({"field": "size", "operator": "~", "value": 3}, "size"),
        ({"field": "plan", "operator": "=", "value": "\ud800"}, "query.value"),
        ({"field": "custom_attributes.nope", "operator": "=", "value": 1}, "custom_attributes.nope"),
        ({"field": "last_request_at", "operator": ">", "value": "٣"}, "last_request_at"),
    ],
)
def test_a_company_filter_names_what_it_refuses(teammate, query, field):
    with pytest.raises(ValidationError) as refused:
        _company_segment("Bad", query, teammate)
    assert field in refused.value.message_dict["query"][0]
    assert not Segment.objects.exists()


def test_a_segment_keeps_its_kind_and_an_unknown_kind_is_refused(teammate):
    segment = _company_segment("Enterprise", ENTERPRISE, teammate)
    with pytest.raises(ValidationError) as changed:
        services.segment_validate(segment=segment, name="Enterprise", query=ENTERPRISE, person_type="contact")
    assert "person_type" in changed.value.message_dict
    updated = services.segment_update(segment=segment, query={**ENTERPRISE, "value": "pro"})
    assert (updated.person_type, updated.query["value"]) == ("company", "pro")
    with pytest.raises(ValidationError) as unknown:
        services.segment_create(name="X", query=ENTERPRISE, teammate=teammate, person_type="visitor")
    assert "person_type" in unknown.value.message_dict


def test_a_segment_of_one_kind_is_refused_where_the_other_is_expected(teammate):
    companies = _company_segment("Enterprise", ENTERPRISE, teammate)
    contacts = services.segment_create(name="France", query=FRENCH, teammate=teammate)
    with pytest.raises(ValidationError) as not_contacts:
        selectors.segment_members(segment=companies)
    assert "segment of companies, not of contacts" in not_contacts.value.message_dict["segment"][0]
    with pytest.raises(ValidationError) as not_companies:
        selectors.segment_companies(segment=contacts)
    assert "segment of contacts, not of companies" in not_companies.value.message_dict["segment"][0]
    UserContactFactory(country="FR")
    with pytest.raises(ValidationError) as message:
        conversation_services.message_send(sender=teammate, channel="in_app", body="Hi", segment=companies)
    assert "segment" in message.value.message_dict


def test_company_segments_is_one_query_whatever_the_number_of_segments(teammate):
    company = CompanyFactory(plan="enterprise", size=40)
    _company_segment("Enterprise", ENTERPRISE, teammate)
    _company_segment("Mid", {"field": "size", "operator": ">", "value": 10}, teammate)
    _company_segment("Pro", {**ENTERPRISE, "value": "pro"}, teammate)
    services.segment_create(name="France", query=FRENCH, teammate=teammate)  # a contact segment: never listed
    with CaptureQueriesContext(connection) as few:
        assert [s.name for s in selectors.company_segments(company=company)] == ["Enterprise", "Mid"]
    for index in range(12):
        _company_segment(f"s{index}", {**ENTERPRISE, "value": f"p{index}"}, teammate)
    with CaptureQueriesContext(connection) as many:
        selectors.company_segments(company=company)
    assert len(many) == len(few)
    assert [s.name for s in selectors.contact_segments(contact=UserContactFactory(country="FR"))] == ["France"]


# --- the company list: save its filters, open a segment in one click -----------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("plan=enterprise", ENTERPRISE),
        ("plan=enterprise&size=11-50&o=2", {"operator": "AND", "value": [
            ENTERPRISE, {"field": "size", "operator": ">", "value": 10},
            {"field": "size", "operator": "<", "value": 51}]}),
        ("size=1001%2B", {"field": "size", "operator": ">", "value": 1000}),
        ("size=unknown&request=never", {"operator": "AND", "value": [
            {"field": "size", "operator": "=", "value": None},
            {"field": "last_request_at", "operator": "=", "value": None}]}),
        ("tag=7", {"field": "tag_id", "operator": "=", "value": "7"}),
        ("not_tag=7", {"field": "tag_id", "operator": "!=", "value": "7"}),
        ("q=acme", {"operator": "OR", "value": [{"field": "name", "operator": "~", "value": "acme"},
                                                {"field": "company_id", "operator": "~", "value": "acme"},
                                                {"field": "company_id", "operator": "=", "value": "acme"}]}),
        ("q=ab+rockets", {"operator": "AND", "value": [
            {"operator": "OR", "value": [{"field": "name", "operator": "^", "value": "ab"},
                                         {"field": "company_id", "operator": "^", "value": "ab"}]},
            {"operator": "OR", "value": [{"field": "name", "operator": "~", "value": "rockets"},
                                         {"field": "company_id", "operator": "~", "value": "rockets"}]}]}),
    ],
)  # fmt: skip
def test_the_company_list_filters_become_a_query(params, expected):
    assert changelist_query(QueryDict(params), person_type=COMPANY) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("request=7d", {"field": "last_request_at", "operator": ">", "value": "now-7d"}),
        ("request=older", {"field": "last_request_at", "operator": "<", "value": "now-30d"}),
    ],
)
def test_relative_company_list_filters_become_relative_moments(params, expected):
    assert changelist_query(QueryDict(params), person_type=COMPANY) == expected


@pytest.mark.parametrize("params", ["", "o=1", "request=5y", "size=huge", "tag=abc", "country=FR",
                                    "segment=999999", "whatever=1"])  # fmt: skip
def test_company_list_filters_a_segment_cannot_keep_are_refused_by_name(params):
    with pytest.raises(UnsavableFilter):
        changelist_query(QueryDict(params), person_type=COMPANY)


def test_the_company_list_not_tagged_filter_saved_as_a_segment_finds_what_the_list_found(admin_client, teammate):
    vip = TagFactory(name="VIP")
    acme, other = CompanyFactory(name="Acme"), CompanyFactory(name="Other")
    company_services.company_tag(company=acme, tag=vip, actor=teammate)
    listed = {c.pk for c in admin_client.get(COMPANIES, {"not_tag": vip.pk}).context["cl"].result_list}
    assert listed == {other.pk}
    query = changelist_query(QueryDict(f"not_tag={vip.pk}"), person_type=COMPANY)
    assert set(companies_matching(query).values_list("pk", flat=True)) == listed


def test_the_company_list_search_saved_as_a_segment_finds_what_the_list_found(admin_client, teammate):
    CompanyFactory(name="Acme Rockets", company_id="x-1")
    CompanyFactory(name="Abacus", company_id="acme-2")
    CompanyFactory(name="Other", company_id="zz")
    for term in ("acme", "ab rockets", "Ac"):
        listed = {c.pk for c in admin_client.get(COMPANIES, {"q": term}).context["cl"].result_list}
        query = changelist_query(QueryDict(f"q={term}"), person_type=COMPANY)
        assert set(companies_matching(query).values_list("pk", flat=True)) == listed, term


def test_an_open_segment_of_the_other_kind_cannot_be_narrowed(teammate):
    contacts = services.segment_create(name="France", query=FRENCH, teammate=teammate)
    with pytest.raises(UnsavableFilter):
        changelist_query(QueryDict(f"segment={contacts.pk}&plan=pro"), person_type=COMPANY)
    companies = _company_segment("Enterprise", ENTERPRISE, teammate)
    assert changelist_query(QueryDict(f"segment={companies.pk}&size=unknown"), person_type=COMPANY) == {
        "operator": "AND", "value": [ENTERPRISE, {"field": "size", "operator": "=", "value": None}]}  # fmt: skip
    with pytest.raises(UnsavableFilter):
        changelist_query(QueryDict(f"segment={companies.pk}"))  # on the contact list


def test_a_teammate_saves_the_filtered_company_list_and_opens_it_in_one_click(admin_client, superuser):
    acme = CompanyFactory(name="Acme", plan="enterprise", size=120)
    CompanyFactory(name="Tiny", plan="enterprise", size=3)
    CompanyFactory(name="Pro Co", plan="pro", size=120)
    services.segment_create(name="France", query=FRENCH, teammate=superuser)  # a contact segment
    listed = admin_client.get(COMPANIES, {"plan": "enterprise", "size": "51-200"}).content.decode()
    assert 'id="parley-segment-name"' in listed and 'name="person_type" value="company"' in listed
    assert "Plan is “enterprise” · size more than 50 · size less than 201" in listed
    assert "France" not in listed  # the company list's sidebar lists company segments only
    saved = admin_client.post(SAVE, {"person_type": COMPANY, "filters": "plan=enterprise&size=51-200",
                                     "name": "Mid-size enterprise"}, follow=True)  # fmt: skip
    segment = Segment.objects.get(name="Mid-size enterprise")
    assert segment.person_type == COMPANY
    assert saved.redirect_chain == [(f"{COMPANIES}?segment={segment.pk}", 302)]
    assert [str(m) for m in saved.context["messages"]] == [
        "Saved segment “Mid-size enterprise”: Plan is “enterprise” · size more than 50 · size less than 201 — "
        "1 company right now."
    ]
    assert [c.pk for c in saved.context["cl"].result_list] == [acme.pk]
    assert "Mid-size enterprise (≈1)" in saved.content.decode()
    contact_list = admin_client.get(CONTACTS).content.decode()
    assert "Mid-size enterprise" not in contact_list and "France" in contact_list
    segments_page = admin_client.get(reverse("admin:segments_segment_changelist")).content.decode()
    assert "Open in companies" in segments_page and "Open in contacts" in segments_page
    change = admin_client.get(reverse("admin:segments_segment_change", args=[segment.pk])).content.decode()
    assert "Companies" in change and 'name="person_type"' not in change  # the kind is shown, not editable


def test_an_unsavable_company_list_says_why_and_a_contact_field_is_a_form_error(admin_client):
    page = admin_client.get(COMPANIES, {"plan": "pro", "size": "huge"}).content.decode()
    assert "“size”: it names no size range." in page
    refused = admin_client.post(
        SAVE, {"person_type": COMPANY, "filters": "plan=pro&size=huge", "name": "x"}, follow=True
    )
    assert [str(m) for m in refused.context["messages"]] == ["Not saved: “size”: it names no size range."]
    bad = admin_client.post(ADD, {"name": "Bad", "person_type": COMPANY, "query": json.dumps(FRENCH)})
    assert bad.status_code == 200
    assert "location.country_code is not a field you can search on" in bad.content.decode()
    assert not Segment.objects.exists()


def test_a_segment_of_the_other_kind_or_a_hostile_value_lists_nothing(admin_client, superuser):
    CompanyFactory()
    UserContactFactory(country="FR")
    contacts = services.segment_create(name="France", query=FRENCH, teammate=superuser)
    companies = _company_segment("Pro", {**ENTERPRISE, "value": "pro"}, superuser)
    for url, value in [(COMPANIES, contacts.pk), (CONTACTS, companies.pk), *[(COMPANIES, v) for v in (
            "999999", "1e400", "٣", "abc", "<b>1</b>")]]:  # fmt: skip
        page = admin_client.get(url, {"segment": value})
        assert page.status_code in (200, 302)
        if page.status_code == 200:
            assert list(page.context["cl"].result_list) == []


def test_the_company_list_costs_the_same_queries_for_2_or_15_segments(admin_client, superuser):
    CompanyFactory.create_batch(3, plan="enterprise")

    def count(params: dict | None = None) -> int:
        admin_client.get(COMPANIES, params)
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(COMPANIES, params).status_code == 200
        return len(queries)

    for index in range(2):
        _company_segment(f"s{index}", ENTERPRISE, superuser)
    small = count()
    for index in range(2, 15):
        _company_segment(f"s{index}", ENTERPRISE, superuser)
    assert count() == small
    segment = Segment.objects.first()
    opened = count({"segment": segment.pk})
    CompanyFactory.create_batch(20, plan="enterprise")
    assert count({"segment": segment.pk}) == opened <= small + 2  # the segment itself, its data attributes


def test_a_viewer_opens_company_segments_but_cannot_save_one():
    Segment.objects.create(name="Enterprise", query=ENTERPRISE, person_type=COMPANY)
    viewer = teammate_client(VIEWER_GROUP, "vera")
    page = viewer.get(COMPANIES).content.decode()
    assert "Enterprise" in page and 'id="parley-save-segment"' not in page
    post = {"name": "Mine", "person_type": COMPANY, "filters": "plan=pro"}
    assert viewer.post(SAVE, post).status_code == 403
    assert viewer.post(ADD, {**post, "query": json.dumps(ENTERPRISE)}).status_code == 403
    agent = teammate_client(AGENT_GROUP, "robin")
    assert agent.post(SAVE, post).status_code == 302
    assert Segment.objects.get(name="Mine").person_type == COMPANY


def test_the_outbound_form_offers_contact_segments_only(admin_client, superuser):
    services.segment_create(name="France", query=FRENCH, teammate=superuser)
    _company_segment("Enterprise", ENTERPRISE, superuser)
    page = admin_client.get(reverse("admin:conversations_message_add"))
    assert [s.name for s in page.context["form"].fields["segment"].queryset] == ["France"]
    assert "Enterprise" not in page.content.decode()
