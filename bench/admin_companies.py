"""admin_companies_100k_vs_1k: companies admin page time at 100,000 companies (1,000,000 contacts)
divided by the time at 1,000 companies (10,000 contacts).

Both databases are built on the local PostgreSQL with server-side SQL: the contact base of
bench.datasets (ten contacts per company), every lead and user a member of one company, a tenth of
them of a second one, tags on a fifth of the companies, then analysed. The same agent pages (the
list, its plan, tag, size and last-request filters, a search, a deep page, a company's page) are
timed on each in the same run.
"""

import sys

from bench.common import large_vs_small, time_admin_pages
from bench.datasets import build_contacts

SIZES = {"small": 1_000, "large": 100_000}
QUICK_LARGE = 10_000
CONTACTS_PER_COMPANY = 10

INSERT_COMPANIES = """
INSERT INTO companies_company (company_id, name, plan, size, website, industry, monthly_spend, remote_created_at,
    custom_attributes, user_count, session_count, last_request_at, created_at, updated_at)
SELECT 'co-' || g, (ARRAY['Acme','Globex','Initech','Umbrella','Hooli'])[1 + g %% 5] || ' ' || g,
    (ARRAY['free','pro','enterprise'])[1 + g %% 3], 1 + (g * 7919) %% 5000, 'https://co' || g || '.example',
    (ARRAY['Retail','Software','Health'])[1 + g %% 3], (g * 31) %% 10000, now() - (g %% 900) * interval '1 day',
    jsonb_build_object('region', (ARRAY['EU','US','APAC'])[1 + g %% 3]), 0, 0,
    CASE WHEN g %% 20 = 0 THEN NULL ELSE now() - (g %% 400) * interval '1 day' END, now(), now()
FROM generate_series(1, %s) AS g
"""
# Every lead and user joins one company (and a tenth of them a second one); counts follow from the rows.
INSERT_MEMBERSHIPS = """
INSERT INTO companies_companycontact (company_id, contact_id, created_at)
SELECT (SELECT min(id) FROM companies_company) + c.id %% %(n)s, c.id, now()
FROM contacts_contact c WHERE c.role <> 'visitor'
UNION ALL
SELECT (SELECT min(id) FROM companies_company) + (c.id + 7) %% %(n)s, c.id, now()
FROM contacts_contact c WHERE c.role <> 'visitor' AND c.id %% 10 = 0
"""
COUNTS = """
UPDATE companies_company co SET user_count = m.n, session_count = m.n * 3
FROM (SELECT company_id, count(*) n FROM companies_companycontact GROUP BY company_id) m WHERE m.company_id = co.id
"""


def build_companies(size: int) -> None:
    """`size` companies over `size * 10` contacts, with memberships, counts and tags."""
    from django.db import connection

    from contacts.models import DataAttribute

    build_contacts(size * CONTACTS_PER_COMPANY)
    DataAttribute.objects.create(model="company", name="region", data_type="string", options=["EU", "US", "APAC"])
    with connection.cursor() as cursor:
        cursor.execute(INSERT_COMPANIES, [size])
        cursor.execute(INSERT_MEMBERSHIPS, {"n": size})
        cursor.execute(COUNTS)
        cursor.execute(
            "INSERT INTO companies_companytag (company_id, tag_id, tagged_at) "
            "SELECT c.id, t.id, now() FROM companies_company c JOIN contacts_tag t ON c.id % 25 = t.id % 5 "
            "WHERE c.id % 5 = 0"
        )
        cursor.execute("ANALYZE")


def _agent_pages() -> list[str]:
    from companies.models import Company
    from contacts.models import Tag

    tag = Tag.objects.get(name="vip")
    company = Company.objects.order_by("-user_count", "pk").first()
    base = "/admin/companies/company/"
    return [
        base,
        f"{base}?plan=pro",
        f"{base}?tag={tag.pk}",
        f"{base}?size=51-200",
        f"{base}?request=7d",
        f"{base}?q=Globex+77",
        f"{base}?q=co-777",
        f"{base}?p=5",
        f"{base}{company.pk}/change/",
    ]


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    large = QUICK_LARGE if quick else SIZES["large"]
    ratio = large_vs_small(
        "bench.admin_companies", small=SIZES["small"], large=large, database_prefix="parley_bench_companies"
    )
    return {"admin_companies_100k_vs_1k": ratio}


if __name__ == "__main__":
    time_admin_pages(size=int(sys.argv[1]), database=sys.argv[2], build=build_companies, pages=_agent_pages)
