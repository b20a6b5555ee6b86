"""A company of hundreds of thousands of people: its delete confirmation (one company or a selection) counts what
deleting it touches per kind ("Members: 100,000 people (they stay; they leave the company)") in the same queries
whatever its size, instead of loading and listing every membership as Django's collector does; the deletion removes
the memberships and tag links with one statement each, none read first, and the people stay."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from companies.models import Company, CompanyContact, CompanyTag
from contacts.models import Contact, Tag
from tests.admin_deletion_pages import bulk_confirmation, bulk_queries, delete_page, query_shape, rows_read_one_by_one
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import TagFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:companies_company_changelist")
ROW_TABLES = ("companies_companycontact", "companies_companytag", "contacts_contact")


def _big_company(name, people):
    """A company of `people` users, tagged twice; written in bulk, as an import would."""
    company = CompanyFactory(name=name, user_count=people)
    members = Contact.objects.bulk_create(
        Contact(role=Contact.Role.USER, external_id=f"{name}-{index}") for index in range(people)
    )
    CompanyContact.objects.bulk_create(CompanyContact(company=company, contact=person) for person in members)
    CompanyTag.objects.bulk_create(CompanyTag(company=company, tag=TagFactory()) for _ in range(2))
    return company


def test_the_delete_page_runs_the_same_queries_for_ten_members_as_for_a_thousand(admin_client):
    small_page, small = delete_page(
        admin_client, reverse("admin:companies_company_delete", args=[_big_company("Small", 10).pk])
    )
    big_page, big = delete_page(
        admin_client, reverse("admin:companies_company_delete", args=[_big_company("Big", 1_000).pk])
    )

    assert query_shape(small) == query_shape(big)
    assert len(big) <= 6  # session, user, the company, the counts (one query), the header's name
    assert rows_read_one_by_one(big, ROW_TABLES) == []
    assert "Members: 1,000 people (they stay; they leave the company)" in big_page
    assert "Tagged: 2 tags (the tags stay; they come off the company)" in big_page
    assert "Memberships: 1,000" in big_page and "Links to tags: 2" in big_page
    assert "Members: 10 people" in small_page
    assert 'name="post"' in big_page  # nothing keeps it: the button is there
    assert len(big_page) - len(small_page) < 100  # the page does not list the people


def test_the_delete_page_of_a_company_of_one_says_person(admin_client):
    page, _ = delete_page(admin_client, reverse("admin:companies_company_delete", args=[_big_company("Tiny", 1).pk]))
    assert "Members: 1 person (they stay; they leave the company)" in page
    assert "Memberships: 1" in page


def test_deleting_a_big_company_keeps_its_people_and_reads_none_of_its_rows(admin_client):
    def delete(company):
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.post(reverse("admin:companies_company_delete", args=[company.pk]), {"post": "yes"})
        assert response.status_code == 302
        return captured

    delete(CompanyFactory(name="First"))  # warm the process-wide caches (the admin log's content type)
    small, big = delete(_big_company("Small", 10)), delete(_big_company("Big", 1_000))

    assert query_shape(small) == query_shape(big)
    assert rows_read_one_by_one(big, ROW_TABLES) == []
    assert [sql for sql in query_shape(big) if sql.startswith('DELETE FROM "companies_companycontact"')] == [
        'DELETE FROM "companies_companycontact" WHERE "companies_companycontact"."company_id" IN (?)'
    ]
    assert not Company.objects.exists() and not CompanyContact.objects.exists() and not CompanyTag.objects.exists()
    assert Contact.objects.count() == 1_010 and Tag.objects.count() == 4  # the people and the tags stay


def test_the_bulk_delete_page_counts_each_company_in_the_same_queries_whatever_their_sizes(admin_client):
    def confirmation(*companies):
        return bulk_confirmation(admin_client, CHANGELIST, companies)

    small_page, small = confirmation(_big_company("Small", 10), CompanyFactory(name="Spare"))
    Company.objects.all().delete()
    big_page, big = confirmation(_big_company("Big", 1_000), CompanyFactory(name="Spare"))

    assert query_shape(small) == query_shape(big)
    assert rows_read_one_by_one(big, ROW_TABLES) == []
    assert "Members: 10 people" in small_page
    assert "Members: 1,000 people (they stay; they leave the company)" in big_page and "Companies: 2" in big_page
    assert "Memberships: 1,000" in big_page and "Links to tags: 2" in big_page

    response = admin_client.post(CHANGELIST, {"action": "delete_selected", "post": "yes",
                                              "_selected_action": list(Company.objects.values_list("pk", flat=True))})  # fmt: skip
    assert response.status_code == 302
    assert not Company.objects.exists() and not CompanyContact.objects.exists()
    assert Contact.objects.count() == 1_010  # the people stay


def test_a_selection_of_many_companies_is_confirmed_and_deleted_in_the_same_queries_as_a_selection_of_two(
    admin_client,
):
    """The companies go in one deletion, their memberships and tag links with one statement each: not one service
    call (and its own statements) per selected company."""

    def bulk(count, *, post):
        companies = [_big_company(f"{post}-{count}-{index}", 3) for index in range(count)]
        return bulk_queries(admin_client, CHANGELIST, companies, post=post)

    for post in (False, True):
        bulk(1, post=post)  # warm the process-wide caches
        two, fifty = bulk(2, post=post), bulk(50, post=post)
        assert len(two) == len(fifty), (post, query_shape(fifty))
    assert Company.objects.count() == 53  # the confirmations' companies; the deletions' went
    assert Contact.objects.count() == 3 * 106  # everyone's people stay


def test_the_confirmations_do_not_say_that_everything_listed_is_deleted(admin_client):
    """A new-user walk: Django's "All of the following related items will be deleted:" sat above "Members: 58 people
    (they stay; they leave the company)". The counted pages say what their lines are."""
    company, tag = _big_company("Hooli", 3), TagFactory(name="vip")
    pages = [
        delete_page(admin_client, reverse("admin:companies_company_delete", args=[company.pk]))[0],
        bulk_confirmation(admin_client, CHANGELIST, [company])[0],
        delete_page(admin_client, reverse("admin:contacts_tag_delete", args=[tag.pk]))[0],
        bulk_confirmation(admin_client, reverse("admin:contacts_tag_changelist"), [tag])[0],
    ]
    for page in pages:
        assert "will be deleted" not in page
        assert "takes with it, and what stays:" in page or "takes with them, and what stays:" in page
        assert 'name="post" value="yes"' in page
    assert "Are you sure you want to delete the company “Hooli”?" in pages[0]
    assert "Members: 3 people (they stay; they leave the company)" in pages[0]
    assert "Are you sure you want to delete the selected company?" in pages[1]
