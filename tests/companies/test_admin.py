"""The companies admin: list, filters, search, bulk tag, CSV export, the company page; fixed query counts."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from companies import services
from companies.models import Company, CompanyTag
from contacts.models import DataAttribute
from conversations import services as conversation_services
from conversations.models import Conversation
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import DataAttributeFactory, TagFactory, UserContactFactory
from tracking.models import PageView, WebSession

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:companies_company_changelist")


def _make_companies(count, *, people=1):
    tags = TagFactory.create_batch(2)
    companies = []
    for index in range(count):
        company = CompanyFactory(size=index * 10, plan="pro" if index % 2 else "free")
        services.company_tag(company=company, tag=tags[index % 2])
        for _ in range(people):
            services.company_attach(company=company, contact=UserContactFactory())
        companies.append(company)
    return companies


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response.content.decode()


def test_changelist_shows_companies_with_counts_and_tags(admin_client):
    company = CompanyFactory(name="Acme Rockets", company_id="acme", plan="pro")
    services.company_tag(company=company, tag=TagFactory(name="b2b"))
    services.company_attach(company=company, contact=UserContactFactory())
    _, page = _queries(admin_client, CHANGELIST)
    assert "Acme Rockets" in page and "acme" in page and "b2b" in page


@pytest.mark.parametrize("query", ["", "?plan=pro", "?size=11-50", "?request=7d", "?q=company", "?tag=1"])
def test_changelist_query_count_does_not_grow_with_rows(admin_client, query):
    _make_companies(3)
    few, _ = _queries(admin_client, CHANGELIST + query)
    _make_companies(40)
    many, _ = _queries(admin_client, CHANGELIST + query)
    assert few == many
    assert many <= 13  # with the custom attribute filters' definitions (one query)


def test_company_page_shows_people_conversations_page_views_with_bounded_queries(admin_client, website):
    DataAttributeFactory(name="seats", model=DataAttribute.Model.COMPANY, data_type=DataAttribute.DataType.INTEGER)
    company = CompanyFactory(custom_attributes={"seats": 12})

    def grow(n):
        for index in range(n):
            person = UserContactFactory(name=f"Person {index}")
            services.company_attach(company=company, contact=person)
            conversation_services.conversation_start_by_contact(contact=person, body=f"Help me {index}")
            now = timezone.now()
            session = WebSession.objects.create(contact=person, website=website, started_at=now, last_activity_at=now)
            PageView.objects.create(contact=person, session=session, url=f"https://shop.example/p{index}",
                                    title=f"Page {index}", created_at=now)  # fmt: skip

    url = reverse("admin:companies_company_change", args=[company.pk])
    grow(2)
    admin_client.get(url)  # the content types Django caches per process
    few, page = _queries(admin_client, url)
    assert "Person 1" in page and "Help me 1" in page and "Page 1" in page and 'value="12"' in page
    grow(20)
    many, _ = _queries(admin_client, url)
    assert few == many
    assert many <= 16


def test_company_page_lists_its_most_recently_seen_people_and_their_page_views(admin_client):
    from companies import selectors

    company = CompanyFactory()
    now = timezone.now()
    # Attached newest-last, seen in the opposite order: the page follows who was seen, not who was attached.
    people = []
    for index in range(4):
        person = UserContactFactory(name=f"Person {index}", last_seen_at=now - dt.timedelta(days=index))
        services.company_attach(company=company, contact=person)
        people.append(person)
    never = UserContactFactory(name="Never seen", last_seen_at=None)
    services.company_attach(company=company, contact=never)
    assert selectors.company_people_shown(company=company) == [*people, never]
    members = list(selectors.company_recent_member_ids(company=company).values_list("contact_id", flat=True))
    assert members == [p.pk for p in [*people, never]]
    page = admin_client.get(reverse("admin:companies_company_change", args=[company.pk])).content.decode()
    assert page.index("Person 0") < page.index("Person 3") < page.index("Never seen")


@pytest.mark.parametrize(
    ("query", "expected"),
    [("?plan=free", {"c0", "c2"}), ("?size=1-10", set()), ("?size=11-50", {"c2"}), ("?size=unknown", {"c4"}),
     ("?request=never", {"c3", "c4"}), ("?request=7d", {"c0", "c1", "c2"}), ("?request=older", set()),
     ("?q=Rock", {"c1"}), ("?q=c2", {"c2"}), ("?q=C2", {"c2"})],
)  # fmt: skip
def test_filters_and_search(admin_client, query, expected):
    now = timezone.now()
    rows = [
        ("c0", "Zero", "free", 0, now), ("c1", "Rockets", "pro", 5000, now - dt.timedelta(days=2)),
        ("c2", "Two", "free", 20, now), ("c3", "Three", "pro", 300, None), ("c4", "Four", "pro", None, None),
    ]  # fmt: skip
    for company_id, name, plan, size, seen in rows:
        company = CompanyFactory(company_id=company_id, name=name, plan=plan, size=size)
        Company.objects.filter(pk=company.pk).update(last_request_at=seen)
    _, page = _queries(admin_client, CHANGELIST + query)
    shown = {company_id for company_id, *_ in rows if f">{company_id}<" in page}
    assert shown == expected


def test_bulk_tag_and_untag(admin_client, superuser):
    companies = _make_companies(3)
    tag = TagFactory(name="enterprise")
    ids = [str(c.pk) for c in companies[:2]]
    admin_client.post(CHANGELIST, {"action": "tag_selected", "tag": tag.pk, "_selected_action": ids})
    assert set(CompanyTag.objects.filter(tag=tag).values_list("company_id", flat=True)) == {c.pk for c in companies[:2]}
    assert CompanyTag.objects.filter(tag=tag, tagged_by=superuser).count() == 2
    removed = admin_client.post(
        CHANGELIST, {"action": "untag_selected", "tag": tag.pk, "_selected_action": ids[:1]}, follow=True
    )
    assert CompanyTag.objects.filter(tag=tag).count() == 1
    assert "Removed “enterprise” from 1 company." in removed.content.decode()


def test_csv_export_is_formula_safe_with_tags_and_custom_attributes(admin_client):
    DataAttributeFactory(name="seats", model=DataAttribute.Model.COMPANY, data_type=DataAttribute.DataType.INTEGER)
    company = CompanyFactory(name="=HYPERLINK(1)", custom_attributes={"seats": 3})
    services.company_tag(company=company, tag=TagFactory(name="b2b"))
    response = admin_client.post(CHANGELIST, {"action": "export_csv", "_selected_action": [str(company.pk)]})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["name"] == "'=HYPERLINK(1)"
    assert (rows[0]["tags"], rows[0]["custom:seats"]) == ("b2b", "3")


def test_add_and_edit_go_through_the_services_and_show_their_errors(admin_client):
    add = reverse("admin:companies_company_add")
    form = {"company_id": "acme", "name": "Acme", "plan": "", "size": "", "website": "", "industry": "",
            "monthly_spend": "0", "remote_created_at_0": "", "remote_created_at_1": "",
            "tag_links-TOTAL_FORMS": "0", "tag_links-INITIAL_FORMS": "0"}  # fmt: skip
    response = admin_client.post(add, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    company = Company.objects.get(company_id="acme")
    change = reverse("admin:companies_company_change", args=[company.pk])
    bad = admin_client.post(change, {**form, "name": "x\x00y"})
    assert bad.status_code == 200
    company.refresh_from_db()
    assert company.name == "Acme"


def test_only_the_company_id_must_be_filled_monthly_spend_left_empty_is_0(admin_client):
    add = reverse("admin:companies_company_add")
    page = admin_client.get(add).content.decode()
    assert 'class="required" for="id_company_id"' in page and 'class="required" for="id_monthly_spend"' not in page
    form = {"company_id": "bare", "remote_created_at_0": "", "remote_created_at_1": "",
            "tag_links-TOTAL_FORMS": "0", "tag_links-INITIAL_FORMS": "0"}  # fmt: skip
    for spend in ("", "0"):
        Company.objects.filter(company_id="bare").delete()
        response = admin_client.post(add, {**form, "monthly_spend": spend})
        assert response.status_code == 302, response.content.decode()[:2000]
        assert Company.objects.get(company_id="bare").monthly_spend == 0
    assert admin_client.post(add, {**form, "company_id": "other", "monthly_spend": "-1"}).status_code == 200


def test_adding_a_company_whose_id_exists_is_refused_and_changes_nothing(admin_client):
    existing = CompanyFactory(company_id="acme", name="Acme Rockets", plan="enterprise")
    add = reverse("admin:companies_company_add")
    form = {"company_id": " acme ", "name": "ACME Corp", "plan": "free", "monthly_spend": "0",
            "remote_created_at_0": "", "remote_created_at_1": "",
            "tag_links-TOTAL_FORMS": "0", "tag_links-INITIAL_FORMS": "0"}  # fmt: skip
    response = admin_client.post(add, form)
    assert response.status_code == 200
    assert "A company with this id exists already" in response.content.decode()
    existing.refresh_from_db()
    assert (existing.name, existing.plan, Company.objects.count()) == ("Acme Rockets", "enterprise", 1)


def test_contact_page_shows_the_persons_companies(admin_client):
    company = CompanyFactory(name="Acme Rockets")
    person = UserContactFactory()
    services.company_attach(company=company, contact=person)
    page = admin_client.get(reverse("admin:contacts_contact_change", args=[person.pk])).content.decode()
    assert "Companies" in page and "Acme Rockets" in page
    assert reverse("admin:companies_company_change", args=[company.pk]) in page


def test_the_contact_list_filters_one_companys_people_with_a_fixed_query_count(admin_client):
    company, other = CompanyFactory(), CompanyFactory()
    members = UserContactFactory.create_batch(2)
    for person in members:
        services.company_attach(company=company, contact=person)
    services.company_attach(company=other, contact=UserContactFactory(name="Outsider"))
    page = admin_client.get(reverse("admin:companies_company_change", args=[company.pk])).content.decode()
    link = f"{reverse('admin:contacts_contact_changelist')}?company={company.pk}"
    assert link in page
    admin_client.get(link)  # warm the contact list's short-lived country list cache
    few, listed = _queries(admin_client, link)
    assert all(person.name in listed for person in members) and "Outsider" not in listed
    for person in UserContactFactory.create_batch(30):
        services.company_attach(company=company, contact=person)
    many, _ = _queries(admin_client, link)
    assert few == many
    changelist = reverse("admin:contacts_contact_changelist")
    for junk in ("x", "999999", "99999999999999999999999"):  # no such company: the plain list, never an error
        assert _queries(admin_client, f"{changelist}?company={junk}")[0]
    assert admin_client.get(f"{changelist}?company=1%00").status_code == 400  # the admin guard refuses NUL


def test_plan_filter_lists_each_plan_once_in_order_in_one_query(admin_client):
    from companies.selectors import company_plans

    for plan in ["pro", "", "free", "pro", "enterprise", "free", "Ünï"]:
        CompanyFactory(plan=plan)
    with CaptureQueriesContext(connection) as queries:
        assert company_plans() == sorted(["enterprise", "free", "pro", "Ünï"])
    assert len(queries) == 1
    page = admin_client.get(reverse("admin:companies_company_changelist"))
    assert page.status_code == 200
    assert b"?plan=enterprise" in page.content


def test_the_contact_list_finds_people_by_their_companys_name_and_filters_by_company_with_fixed_queries(
    admin_client,
):
    stark = CompanyFactory(name="Stark Industries")
    wayne = CompanyFactory(name="Wayne Enterprises")
    tony, bruce = UserContactFactory(name="Tony"), UserContactFactory(name="Bruce")
    services.company_attach(company=stark, contact=tony)
    services.company_attach(company=wayne, contact=bruce)
    UserContactFactory(name="Starkless Nobody")  # no company: its own name has "stark"
    changelist = reverse("admin:contacts_contact_changelist")
    search, by_company = f"{changelist}?q=stark", f"{changelist}?company={wayne.pk}"
    admin_client.get(search)  # warm the contact list's short-lived country list cache

    few_search, listed = _queries(admin_client, search)
    assert "Tony" in listed and "Starkless Nobody" in listed and "Bruce" not in listed
    assert "Tony" in _queries(admin_client, f"{changelist}?q=st")[1]  # a short word: a name's start
    assert "Tony" in _queries(admin_client, f"{changelist}?q=tony+stark")[1]  # every word: name and company
    assert "Tony" not in _queries(admin_client, f"{changelist}?q=tony+wayne")[1]
    few_filter, listed = _queries(admin_client, by_company)
    assert "Bruce" in listed and "Tony" not in listed
    assert f'href="?company={stark.pk}"' in listed  # the sidebar offers the companies with the most people

    for index in range(25):
        company = CompanyFactory(name=f"Stark Labs {index}")
        services.company_attach(company=company, contact=UserContactFactory())
        services.company_attach(company=wayne, contact=UserContactFactory())
    assert _queries(admin_client, search)[0] == few_search
    assert _queries(admin_client, by_company)[0] == few_filter


def test_the_company_pages_conversations_are_those_with_the_latest_activity_not_the_latest_row_write(admin_client):
    company = CompanyFactory()
    earlier, later = UserContactFactory(name="Earlier"), UserContactFactory(name="Later")
    for person in (earlier, later):
        services.company_attach(company=company, contact=person)
    old = conversation_services.conversation_start_by_contact(contact=earlier, body="Old question")
    conversation_services.conversation_start_by_contact(contact=later, body="New question")
    Conversation.objects.filter(pk=old.pk).update(last_part_at=timezone.now() - dt.timedelta(days=3))
    old.save()  # any write (an SLA refresh, a seed) bumps updated_at: it must not bring this one first
    page = admin_client.get(reverse("admin:companies_company_change", args=[company.pk])).content.decode()
    assert "<th>Last activity</th>" in page
    assert page.index("New question") < page.index("Old question")


def test_bulk_tag_action_with_a_tag_deleted_since_the_list_loaded_says_so(admin_client):
    from contacts.services import tag_delete

    company = CompanyFactory()
    tag = TagFactory(name="gone")
    tag_id = tag.pk
    tag_delete(tag=tag)
    response = admin_client.post(
        CHANGELIST, {"action": "tag_selected", "tag": tag_id, "_selected_action": [company.pk]}, follow=True
    )
    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        "The chosen tag no longer exists (another teammate may have just deleted it). Nothing was changed."
    ]
    assert not CompanyTag.objects.exists()


def test_a_custom_attribute_the_service_refuses_is_a_field_error_not_a_500(admin_client):
    """A walk: an integer past 64 bits on a company's page was a 500 (the form left custom attributes to the save,
    whose ValidationError nobody caught); the contact page said it next to the field."""
    DataAttributeFactory(model=DataAttribute.Model.COMPANY, name="seats", data_type=DataAttribute.DataType.INTEGER)
    company = CompanyFactory(custom_attributes={"seats": 3})
    url = reverse("admin:companies_company_change", args=[company.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"ca__seats": "9223372036854775808", "tag_links-TOTAL_FORMS": "0", "tag_links-INITIAL_FORMS": "0"})
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["ca__seats"] == [
        "Value must be an integer between -9223372036854775808 and 9223372036854775807."
    ]
    company.refresh_from_db()
    assert company.custom_attributes == {"seats": 3}


def test_a_value_no_longer_among_its_attributes_options_is_kept_by_a_save_of_the_company(admin_client):
    """The attack review: a company's tier set before its options changed showed as "—" and the next save erased it."""
    DataAttributeFactory(
        model=DataAttribute.Model.COMPANY, name="tier", data_type=DataAttribute.DataType.STRING, options=["gold"]
    )
    company = CompanyFactory(name="Acme", custom_attributes={"tier": "silver"})
    url = reverse("admin:companies_company_change", args=[company.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"name": "Acme Rockets", "tag_links-TOTAL_FORMS": "0", "tag_links-INITIAL_FORMS": "0"})
    assert data["ca__tier"] == "silver"

    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    company.refresh_from_db()
    assert (company.name, company.custom_attributes) == ("Acme Rockets", {"tier": "silver"})


