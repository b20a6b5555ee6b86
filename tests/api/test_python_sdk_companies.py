"""The official python-intercom SDK's companies calls, pointed at a live Parley server."""

import pytest
from intercom import CreateContactRequestWithEmail
from intercom.companies import CompaniesRetrieveResponse_List
from intercom.core.api_error import ApiError
from intercom.errors import NotFoundError
from intercom.types import CreateOrUpdateCompanyRequest, TagCompanyRequest, UntagCompanyRequest

from companies.models import Company, CompanyContact
from tests.companies.factories import CompanyFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_sdk_company_create_or_update_twice_retrieve_update_delete(intercom):
    created = intercom.companies.create_or_update(
        request=CreateOrUpdateCompanyRequest(company_id="acme", name="Acme", plan="pro", size=12, monthly_spend=100)
    )
    assert (created.type, created.company_id, created.name, created.plan.name) == ("company", "acme", "Acme", "pro")
    again = intercom.companies.create_or_update(
        request=CreateOrUpdateCompanyRequest(company_id="acme", plan="enterprise", custom_attributes={"seats": 40})
    )
    assert again.id == created.id
    assert (again.name, again.plan.name, again.custom_attributes) == ("Acme", "enterprise", {"seats": 40})
    assert Company.objects.count() == 1
    by_company_id = intercom.companies.retrieve(company_id="acme")
    assert (by_company_id.type, by_company_id.id) == ("company", created.id)
    assert intercom.companies.find(company_id=created.id).company_id == "acme"
    updated = intercom.companies.update(company_id=created.id, request={"name": "Acme Rockets"})
    assert updated.name == "Acme Rockets"
    deleted = intercom.companies.delete(company_id=created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    with pytest.raises(NotFoundError):
        intercom.companies.find(company_id=created.id)


def test_sdk_attach_and_detach_both_ways(intercom):
    company = intercom.companies.create_or_update(request=CreateOrUpdateCompanyRequest(company_id="co-1", name="Co"))
    contact = intercom.contacts.create(request=CreateContactRequestWithEmail(email="member@example.com"))
    attached = intercom.companies.attach_contact(contact_id=contact.id, company_id=company.id)
    assert (attached.id, attached.user_count) == (company.id, 1)
    assert [c.id for c in intercom.contacts.list_attached_companies(contact_id=contact.id)] == [company.id]
    assert intercom.contacts.find(contact_id=contact.id).companies.total_count == 1
    members = intercom.companies.list_attached_contacts(company_id=company.id)
    assert [m.id for m in members.data] == [contact.id]
    detached = intercom.companies.detach_contact(contact_id=contact.id, company_id=company.id)
    assert detached.user_count == 0
    assert list(intercom.contacts.list_attached_companies(contact_id=contact.id)) == []
    assert not CompanyContact.objects.exists()


def test_sdk_lists_every_company_in_pages_and_by_scroll(intercom):
    companies = CompanyFactory.create_batch(7)
    listed = [company.id for company in intercom.companies.list(per_page=3)]
    assert sorted(listed) == sorted(str(c.pk) for c in companies)
    scrolled = [company.id for company in intercom.companies.scroll()]
    assert sorted(scrolled) == sorted(str(c.pk) for c in companies)


def test_sdk_tags_companies_and_retrieves_them_by_tag(intercom):
    acme, other = CompanyFactory(company_id="acme"), CompanyFactory()
    tag = intercom.tags.create(
        request=TagCompanyRequest(name="b2b", companies=[{"company_id": "acme"}, {"id": str(other.pk)}])
    )
    tagged = intercom.companies.retrieve(tag_id=tag.id)
    assert isinstance(tagged, CompaniesRetrieveResponse_List)
    assert {c.id for c in tagged.data} == {str(acme.pk), str(other.pk)}
    intercom.tags.create(request=UntagCompanyRequest(name="b2b", companies=[{"company_id": "acme", "untag": True}]))
    assert [c.id for c in intercom.companies.retrieve(tag_id=tag.id).data] == [str(other.pk)]


def test_sdk_company_segments_list_find_attached_and_retrieve_companies_in_one(intercom, teammate):
    from segments import services as segment_services
    from segments.models import Segment

    enterprise = segment_services.segment_create(
        name="Enterprise", query={"field": "plan", "operator": "=", "value": "enterprise"}, teammate=teammate,
        person_type=Segment.PersonType.COMPANY,
    )  # fmt: skip
    segment_services.segment_create(
        name="France", query={"field": "location.country_code", "operator": "=", "value": "FR"}, teammate=teammate
    )
    acme, globex = CompanyFactory(plan="enterprise"), CompanyFactory(plan="enterprise")
    CompanyFactory(plan="pro")
    segment_services.segment_counts_refresh()
    listed = intercom.segments.list(include_count=True)
    assert [(s.name, s.person_type, s.count) for s in listed.segments] == [
        ("Enterprise", "company", 2), ("France", "contact", 0),
    ]  # fmt: skip
    found = intercom.segments.find(segment_id=str(enterprise.pk))
    assert (found.name, found.person_type) == ("Enterprise", "company")
    attached = intercom.companies.list_attached_segments(company_id=str(acme.pk))
    assert [(s.id, s.person_type) for s in attached.data] == [(str(enterprise.pk), "company")]
    assert [s.name for s in intercom.companies.find(company_id=str(acme.pk)).segments.segments] == ["Enterprise"]
    members = intercom.companies.retrieve(segment_id=str(enterprise.pk), per_page=1)
    assert isinstance(members, CompaniesRetrieveResponse_List)
    assert members.total_count == 2 and len(members.data) == 1
    assert {c.id for c in intercom.companies.retrieve(segment_id=str(enterprise.pk)).data} == {
        str(acme.pk), str(globex.pk),
    }  # fmt: skip
    with pytest.raises(ApiError) as wrong_kind:  # a contact segment where companies are listed
        intercom.companies.retrieve(segment_id=str(Segment.objects.get(name="France").pk))
    assert wrong_kind.value.status_code == 400
    assert wrong_kind.value.body["errors"][0]["field"] == "segment_id"
    with pytest.raises(NotFoundError):
        intercom.companies.retrieve(segment_id="424242")
