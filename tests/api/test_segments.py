"""GET /segments (include_count), GET /segments/{id}, GET /contacts/{id}/segments."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from segments import services
from segments.models import Segment
from tests.api.test_auth_and_errors import assert_error
from tests.contacts.factories import ContactFactory, UserContactFactory

pytestmark = pytest.mark.django_db

FRENCH = {"field": "location.country_code", "operator": "=", "value": "FR"}


def test_list_and_get_with_and_without_the_cached_count(api, teammate):
    france = services.segment_create(name="France", query=FRENCH, teammate=teammate)
    services.segment_create(name="Archived", query={"field": "archived", "operator": "=", "value": True},
                            teammate=teammate)  # fmt: skip
    UserContactFactory.create_batch(2, country="FR")
    listed = api.get("/api/segments").json()
    assert listed["type"] == "segment.list"
    assert [(s["type"], s["name"], s["person_type"]) for s in listed["segments"]] == [
        ("segment", "Archived", "contact"), ("segment", "France", "contact"),
    ]  # fmt: skip
    assert "count" not in listed["segments"][0]
    assert api.get("/api/segments?include_count=true").json()["segments"][1]["count"] is None  # not counted yet
    services.segment_counts_refresh()
    counted = api.get("/api/segments?include_count=true").json()["segments"]
    assert [s["count"] for s in counted] == [0, 2]
    one = api.get(f"/api/segments/{france.pk}?include_count=true").json()
    assert (one["id"], one["name"], one["count"]) == (str(france.pk), "France", 2)
    assert_error(api.get("/api/segments?include_count=yes"), 400, "parameter_invalid", "include_count")


@pytest.mark.parametrize("segment_id", ["999999", "1e400", "٣", "²", "abc", "9" * 30])
def test_an_unknown_segment_is_404(api, segment_id):
    assert_error(api.get(f"/api/segments/{segment_id}"), 404, "not_found")


def test_a_contacts_segments(api, teammate):
    french = UserContactFactory(country="FR", name="Ada")
    german = UserContactFactory(country="DE", name="Grete")  # a fixed name: a random one may start with "Ad"
    services.segment_create(name="France", query=FRENCH, teammate=teammate)
    services.segment_create(name="Ada", query={"field": "name", "operator": "^", "value": "ad"}, teammate=teammate)
    body = api.get(f"/api/contacts/{french.pk}/segments").json()
    assert body["type"] == "list"
    assert [s["name"] for s in body["data"]] == ["Ada", "France"]
    assert api.get(f"/api/contacts/{german.pk}/segments").json()["data"] == []
    visitor = ContactFactory(country="FR", name="Adele")  # visitors are not the API's contacts, so in no segment
    assert api.get(f"/api/contacts/{visitor.pk}/segments").json()["data"] == []
    assert_error(api.get("/api/contacts/1e400/segments"), 404, "not_found")


def test_segment_reads_cost_a_fixed_number_of_queries(api, teammate):
    contact = UserContactFactory(country="FR")
    api.get("/api/me")  # the token's last use is written once a minute: not part of the count

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(path).status_code == 200
        return len(queries)

    for index in range(2):
        services.segment_create(name=f"s{index}", query=FRENCH, teammate=teammate)
    small = (count("/api/segments?include_count=true"), count(f"/api/contacts/{contact.pk}/segments"))
    for index in range(2, 20):
        services.segment_create(name=f"s{index}", query={**FRENCH, "value": f"X{index}"}, teammate=teammate)
    assert (count("/api/segments?include_count=true"), count(f"/api/contacts/{contact.pk}/segments")) == small


def test_segments_are_read_only_through_the_api(api):
    segment = Segment.objects.create(name="France", query=FRENCH)
    assert_error(api.post("/api/segments", {"name": "x"}, format="json"), 405, "method_not_allowed")
    assert_error(api.delete(f"/api/segments/{segment.pk}"), 405, "method_not_allowed")
