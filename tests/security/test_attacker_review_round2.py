"""An outside attacker review of tag and company deletion (round 2): writers the deletion guards did not cover.

Each race runs two transactions on their own connections (PostgreSQL's row locks decide who waits; SQLite serialises
every writer, so it cannot show one): the deletion commits while the other writer, started meanwhile, names the row
it deletes. The writer must be refused with a message on its field (a 4xx in the API, a message in the admin), never
a foreign key error or a "save did not affect any rows" (a 500)."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from companies import services as company_services
from companies.models import Company, CompanyContact, CompanyTag
from contacts import services as contact_services
from contacts.deletion import contacts_delete_with_history
from contacts.models import ContactTag, Tag
from tests.companies.factories import CompanyFactory
from tests.concurrency import first_then_second
from tests.contacts.factories import LeadFactory, TagFactory, UserContactFactory


def race(test):
    """Two transactions at once, on PostgreSQL."""
    test = pytest.mark.django_db(transaction=True)(test)
    return pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")(test)


def deletion_then_writer(delete, write):
    """`delete` in a transaction held open a moment after it is done, `write` meanwhile (it waits on the deletion's
    lock, if it takes one); each outcome: "kept", or the exception that ended it (any kind: a 500 is one)."""
    outcomes = first_then_second(delete, write)
    return {"delete": outcomes.get("first"), "write": outcomes.get("second")}


def _refused(outcome, field):
    assert isinstance(outcome, ValidationError), repr(outcome)
    assert field in outcome.message_dict, outcome.message_dict


# --- tags: bulk tagging, renaming -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["contacts", "companies"])
@race
def test_bulk_tagging_while_the_tag_is_deleted_is_refused_not_a_foreign_key_error(kind):
    """The admin's "Add the chosen tag to selected" (contacts, companies) and POST /api/tags with `users` or
    `companies` go through tag_links_add_bulk, which did not hold the tag: IntegrityError at the commit (a 500)."""
    tag = TagFactory(name="vip")
    if kind == "contacts":
        owner = LeadFactory()
        tagging = lambda: contact_services.contacts_tag_bulk(contact_ids=[owner.pk], tag=tag)  # noqa: E731
    else:
        owner = CompanyFactory()
        tagging = lambda: company_services.companies_tag_bulk(company_ids=[owner.pk], tag=tag)  # noqa: E731

    outcomes = deletion_then_writer(lambda: contact_services.tag_delete(tag=Tag.objects.get(pk=tag.pk)), tagging)
    assert outcomes["delete"] == "kept"
    _refused(outcomes["write"], "tag")
    assert not Tag.objects.exists() and not ContactTag.objects.exists() and not CompanyTag.objects.exists()


@pytest.mark.parametrize("kind", ["contacts", "companies"])
@race
def test_bulk_tagging_while_a_selected_owner_is_deleted_tags_the_others(kind):
    """A contact or company deleted (erased, expired, removed by a teammate) while "Add the chosen tag to selected"
    ran: its new link failed the foreign key check at the commit, an IntegrityError (a 500) that lost the whole
    action. The deleted one is skipped; the others are tagged."""
    tag = TagFactory(name="vip")
    if kind == "contacts":
        doomed, kept = LeadFactory(), LeadFactory()
        delete = lambda: contacts_delete_with_history(contact_ids=[doomed.pk])  # noqa: E731
        tagging = lambda: contact_services.contacts_tag_bulk(contact_ids=[doomed.pk, kept.pk], tag=tag)  # noqa: E731
        links = ContactTag.objects.values_list("contact_id", flat=True)
    else:
        doomed, kept = CompanyFactory(), CompanyFactory()
        delete = lambda: company_services.companies_delete(company_ids=[doomed.pk])  # noqa: E731
        tagging = lambda: company_services.companies_tag_bulk(company_ids=[doomed.pk, kept.pk], tag=tag)  # noqa: E731
        links = CompanyTag.objects.values_list("company_id", flat=True)

    outcomes = deletion_then_writer(delete, tagging)
    assert outcomes == {"delete": "kept", "write": "kept"}
    assert list(links) == [kept.pk]


@race
def test_the_api_tagging_contacts_with_a_tag_being_deleted_is_refused():
    """POST /api/tags {"id": …, "name": …, "users": […]}: tag_save renames, then tags in bulk."""
    tag, lead = TagFactory(name="vip"), UserContactFactory()
    outcomes = deletion_then_writer(
        lambda: contact_services.tag_delete(tag=Tag.objects.get(pk=tag.pk)),
        lambda: contact_services.tag_save(name="vip", tag=tag, tag_contact_ids=[lead.pk]),
    )
    assert outcomes["delete"] == "kept"
    assert isinstance(outcomes["write"], ValidationError), repr(outcomes["write"])
    assert not Tag.objects.exists() and not ContactTag.objects.exists()


@race
def test_renaming_a_tag_while_it_is_deleted_is_refused_not_a_database_error():
    """POST /api/tags {"id": …, "name": "new"} read the tag, then saved it with update_fields: a tag deleted in
    between is Django's DatabaseError "Save with update_fields did not affect any rows" (a 500)."""
    tag = TagFactory(name="vip")
    outcomes = deletion_then_writer(
        lambda: contact_services.tag_delete(tag=Tag.objects.get(pk=tag.pk)),
        lambda: contact_services.tag_save(name="very important", tag=tag),
    )
    assert outcomes["delete"] == "kept"
    _refused(outcomes["write"], "id")
    assert not Tag.objects.exists()


