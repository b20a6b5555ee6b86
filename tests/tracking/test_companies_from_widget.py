"""Intercom's `company` / `companies` settings through the widget: a signed-in user's companies are
created or updated and the user attached; visitors and leads get a warning and change nothing."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from companies.models import Company, CompanyContact
from contacts.models import Contact, DataAttribute
from tests.contacts.factories import DataAttributeFactory
from tests.tracking.conftest import Widget
from tests.tracking.factories import user_hash

pytestmark = pytest.mark.django_db

ACME = {"company_id": "acme", "name": "Acme", "plan": "pro", "monthly_spend": 49.9, "size": 12,
        "website": "https://acme.example", "industry": "Rockets", "created_at": 1_600_000_000, "seats": 10}  # fmt: skip


def test_a_verified_user_creates_the_company_and_joins_it(client, enforced_website, ingest_flush):
    widget = Widget(client, enforced_website)
    response = widget.ping(user={"user_id": "u-1", "user_hash": user_hash(enforced_website, "u-1"), "company": ACME})
    assert response.status_code == 200, response.json()
    assert "warnings" not in response.json()
    company = Company.objects.get()
    assert (company.company_id, company.name, company.plan, company.monthly_spend, company.size) == (
        "acme", "Acme", "pro", 49, 12
    )  # fmt: skip
    assert company.remote_created_at == dt.datetime.fromtimestamp(1_600_000_000, tz=dt.UTC)
    assert company.custom_attributes == {"seats": 10}
    assert DataAttribute.objects.get(model="company", name="seats").data_type == "integer"
    user = Contact.objects.get(external_id="u-1")
    assert list(CompanyContact.objects.values_list("contact_id", flat=True)) == [user.pk]
    # The new session of a member counts for the company, and so does its last request (with the ingest
    # queue on, the session is queued after the sign-in commits: the flush writes and counts it).
    ingest_flush()
    company.refresh_from_db()
    assert (company.user_count, company.session_count) == (1, 1)
    assert company.last_request_at is not None


def test_companies_list_and_id_alias_update_existing_companies(widget, website):
    Company.objects.create(company_id="acme", name="Old name")
    signed = {"user_id": "u-1", "user_hash": user_hash(website, "u-1")}
    response = widget.ping(user={**signed, "companies": [{"id": "acme", "name": "Acme"}, {"id": 7}]})
    assert response.status_code == 200
    assert sorted(Company.objects.values_list("company_id", "name")) == [("7", ""), ("acme", "Acme")]
    assert CompanyContact.objects.count() == 2


def test_unsigned_settings_create_and_join_companies_but_never_change_one_that_exists(widget):
    """Attack review: anyone claiming a user_id on a site without identity verification rewrote an existing
    customer's name, plan and spend (and segments by plan then moved it)."""
    acme = Company.objects.create(company_id="acme", name="Acme Corp", plan="enterprise", monthly_spend=9000)
    response = widget.ping(user={"user_id": "u-9", "companies": [
        {"id": "acme", "name": "Hacked", "plan": "free", "monthly_spend": 0, "custom_attributes": {"seats": 1}},
        {"id": "new-co", "name": "New Co", "plan": "pro"},
    ]})  # fmt: skip
    assert response.status_code == 200
    acme.refresh_from_db()
    assert (acme.name, acme.plan, acme.monthly_spend, acme.custom_attributes) == ("Acme Corp", "enterprise", 9000, {})
    assert Company.objects.get(company_id="new-co").plan == "pro"  # a new one is the site's to describe
    user = Contact.objects.get(external_id="u-9")
    assert set(CompanyContact.objects.filter(contact=user).values_list("company__company_id", flat=True)) == {
        "acme", "new-co",
    }  # fmt: skip
    said = [w["message"] for w in response.json()["warnings"]]
    assert (
        'company "acme": Not changed: this company exists, and its values change only with a valid user_hash'
        in (said[-1])
    )
    assert not [text for text in said if "new-co" in text]
    # Joining an existing company without values to change is not reported.
    again = widget.ping(user={"user_id": "u-9", "company": {"id": "acme"}})
    assert "warnings" not in again.json() or not again.json()["warnings"]


def test_the_same_settings_on_the_next_page_view_write_nothing(widget):
    user = {"user_id": "u-1", "company": {"company_id": "acme", "name": "Acme"}}
    widget.ping(user=user)
    with CaptureQueriesContext(connection) as queries:
        response = widget.ping(url="https://shop.example/2", user=user)
    assert response.status_code == 200
    assert not [q for q in queries.captured_queries if "companies_company" in q["sql"]]


