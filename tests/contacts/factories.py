import factory
from django.utils import timezone

from contacts.models import Contact, DataAttribute, Tag


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    role = Contact.Role.VISITOR
    last_seen_at = factory.LazyFunction(timezone.now)
    first_seen_at = factory.LazyFunction(timezone.now)
    # As a teammate or the API makes one: its address shown to be its own, unless a messenger made it (first_website).
    email_verified_at = factory.LazyAttribute(
        lambda contact: (
            timezone.now() if getattr(contact, "email", "") and not getattr(contact, "first_website_id", None) else None
        )
    )


class LeadFactory(ContactFactory):
    role = Contact.Role.LEAD
    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"lead{n}@example.com")


class UserContactFactory(ContactFactory):
    role = Contact.Role.USER
    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    external_id = factory.Sequence(lambda n: f"user-{n}")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"tag {n}")


class DataAttributeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataAttribute

    name = factory.Sequence(lambda n: f"attr_{n}")
    data_type = DataAttribute.DataType.STRING
