"""Tag filters in the search language read all of a row's tags: two joined by AND find the rows carrying both, with
NOT, IN, NIN and null in any AND/OR shape, for contacts, segments, companies and conversations alike; each row comes
once. On PostgreSQL a query at the filter cap plans and runs in bounded time however its tag filters combine (200
of them once took the planner minutes)."""

import pytest
from django.db import connection, transaction
from django.urls import reverse

from companies import services as company_services
from companies.search import companies_matching
from contacts.models import ContactTag, Tag
from conversations import services as conversation_services
from segments import selectors, services, tasks
from segments.models import Segment
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db

SEARCH = "/api/contacts/search"
GROUP = 15  # entries per AND/OR group (contacts.search.MAX_FILTERS_PER_GROUP)
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")


def tagged(operator: str, tag: Tag | list[Tag] | None) -> dict:
    value = [str(t.pk) for t in tag] if isinstance(tag, list) else None if tag is None else str(tag.pk)
    return {"field": "tag_id", "operator": operator, "value": value}


def every(*queries: dict) -> dict:
    return {"operator": "AND", "value": list(queries)}


def some(*queries: dict) -> dict:
    return {"operator": "OR", "value": list(queries)}


def found(api, query: dict) -> list[str]:
    """The names the search finds, sorted, each as often as it comes."""
    response = api.post(SEARCH, {"query": query, "pagination": {"per_page": 150}}, format="json")
    assert response.status_code == 200, response.content[:500]
    return sorted(contact["name"] for contact in response.json()["data"])


@pytest.fixture
def tags():
    return {name: TagFactory(name=name) for name in ("vip", "beta", "other")}


@pytest.fixture
def people(tags):
    carried = {"Ada": ["vip", "beta"], "Bob": ["vip"], "Cy": ["beta", "other"], "Dee": ["vip", "beta", "other"],
               "Fay": ["beta"], "Eve": []}  # fmt: skip
    for name, names in carried.items():
        UserContactFactory(name=name).tags.add(*(tags[n] for n in names))
    return carried


