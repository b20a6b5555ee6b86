"""Companies: create-or-update by company_id, memberships and the counts kept on the company row."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from companies import services
from companies.models import Company, CompanyContact, CompanyTag
from companies.services import CompanyMembershipRefused
from contacts import services as contact_services
from contacts.models import Contact, DataAttribute, PrivacyAuditEntry, Tag
from retention.services import visitors_expire
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import ContactFactory, DataAttributeFactory, LeadFactory, TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db


def test_create_or_update_by_company_id_creates_once_then_updates():
    company, created = services.company_create_or_update(company_id="acme", name="Acme", plan="pro", size=12)
    again, created_again = services.company_create_or_update(company_id=" acme ", plan="enterprise")
    assert (created, created_again) == (True, False)
    assert again.pk == company.pk
    again.refresh_from_db()
    assert (again.name, again.plan, again.size) == ("Acme", "enterprise", 12)
    assert Company.objects.count() == 1


def test_numeric_company_id_is_taken_as_its_digits():
    company, _ = services.company_create_or_update(company_id=42)
    assert company.company_id == "42"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"monthly_spend": float("inf")}, "monthly_spend"),
        ({"monthly_spend": 1e400}, "monthly_spend"),
        ({"monthly_spend": -1}, "monthly_spend"),
        ({"monthly_spend": 2**31}, "monthly_spend"),
        ({"monthly_spend": "12"}, "monthly_spend"),
        ({"size": True}, "size"),
        ({"name": "x" * 256}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"plan": "\ud800"}, "plan"),
        ({"website": 5}, "website"),
        ({"user_count": 5}, "user_count"),
        ({"remote_created_at": dt.datetime(2020, 1, 1)}, "remote_created_at"),
    ],
)
def test_bad_values_are_refused_naming_their_field(fields, field):
    with pytest.raises(ValidationError) as refused:
        services.company_create_or_update(company_id="acme", **fields)
    assert field in refused.value.message_dict
    assert not Company.objects.exists()


@pytest.mark.parametrize("company_id", ["", "  ", None, "a\x00", "x" * 256, ["a"], True])
def test_company_id_must_be_a_real_id(company_id):
    with pytest.raises(ValidationError) as refused:
        services.company_create_or_update(company_id=company_id)
    assert "company_id" in refused.value.message_dict


def test_monthly_spend_fractions_are_truncated_as_intercom_does():
    company, _ = services.company_create_or_update(company_id="acme", monthly_spend=155.98)
    assert company.monthly_spend == 155


def test_custom_attributes_are_typed_by_company_definitions():
    DataAttributeFactory(name="seats", model=DataAttribute.Model.COMPANY, data_type=DataAttribute.DataType.INTEGER)
    DataAttributeFactory(name="seats", model=DataAttribute.Model.CONTACT, data_type=DataAttribute.DataType.STRING)
    company, _ = services.company_create_or_update(company_id="acme", custom_attributes={"seats": 10})
    assert company.custom_attributes == {"seats": 10}
    with pytest.raises(ValidationError) as refused:
        services.company_update(company=company, custom_attributes={"seats": "ten"})
    assert "custom_attributes.seats" in refused.value.message_dict


def test_unknown_attribute_defines_a_company_attribute_only_when_allowed():
    company, _ = services.company_create_or_update(company_id="acme", custom_attributes={"region": "EU"})
    assert DataAttribute.objects.filter(model="company", name="region", data_type="string").exists()
    with pytest.raises(ValidationError):
        services.company_update(company=company, custom_attributes={"tier": "gold"}, define_attributes=False)


def test_company_attribute_cap_holds(settings):
    settings.PARLEY_MAX_CUSTOM_ATTRIBUTES = 1
    services.company_create_or_update(company_id="acme", custom_attributes={"one": 1})
    with pytest.raises(ValidationError) as refused:
        services.company_create_or_update(company_id="acme", custom_attributes={"two": 2})
    assert "custom_attributes" in refused.value.message_dict


def test_attach_counts_once_and_detach_counts_down():
    company = CompanyFactory()
    user = UserContactFactory()
    _, created = services.company_attach(company=company, contact=user)
    _, created_again = services.company_attach(company=company, contact=user)
    assert (created, created_again) == (True, False)
    lead = LeadFactory()
    services.company_attach(company=company, contact=lead)
    company.refresh_from_db()
    assert company.user_count == 2
    assert company.last_request_at == max(user.last_seen_at, lead.last_seen_at)
    assert services.company_detach(company=company, contact=user) is True
    assert services.company_detach(company=company, contact=user) is False
    company.refresh_from_db()
    assert company.user_count == 1


def test_visitors_never_belong_to_companies():
    with pytest.raises(CompanyMembershipRefused):
        services.company_attach(company=CompanyFactory(), contact=ContactFactory())


def test_erase_detaches_the_person_and_keeps_the_count_right():
    company = CompanyFactory()
    erased, kept = UserContactFactory(), UserContactFactory()
    for person in (erased, kept):
        services.company_attach(company=company, contact=person)
    contact_services.contact_erase(contact=erased, actor=None, source=PrivacyAuditEntry.Source.API)
    company.refresh_from_db()
    assert company.user_count == 1
    assert list(CompanyContact.objects.values_list("contact_id", flat=True)) == [kept.pk]


def test_expiry_of_visitors_leaves_company_counts_alone():
    company = CompanyFactory()
    services.company_attach(company=company, contact=UserContactFactory())
    ContactFactory(last_seen_at=timezone.now() - dt.timedelta(days=400))
    visitors_expire()
    company.refresh_from_db()
    assert company.user_count == 1


def test_merge_moves_memberships_and_counts_a_shared_company_once():
    shared, only_lead = CompanyFactory(), CompanyFactory()
    lead, user = LeadFactory(), UserContactFactory()
    for company in (shared, only_lead):
        services.company_attach(company=company, contact=lead)
    services.company_attach(company=shared, contact=user)
    contact_services.contact_merge(source=lead, into=user)
    assert set(CompanyContact.objects.values_list("company_id", "contact_id")) == {
        (shared.pk, user.pk),
        (only_lead.pk, user.pk),
    }
    shared.refresh_from_db()
    only_lead.refresh_from_db()
    assert (shared.user_count, only_lead.user_count) == (1, 1)


def test_gdpr_export_lists_the_persons_companies():
    company = CompanyFactory(company_id="acme", name="Acme")
    user = UserContactFactory()
    services.company_attach(company=company, contact=user)
    document = contact_services.contact_export(contact=user, actor=None, source=PrivacyAuditEntry.Source.API)
    assert [(row["company_id"], row["name"]) for row in document["companies"]] == [("acme", "Acme")]


def test_activity_moves_session_count_and_last_request():
    company = CompanyFactory()
    user = UserContactFactory()
    services.company_attach(company=company, contact=user)
    now = timezone.now() + dt.timedelta(minutes=5)
    services.companies_activity_record(contact_id=user.pk, now=now, new_session=True)
    company.refresh_from_db()
    assert (company.session_count, company.last_request_at) == (1, now)
    # Within the resolution, a sighting writes nothing; after it, last_request_at moves.
    services.companies_activity_record(contact_id=user.pk, now=now + dt.timedelta(seconds=30), new_session=False)
    company.refresh_from_db()
    assert company.last_request_at == now
    later = now + dt.timedelta(minutes=2)
    services.companies_activity_record(contact_id=user.pk, now=later, new_session=False)
    company.refresh_from_db()
    assert (company.session_count, company.last_request_at) == (1, later)


def test_bulk_tag_and_untag():
    companies = CompanyFactory.create_batch(3)
    tag = TagFactory()
    assert services.companies_tag_bulk(company_ids=[c.pk for c in companies], tag=tag) == 3
    assert services.companies_tag_bulk(company_ids=[c.pk for c in companies], tag=tag) == 0
    assert services.companies_untag_bulk(company_ids=[companies[0].pk], tag=tag) == 1
    assert CompanyTag.objects.count() == 2


def test_deleting_a_tag_removes_it_from_companies():
    company, tag = CompanyFactory(), TagFactory()
    services.company_tag(company=company, tag=tag)
    contact_services.tag_delete(tag=tag)
    assert not CompanyTag.objects.exists()


def test_deleting_a_company_keeps_its_people():
    company, user = CompanyFactory(), UserContactFactory()
    services.company_attach(company=company, contact=user)
    services.company_delete(company=company)
    user.refresh_from_db()
    assert not CompanyContact.objects.exists()


def test_deleting_companies_takes_their_memberships_and_tag_links_and_keeps_people_tags_and_other_companies():
    gone, other = CompanyFactory.create_batch(2), CompanyFactory()
    people, tag = UserContactFactory.create_batch(3), TagFactory()
    for company in [*gone, other]:
        services.company_tag(company=company, tag=tag)
        for person in people:
            services.company_attach(company=company, contact=person)
    vanished = CompanyFactory()
    vanished_pk = vanished.pk
    vanished.delete()

    assert services.companies_delete(company_ids=[*(company.pk for company in gone), vanished_pk]) == 2

    assert list(Company.objects.all()) == [other]
    assert CompanyContact.objects.filter(company=other).count() == 3 and CompanyContact.objects.count() == 3
    assert list(CompanyTag.objects.values_list("company_id", flat=True)) == [other.pk]
    assert Contact.objects.filter(pk__in=[person.pk for person in people]).count() == 3 and Tag.objects.count() == 1
    other.refresh_from_db()
    assert other.user_count == 3
