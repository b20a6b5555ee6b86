"""The companies API, shaped as Intercom's: create-or-update, retrieve, lists, scroll, memberships, tags."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from api.models import WebhookDelivery, WebhookSubscription
from api.services import api_token_create
from companies import services as company_services
from companies.models import Company, CompanyContact, CompanyTag
from contacts.models import DataAttribute
from contacts.permissions import VIEWER_GROUP, ensure_teammate_groups
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import ContactFactory, LeadFactory, TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db


def _post(api, path, body):
    return api.post(path, body, format="json")


def test_create_or_update_by_company_id_answers_intercoms_company_object(api):
    first = _post(api, "/api/companies", {"company_id": "acme", "name": "Acme", "plan": "pro", "size": 40,
                                          "monthly_spend": 99.9, "remote_created_at": 1_600_000_000,
                                          "website": "https://acme.example", "industry": "Rockets"})  # fmt: skip
    assert first.status_code == 200, first.json()
    company = first.json()
    assert company["type"] == "company"
    assert (company["company_id"], company["name"], company["size"], company["monthly_spend"]) == (
        "acme",
        "Acme",
        40,
        99,
    )
    assert company["plan"] == {"type": "plan", "id": "pro", "name": "pro"}
    assert company["remote_created_at"] == 1_600_000_000
    assert (company["user_count"], company["session_count"], company["last_request_at"]) == (0, 0, None)
    assert company["tags"] == {"type": "tag.list", "tags": []}
    assert company["segments"] == {"type": "segment.list", "segments": []}
    second = _post(api, "/api/companies", {"company_id": "acme", "plan": "enterprise"}).json()
    assert second["id"] == company["id"]
    assert (second["name"], second["plan"]["name"]) == ("Acme", "enterprise")
    assert Company.objects.count() == 1


def test_create_needs_a_company_id(api):
    response = _post(api, "/api/companies", {"name": "Nameless"})
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "parameter_not_found", "message": "company_id is required.", "field": "company_id"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"company_id": "a", "monthly_spend": 1e400}', "monthly_spend"),
        ('{"company_id": "a", "monthly_spend": -5}', "monthly_spend"),
        ('{"company_id": "a", "monthly_spend": 2147483648}', "monthly_spend"),
        ('{"company_id": "a", "size": "\\u0661\\u0662"}', "size"),  # Arabic-Indic digits are not a number here
        ('{"company_id": "a", "size": 1.5}', "size"),
        ('{"company_id": "a", "name": "x\\u0000y"}', "name"),
        ('{"company_id": "\\ud800"}', "company_id"),
        ('{"company_id": "a", "custom_attributes": {"n": {"nested": 1}}}', "custom_attributes.n"),
        ('{"company_id": "a", "custom_attributes": "plain"}', "custom_attributes"),
        ('{"company_id": "a", "custom_attributes": {"ratio": 1e-400}}', "custom_attributes.ratio"),
        ('{"company_id": "a", "remote_created_at": "yesterday"}', "remote_created_at"),
        ('{"company_id": "' + "x" * 256 + '"}', "company_id"),
    ],
)
def test_hostile_values_are_400_naming_the_field(api, raw, field):
    response = api.post("/api/companies", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["type"] == "error.list"
    assert body["errors"][0]["field"] == field
    assert not Company.objects.exists()


def test_html_in_names_is_stored_as_text_and_returned_as_json(api):
    hostile = '<img src=x onerror="alert(1)">'
    company = _post(api, "/api/companies", {"company_id": hostile, "name": hostile}).json()
    assert (company["company_id"], company["name"]) == (hostile, hostile)
    assert api.get("/api/companies", {"company_id": hostile}).json()["id"] == company["id"]


def test_retrieve_by_company_id_name_and_id(api):
    acme = CompanyFactory(company_id="acme", name="Acme Inc")
    CompanyFactory(company_id="other", name="Other")
    assert api.get("/api/companies?company_id=acme").json()["id"] == str(acme.pk)
    assert api.get("/api/companies?name=acme inc").json()["id"] == str(acme.pk)
    assert api.get(f"/api/companies/{acme.pk}").json()["company_id"] == "acme"
    for url in ("/api/companies?company_id=nope", "/api/companies/999999", "/api/companies/abc",
                "/api/companies?company_id=%00"):  # fmt: skip
        response = api.get(url)
        assert response.status_code == 404, url
        assert response.json()["errors"][0] == {"code": "not_found", "message": "Company Not Found"}


def test_list_pages_by_last_request_with_order_and_next(api):
    companies = CompanyFactory.create_batch(5)
    for index, company in enumerate(companies):
        Company.objects.filter(pk=company.pk).update(last_request_at=f"2026-01-0{index + 1}T00:00:00Z")
    first = api.get("/api/companies?per_page=2").json()
    assert first["type"] == "list"
    assert [c["company_id"] for c in first["data"]] == [companies[4].company_id, companies[3].company_id]
    assert first["total_count"] == 5
    assert (first["pages"]["page"], first["pages"]["per_page"], first["pages"]["total_pages"]) == (1, 2, 3)
    assert "page=2" in first["pages"]["next"]
    last = api.get("/api/companies?per_page=2&page=3").json()
    assert len(last["data"]) == 1 and "next" not in last["pages"]
    ascending = api.post("/api/companies/list?per_page=2&order=asc").json()
    assert [c["company_id"] for c in ascending["data"]] == [companies[0].company_id, companies[1].company_id]


@pytest.mark.parametrize(
    ("query", "field"),
    [("order=sideways", "order"), ("per_page=0", "per_page"), ("page=-1", "page"), ("page=9999&per_page=150", "page"),
     ("tag_id=abc", "tag_id")],
)  # fmt: skip
def test_bad_list_parameters_are_400_naming_the_field(api, query, field):
    response = api.get(f"/api/companies?{query}")
    assert response.status_code in (400, 404), response.content
    assert response.json()["errors"][0]["field"] == field


def test_scroll_walks_every_company_once(api):
    companies = CompanyFactory.create_batch(7)
    seen, scroll_param = [], None
    for _ in range(10):
        answer = api.get("/api/companies/scroll", {"scroll_param": scroll_param, "per_page": 3} if scroll_param else
                         {"per_page": 3}).json()  # fmt: skip
        seen += [c["id"] for c in answer["data"]]
        scroll_param = answer["scroll_param"]
        if not scroll_param:
            break
    assert sorted(seen) == sorted(str(c.pk) for c in companies)
    assert api.get("/api/companies/scroll?scroll_param=garbage!").json()["errors"][0]["field"] == "scroll_param"


def test_update_and_delete(api):
    company = CompanyFactory(company_id="acme")
    updated = api.put(f"/api/companies/{company.pk}", {"name": "Renamed", "industry": None}, format="json").json()
    assert (updated["name"], updated["industry"]) == ("Renamed", None)
    refused = api.put(f"/api/companies/{company.pk}", {"company_id": "other"}, format="json")
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "company_id"
    deleted = api.delete(f"/api/companies/{company.pk}").json()
    assert deleted == {"id": str(company.pk), "object": "company", "deleted": True}
    assert not Company.objects.exists()


def test_custom_attributes_use_company_definitions(api):
    _post(api, "/api/companies", {"company_id": "acme", "custom_attributes": {"seats": 12}})
    assert DataAttribute.objects.filter(model="company", name="seats", data_type="integer").exists()
    wrong = _post(api, "/api/companies", {"company_id": "acme", "custom_attributes": {"seats": "many"}})
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["field"] == "custom_attributes.seats"
    listed = api.get("/api/data_attributes?model=company").json()["data"]
    assert [a["name"] for a in listed] == ["seats"]


def test_attach_list_and_detach_a_contact(api):
    company, user = CompanyFactory(), UserContactFactory()
    attached = _post(api, f"/api/contacts/{user.pk}/companies", {"id": str(company.pk)})
    assert attached.status_code == 200, attached.json()
    assert attached.json()["user_count"] == 1
    contact = api.get(f"/api/contacts/{user.pk}").json()
    assert contact["companies"]["data"] == [
        {"type": "company", "id": str(company.pk), "url": f"/companies/{company.pk}"}
    ]
    assert contact["companies"]["total_count"] == 1
    listed = api.get(f"/api/contacts/{user.pk}/companies").json()
    assert [c["id"] for c in listed["companies"]] == [str(company.pk)]
    people = api.get(f"/api/companies/{company.pk}/contacts").json()
    assert [p["id"] for p in people["data"]] == [str(user.pk)] and people["total_count"] == 1
    detached = api.delete(f"/api/contacts/{user.pk}/companies/{company.pk}").json()
    assert detached["user_count"] == 0
    assert not CompanyContact.objects.exists()


def test_attach_refuses_visitors_and_unknown_ids(api):
    company = CompanyFactory()
    visitor = ContactFactory()
    refused = _post(api, f"/api/contacts/{visitor.pk}/companies", {"id": str(company.pk)})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "contact"
    missing = _post(api, f"/api/contacts/{UserContactFactory().pk}/companies", {"id": "999999"})
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "id"
    # The customer's company_id is not the Intercom id: it finds nothing here.
    by_company_id = _post(api, f"/api/contacts/{LeadFactory().pk}/companies", {"id": company.company_id})
    assert by_company_id.status_code == 404
    assert not CompanyContact.objects.exists()


def test_tag_and_untag_companies_through_post_tags(api):
    acme, other = CompanyFactory(company_id="acme"), CompanyFactory()
    tag = _post(api, "/api/tags", {"name": "b2b", "companies": [{"company_id": "acme"}, {"id": str(other.pk)}]}).json()
    assert CompanyTag.objects.count() == 2
    listed = api.get(f"/api/companies?tag_id={tag['id']}").json()
    assert {c["id"] for c in listed["data"]} == {str(acme.pk), str(other.pk)}
    assert api.get(f"/api/companies/{acme.pk}").json()["tags"]["tags"][0]["name"] == "b2b"
    _post(api, "/api/tags", {"name": "b2b", "companies": [{"company_id": "acme", "untag": True}]})
    assert list(CompanyTag.objects.values_list("company_id", flat=True)) == [other.pk]
    unknown = _post(api, "/api/tags", {"name": "b2b", "companies": [{"company_id": "ghost"}]})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "companies[0]"


@pytest.fixture
def viewer_api(db):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    ensure_teammate_groups()
    viewer = get_user_model().objects.create_user("viewer", "viewer@parley.test", None, is_staff=True)
    viewer.groups.add(Group.objects.get(name=VIEWER_GROUP))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=viewer, name='v')[1]}")
    return client


def test_a_viewer_token_reads_but_never_writes(viewer_api):
    company, user = CompanyFactory(), UserContactFactory()
    assert viewer_api.get(f"/api/companies/{company.pk}").status_code == 200
    assert viewer_api.get("/api/companies").status_code == 200
    writes = [
        viewer_api.post("/api/companies", {"company_id": "x"}, format="json"),
        viewer_api.put(f"/api/companies/{company.pk}", {"name": "x"}, format="json"),
        viewer_api.delete(f"/api/companies/{company.pk}"),
        viewer_api.post(f"/api/contacts/{user.pk}/companies", {"id": str(company.pk)}, format="json"),
        viewer_api.post("/api/tags", {"name": "t", "companies": [{"id": str(company.pk)}]}, format="json"),
    ]
    assert [w.status_code for w in writes] == [403] * len(writes)
    assert (Company.objects.get().name, CompanyContact.objects.count(), CompanyTag.objects.count()) == (
        company.name, 0, 0
    )  # fmt: skip


@pytest.mark.parametrize("url", ["/api/companies?per_page=20", "/api/contacts?per_page=20", "company-contacts"])
def test_lists_run_a_fixed_number_of_queries_whatever_the_size(api, url):
    tag = TagFactory()
    hub = CompanyFactory()

    def grow(n):
        for _ in range(n):
            company, user = CompanyFactory(), UserContactFactory()
            company_services.company_tag(company=company, tag=tag)
            company_services.company_attach(company=company, contact=user)
            company_services.company_attach(company=hub, contact=user)

    def page_queries():
        path = f"/api/companies/{hub.pk}/contacts?per_page=20" if url == "company-contacts" else url
        with CaptureQueriesContext(connection) as queries:
            response = api.get(path)
        assert response.status_code == 200
        return len(queries)

    api.get("/api/me")  # the token's first use of the minute records last_used_at
    grow(2)
    small = page_queries()
    grow(30)
    assert page_queries() == small
    assert small <= 8


def test_webhooks_for_company_topics(api, settings):
    from api import services as api_services

    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    api_services.webhook_subscription_save(
        subscription=WebhookSubscription(), url="http://127.0.0.1:9/hook",
        topics=["company.created", "company.updated", "company.contact.attached", "company.contact.detached"],
        secret="s3cret",
    )  # fmt: skip
    user = UserContactFactory()
    company = _post(api, "/api/companies", {"company_id": "acme", "name": "Acme"}).json()
    _post(api, "/api/companies", {"company_id": "acme", "name": "Acme 2"})
    _post(api, f"/api/contacts/{user.pk}/companies", {"id": company["id"]})
    api.delete(f"/api/contacts/{user.pk}/companies/{company['id']}")
    topics = list(WebhookDelivery.objects.order_by("pk").values_list("topic", flat=True))
    assert topics == ["company.created", "company.updated", "company.contact.attached", "company.contact.detached"]
    attached = WebhookDelivery.objects.get(topic="company.contact.attached").payload["data"]["item"]
    assert (attached["company"]["company_id"], attached["contact"]["id"]) == ("acme", str(user.pk))
    assert json.dumps(attached)  # JSON-ready
