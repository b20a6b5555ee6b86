import pytest

from contacts.models import Contact, DataAttribute, Tag
from tests.contacts.factories import ContactFactory, DataAttributeFactory, TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db


def test_me_and_admins(api, teammate, superuser):
    me = api.get("/api/me").json()
    assert (me["type"], me["id"], me["email"], me["name"]) == ("admin", str(teammate.pk), "agent@parley.test", "Alex")
    assert me["app"]["type"] == "app"
    admins = api.get("/api/admins").json()
    assert admins["type"] == "admin.list"
    assert {a["id"] for a in admins["admins"]} == {str(teammate.pk), str(superuser.pk)}
    assert api.get(f"/api/admins/{superuser.pk}").json()["email"] == "boss@parley.test"
    assert api.get("/api/admins/424242").status_code == 404


def test_tag_create_is_idempotent_by_name_and_renames_by_id(api):
    created = api.post("/api/tags", {"name": "Beta"}, format="json").json()
    assert created["type"] == "tag"
    assert api.post("/api/tags", {"name": "beta"}, format="json").json()["id"] == created["id"]
    renamed = api.post("/api/tags", {"name": "Beta testers", "id": created["id"]}, format="json").json()
    assert renamed == {"type": "tag", "id": created["id"], "name": "Beta testers"}
    assert api.get(f"/api/tags/{created['id']}").json()["name"] == "Beta testers"
    assert [t["name"] for t in api.get("/api/tags").json()["data"]] == ["Beta testers"]
    assert api.delete(f"/api/tags/{created['id']}").status_code == 200
    assert not Tag.objects.exists()
    assert api.get(f"/api/tags/{created['id']}").status_code == 404


def test_renaming_onto_an_existing_name_is_refused(api):
    TagFactory(name="Taken")
    other = TagFactory(name="Other")
    response = api.post("/api/tags", {"name": "taken", "id": str(other.pk)}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "name"


def test_tag_and_untag_many_contacts_through_post_tags(api):
    a, b = UserContactFactory(), UserContactFactory()
    tag = api.post("/api/tags", {"name": "Import", "users": [{"id": str(a.pk)}, {"id": str(b.pk)}]}, format="json")
    tag_id = int(tag.json()["id"])
    assert set(Contact.objects.filter(tags=tag_id).values_list("pk", flat=True)) == {a.pk, b.pk}
    api.post("/api/tags", {"name": "Import", "users": [{"id": str(a.pk), "untag": True}]}, format="json")
    assert set(Contact.objects.filter(tags=tag_id).values_list("pk", flat=True)) == {b.pk}
    bad = api.post("/api/tags", {"name": "Import", "users": [{"email": "x"}]}, format="json")
    assert bad.json()["errors"][0]["field"] == "users[0].id"


def test_tagging_a_contact_that_does_not_exist_is_refused_and_creates_nothing(api):
    known = UserContactFactory()
    response = api.post("/api/tags", {"name": "Fresh", "users": [{"id": str(known.pk)}, {"id": "99999999"}]},
                        format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "users"
    # One transaction: neither the tag nor the link to the known contact is left behind.
    assert not Tag.objects.filter(name="Fresh").exists()
    assert not known.tags.exists()


def test_tag_without_name_names_the_field(api):
    response = api.post("/api/tags", {}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {"code": "parameter_not_found", "message": "This field is required.",
                                            "field": "name"}  # fmt: skip


def test_data_attributes_list_create_update(api):
    DataAttributeFactory(name="old", archived=True)
    DataAttributeFactory(name="conv_topic", model="conversation")
    created = api.post(
        "/api/data_attributes",
        {"name": "plan", "model": "contact", "data_type": "options", "description": "Billing plan",
         "options": [{"value": "free"}, {"value": "pro"}]},
        format="json",
    )  # fmt: skip
    assert created.status_code == 200, created.json()
    body = created.json()
    assert (body["type"], body["name"], body["full_name"], body["options"]) == (
        "data_attribute", "plan", "custom_attributes.plan", ["free", "pro"]
    )  # fmt: skip
    names = lambda url: [a["name"] for a in api.get(url).json()["data"]]  # noqa: E731
    assert names("/api/data_attributes?model=contact") == ["plan"]
    assert names("/api/data_attributes?model=contact&include_archived=true") == ["old", "plan"]
    assert names("/api/data_attributes?model=conversation") == ["conv_topic"]
    updated = api.put(f"/api/data_attributes/{body['id']}", {"archived": True, "description": "gone"}, format="json")
    assert (updated.json()["archived"], updated.json()["description"]) == (True, "gone")
    assert DataAttribute.objects.get(name="plan").archived


@pytest.mark.parametrize("data_type", ["string", "integer", "float", "boolean", "date", "datetime"])
def test_data_attribute_types(api, data_type):
    response = api.post("/api/data_attributes", {"name": f"a_{data_type}", "model": "contact", "data_type": data_type},
                        format="json")  # fmt: skip
    assert response.json()["data_type"] == data_type


def test_data_attribute_errors_name_the_field(api):
    DataAttributeFactory(name="dup")
    bad_type = api.post("/api/data_attributes", {"name": "x", "model": "contact", "data_type": "blob"}, format="json")
    assert bad_type.json()["errors"][0]["field"] == "data_type"
    dup = api.post("/api/data_attributes", {"name": "dup", "model": "contact", "data_type": "string"}, format="json")
    assert dup.status_code == 409
    assert dup.json()["errors"][0]["field"] == "name"
    bad_name = api.post("/api/data_attributes", {"name": "a.b", "model": "contact", "data_type": "string"},
                        format="json")  # fmt: skip
    assert bad_name.json()["errors"][0]["field"] == "name"


def test_visitor_converts_to_a_lead(api):
    visitor = ContactFactory()
    response = api.post(
        "/api/visitors/convert",
        {"type": "lead", "user": {"email": "new@example.com"}, "visitor": {"user_id": str(visitor.anonymous_id)}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    visitor.refresh_from_db()
    assert (visitor.role, visitor.email) == ("lead", "new@example.com")


def test_visitor_converts_to_a_new_user(api):
    visitor = ContactFactory()
    body = api.post(
        "/api/visitors/convert",
        {"type": "user", "user": {"user_id": "site-7", "email": "s7@example.com"}, "visitor": {"id": str(visitor.pk)}},
        format="json",
    ).json()
    assert (body["id"], body["role"], body["external_id"]) == (str(visitor.pk), "user", "site-7")


def test_visitor_converted_into_an_existing_user_is_merged(api):
    user, visitor = UserContactFactory(external_id="known"), ContactFactory()
    body = api.post(
        "/api/visitors/convert",
        {"type": "user", "user": {"user_id": "known"}, "visitor": {"id": str(visitor.pk)}},
        format="json",
    ).json()
    assert body["id"] == str(user.pk)
    assert not Contact.objects.filter(pk=visitor.pk).exists()


def test_visitor_convert_errors(api):
    response = api.post("/api/visitors/convert", {"type": "user", "user": {"user_id": "x"}, "visitor": {"id": "1"}},
                        format="json")  # fmt: skip
    assert response.status_code == 404
    response = api.post("/api/visitors/convert", {"type": "admin", "user": {}, "visitor": {}}, format="json")
    assert response.json()["errors"][0]["field"] == "type"
