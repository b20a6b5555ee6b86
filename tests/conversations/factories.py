import factory
from django.contrib.auth import get_user_model

from tracking.models import Website


class TeammateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"teammate{n}")
    first_name = factory.Sequence(lambda n: f"Sam{n}")
    email = factory.Sequence(lambda n: f"teammate{n}@parley.test")
    is_staff = True
    is_active = True


class WebsiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Website

    name = factory.Sequence(lambda n: f"Site {n}")
    allowed_origins = factory.LazyFunction(lambda: ["https://shop.example"])
