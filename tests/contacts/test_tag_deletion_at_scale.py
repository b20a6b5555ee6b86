"""A tag on hundreds of thousands of contacts: its delete confirmation (one tag or a selection) counts what deleting
it touches per kind ("Attached to 200,000 contacts") in the same queries whatever its size, instead of loading and
listing every link as Django's collector does; the deletion removes the links with one statement per kind, none read
first."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from companies.models import CompanyTag
from contacts.models import Contact, ContactTag, Tag
from conversations.models import Conversation
from tests.admin_deletion_pages import bulk_confirmation, bulk_queries, delete_page, query_shape, rows_read_one_by_one
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import TagFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:contacts_tag_changelist")
LINK_TABLES = ("contacts_contacttag", "companies_companytag", "conversations_conversation_tags")


def _big_tag(name, contacts):
    """A tag on `contacts` users, two companies and one conversation; written in bulk, as an import would."""
    tag = TagFactory(name=name)
    people = Contact.objects.bulk_create(
        Contact(role=Contact.Role.USER, external_id=f"{name}-{index}") for index in range(contacts)
    )
    ContactTag.objects.bulk_create(ContactTag(contact=person, tag=tag) for person in people)
    CompanyTag.objects.bulk_create(CompanyTag(company=CompanyFactory(), tag=tag) for _ in range(2))
    Conversation.objects.create(contact=people[0]).tags.add(tag)
    return tag


def test_the_delete_page_runs_the_same_queries_for_ten_links_as_for_a_thousand(admin_client):
    small_page, small = delete_page(admin_client, reverse("admin:contacts_tag_delete", args=[_big_tag("Small", 10).pk]))
    big_page, big = delete_page(admin_client, reverse("admin:contacts_tag_delete", args=[_big_tag("Big", 1_000).pk]))

    assert query_shape(small) == query_shape(big)
    assert len(big) <= 8  # session, user, the tag, the counts (one query), what names it (3), the header's name
    assert rows_read_one_by_one(big, LINK_TABLES) == []
    assert "Attached to 1,000 contacts (they stay; the tag comes off them)" in big_page
    assert "Attached to 2 companies" in big_page and "Attached to 1 conversation " in big_page
    assert "Links to contacts: 1,000" in big_page
    assert "Attached to 10 contacts" in small_page
    assert 'name="post"' in big_page  # nothing names it: the button is there
    assert len(big_page) - len(small_page) < 100  # the page does not list the links


def test_deleting_a_big_tag_removes_its_links_in_one_statement_each_reading_none(admin_client):
    def delete(tag):
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.post(reverse("admin:contacts_tag_delete", args=[tag.pk]), {"post": "yes"})
        assert response.status_code == 302
        return captured

    delete(TagFactory(name="First"))  # warm the process-wide caches (the admin log's content type)
    small, big = delete(_big_tag("Small", 10)), delete(_big_tag("Big", 1_000))

    assert query_shape(small) == query_shape(big)
    assert rows_read_one_by_one(big, LINK_TABLES) == []
    assert [sql for sql in query_shape(big) if sql.startswith('DELETE FROM "contacts_contacttag"')] == [
        'DELETE FROM "contacts_contacttag" WHERE "contacts_contacttag"."tag_id" IN (?)'
    ]
    assert not Tag.objects.exists() and not ContactTag.objects.exists() and not CompanyTag.objects.exists()
    assert Contact.objects.count() == 1_010 and Conversation.objects.count() == 2  # the rows stay, untagged


def test_the_bulk_delete_page_counts_each_tag_in_the_same_queries_whatever_their_sizes(admin_client):
    def confirmation(*tags):
        return bulk_confirmation(admin_client, CHANGELIST, tags)

    small_page, small = confirmation(_big_tag("Small", 10), TagFactory(name="Spare"))
    Tag.objects.all().delete()
    big_page, big = confirmation(_big_tag("Big", 1_000), TagFactory(name="Spare"))

    assert query_shape(small) == query_shape(big)
    assert rows_read_one_by_one(big, LINK_TABLES) == []
    assert "Attached to 10 contacts" in small_page
    assert "Attached to 1,000 contacts" in big_page and "Tags: 2" in big_page
    assert "Links to contacts: 1,000" in big_page and "Links to companies: 2" in big_page

    response = admin_client.post(CHANGELIST, {"action": "delete_selected", "post": "yes",
                                              "_selected_action": list(Tag.objects.values_list("pk", flat=True))})  # fmt: skip
    assert response.status_code == 302
    assert not Tag.objects.exists() and not ContactTag.objects.exists()


def test_a_selection_of_many_tags_is_confirmed_and_deleted_in_the_same_queries_as_a_selection_of_two(admin_client):
    """What names each tag (segments, rules, saved replies) is looked up for the whole selection at once, and the
    tags go in one deletion: not one lookup and one deletion per selected tag."""

    def bulk(count, *, post):
        tags = TagFactory.create_batch(count)
        return bulk_queries(admin_client, CHANGELIST, tags, post=post)

    for post in (False, True):
        bulk(1, post=post)  # warm the process-wide caches
        two, fifty = bulk(2, post=post), bulk(50, post=post)
        assert len(two) == len(fifty), (post, query_shape(fifty))
    assert Tag.objects.count() == 53  # the confirmations' tags; the deletions' went


def test_a_selection_holding_one_tag_in_use_deletes_none_and_names_the_use(admin_client):
    from segments.services import segment_create

    spare, used = TagFactory(name="Spare"), TagFactory(name="VIP")
    segment_create(name="Not VIPs", query={"field": "tag_id", "operator": "!=", "value": used.pk}, teammate=None)
    selection = {"action": "delete_selected", "_selected_action": [spare.pk, used.pk]}

    page = admin_client.post(CHANGELIST, selection).content.decode()
    assert "The tag “VIP” is used by the segment “Not VIPs”" in page and 'name="post"' not in page

    confirmed = admin_client.post(CHANGELIST, {**selection, "post": "yes"}).content.decode()
    assert "The tag “VIP” is used by the segment “Not VIPs”" in confirmed  # the page again, nothing deleted
    assert set(Tag.objects.values_list("name", flat=True)) == {"Spare", "VIP"}