# --- companies: attaching and tagging while the company is deleted --------------------------------------------------


@race
def test_attaching_a_person_to_a_company_being_deleted_is_refused():
    """POST /api/contacts/{id}/companies reads the company, then company_attach inserts the membership without
    locking it: the deletion's commit leaves a membership to no company (IntegrityError at the commit) and the
    user_count update finds nothing to refresh (Company.DoesNotExist): a 500 either way."""
    company, person = CompanyFactory(), UserContactFactory()
    outcomes = deletion_then_writer(
        lambda: company_services.company_delete(company=Company.objects.get(pk=company.pk)),
        lambda: company_services.company_attach(company=company, contact=person),
    )
    assert outcomes["delete"] == "kept"
    _refused(outcomes["write"], "company")
    assert not Company.objects.exists() and not CompanyContact.objects.exists()
    person.refresh_from_db()  # the person stays


@race
def test_tagging_a_company_being_deleted_is_refused():
    """company_tag held the tag but not the company: a link to a deleted company (IntegrityError at the commit)."""
    company, tag = CompanyFactory(), TagFactory(name="vip")
    outcomes = deletion_then_writer(
        lambda: company_services.company_delete(company=Company.objects.get(pk=company.pk)),
        lambda: company_services.company_tag(company=company, tag=tag),
    )
    assert outcomes["delete"] == "kept"
    _refused(outcomes["write"], "company")
    assert Tag.objects.get() == tag and not CompanyTag.objects.exists()


# --- an assignment rule adding a tag a teammate takes off the rule and deletes meanwhile ----------------------------


def _after_the_rules_are_read(monkeypatch, edit):
    """Run `edit` on another connection, committed, right after conversation_route reads the enabled rules."""
    from conversations.services import routing

    read = routing.rules_enabled

    def read_then_edit(*args, **kwargs):
        rules = read(*args, **kwargs)

        def run():
            try:
                edit()
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=30)
        return rules

    monkeypatch.setattr(routing, "rules_enabled", read_then_edit)


