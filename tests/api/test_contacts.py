import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact, ContactNote, DataAttribute, PrivacyAuditEntry
from tests.contacts.factories import (
    ContactFactory,
    DataAttributeFactory,
    LeadFactory,
    TagFactory,
    UserContactFactory,
)

pytestmark = pytest.mark.django_db


def test_create_user_returns_intercoms_contact_object(api):
    response = api.post(
        "/api/contacts",
        {"email": "Ada@Example.com", "external_id": "u-1", "name": "Ada", "signed_up_at": 1700000000,
         "custom_attributes": {"plan": "pro"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["type"] == "contact"
    assert body["role"] == "user"
    assert body["id"] == str(Contact.objects.get(external_id="u-1").pk)
    assert body["email"] == "Ada@Example.com"
    assert body["email_domain"] == "Example.com"
    assert body["signed_up_at"] == 1700000000
    assert isinstance(body["created_at"], int)
    assert body["custom_attributes"] == {"plan": "pro"}
    assert body["tags"] == {"type": "list", "data": [], "url": f"/contacts/{body['id']}/tags", "total_count": 0,
                            "has_more": False}  # fmt: skip
    assert body["location"]["type"] == "location"


def test_create_needs_email_external_id_or_role(api):
    response = api.post("/api/contacts", {"name": "Nobody"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parameter_not_found"


def test_create_lead_by_role(api):
    body = api.post("/api/contacts", {"role": "lead", "name": "Lee"}, format="json").json()
    assert body["role"] == "lead"
    assert Contact.objects.get(pk=body["id"]).role == Contact.Role.LEAD


def test_duplicate_user_email_is_409_conflict(api):
    existing = UserContactFactory(email="taken@example.com")
    response = api.post("/api/contacts", {"email": "TAKEN@example.com"}, format="json")
    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["code"] == "conflict"
    assert str(existing.pk) in error["message"]


def test_updating_a_lead_into_a_user_with_a_taken_email_is_409_naming_the_user(api):
    existing = UserContactFactory(email="taken@example.com")
    lead = api.post("/api/contacts", {"role": "lead", "email": "taken@example.com"}, format="json").json()
    response = api.put(f"/api/contacts/{lead['id']}", {"role": "user"}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0] == {
        "code": "conflict",
        "message": f"A contact matching those details already exists with id={existing.pk}",
        "field": "email",
    }
    assert Contact.objects.get(pk=lead["id"]).role == Contact.Role.LEAD


def test_invalid_field_value_names_the_field(api):
    response = api.post("/api/contacts", {"email": "not an email"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "parameter_invalid", "message": "Enter a valid email address.", "field": "email"
    }  # fmt: skip
    response = api.post("/api/contacts", {"email": "a@b.co", "signed_up_at": "yesterday"}, format="json")
    assert response.json()["errors"][0]["field"] == "signed_up_at"


def test_fields_that_are_not_writable_are_never_written(api):
    body = api.post(
        "/api/contacts",
        {"email": "m@example.com", "web_sessions_count": 99, "id": "7", "is_archived": True, "city": "Paris"},
        format="json",
    ).json()
    contact = Contact.objects.get(pk=body["id"])
    assert (contact.web_sessions_count, contact.is_archived, contact.city) == (0, False, "")


def test_update_contact_and_promote_lead_to_user(api):
    lead = LeadFactory(email="lead@example.com")
    response = api.put(f"/api/contacts/{lead.pk}", {"role": "user", "external_id": "ext-9", "name": "Now User"},
                       format="json")  # fmt: skip
    assert response.status_code == 200, response.json()
    lead.refresh_from_db()
    assert (lead.role, lead.external_id, lead.name) == ("user", "ext-9", "Now User")


def test_a_refused_update_leaves_the_lead_unconverted(api):
    DataAttributeFactory(name="seats", data_type=DataAttribute.DataType.INTEGER)
    lead = LeadFactory(email="lead@example.com")
    response = api.put(f"/api/contacts/{lead.pk}",
                       {"role": "user", "external_id": "ext-10", "custom_attributes": {"seats": "many"}},
                       format="json")  # fmt: skip
    assert response.status_code == 400
    lead.refresh_from_db()
    assert (lead.role, lead.external_id) == ("lead", None)


@pytest.mark.parametrize("number", ["1e-400", "-2.5E-999", "0.0001e-400"])
def test_a_nonzero_number_that_rounds_to_0_is_refused_naming_its_attribute(api, number):
    """The attack review: "1e-400" was stored as 0, where the admin refuses it."""
    DataAttributeFactory(name="ratio", data_type=DataAttribute.DataType.FLOAT)
    contact = UserContactFactory(custom_attributes={"ratio": 0.5})
    raw = '{"custom_attributes": {"ratio": ' + number + "}}"
    response = api.generic("PUT", f"/api/contacts/{contact.pk}", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert error["field"] == "custom_attributes.ratio"
    assert "too close to 0" in error["message"]
    contact.refresh_from_db()
    assert contact.custom_attributes == {"ratio": 0.5}


@pytest.mark.parametrize(("number", "stored"), [("0e-400", 0.0), ("-0.0", 0.0), ("1e-320", 1e-320), ("2.5e-3", 0.0025)])
def test_zero_and_the_smallest_floats_are_stored(api, number, stored):
    DataAttributeFactory(name="ratio", data_type=DataAttribute.DataType.FLOAT)
    contact = UserContactFactory()
    raw = '{"custom_attributes": {"ratio": ' + number + "}}"
    response = api.generic("PUT", f"/api/contacts/{contact.pk}", raw, content_type="application/json")
    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert contact.custom_attributes == {"ratio": stored}


def test_user_cannot_become_a_lead(api):
    user = UserContactFactory()
    response = api.put(f"/api/contacts/{user.pk}", {"role": "lead"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "role"


def test_delete_is_the_gdpr_erase_with_an_audit_entry(api, teammate):
    contact = UserContactFactory(external_id="gone")
    ContactNote.objects.create(contact=contact, author=teammate, body="private")
    response = api.delete(f"/api/contacts/{contact.pk}")
    assert response.json() == {"id": str(contact.pk), "external_id": "gone", "type": "contact", "deleted": True}
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not ContactNote.objects.filter(contact_id=contact.pk).exists()
    entry = PrivacyAuditEntry.objects.get(contact_id=contact.pk)
    assert (entry.action, entry.source, entry.actor) == ("erase", "api", teammate)


def test_find_by_external_id(api):
    contact = UserContactFactory(external_id="abc/42")
    assert api.get("/api/contacts/find_by_external_id/abc/42").json()["id"] == str(contact.pk)
    assert api.get("/api/contacts/find_by_external_id/nope").status_code == 404


def test_merge_lead_into_user_moves_history(api, teammate):
    lead, user = LeadFactory(), UserContactFactory()
    ContactNote.objects.create(contact=lead, author=teammate, body="met at a fair")
    response = api.post("/api/contacts/merge", {"from": str(lead.pk), "into": str(user.pk)}, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == str(user.pk)
    assert not Contact.objects.filter(pk=lead.pk).exists()
    assert ContactNote.objects.get().contact == user


def test_merge_user_into_user_is_refused_naming_the_field(api):
    a, b = UserContactFactory(), UserContactFactory()
    response = api.post("/api/contacts/merge", {"from": str(a.pk), "into": str(b.pk)}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "from"


def test_archive_and_unarchive(api):
    contact = UserContactFactory()
    assert api.post(f"/api/contacts/{contact.pk}/archive").json()["archived"] is True
    contact.refresh_from_db()
    assert contact.is_archived
    assert str(contact.pk) not in [c["id"] for c in api.get("/api/contacts").json()["data"]]
    assert api.post(f"/api/contacts/{contact.pk}/unarchive").json()["archived"] is False
    contact.refresh_from_db()
    assert not contact.is_archived


def test_tag_list_and_untag_a_contact(api):
    contact, tag = UserContactFactory(), TagFactory(name="VIP")
    assert api.post(f"/api/contacts/{contact.pk}/tags", {"id": str(tag.pk)}, format="json").json() == {
        "type": "tag", "id": str(tag.pk), "name": "VIP"
    }  # fmt: skip
    assert [t["name"] for t in api.get(f"/api/contacts/{contact.pk}/tags").json()["data"]] == ["VIP"]
    assert api.get(f"/api/contacts/{contact.pk}").json()["tags"]["data"] == [
        {"type": "tag", "id": str(tag.pk), "url": f"/tags/{tag.pk}"}
    ]
    assert api.delete(f"/api/contacts/{contact.pk}/tags/{tag.pk}").status_code == 200
    assert api.get(f"/api/contacts/{contact.pk}/tags").json()["data"] == []
    assert api.post(f"/api/contacts/{contact.pk}/tags", {"id": "9999"}, format="json").status_code == 404


def test_notes_on_a_contact(api, teammate):
    contact = UserContactFactory()
    note = api.post(f"/api/contacts/{contact.pk}/notes", {"body": "Called, wants a demo"}, format="json").json()
    assert note["type"] == "note"
    assert note["body"] == "Called, wants a demo"
    assert note["author"]["id"] == str(teammate.pk)
    assert note["contact"] == {"type": "contact", "id": str(contact.pk)}
    listed = api.get(f"/api/contacts/{contact.pk}/notes").json()
    assert [n["id"] for n in listed["data"]] == [note["id"]]
    assert api.get(f"/api/notes/{note['id']}").json()["body"] == "Called, wants a demo"
    assert api.post(f"/api/contacts/{contact.pk}/notes", {"body": "  "}, format="json").status_code == 400


def _walk_list(api, per_page):
    ids, url, pages = [], f"/api/contacts?per_page={per_page}", 0
    while url:
        body = api.get(url).json()
        ids += [c["id"] for c in body["data"]]
        pages += 1
        after = body["pages"].get("next", {}).get("starting_after")
        url = f"/api/contacts?per_page={per_page}&starting_after={after}" if after else None
    return ids, pages, body


def test_list_walks_every_user_and_lead_once_with_cursors(api):
    contacts = UserContactFactory.create_batch(5) + LeadFactory.create_batch(2)
    ContactFactory()  # anonymous visitors are not Intercom contacts
    ids, pages, last = _walk_list(api, per_page=3)
    assert sorted(ids, key=int) == sorted((str(c.pk) for c in contacts), key=int)
    assert pages == 3
    assert "next" not in last["pages"]
    assert last["total_count"] == 7


def test_bad_cursor_is_400_naming_the_field(api):
    response = api.get("/api/contacts?starting_after=garbage!")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "starting_after"
    assert api.get("/api/contacts?per_page=1000").json()["errors"][0]["field"] == "per_page"


@pytest.mark.parametrize("url", ["/api/contacts?per_page=20", "search"])
def test_list_and_search_run_a_fixed_number_of_queries_whatever_the_size(api, teammate, url):
    tag = TagFactory()

    def page_queries():
        with CaptureQueriesContext(connection) as queries:
            if url == "search":
                response = api.post(
                    "/api/contacts/search",
                    {"query": {"field": "role", "operator": "=", "value": "user"}, "pagination": {"per_page": 20}},
                    format="json",
                )
            else:
                response = api.get(url)
        assert response.status_code == 200
        return len(queries)

    api.get("/api/me")  # the token's first use of the minute records last_used_at
    for contact in UserContactFactory.create_batch(3):
        ContactNote.objects.create(contact=contact, author=teammate, body="n")
        contact.tags.add(tag)
    small = page_queries()
    for contact in UserContactFactory.create_batch(40):
        ContactNote.objects.create(contact=contact, author=teammate, body="n")
        contact.tags.add(tag)
    assert page_queries() == small
    assert small <= 8


def _search(api, query, **pagination):
    body = {"query": query}
    if pagination:
        body["pagination"] = pagination
    return api.post("/api/contacts/search", body, format="json")


def _ids(response):
    assert response.status_code == 200, response.json()
    return {c["id"] for c in response.json()["data"]}


def test_search_operators(api):
    ada = UserContactFactory(email="ada@lovelace.org", name="Ada Lovelace", external_id="a1",
                             signed_up_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    bob = UserContactFactory(email="bob@builder.com", name="Bob", external_id="b2",
                             signed_up_at=dt.datetime(2023, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    lee = LeadFactory(email="lee@lovelace.org", name="Lee")
    a, b, c = str(ada.pk), str(bob.pk), str(lee.pk)
    f = lambda field, op, value: {"field": field, "operator": op, "value": value}  # noqa: E731
    assert _ids(_search(api, f("email", "=", "ADA@lovelace.org"))) == {a}
    assert _ids(_search(api, f("email", "!=", "ada@lovelace.org"))) == {b, c}
    assert _ids(_search(api, f("external_id", "IN", ["a1", "b2"]))) == {a, b}
    assert _ids(_search(api, f("external_id", "NIN", ["a1"]))) == {b, c}
    assert _ids(_search(api, f("name", "~", "love"))) == {a}
    assert _ids(_search(api, f("name", "!~", "love"))) == {b, c}
    assert _ids(_search(api, f("email", "^", "bo"))) == {b}
    assert _ids(_search(api, f("email", "$", "lovelace.org"))) == {a, c}
    assert _ids(_search(api, f("signed_up_at", ">", 1600000000))) == {b}
    assert _ids(_search(api, f("signed_up_at", "<", "1600000000"))) == {a}
    assert _ids(_search(api, f("role", "=", "lead"))) == {c}
    assert _ids(_search(api, f("email_domain", "=", "lovelace.org"))) == {a, c}
    assert _ids(_search(api, f("signed_up_at", "=", None))) == {c}
    assert _ids(_search(api, f("id", "=", a))) == {a}


def test_search_in_takes_its_full_thousand_values_on_every_database(api):
    # A chain of 1,000 ORs is deeper than SQLite parses (it answered 503 as if the database were down).
    ada = UserContactFactory(name="Ada", email="Ada@Lovelace.org")
    bob = UserContactFactory(name="Bob")
    a, b = str(ada.pk), str(bob.pk)
    f = lambda field, op, value: {"field": field, "operator": op, "value": value}  # noqa: E731
    padding = list(range(10**9, 10**9 + 999))
    assert _ids(_search(api, f("id", "IN", [*padding, int(a)]))) == {a}
    assert _ids(_search(api, f("id", "NIN", [*padding, int(a)]))) == {b}
    assert _ids(_search(api, f("email", "IN", [f"x{n}@example.com" for n in range(999)] + ["ada@lovelace.ORG"]))) == {a}
    assert _ids(_search(api, f("name", "NIN", ["ADA"]))) == {b}
    assert _search(api, f("id", "IN", [*padding, 1, 2])).status_code == 400  # 1,001 values


def test_search_and_or_groups_nest(api):
    ada = UserContactFactory(name="Ada", country="GB")
    bob = UserContactFactory(name="Bob", country="US")
    LeadFactory(name="Lee", country="GB")
    query = {
        "operator": "AND",
        "value": [
            {"field": "role", "operator": "=", "value": "user"},
            {"operator": "OR", "value": [
                {"field": "location.country_code", "operator": "=", "value": "GB"},
                {"field": "name", "operator": "=", "value": "bob"},
            ]},
        ],
    }  # fmt: skip
    assert _ids(_search(api, query)) == {str(ada.pk), str(bob.pk)}


def test_search_by_tag_and_custom_attributes(api):
    plan = DataAttributeFactory(name="plan")
    DataAttributeFactory(name="seats", data_type="integer")
    tag = TagFactory()
    ada = UserContactFactory(custom_attributes={plan.name: "pro", "seats": 12})
    bob = UserContactFactory(custom_attributes={plan.name: "free", "seats": 2})
    ada.tags.add(tag)
    bob.tags.add(tag, TagFactory())
    assert _ids(_search(api, {"field": "tag_id", "operator": "=", "value": str(tag.pk)})) == {str(ada.pk), str(bob.pk)}
    assert _ids(_search(api, {"field": "custom_attributes.plan", "operator": "=", "value": "pro"})) == {str(ada.pk)}
    assert _ids(_search(api, {"field": "custom_attributes.plan", "operator": "^", "value": "fr"})) == {str(bob.pk)}
    assert _ids(_search(api, {"field": "custom_attributes.seats", "operator": ">", "value": 5})) == {str(ada.pk)}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"field": "password", "operator": "=", "value": "x"}, "password"),
        ({"field": "email", "operator": "LIKE", "value": "x"}, "email"),
        ({"field": "created_at", "operator": ">", "value": "last week"}, "created_at"),
        ({"field": "created_at", "operator": "~", "value": 1}, "created_at"),
        ({"field": "email", "operator": "IN", "value": "x"}, "email"),
        ({"field": "tag_id", "operator": ">", "value": "1"}, "tag_id"),
        ({"field": "tag_id", "operator": "<", "value": 1}, "tag_id"),
        ({"field": "custom_attributes.unknown", "operator": "=", "value": "x"}, "custom_attributes.unknown"),
        ({"operator": "AND", "value": []}, "query.value"),
        ({"operator": "OR", "value": [{"field": "email", "operator": "=", "value": "x"}] * 16}, "query.value"),
        ("email = x", "query"),
    ],
)
def test_invalid_search_is_400_parameter_invalid_naming_the_field(api, query, field):
    response = _search(api, query)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["code"], error["field"]) == ("parameter_invalid", field)


def test_search_nesting_deeper_than_intercoms_limit_is_refused(api):
    leaf = {"field": "email", "operator": "=", "value": "x"}
    deep = {"operator": "AND", "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [
        {"operator": "OR", "value": [leaf]}]}]}]}  # fmt: skip
    response = _search(api, deep)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parameter_invalid"
    two_levels = {"operator": "AND", "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [leaf]}]}]}
    assert _search(api, two_levels).status_code == 200


def test_search_pages_with_starting_after_and_omits_next_on_the_last_page(api):
    users = UserContactFactory.create_batch(5)
    query = {"field": "role", "operator": "=", "value": "user"}
    first = _search(api, query, per_page=2).json()
    assert first["total_count"] == 5
    assert first["pages"]["total_pages"] == 3
    seen = [c["id"] for c in first["data"]]
    after = first["pages"]["next"]["starting_after"]
    while after:
        body = _search(api, query, per_page=2, starting_after=after).json()
        seen += [c["id"] for c in body["data"]]
        after = body["pages"].get("next", {}).get("starting_after")
    assert sorted(seen) == sorted(str(u.pk) for u in users)
    assert "next" not in body["pages"]