@pytest.mark.parametrize("who", ["visitor", "lead"])
def test_visitors_and_leads_may_not_create_or_join_companies(widget, who):
    user = {"company": {"company_id": "acme", "name": "Acme"}}
    if who == "lead":
        user["email"] = "lead@example.com"
        widget.ping()
        widget.post("update", {"token": widget.token, "user": {"email": "lead@example.com"}})
        assert Contact.objects.get().role == Contact.Role.LEAD
        user.pop("email")
        response = widget.post("update", {"token": widget.token, "user": user})
    else:
        response = widget.ping(user=user)
    assert response.status_code == 200
    warnings = response.json()["warnings"]
    assert [w["field"] for w in warnings] == ["user.company"]
    assert "only a signed-in user belongs to companies" in warnings[0]["message"]
    assert "ignored_custom_attributes" not in response.json()
    assert not Company.objects.exists() and not CompanyContact.objects.exists()


def test_an_unverified_sign_in_on_an_enforcing_website_creates_nothing(client, enforced_website):
    widget = Widget(client, enforced_website)
    response = widget.ping(user={"user_id": "u-1", "user_hash": "00" * 32, "company": ACME})
    assert response.status_code == 200
    assert response.json()["contact"]["role"] == "visitor"
    assert not Company.objects.exists()


def test_unverified_input_writes_defined_company_attributes_only(widget):
    DataAttributeFactory(name="seats", model=DataAttribute.Model.COMPANY, data_type=DataAttribute.DataType.INTEGER)
    response = widget.ping(user={"user_id": "u-1", "company": {"company_id": "acme", "seats": 3, "tier": "gold"}})
    answer = response.json()
    assert response.status_code == 200
    assert [w["field"] for w in answer["warnings"]] == ["user.company"]
    assert '"tier" of company "acme"' in answer["warnings"][0]["message"]
    assert Company.objects.get().custom_attributes == {"seats": 3}
    assert not DataAttribute.objects.filter(name="tier").exists()


def test_a_wrong_company_attribute_is_dropped_and_the_rest_applied(widget):
    DataAttributeFactory(name="seats", model=DataAttribute.Model.COMPANY, data_type=DataAttribute.DataType.INTEGER)
    response = widget.ping(user={"user_id": "u-1", "company": {"company_id": "acme", "name": "Acme", "seats": "many"}})
    assert response.status_code == 200
    assert Company.objects.get().name == "Acme"
    assert CompanyContact.objects.count() == 1


@pytest.mark.parametrize(
    ("company", "field"),
    [
        ({"name": "no id"}, "user.company.company_id"),
        ({"company_id": ""}, "user.company.company_id"),
        ({"company_id": "a\u0000"}, "user.company.company_id"),
        ({"company_id": "a", "monthly_spend": 1e300 * 1e300}, "body"),
        ({"company_id": "a", "monthly_spend": "12"}, "user.company.monthly_spend"),
        ({"company_id": "a", "size": -1}, "user.company.size"),
        ({"company_id": "a", "size": 1.5}, "user.company.size"),
        ({"company_id": "a", "name": "x" * 300}, "user.company.name"),
        ({"company_id": "a", "nested": {"x": 1}}, "user.company.nested"),
        ({"company_id": "a", "created_at": "soon"}, "user.company.created_at"),
        ("acme", "user.company"),
    ],
)
def test_hostile_company_settings_are_left_out_with_a_warning_naming_the_field(widget, company, field):
    """A `company` of the wrong shape costs neither the sign-in nor the page view (issue 12: apply what is
    valid, leave out and report the rest); only a body JSON cannot hold (1e400) or one with a NUL is refused whole."""
    raw = None
    body = {"page": {"url": "https://shop.example/"}, "user": {"user_id": "u-1", "company": company}}
    if field == "body":  # JSON's 1e400: json.dumps would write Infinity
        raw = '{"page": {"url": "https://shop.example/"}, "user": {"user_id": "u-1", "company": {"company_id": "a", "monthly_spend": 1e400}}}'
    has_nul = isinstance(company, dict) and any("\u0000" in str(value) for value in company.values())
    if raw is not None or has_nul:  # a body JSON cannot hold, or a NUL anywhere: refused whole
        response = widget.post("ping", body, raw=raw)
        assert response.status_code == 400, response.content
        assert response.json()["error"]["field"] in (field, "user.company.monthly_spend")
        assert not Company.objects.exists()
        return
    response = widget.post("ping", body, raw=raw)
    assert response.status_code == 200, response.content
    warnings = response.json()["warnings"]
    assert [warning["field"] for warning in warnings] == [field]
    assert warnings[0]["message"].startswith(f"Parley: {field} not applied (the rest was): ")
    assert Contact.objects.get(external_id="u-1").role == Contact.Role.USER
    assert not Company.objects.exists()


def test_too_many_companies_are_left_out_with_a_warning(widget):
    companies = [{"company_id": f"c{n}"} for n in range(11)]
    response = widget.ping(user={"user_id": "u-1", "companies": companies})
    assert response.status_code == 200
    assert [warning["field"] for warning in response.json()["warnings"]] == ["user.companies"]
    assert not Company.objects.exists()