@race
def test_a_rule_adding_a_tag_deleted_while_a_conversation_is_routed_does_not_fail_the_conversation(monkeypatch):
    """conversation_route read the enabled rules, then linked the rule's add_tag without holding it: a teammate
    who meanwhile took the tag off the rule and deleted it (both allowed: no rule names it any more) left a link to
    no tag, a foreign key error at the commit of the visitor's new conversation (a 500 in the widget)."""
    from conversations.models import AssignmentRule, Conversation
    from conversations.services import routing

    tag, lead = TagFactory(name="vip"), LeadFactory()
    rule = routing.assignment_rule_save(rule=AssignmentRule(name="All", add_tag=tag, set_priority="high"))
    conversation = Conversation.objects.create(contact=lead)

    def teammate():
        AssignmentRule.objects.filter(pk=rule.pk).update(add_tag=None)
        contact_services.tag_delete(tag=Tag.objects.get(pk=tag.pk))

    _after_the_rules_are_read(monkeypatch, teammate)
    routing.conversation_route(conversation=conversation, message="Hello")  # no IntegrityError at its commit
    conversation.refresh_from_db()
    assert conversation.priority == "high" and not conversation.tags.exists() and not Tag.objects.exists()


# --- the admin's "Add the chosen tag" when the tag goes between its read and the tagging --------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["contacts", "companies"])
def test_the_admin_bulk_tagging_a_tag_deleted_after_it_was_read_says_so(kind, admin_client, monkeypatch):
    """The action read the chosen tag, then tagged: a tag deleted in between was a foreign key error, then (held) a
    ValidationError the action did not catch; a 500 either way. Now a message, and nothing is tagged."""
    from django.contrib import admin as django_admin
    from django.contrib.messages import get_messages
    from django.urls import reverse

    from contacts.models import Contact

    model = Contact if kind == "contacts" else Company
    owner = UserContactFactory() if kind == "contacts" else CompanyFactory()
    tag = TagFactory(name="vip")
    model_admin = type(django_admin.site.get_model_admin(model))
    chosen = model_admin._chosen_tag

    def chosen_then_deleted(self, request):
        found = chosen(self, request)
        Tag.objects.filter(pk=tag.pk).delete()  # a teammate, meanwhile
        return found

    monkeypatch.setattr(model_admin, "_chosen_tag", chosen_then_deleted)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = admin_client.post(url, {"action": "tag_selected", "_selected_action": [owner.pk], "tag": tag.pk})
    assert response.status_code == 302
    assert "no longer exists" in " ".join(str(message) for message in get_messages(response.wsgi_request))
    assert not ContactTag.objects.exists() and not CompanyTag.objects.exists()


@race
def test_updating_a_company_being_deleted_is_refused():
    """PUT /api/companies/{id} reads the company, then saves its fields: after the deletion's commit the save found no
    row ("Save with update_fields did not affect any rows", a 500)."""
    company = CompanyFactory(name="Acme")
    outcomes = deletion_then_writer(
        lambda: company_services.company_delete(company=Company.objects.get(pk=company.pk)),
        lambda: company_services.company_update(company=company, name="Acme Inc"),
    )
    assert outcomes["delete"] == "kept"
    _refused(outcomes["write"], "id")
    assert not Company.objects.exists()


@race
@pytest.mark.parametrize("gone", ["team", "teammate"])
def test_a_rule_whose_team_or_teammate_is_deleted_while_a_conversation_is_routed_does_not_fail_it(gone, monkeypatch):
    """conversation_route read the enabled rules, then loaded the rule's team and teammate with .get(): one deleted
    meanwhile (an admin removing a team or an account) was Team.DoesNotExist, a 500 in the widget. Now it is held
    (rows_hold) and, gone, skipped: the conversation is still started, unassigned."""
    from django.contrib.auth import get_user_model

    from conversations.models import AssignmentRule, Conversation, Team
    from conversations.services import routing
    from tests.conversations.factories import AgentFactory

    team, agent, lead = Team.objects.create(name="Billing"), AgentFactory(), LeadFactory()
    rule = routing.assignment_rule_save(
        rule=AssignmentRule(name="All", assign_team=team, assign_teammate=agent, set_priority="high")
    )
    conversation = Conversation.objects.create(contact=lead)

    def admin():
        doomed = Team.objects.filter(pk=team.pk) if gone == "team" else get_user_model().objects.filter(pk=agent.pk)
        doomed.delete()

    _after_the_rules_are_read(monkeypatch, admin)
    assert routing.conversation_route(conversation=conversation, message="Hello") == rule
    conversation.refresh_from_db()
    assert conversation.priority == "high"
    assert conversation.team_id is None if gone == "team" else conversation.assignee_id is None
    assert AssignmentRule.objects.filter(pk=rule.pk).exists()


