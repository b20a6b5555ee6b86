import factory
from django.contrib.auth import get_user_model


class TeammateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"teammate{n}")
    first_name = factory.Sequence(lambda n: f"Sam{n}")
    email = factory.Sequence(lambda n: f"teammate{n}@parley.test")
    is_staff = True
    is_active = True
