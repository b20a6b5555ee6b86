"""A segment's filter in words: what the sidebar says before saving and the confirmation after."""

import pytest

from contacts.models import DataAttribute
from segments.models import Segment
from segments.summary import query_in_words
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import TagFactory

pytestmark = pytest.mark.django_db

COMPANY = Segment.PersonType.COMPANY


def f(field: str, operator: str, value: object) -> dict:
    return {"field": field, "operator": operator, "value": value}


@pytest.mark.parametrize(
    ("query", "words"),
    [
        (f("role", "=", "user"), "Role is user"),
        (f("last_seen_at", ">", "now-30d"), "Last seen within 30 days"),
        (f("last_seen_at", "<", "now-1w"), "Last seen more than 1 week ago"),
        (f("last_seen_at", ">", "now-12h"), "Last seen within 12 hours"),
        (f("last_seen_at", ">", "today"), "Last seen today"),
        (f("last_seen_at", ">", "today-7d"), "Last seen after 7 days before today"),
        (f("signed_up_at", "<", "now+2w"), "Signed up before 2 weeks from now"),
        (f("last_seen_at", "=", None), "Never seen"),
        (f("email", "!=", None), "Email is set"),
        (f("created_at", ">", 1704067200), "Created after 2024-01-01"),
        (f("created_at", "<", "1704103200"), "Created before 2024-01-01 10:00 UTC"),
        (f("unsubscribed_from_emails", "=", False), "Not unsubscribed from emails"),
        (f("archived", "=", True), "Archived"),
        (f("name", "~", "ada"), "Name contains “ada”"),
        (f("email_domain", "=", "acme.example"), "Email domain is “acme.example”"),
        (f("location.country_code", "IN", ["FR", "BE"]), "Country is one of “FR”, “BE”"),
        ({"operator": "OR", "value": [f("name", "^", "ri"), f("email", "^", "ri")]},
         "Name starts with “ri” or email starts with “ri”"),
        ({"operator": "AND", "value": [f("role", "=", "lead"), {"operator": "OR", "value": [
            f("name", "~", "bo"), f("external_id", "=", "bo")]}]},
         "Role is lead · (name contains “bo” or user id is “bo”)"),
        ({"operator": "OR", "value": [f("name", "~", "Hooli"), f("email", "~", "Hooli"),
                                      f("companies.name", "~", "Hooli"), f("external_id", "=", "Hooli")]},
         "Name contains “Hooli” or email contains “Hooli” or company name contains “Hooli” or user id is “Hooli”"),
        (f("companies.name", "!~", "inc"), "Company name does not contain “inc”"),
        (f("companies.name", "IN", ["Hooli", "Acme"]), "Company name is one of “Hooli”, “Acme”"),
        (f("companies.id", "=", None), "No company"),
        (f("companies.id", "!=", None), "Company is set"),
    ],
)  # fmt: skip
def test_contact_filters_in_words(query, words):
    assert query_in_words(query) == words


def test_tags_and_custom_attributes_read_by_name_in_one_query_each(django_assert_num_queries):
    vip, gold = TagFactory(name="VIP"), TagFactory(name="Gold")
    DataAttribute.objects.create(name="vip", label="VIP customer", data_type="boolean")
    DataAttribute.objects.create(name="plan", label="", data_type="string")
    query = {"operator": "AND", "value": [
        f("tag_id", "=", str(vip.pk)), f("tag_id", "NIN", [str(gold.pk), "999999"]),
        f("custom_attributes.vip", "=", True), f("custom_attributes.plan", "=", "pro"),
    ]}  # fmt: skip
    with django_assert_num_queries(2):
        words = query_in_words(query)
    assert words == "Tag VIP · not tagged Gold or #999999 (deleted) · VIP customer is yes · plan is “pro”"


def test_companies_named_by_id_are_read_by_name_in_one_query(django_assert_num_queries):
    stark, hooli = CompanyFactory(name="Stark Industries"), CompanyFactory(name="", company_id="hooli-1")
    query = {"operator": "AND", "value": [
        f("companies.id", "=", stark.pk), f("companies.id", "NIN", [str(hooli.pk), 999999]),
        f("companies.id", "!=", "<b>x</b>"),
    ]}  # fmt: skip
    with django_assert_num_queries(1):
        words = query_in_words(query)
    assert words == (
        "Company is “Stark Industries” · company is none of “hooli-1”, #999999 (deleted) · "
        "company is not #<b>x</b> (deleted)"
    )  # the last one was never saved (refused), and a template would escape it


def test_company_filters_in_words():
    query = {"operator": "AND", "value": [
        f("plan", "=", "enterprise"), f("size", ">", 50), f("last_request_at", ">", "now-7d"),
        f("monthly_spend", "<", 10000),
    ]}  # fmt: skip
    assert query_in_words(query, person_type=COMPANY) == (
        "Plan is “enterprise” · size more than 50 · last request within 7 days · monthly spend less than 10,000"
    )
    assert query_in_words(f("last_request_at", "=", None), person_type=COMPANY) == "No request yet"


def test_hostile_text_stays_text():
    assert query_in_words(f("name", "=", "<b>x</b>")) == "Name is “<b>x</b>”"  # templates escape it
    company = CompanyFactory(name="<script>alert(1)</script>")
    assert query_in_words(f("companies.id", "=", company.pk)) == "Company is “<script>alert(1)</script>”"
