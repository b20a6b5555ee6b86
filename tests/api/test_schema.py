import pytest
import yaml
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_openapi_schema_is_valid_and_covers_the_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    validate(schema)
    assert schema["openapi"].startswith("3.")
    for path in ("/api/contacts", "/api/contacts/search", "/api/contacts/merge", "/api/tags", "/api/me",
                 "/api/data_attributes", "/api/visitors/convert", "/api/contacts/{contact_id}/notes", "/api/messages",
                 "/api/teams", "/api/teams/{team_id}", "/api/visitors", "/api/segments", "/api/segments/{segment_id}",
                 "/api/contacts/{contact_id}/segments", "/api/companies/{company_id}/segments"):  # fmt: skip
        assert path in schema["paths"], path
    retrieve = {p["name"] for p in schema["paths"]["/api/companies"]["get"]["parameters"]}
    assert {"company_id", "name", "tag_id", "segment_id", "page", "per_page"} <= retrieve
    assert "type" in {p["name"] for p in schema["paths"]["/api/segments"]["get"]["parameters"]}
    components = schema["components"]["schemas"]
    assert components["PersonTypeEnum"]["enum"] == ["contact", "company"]  # SegmentOutput.person_type
    message = schema["paths"]["/api/messages"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    flag = components[message["$ref"].rsplit("/", 1)[1]]["properties"]["create_conversation_without_contact_reply"]
    assert flag["type"] == "boolean"
    assert "put" in schema["paths"]["/api/conversations/{conversation_id}"]
    assert {"get", "put"} <= set(schema["paths"]["/api/visitors"])
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    create = schema["paths"]["/api/contacts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    writable = schema["components"]["schemas"][create["$ref"].rsplit("/", 1)[1]]["properties"]
    assert "web_sessions_count" not in writable
    assert "is_archived" not in writable


def test_swagger_ui_is_served_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html
    assert "unpkg.com" not in html


def test_a_deletion_that_answers_the_deleted_object_documents_200(client):
    """Intercom's deletions answer 200 with {"id", "object", "deleted": true}: the schema says so (a 204 there made
    Schemathesis and generated clients expect no body)."""
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    paths = yaml.safe_load(response.content)["paths"]
    for path in ("/api/companies/{company_id}", "/api/contacts/{contact_id}", "/api/conversations/{conversation_id}",
                 "/api/data_attributes/{attribute_id}"):  # fmt: skip
        documented = paths[path]["delete"]["responses"]
        assert "200" in documented and "204" not in documented, path
