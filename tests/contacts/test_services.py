import datetime as dt

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from contacts import lifecycle, services
from contacts.models import Contact, ContactTag, DataAttribute, PrivacyAuditEntry, Tag
from tests.contacts.factories import ContactFactory, DataAttributeFactory, LeadFactory, TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db


def test_user_needs_external_id_or_email():
    with pytest.raises(ValidationError) as error:
        services.contact_create(role="user", name="Nobody")
    assert "external_id" in error.value.message_dict


def test_user_email_is_unique_case_insensitively_among_users_only():
    services.contact_create(role="user", email="Ada@Example.com")
    with pytest.raises(ValidationError) as error:
        services.contact_create(role="user", email="ada@example.COM")
    assert "email" in error.value.message_dict
    lead = services.contact_create(role="lead", email="ada@example.com")
    assert lead.pk


def test_external_id_is_unique():
    services.contact_create(role="user", external_id="42")
    with pytest.raises(ValidationError) as error:
        services.contact_create(role="user", external_id="42")
    assert "external_id" in error.value.message_dict


def test_a_taken_identity_is_a_typed_error_naming_the_contact_that_holds_it():
    holder = services.contact_create(role="user", external_id="42", email="ada@example.com")
    with pytest.raises(services.ContactIdentityTaken) as by_external_id:
        services.contact_create(role="lead", external_id=" 42 ")
    assert (by_external_id.value.field, by_external_id.value.contact_pk) == ("external_id", holder.pk)
    lead = services.contact_create(role="lead", email="ADA@example.com")
    with pytest.raises(services.ContactIdentityTaken) as by_email:
        services.contact_convert(contact=lead, role=Contact.Role.USER)
    assert (by_email.value.field, by_email.value.contact_pk) == ("email", holder.pk)
    assert Contact.objects.get(pk=lead.pk).role == Contact.Role.LEAD


def test_a_taken_tag_or_attribute_name_is_a_typed_error():
    TagFactory(name="vip")
    with pytest.raises(services.AlreadyExists) as tag_error:
        services.tag_rename(tag=TagFactory(name="other"), name="VIP")
    assert tag_error.value.field == "name"
    DataAttributeFactory(name="plan", model=DataAttribute.Model.CONTACT)
    with pytest.raises(services.AlreadyExists) as attribute_error:
        services.data_attribute_create(name="plan", data_type="string", model=DataAttribute.Model.CONTACT)
    assert attribute_error.value.message_dict == {"name": ["An attribute with this name already exists."]}


def test_tracked_fields_cannot_be_written_through_update():
    contact = ContactFactory()
    with pytest.raises(ValidationError) as error:
        services.contact_update(contact=contact, web_sessions_count=99)
    assert "web_sessions_count" in error.value.message_dict


def test_invalid_email_is_refused():
    with pytest.raises(ValidationError) as error:
        services.contact_create(role="lead", email="not-an-email")
    assert error.value.message_dict["email"] == ["Enter a valid email address."]


def test_custom_attributes_are_typed_by_their_definition():
    DataAttributeFactory(name="seats", data_type=DataAttribute.DataType.INTEGER)
    contact = ContactFactory()
    with pytest.raises(ValidationError) as error:
        services.contact_update(contact=contact, custom_attributes={"seats": "many"})
    assert error.value.message_dict == {"custom_attributes.seats": ["Value must be an integer."]}
    services.contact_update(contact=contact, custom_attributes={"seats": 12})
    contact.refresh_from_db()
    assert contact.custom_attributes == {"seats": 12}


def test_unknown_custom_attribute_is_created_with_inferred_type_when_allowed(settings):
    settings.PARLEY_AUTO_CREATE_CUSTOM_ATTRIBUTES = True
    contact = ContactFactory()
    services.contact_update(contact=contact, custom_attributes={"plan": "pro", "paid": True})
    types = dict(DataAttribute.objects.values_list("name", "data_type"))
    assert types == {"plan": "string", "paid": "boolean"}


def test_unknown_custom_attribute_is_refused_when_creation_is_off(settings):
    settings.PARLEY_AUTO_CREATE_CUSTOM_ATTRIBUTES = False
    with pytest.raises(ValidationError) as error:
        services.contact_update(contact=ContactFactory(), custom_attributes={"plan": "pro"})
    assert "custom_attributes.plan" in error.value.message_dict
    assert not DataAttribute.objects.exists()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"a.b": "x"}, "custom_attributes.a.b"),
        ({"$x": "x"}, "custom_attributes.$x"),
        ({"nested": {"a": 1}}, "custom_attributes.nested"),
        ({"long": "x" * 256}, "custom_attributes.long"),
        ({"items": [1, 2]}, "custom_attributes.items"),
    ],
)
def test_bad_custom_attributes_get_an_error_naming_them(values, field):
    with pytest.raises(ValidationError) as error:
        services.contact_update(contact=ContactFactory(), custom_attributes=values)
    assert field in error.value.message_dict


