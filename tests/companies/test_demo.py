import pytest
from django.core.management import call_command

from companies.models import Company, CompanyContact
from contacts.models import Contact

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_a_few_companies_with_their_members_and_counts():
    call_command("seed_demo", contacts=200, seed=3, stdout=None)
    users = Contact.objects.filter(role=Contact.Role.USER).count()
    assert 3 <= Company.objects.count() <= 10
    assert CompanyContact.objects.count() == users > 0
    for company in Company.objects.all():
        assert company.user_count == CompanyContact.objects.filter(company=company).count()
    assert Company.objects.filter(user_count__gt=0, last_request_at__isnull=False).exists()
    call_command("seed_demo", contacts=50, seed=4, stdout=None)  # seeding again adds members, not companies
    assert CompanyContact.objects.count() == Contact.objects.filter(role=Contact.Role.USER).count()
