import factory

from companies.models import Company


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    company_id = factory.Sequence(lambda n: f"co-{n}")
    name = factory.Sequence(lambda n: f"Company {n}")
    plan = "pro"