# --- merging two contacts while bulk tagging holds them ---------------------------------------------------------------


@race
def test_merging_contacts_that_bulk_tagging_holds_waits_for_it_instead_of_deadlocking():
    """Bulk tagging holds the selected contacts in id order; contact_merge locked its two contacts in whatever order
    the table scan met them. Once the lead's row had moved behind the user's (any update does that), the merge held
    the user and waited for the lead while the tagging held the lead and waited for the user: PostgreSQL's deadlock
    detector ended one of them (a 500). Both now lock in id order, so the merge waits and then completes."""
    from django.db import transaction

    from common.row_locks import rows_hold
    from contacts.models import Contact
    from tests.tracking.concurrency import Session

    lead, user = LeadFactory(), UserContactFactory()
    assert lead.pk < user.pk
    Contact.objects.filter(pk=lead.pk).update(name="Moved")  # its new row version now lies after the user's
    lead_held, merge_waits = threading.Event(), threading.Event()

    def tagging():
        with transaction.atomic():
            rows_hold(Contact, [lead.pk])
            lead_held.set()
            assert merge_waits.wait(30)
            rows_hold(Contact, [user.pk])

    tagger = Session(tagging)
    tagger.start()
    assert lead_held.wait(30)
    merger = Session(lambda: contact_services.contact_merge(source=lead, into=user))
    merger.start()
    merger.wait_until_blocked()
    merge_waits.set()
    tagger.finish()
    assert merger.finish().pk == user.pk
    assert list(Contact.objects.values_list("pk", flat=True)) == [user.pk]


@race
def test_a_widget_sign_in_merging_the_visitor_and_bulk_tagging_both_wait_instead_of_deadlocking(monkeypatch):
    """A browser's visitor signs in as a user created after it (the visitor's id is the lower): identify locked the
    user, then contact_merge the visitor, while bulk tagging of both held the visitor and waited for the user: a
    deadlock, a 500 on one side. The sign-in now locks both in id order before it looks the user up."""
    from django.db import transaction

    from contacts.models import Contact
    from tests.tracking.concurrency import Session
    from tracking.payloads import UserInput
    from tracking.services import identity
    from tracking.services.hot_path import ActingContact

    visitor, user, tag = LeadFactory(), UserContactFactory(external_id="u-later"), TagFactory(name="vip")
    assert visitor.pk < user.pk
    about_to_merge, merge_may_go = threading.Event(), threading.Event()
    merge = contact_services.contact_merge

    def merge_when_told(*, source, into):
        about_to_merge.set()
        assert merge_may_go.wait(30)
        return merge(source=source, into=into)

    monkeypatch.setattr(identity.contacts_services, "contact_merge", merge_when_told)

    def sign_in():
        with transaction.atomic():
            current = ActingContact(Contact.objects.get(pk=visitor.pk))
            return identity.identify(current=current, user=UserInput(user_id="u-later"), proven_only=True)

    signer = Session(sign_in)
    signer.start()
    assert about_to_merge.wait(30)
    tagger = Session(lambda: contact_services.contacts_tag_bulk(contact_ids=[visitor.pk, user.pk], tag=tag))
    tagger.start()
    tagger.wait_until_blocked()
    merge_may_go.set()
    assert signer.finish().contact.pk == user.pk
    tagger.finish()
    assert list(Contact.objects.values_list("pk", flat=True)) == [user.pk]
    assert ContactTag.objects.filter(contact=user, tag=tag).exists()
