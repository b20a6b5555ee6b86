"""common.deletion_reach: what deleting a row reaches, read from the model's relations (every app's, none declared)
and counted per kind in one query: many-to-many links from either side (the rows they link stay), rows a CASCADE
deletes with it, rows a PROTECT or RESTRICT keeps it for; SET_NULL and the like leave their rows, uncounted."""

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext, isolate_apps

from common.deletion_reach import DELETED, PROTECTED, UNLINKED, deletion_reach, references
from companies import services as company_services
from companies.models import Company, CompanyContact
from contacts import services as contact_services
from contacts.models import Contact, ContactNote, ContactTag, Tag
from conversations.models import Conversation
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import TagFactory, UserContactFactory


def _effects(model):
    return {(reference.effect, reference.kind.__name__, reference.name) for reference in references(model)}


def test_links_count_from_either_side_of_a_many_to_many_and_not_again_as_rows_deleted_with_it():
    contact_side = _effects(Contact)  # Contact.tags is declared on it; Company.contacts on the other side
    assert {(UNLINKED, "Tag", "tags"), (UNLINKED, "Company", "companies")} <= contact_side
    assert (DELETED, "ContactNote", "notes") in contact_side and (
        DELETED,
        "Conversation",
        "conversations",
    ) in contact_side
    assert not {kind for _, kind, _ in contact_side} & {
        "ContactTag",
        "CompanyContact",
    }  # a link table's key is its link
    assert _effects(Company) == {(UNLINKED, "Tag", "tags"), (UNLINKED, "Contact", "contacts")}


@isolate_apps("contacts")
def test_protect_and_restrict_keep_a_row_and_set_null_leaves_its_rows_uncounted():
    class Row(models.Model):
        class Meta:
            abstract = True
            app_label = "contacts"

        def __str__(self) -> str:
            return str(self.pk)

    class Parent(Row):
        friends = models.ManyToManyField("self")  # symmetrical: each link stored both ways, counted once

    class Keeper(Row):
        parent = models.ForeignKey(Parent, on_delete=models.PROTECT)

    class Blocker(Row):
        parent = models.ForeignKey(Parent, on_delete=models.RESTRICT)

    class Child(Row):
        parent = models.ForeignKey(Parent, on_delete=models.CASCADE, related_name="children")

    class Orphan(Row):
        parent = models.ForeignKey(Parent, on_delete=models.SET_NULL, null=True)

    assert _effects(Parent) == {(UNLINKED, "Parent", "friends"), (PROTECTED, "Keeper", "keeper_set"),
                                (PROTECTED, "Blocker", "blocker_set"), (DELETED, "Child", "children")}  # fmt: skip


@pytest.mark.django_db
def test_a_selection_is_counted_in_one_query_per_row_and_kind():
    busy, idle = UserContactFactory(), UserContactFactory()
    for tag in TagFactory.create_batch(2):
        contact_services.contact_tag(contact=busy, tag=tag)
    company_services.company_attach(company=CompanyFactory(), contact=busy)
    Conversation.objects.create(contact=busy)

    with CaptureQueriesContext(connection) as captured:
        reach = deletion_reach(Contact, [busy.pk, idle.pk, 0])
    assert len(captured) == 1

    by_kind = {pk: {(reference.effect, reference.kind): count for effect in (found.unlinked, found.deleted,
                                                                              found.protected)
                    for reference, count in effect.items()} for pk, found in reach.items()}  # fmt: skip
    assert set(by_kind) == {busy.pk, idle.pk}  # a row already gone is left out
    assert by_kind[busy.pk] == {(UNLINKED, Tag): 2, (UNLINKED, Company): 1, (DELETED, Conversation): 1}
    assert by_kind[idle.pk] == {}
    assert ContactTag.objects.count() == 2 and CompanyContact.objects.count() == 1 and not ContactNote.objects.exists()


@pytest.mark.django_db
def test_a_foreign_key_declared_without_a_reverse_name_still_counts():
    """AssignmentRule.contact_tag (related_name="+", CASCADE): deleting its tag would delete the rule with it. Django's
    related_objects leaves hidden relations out; the page must not."""
    from conversations.models import AssignmentRule

    assert (DELETED, "AssignmentRule", "contact_tag") in _effects(Tag)
    assert not {kind for _, kind, _ in _effects(Tag)} & {"ContactTag", "CompanyTag"}  # auto links stay links
    tag = TagFactory()
    AssignmentRule.objects.create(name="VIPs", contact_tag=tag, set_priority="high")
    reach = deletion_reach(Tag, [tag.pk])[tag.pk]
    assert [(reference.kind, count) for reference, count in reach.deleted.items()] == [(AssignmentRule, 1)]