def test_at_most_250_custom_attributes(settings):
    settings.PARLEY_MAX_CUSTOM_ATTRIBUTES = 3
    contact = ContactFactory()
    services.contact_update(contact=contact, custom_attributes={"a": "1", "b": "2", "c": "3"})
    with pytest.raises(ValidationError):
        services.contact_update(contact=contact, custom_attributes={"d": "4"})


def test_none_removes_a_custom_attribute():
    contact = ContactFactory()
    services.contact_update(contact=contact, custom_attributes={"plan": "pro", "seats": 3})
    services.contact_update(contact=contact, custom_attributes={"plan": None})
    contact.refresh_from_db()
    assert contact.custom_attributes == {"seats": 3}


def test_archived_attribute_cannot_be_written():
    DataAttributeFactory(name="old", archived=True)
    with pytest.raises(ValidationError) as error:
        services.contact_update(contact=ContactFactory(), custom_attributes={"old": "x"})
    assert "archived" in error.value.message_dict["custom_attributes.old"][0]


def test_date_attribute_accepts_unix_seconds_and_iso():
    DataAttributeFactory(name="renewal", data_type=DataAttribute.DataType.DATE)
    contact = ContactFactory()
    services.contact_update(contact=contact, custom_attributes={"renewal": 1_700_000_000})
    assert contact.custom_attributes["renewal"] == "2023-11-14"
    services.contact_update(contact=contact, custom_attributes={"renewal": "2024-02-29"})
    assert contact.custom_attributes["renewal"] == "2024-02-29"


def test_options_restrict_values():
    DataAttributeFactory(name="plan", options=["free", "pro"])
    with pytest.raises(ValidationError):
        services.contact_update(contact=ContactFactory(), custom_attributes={"plan": "gold"})


def test_convert_visitor_to_lead_to_user_and_never_back():
    contact = ContactFactory()
    services.contact_convert(contact=contact, role="lead")
    services.contact_convert(contact=contact, role="user", external_id="u-1")
    contact.refresh_from_db()
    assert (contact.role, contact.external_id) == ("user", "u-1")
    with pytest.raises(ValidationError):
        services.contact_convert(contact=contact, role="lead")


def test_convert_to_user_refuses_an_email_taken_by_another_user():
    UserContactFactory(email="taken@example.com")
    lead = LeadFactory(email="taken@example.com")
    with pytest.raises(ValidationError) as error:
        services.contact_convert(contact=lead, role="user")
    assert "email" in error.value.message_dict
    lead.refresh_from_db()
    assert lead.role == "lead"


def test_merge_moves_tags_and_keeps_earliest_and_latest_dates():
    now = timezone.now()
    vip, shared = TagFactory(name="vip"), TagFactory(name="shared")
    lead = LeadFactory(first_seen_at=now - dt.timedelta(days=30), last_seen_at=now, web_sessions_count=3,
                       city="Paris", custom_attributes={"plan": "pro", "seats": 1})  # fmt: skip
    user = UserContactFactory(first_seen_at=now - dt.timedelta(days=2), last_seen_at=now - dt.timedelta(days=1),
                              web_sessions_count=2, custom_attributes={"seats": 5})  # fmt: skip
    services.contact_tag(contact=lead, tag=vip)
    services.contact_tag(contact=lead, tag=shared)
    services.contact_tag(contact=user, tag=shared)

    merged = services.contact_merge(source=lead, into=user)

    assert not Contact.objects.filter(pk=lead.pk).exists()
    merged.refresh_from_db()
    assert set(merged.tags.values_list("name", flat=True)) == {"vip", "shared"}
    assert ContactTag.objects.filter(contact=merged).count() == 2
    assert merged.first_seen_at == lead.first_seen_at
    assert merged.last_seen_at == lead.last_seen_at
    assert merged.web_sessions_count == 5
    assert merged.city == "Paris"
    assert merged.custom_attributes == {"plan": "pro", "seats": 5}


def test_merge_refuses_users_as_source_and_non_users_as_target():
    with pytest.raises(ValidationError):
        services.contact_merge(source=UserContactFactory(), into=UserContactFactory())
    with pytest.raises(ValidationError):
        services.contact_merge(source=ContactFactory(), into=LeadFactory())