ADA = {"field": "name", "operator": "=", "value": "Ada"}
CASES = {
    "two tags": (lambda t: every(tagged("=", t["vip"]), tagged("=", t["beta"])), ["Ada", "Dee"]),
    "a tag and not another": (lambda t: every(tagged("=", t["vip"]), tagged("!=", t["beta"])), ["Bob"]),
    "two tags, not a third": (
        lambda t: every(tagged("=", t["vip"]), tagged("=", t["beta"]), tagged("!=", t["other"])),
        ["Ada"],
    ),
    "an OR inside an AND": (
        lambda t: every(tagged("=", t["vip"]), tagged("=", t["beta"]), some(tagged("=", t["other"]), ADA)),
        ["Ada", "Dee"],
    ),
    "IN and =": (lambda t: every(tagged("IN", [t["vip"], t["beta"]]), tagged("=", t["other"])), ["Cy", "Dee"]),
    "two IN lists": (
        lambda t: every(tagged("IN", [t["vip"], t["other"]]), tagged("IN", [t["beta"], t["other"]])),
        ["Ada", "Cy", "Dee"],
    ),
    "NIN beside two tags": (
        lambda t: every(tagged("NIN", [t["other"]]), tagged("=", t["vip"]), tagged("=", t["beta"])),
        ["Ada"],
    ),
    "no tag at all, or two": (
        lambda t: some(tagged("=", None), every(tagged("=", t["vip"]), tagged("=", t["beta"]))),
        ["Ada", "Dee", "Eve"],
    ),
    "any tag and two": (
        lambda t: every(tagged("!=", None), tagged("=", t["beta"]), tagged("=", t["other"])),
        ["Cy", "Dee"],
    ),
    "ANDs nested through one-entry ORs": (
        lambda t: every(some(every(tagged("=", t["vip"]))), some(some(tagged("=", t["other"])))),
        ["Dee"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_tag_filters_read_all_of_a_contacts_tags(api, tags, people, case):
    query, expected = CASES[case]
    assert found(api, query(tags)) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (lambda t: tagged("=", None), ["Eve"]),
        (lambda t: tagged("!=", None), ["Ada", "Bob", "Cy", "Dee", "Fay"]),
        (lambda t: tagged("NIN", [t["vip"], t["other"]]), ["Eve", "Fay"]),
        (lambda t: every(tagged("!=", t["vip"]), tagged("!=", t["other"])), ["Eve", "Fay"]),
        (lambda t: some(tagged("!=", t["vip"]), tagged("!=", t["beta"])), ["Bob", "Cy", "Eve", "Fay"]),
        (lambda t: some(tagged("=", t["vip"]), tagged("=", t["other"])), ["Ada", "Bob", "Cy", "Dee"]),
        (lambda t: some(tagged("NIN", [t["vip"], t["beta"]]), tagged("=", t["vip"])), ["Ada", "Bob", "Dee", "Eve"]),
        (lambda t: every(tagged("=", None), tagged("!=", t["vip"])), ["Eve"]),
        (lambda t: every(tagged("=", t["vip"]), tagged("!=", t["vip"])), []),
    ],
)
def test_single_and_folded_tag_filters_keep_their_meaning(api, tags, people, query, expected):
    # Each group folds its tag filters into a few subqueries: lacking A and lacking B is lacking both, and so on.
    assert found(api, query(tags)) == expected


def test_a_segment_of_two_tags_holds_their_carriers_in_counts_lists_and_segment_id(api, admin_client, tags, people):
    vip_not_beta = services.segment_create(
        name="VIP only", query=every(tagged("=", tags["vip"]), tagged("!=", tags["beta"])), teammate=None
    )
    both = services.segment_create(
        name="Both", query=every(tagged("=", tags["vip"]), tagged("=", tags["beta"])), teammate=None
    )
    assert sorted(c.name for c in selectors.segment_members(segment=vip_not_beta)) == ["Bob"]
    assert tasks.refresh_segment_counts() == 2
    assert dict(Segment.objects.values_list("name", "member_count")) == {"VIP only": 1, "Both": 2}
    named = {"field": "segment_id", "operator": "=", "value": str(both.pk)}
    assert found(api, every(named, tagged("=", tags["other"]))) == ["Dee"]
    assert found(api, every({**named, "operator": "!="}, tagged("=", tags["beta"]))) == ["Cy", "Fay"]
    listed = admin_client.get(reverse("admin:contacts_contact_changelist"), {"segment": both.pk})
    assert sorted(c.name for c in listed.context["cl"].result_list) == ["Ada", "Dee"]


def test_a_contact_carrying_several_matching_tags_comes_once(api, admin_client, tags, people):
    all_three = [tags["vip"], tags["beta"], tags["other"]]
    assert found(api, tagged("IN", all_three)) == ["Ada", "Bob", "Cy", "Dee", "Fay"]
    assert found(api, some(*(tagged("=", tag) for tag in all_three))) == ["Ada", "Bob", "Cy", "Dee", "Fay"]
    segment = services.segment_create(name="Tagged", query=tagged("IN", all_three), teammate=None)
    listed = admin_client.get(reverse("admin:contacts_contact_changelist"), {"segment": segment.pk})
    assert sorted(c.name for c in listed.context["cl"].result_list) == ["Ada", "Bob", "Cy", "Dee", "Fay"]
    assert selectors.segment_members(segment=segment).count() == 5


def test_companies_and_conversations_read_all_of_their_tags(api, tags):
    acme, hooli, stark = CompanyFactory(name="Acme"), CompanyFactory(name="Hooli"), CompanyFactory(name="Stark")
    for company, names in ((acme, ["vip", "beta"]), (hooli, ["vip"]), (stark, [])):
        for name in names:
            company_services.company_tag(company=company, tag=tags[name])
    assert list(companies_matching(every(tagged("=", tags["vip"]), tagged("=", tags["beta"])))) == [acme]
    assert list(companies_matching(every(tagged("=", tags["vip"]), tagged("!=", tags["beta"])))) == [hooli]
    assert list(companies_matching(tagged("=", None))) == [stark]
    assert list(companies_matching(tagged("IN", [tags["vip"], tags["beta"]])).order_by("name")) == [acme, hooli]

    first, second = (conversation_services.conversation_start_by_contact(contact=UserContactFactory(), body="Hi")
                     for _ in range(2))  # fmt: skip
    for conversation, names in ((first, ["vip", "beta"]), (second, ["vip"])):
        for name in names:
            conversation_services.conversation_tag(conversation=conversation, tag=tags[name], teammate=None)

    def conversations(query):
        response = api.post("/api/conversations/search", {"query": query}, format="json")
        assert response.status_code == 200, response.content[:500]
        return {int(c["id"]) for c in response.json()["conversations"]}

    def on_tag(operator, tag):
        return {"field": "tag_ids", "operator": operator, "value": str(tag.pk)}

    assert conversations(every(on_tag("=", tags["vip"]), on_tag("=", tags["beta"]))) == {first.pk}
    assert conversations(every(on_tag("=", tags["vip"]), on_tag("!=", tags["beta"]))) == {second.pk}


# --- PostgreSQL: bounded plans at the filter cap ---------------------------------------------------------------------


def tree(operator: str, leaves: list[dict]) -> dict:
    """The leaves under one `operator`, in groups of at most GROUP (two levels below the top, as deep as a query
    nests): the most a query may hold."""
    groups = [{"operator": operator, "value": leaves[i : i + GROUP]} for i in range(0, len(leaves), GROUP)]
    return {"operator": operator, "value": groups}


@pytest.fixture
def two_hundred_tags():
    tags = Tag.objects.bulk_create(Tag(name=f"t{i:03}") for i in range(200))
    carrier, most, lone = (UserContactFactory(name=name) for name in ("Carrier", "Most", "Lone"))
    UserContactFactory(name="Untagged")
    ContactTag.objects.bulk_create(
        [ContactTag(contact=carrier, tag=tag) for tag in tags]
        + [ContactTag(contact=most, tag=tag) for tag in tags[:-1]]
        + [ContactTag(contact=lone, tag=tags[-1])]
    )
    return tags


PLANS = {
    "200 tags ANDed": (lambda t: tree("AND", [tagged("=", tag) for tag in t]), ["Carrier"]),
    "200 tags ORed": (lambda t: tree("OR", [tagged("=", tag) for tag in t]), ["Carrier", "Lone", "Most"]),
    "100 no-tag and not-tag ANDed": (
        lambda t: tree("AND", [tagged("=", None) if i % 2 else tagged("!=", tag) for i, tag in enumerate(t[:100])]),
        ["Untagged"],
    ),
    "200 not-tags ORed": (lambda t: tree("OR", [tagged("!=", tag) for tag in t]), ["Lone", "Most", "Untagged"]),
    "200 IN lists ANDed": (lambda t: tree("AND", [tagged("IN", [tag, t[-1]]) for tag in t]), ["Carrier", "Lone"]),
    "100 ORed pairs of tag and not-tag": (
        lambda t: tree("OR", [every(tagged("=", t[-1]), tagged("!=", tag)) for tag in t[:100]]),
        ["Lone"],
    ),
}


@on_postgresql
@pytest.mark.parametrize("shape", PLANS)
def test_a_query_of_two_hundred_tag_filters_plans_and_runs_in_bounded_time(api, two_hundred_tags, shape):
    query, expected = PLANS[shape]
    # A planner's join search exploding fails here in seconds instead of hanging the suite (it took minutes).
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '5s'")
        assert found(api, query(two_hundred_tags)) == expected