def test_all_conversations_of_a_companys_people_are_one_link_away_in_the_inbox(admin_client):
    """A walk: the company page listed ten conversations, with no way to the rest and no company filter in the inbox."""
    company, other = CompanyFactory(name="Initech"), CompanyFactory(name="Globex")
    people = [UserContactFactory(name=f"Person {n}") for n in range(12)]
    for person in people:
        services.company_attach(company=company, contact=person)
        conversation_services.conversation_start_by_contact(contact=person, body=f"Question of {person.name}")
    outsider = UserContactFactory(name="Outsider")
    services.company_attach(company=other, contact=outsider)
    conversation_services.conversation_start_by_contact(contact=outsider, body="Globex asks")
    closed = Conversation.objects.get(contact=people[0])
    conversation_services.conversation_close(conversation=closed, teammate=None)

    page = admin_client.get(reverse("admin:companies_company_change", args=[company.pk])).content.decode()
    link = f"{reverse('admin:conversations_conversation_changelist')}?view=all&amp;company={company.pk}"
    inbox = admin_client.get(link.replace("&amp;", "&")).content.decode()
    unknown = admin_client.get(reverse("admin:conversations_conversation_changelist"), {"company": "999999"})
    unset = admin_client.get(reverse("admin:conversations_conversation_changelist"), {"view": "all", "company": ""})

    assert f'<a href="{link}">All conversations of its people →</a>' in page
    assert sum(f"Question of Person {n}<" in inbox for n in range(12)) == 12  # the closed one too
    assert "Globex asks" not in inbox
    assert "By company" in inbox and "Initech" in inbox
    assert (
        "Question of" not in unknown.content.decode() and "A company that no longer exists" in unknown.content.decode()
    )
    assert "Globex asks" in unset.content.decode() and "By company" not in unset.content.decode()  # an empty choice
    searched = admin_client.get(
        reverse("admin:conversations_conversation_changelist"), {"q": "Initech"}
    ).content.decode()
    assert "Question of Person 1<" in searched and "Globex asks" not in searched  # as its help says: company names


def test_the_company_list_filters_by_yes_no_and_option_attributes(admin_client):
    """A walk: contacts had filters for their attributes, companies none."""
    DataAttributeFactory(name="region", label="Region", model="company", options=["EMEA", "North America"])
    DataAttributeFactory(name="partner", label="Partner", model="company", data_type="boolean")
    DataAttributeFactory(name="notes_free", label="Free text", model="company")
    CompanyFactory(name="Initech", custom_attributes={"region": "EMEA", "partner": True})
    CompanyFactory(name="Globex", custom_attributes={"region": "North America", "partner": False})

    page = admin_client.get(CHANGELIST).content.decode()
    by_region = admin_client.get(CHANGELIST, {"ca__region": "EMEA"}).content.decode()
    partners = admin_client.get(CHANGELIST, {"ca__partner": "true"}).content.decode()

    assert "By Region" in page and "By Partner" in page and "By Free text" not in page
    assert "Initech" in by_region and "Globex" not in by_region
    assert "Initech" in partners and "Globex" not in partners
    for hand_made in ("yes", "1", "TRUE"):  # read as "No" until a re-check
        assert "Globex" not in admin_client.get(CHANGELIST, {"ca__partner": hand_made}).content.decode()