def test_bulk_tag_and_untag_report_counts(teammate):
    tag = TagFactory()
    contacts = ContactFactory.create_batch(3)
    services.contact_tag(contact=contacts[0], tag=tag)
    assert services.contacts_tag_bulk(contact_ids=[c.pk for c in contacts], tag=tag, actor=teammate) == 2
    assert ContactTag.objects.filter(tag=tag).count() == 3
    assert services.contacts_untag_bulk(contact_ids=[contacts[0].pk, contacts[1].pk], tag=tag) == 2


def test_tag_names_are_unique_case_insensitively():
    first = services.tag_create(name="VIP")
    assert services.tag_create(name="vip") == first
    other = services.tag_create(name="other")
    with pytest.raises(ValidationError):
        services.tag_rename(tag=other, name="Vip")


def test_erase_deletes_contact_and_tag_links_and_audits_only_the_id(teammate):
    contact = LeadFactory(name="Secret Person", email="secret@example.com")
    services.contact_tag(contact=contact, tag=TagFactory())
    counts = services.contact_erase(contact=contact, actor=teammate, source="admin")
    assert counts["contacts.Contact"] == 1
    assert counts["contacts.ContactTag"] == 1
    assert not Contact.objects.exists()
    assert Tag.objects.count() == 1
    entry = PrivacyAuditEntry.objects.get()
    assert (entry.action, entry.contact_id, entry.actor) == ("erase", contact.pk, teammate)


def test_export_holds_profile_tags_and_is_audited(teammate):
    contact = UserContactFactory(name="Ada", custom_attributes={"plan": "pro"})
    services.contact_tag(contact=contact, tag=TagFactory(name="vip"))
    document = services.contact_export(contact=contact, actor=teammate, source="command")
    assert document["contact"]["name"] == "Ada"
    assert document["contact"]["custom_attributes"] == {"plan": "pro"}
    assert [t["name"] for t in document["tags"]] == ["vip"]
    assert PrivacyAuditEntry.objects.get().action == "export"


def test_export_holds_what_teammates_noted_about_the_person_without_the_author(teammate):
    contact = UserContactFactory(name="Ada")
    services.contact_note_create(contact=contact, author=teammate, body="Prefers phone calls")
    document = services.contact_export(contact=contact, actor=teammate, source="command")
    assert [note["body"] for note in document["notes"]] == ["Prefers phone calls"]
    assert "agent" not in str(document["notes"])


def test_every_model_that_reaches_a_contact_is_exported_or_excluded_with_a_reason():
    reaching = {
        model._meta.label
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is Contact
    }
    covered = lifecycle.export_covered_models()
    excluded = set(lifecycle.export_excluded_models())
    assert reaching - covered - excluded == set(), "export these rows, or list them in an app's not_exported"
    assert not covered & excluded
    assert all(reason.strip() for reason in lifecycle.export_excluded_models().values())


def test_data_attribute_options_are_checked_against_type():
    with pytest.raises(ValidationError) as error:
        services.data_attribute_create(name="seats", data_type="integer", options=["one"])
    assert "options" in error.value.message_dict
    attribute = services.data_attribute_create(name="seats", data_type="integer", options=[1, 5])
    assert attribute.options == [1, 5]


def test_a_tag_named_with_letters_beyond_ascii_is_found_again_whatever_the_database(db):
    """Schemathesis: a second POST /api/tags of ";Ç…" was a 500. Python's lower() folds "Ç" where SQLite's LOWER()
    does not, so the lookup missed the tag the case-insensitive unique index then found."""
    from contacts import services
    from contacts.models import Tag

    first = services.tag_create(name="Ça va \U000f3ee4")
    assert services.tag_create(name="Ça va \U000f3ee4") == first
    assert services.tag_create(name="ÇA VA \U000f3ee4") == first  # the ASCII letters' case, on either database
    assert Tag.objects.count() == 1
    other = services.tag_create(name="other")
    with pytest.raises(services.AlreadyExists):
        services.tag_rename(tag=other, name="Ça va \U000f3ee4")


def test_a_user_email_with_letters_beyond_ascii_is_found_again_whatever_the_database(db):
    """The same as tags, for users' emails: a second POST /api/contacts of "ann@Ça.example" was a 500 on SQLite."""
    from contacts.selectors import contact_find_by_email
    from tests.contacts.factories import UserContactFactory

    ann = UserContactFactory(email="ann@Ça.example")
    assert contact_find_by_email(email="ann@Ça.example") == ann
    assert contact_find_by_email(email="ANN@Ça.example") == ann
