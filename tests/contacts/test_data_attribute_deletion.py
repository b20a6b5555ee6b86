"""A data attribute that a saved segment's filter names (`custom_attributes.<name>`) is not deleted, in the admin
(one or a selection) or the API: the refusal names the segments, whose filters would otherwise stop compiling."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from api.services import api_token_create
from contacts import services
from contacts.models import DataAttribute
from segments.models import Segment
from segments.services import segment_create

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:contacts_dataattribute_changelist")


def _attribute(name: str, model: str = DataAttribute.Model.CONTACT) -> DataAttribute:
    return services.data_attribute_create(name=name, data_type=DataAttribute.DataType.STRING, model=model)


def _plan_filter(name: str = "plan") -> dict:
    return {"field": f"custom_attributes.{name}", "operator": "=", "value": "pro"}


@pytest.fixture
def plan():
    """ "plan", named by two contact segments (one deep in a group), and "colour", named by none."""
    attribute = _attribute("plan")
    _attribute("colour")
    segment_create(name="VIPs", query=_plan_filter(), teammate=None)
    nested = {"operator": "AND", "value": [{"field": "role", "operator": "=", "value": "user"},
                                           {"operator": "OR", "value": [_plan_filter(), _plan_filter()]}]}  # fmt: skip
    segment_create(name="Trials", query=nested, teammate=None)
    segment_create(name="Users", query={"field": "role", "operator": "=", "value": "user"}, teammate=None)
    return attribute


def test_the_service_refuses_naming_every_segment_that_filters_on_it(plan):
    with pytest.raises(ValidationError) as refused:
        services.data_attribute_delete(attribute=plan)
    [message] = refused.value.message_dict["name"]
    assert message == (
        "“plan” is used by the segment “Trials” and the segment “VIPs”. Change or delete them first, or "
        "archive the attribute instead."
    )
    assert DataAttribute.objects.filter(pk=plan.pk).exists()

    services.data_attribute_delete(attribute=DataAttribute.objects.get(name="colour"))
    assert not DataAttribute.objects.filter(name="colour").exists()
    # Once no segment names it, it goes.
    Segment.objects.filter(name__in=["VIPs", "Trials"]).delete()
    services.data_attribute_delete(attribute=plan)
    assert not DataAttribute.objects.filter(pk=plan.pk).exists()


def test_a_company_segment_protects_the_company_attribute_not_a_contact_one_of_the_same_name():
    company_plan = _attribute("plan", DataAttribute.Model.COMPANY)
    contact_plan = _attribute("plan")
    segment_create(name="Big customers", query=_plan_filter(), teammate=None, person_type=Segment.PersonType.COMPANY)
    with pytest.raises(ValidationError, match="the segment “Big customers”"):
        services.data_attribute_delete(attribute=company_plan)
    services.data_attribute_delete(attribute=contact_plan)
    assert list(DataAttribute.objects.values_list("model", flat=True)) == ["company"]


def test_the_admin_delete_page_names_the_segments_and_offers_no_button(admin_client, plan):
    url = reverse("admin:contacts_dataattribute_delete", args=[plan.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "cannot be deleted while saved segments filter on it" in text
    assert "the segment “VIPs”" in text and "the segment “Trials”" in text
    assert 'name="post"' not in text  # no confirmation form
    assert admin_client.post(url, {"post": "yes"}).status_code == 200  # the same page again, nothing deleted
    assert DataAttribute.objects.filter(pk=plan.pk).exists()


def test_the_bulk_delete_refusal_of_one_attribute_reads_in_the_singular(admin_client, plan):
    page = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [plan.pk]})
    text = page.content.decode()
    assert "<h1>Cannot delete data attribute</h1>" in text
    assert f"The data attribute “{plan}” cannot be deleted while saved segments filter on it:" in text
    assert "archive the attribute instead" in text and "These data attributes" not in text


def test_the_admin_bulk_delete_refuses_a_selection_holding_a_used_attribute(admin_client, plan):
    colour = DataAttribute.objects.get(name="colour")
    selection = {"action": "delete_selected", "_selected_action": [plan.pk, colour.pk]}
    page = admin_client.post(CHANGELIST, selection)
    assert page.status_code == 200
    text = page.content.decode()
    assert "cannot be deleted while saved segments filter on them" in text and "the segment “VIPs”" in text
    assert 'name="post"' not in text  # no confirmation form
    admin_client.post(CHANGELIST, {**selection, "post": "yes"})
    assert DataAttribute.objects.count() == 2

    # An unused one alone still goes, through the service.
    response = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [colour.pk],
                                              "post": "yes"})  # fmt: skip
    assert response.status_code == 302
    assert list(DataAttribute.objects.values_list("name", flat=True)) == ["plan"]


def test_the_api_refuses_with_400_naming_name_and_the_segments(superuser, plan):
    _token, raw = api_token_create(user=superuser, name="attributes")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    refused = api.delete(f"/api/data_attributes/{plan.pk}")
    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert error["field"] == "name" and "the segment “VIPs”" in error["message"]
    assert DataAttribute.objects.filter(pk=plan.pk).exists()

    colour = DataAttribute.objects.get(name="colour")
    deleted = api.delete(f"/api/data_attributes/{colour.pk}")
    assert deleted.status_code == 200
    assert deleted.json() == {"type": "data_attribute", "id": str(colour.pk), "deleted": True}
    assert api.delete(f"/api/data_attributes/{colour.pk}").status_code == 404
