"""Demo companies for `seed_demo`: a few customers, each of the demo users a member of one (bulk inserts)."""

import random

from django.db.models import Count, IntegerField, Max, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from companies.models import Company, CompanyContact
from contacts.models import Contact

DEMO_COMPANIES = [
    ("acme", "Acme Rockets", "enterprise", 1200, "Aerospace", 4900),
    ("globex", "Globex", "pro", 350, "Energy", 990),
    ("initech", "Initech", "pro", 80, "Software", 490),
    ("umbrella", "Umbrella Health", "enterprise", 5000, "Health", 12000),
    ("hooli", "Hooli", "free", 25, "Software", 0),
    ("stark", "Stark Industries", "enterprise", 9000, "Manufacturing", 25000),
]
BATCH_SIZE = 5000


def seed_for_contacts(*, contact_ids: list[int], rng: random.Random) -> None:
    """The demo companies (created once), every demo user a member of one, and the counts that follow."""
    now = timezone.now()
    companies = []
    for company_id, name, plan, size, industry, spend in DEMO_COMPANIES:
        company, _ = Company.objects.get_or_create(
            company_id=company_id,
            defaults={"name": name, "plan": plan, "size": size, "industry": industry, "monthly_spend": spend,
                      "website": f"https://{company_id}.example", "remote_created_at": now},
        )  # fmt: skip
        companies.append(company)
    users = list(Contact.objects.filter(pk__in=contact_ids, role=Contact.Role.USER).values_list("pk", flat=True))
    memberships = [CompanyContact(company=rng.choice(companies), contact_id=pk) for pk in users]
    CompanyContact.objects.bulk_create(memberships, ignore_conflicts=True, batch_size=BATCH_SIZE)
    members = (
        Contact.objects.filter(company_memberships__company=OuterRef("pk"))
        .order_by()
        .values("company_memberships__company")
    )
    Company.objects.filter(pk__in=[c.pk for c in companies]).update(
        user_count=Coalesce(Subquery(members.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0),
        session_count=Coalesce(
            Subquery(members.annotate(n=Sum("web_sessions_count")).values("n"), output_field=IntegerField()), 0
        ),
        last_request_at=Subquery(members.annotate(at=Max("last_seen_at")).values("at")),
    )
