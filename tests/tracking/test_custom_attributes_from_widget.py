"""Only verified input defines custom attributes; anonymous and unverified widget input writes the
defined ones and reports the rest (docs/architecture.md, "Widget trust rules")."""

import pytest

from contacts import services as contacts_services
from contacts.models import Contact, DataAttribute
from tests.contacts.factories import DataAttributeFactory
from tests.tracking.conftest import Widget
from tests.tracking.factories import user_hash

pytestmark = pytest.mark.django_db


def test_an_anonymous_visitor_cannot_fix_an_attributes_type(widget, client, enforced_website):
    answer = widget.ping(user={"custom_attributes": {"tier": True}})

    assert answer.status_code == 200
    assert answer.json()["ignored_custom_attributes"] == ["tier"]
    assert not DataAttribute.objects.exists()
    assert Contact.objects.get().custom_attributes == {}
    # The site's verified user defines it later with the type the site means.
    verified = Widget(client, enforced_website)
    response = verified.ping(user={"user_id": "u-1", "user_hash": user_hash(enforced_website, "u-1"),
                                   "custom_attributes": {"tier": "gold"}})  # fmt: skip
    assert response.status_code == 200
    assert "ignored_custom_attributes" not in response.json()
    assert DataAttribute.objects.get(name="tier").data_type == "string"
    assert Contact.objects.get(external_id="u-1").custom_attributes == {"tier": "gold"}


def test_a_user_identified_without_a_hash_writes_defined_attributes_only(widget):
    DataAttributeFactory(name="plan", data_type=DataAttribute.DataType.STRING)

    response = widget.ping(user={"user_id": "u-1", "custom_attributes": {"plan": "pro", "seats": 3}})

    assert response.json()["ignored_custom_attributes"] == ["seats"]
    assert Contact.objects.get().custom_attributes == {"plan": "pro"}
    assert list(DataAttribute.objects.values_list("name", flat=True)) == ["plan"]


def test_a_wrong_value_of_a_defined_attribute_is_dropped_reported_and_recorded_the_rest_applied(widget, ingest_flush):
    # Issue 12: one bad attribute no longer fails the whole ping (which used to answer 400, losing
    # the page view and the sign-in); the field at fault is still named, now as a warning.
    from contacts.models import Contact
    from tracking.models import PageView, RejectedAttribute

    DataAttributeFactory(name="seats", data_type=DataAttribute.DataType.INTEGER)
    DataAttributeFactory(name="plan", options=["free", "pro"])

    response = widget.ping(user={"name": "Ada", "custom_attributes": {"seats": "many", "plan": "pro"}})

    assert response.status_code == 200
    answer = response.json()
    assert answer["ignored_custom_attributes"] == ["seats"]
    assert [w["field"] for w in answer["warnings"]] == ["user.custom_attributes.seats"]
    contact = Contact.objects.get()
    assert (contact.name, contact.custom_attributes) == ("Ada", {"plan": "pro"})
    ingest_flush()  # with the ingest queue on (PostgreSQL + Redis), the page view follows the commit through it
    assert PageView.objects.count() == 1
    widget.ping(url="https://shop.example/2", user={"name": "Ada", "custom_attributes": {"seats": "lots"}})
    rejected = RejectedAttribute.objects.get()
    # The bad value itself, so the owner sees what their code sent (it said "text of 4 character(s)").
    assert (rejected.name, rejected.count, rejected.last_example) == ("seats", 2, '"lots"')


def test_a_rejected_example_shows_options_and_typed_values_but_only_the_length_of_free_text(widget):
    from tracking.models import RejectedAttribute
    from tracking.services.websites import _example_of

    DataAttributeFactory(name="plan", options=["free", "pro"])
    hostile = "<b>gold</b>\t" + "x" * 100
    answer = widget.ping(user={"custom_attributes": {"plan": hostile}})
    assert answer.status_code == 200, answer.content
    example = RejectedAttribute.objects.get(name="plan").last_example
    assert example.startswith('"<b>gold</b>\ufffd') and example.endswith('…"')  # the admin escapes it
    assert len(example) == 60  # cut
    # Free text (a string attribute without options, or one not defined) may be a visitor's words: its length.
    bio = DataAttributeFactory(name="bio", data_type=DataAttribute.DataType.STRING)
    assert _example_of("I live at 1 Main St", definition=bio).startswith("text of 19 character(s) (free text")
    assert _example_of("I live at 1 Main St", definition=None).startswith("text of 19 character(s)")


def test_the_update_endpoint_follows_the_same_rule(widget):
    widget.ping()

    response = widget.post("update", {"token": widget.token, "user": {"custom_attributes": {"vip": True}}})

    assert response.status_code == 200
    assert response.json()["ignored_custom_attributes"] == ["vip"]
    assert not DataAttribute.objects.exists()


def test_visitors_cannot_use_up_the_cap_that_verified_users_and_the_api_need(widget, settings, client, website):
    settings.PARLEY_MAX_CUSTOM_ATTRIBUTES = 3
    DataAttributeFactory(name="plan")

    widget.ping(user={"custom_attributes": {f"junk_{n}": n for n in range(2)}})

    assert list(DataAttribute.objects.values_list("name", flat=True)) == ["plan"]
    signed = Widget(client, website).ping(user={"user_id": "u-1", "user_hash": user_hash(website, "u-1"),
                                                "custom_attributes": {"seats": 4}})  # fmt: skip
    assert signed.status_code == 200  # a valid hash counts as verified on any website
    contacts_services.data_attribute_create(name="region", data_type=DataAttribute.DataType.STRING)
    assert DataAttribute.objects.count() == 3


def test_the_cap_holds_for_verified_widget_input(client, enforced_website, settings):
    settings.PARLEY_MAX_CUSTOM_ATTRIBUTES = 1
    DataAttributeFactory(name="plan")
    verified = Widget(client, enforced_website)

    response = verified.ping(user={"user_id": "u-1", "user_hash": user_hash(enforced_website, "u-1"),
                                   "custom_attributes": {"seats": 4}})  # fmt: skip

    # The cap holds (no new definition); since issue 12 the attribute is dropped and reported, the rest applied.
    assert response.status_code == 200
    assert response.json()["ignored_custom_attributes"] == ["seats"]
    assert [w["field"] for w in response.json()["warnings"]] == ["user.custom_attributes.seats"]
    assert DataAttribute.objects.count() == 1


def test_every_page_view_sending_the_same_refused_attribute_repeats_its_warning(widget):
    DataAttributeFactory(name="seats", data_type=DataAttribute.DataType.INTEGER)
    user = {"custom_attributes": {"seats": "3"}}

    answers = [widget.ping(f"https://shop.example/{n}", user=user).json() for n in range(3)]

    assert [[w["field"] for w in answer["warnings"]] for answer in answers] == [["user.custom_attributes.seats"]] * 3
    assert all('custom attribute "seats" not applied' in answer["warnings"][0]["message"] for answer in answers)
    assert "warnings" not in widget.ping("https://shop.example/4").json()  # a page that sends no attributes
