"""admin_contacts_1m_vs_1k: contact admin page time at 1,000,000 contacts divided by the time at 1,000.

Both databases are built on the local PostgreSQL with server-side SQL (attributes drawn
independently of each other, as in real data), analysed, then the same set of agent pages (list,
filters, a search for one person, a profile) is timed on each in the same run.
"""

import subprocess
import sys

from bench.common import ROOT, fresh_postgres, median_seconds, setup_django

SIZES = {"small": 1_000, "large": 1_000_000}
QUICK_LARGE = 100_000
TAGS = ("vip", "beta", "churn risk", "enterprise", "newsletter")

INSERT_CONTACTS = """
INSERT INTO contacts_contact (
    role, external_id, anonymous_id, name, email, phone, avatar, signed_up_at, first_seen_at, last_seen_at,
    web_sessions_count, city, country, country_name, os, browser, browser_version, browser_language,
    language_override, last_contacted_at, last_replied_at, last_email_opened_at, last_email_clicked_at,
    unsubscribed_from_emails, custom_attributes, is_archived, created_at, updated_at)
SELECT
    CASE WHEN g %% 10 < 7 THEN 'visitor' WHEN g %% 10 = 7 THEN 'lead' ELSE 'user' END,
    CASE WHEN g %% 10 >= 8 THEN 'user-' || g END,
    md5(g::text)::uuid,
    CASE WHEN g %% 10 >= 7 THEN (ARRAY['Ada','Grace','Alan','Linus','Edsger'])[1 + g %% 5] || ' ' || g ELSE '' END,
    CASE WHEN g %% 10 >= 7 THEN 'person' || g || '@example.com' ELSE '' END,
    '', '', NULL,
    now() - (g %% 400) * interval '1 day' - interval '3 day',
    now() - (g %% 400) * interval '1 day',
    1 + g %% 30,
    (ARRAY['Paris','Berlin','London','Tokyo','Lagos'])[1 + (g / 7) %% 5],
    (ARRAY['FR','DE','GB','JP','NG'])[1 + (g / 7) %% 5],
    (ARRAY['France','Germany','United Kingdom','Japan','Nigeria'])[1 + (g / 7) %% 5],
    'Mac OS X', 'Chrome', '131.0', 'en-US', '', NULL, NULL, NULL, NULL,
    g %% 50 = 0,
    CASE WHEN g %% 10 >= 8 THEN jsonb_build_object('plan', (ARRAY['free','pro','enterprise'])[1 + g %% 3], 'trial', g %% 4 = 0)
         ELSE '{}'::jsonb END,
    false, now() - (g %% 500) * interval '1 day', now()
FROM generate_series(1, %s) AS g
"""


def _build(size: int) -> None:
    from django.db import connection

    from contacts.models import DataAttribute, Tag

    with connection.cursor() as cursor:
        cursor.execute(INSERT_CONTACTS, [size])
    for name in TAGS:
        Tag.objects.create(name=name)
    DataAttribute.objects.create(name="plan", data_type="string", options=["free", "pro", "enterprise"])
    DataAttribute.objects.create(name="trial", data_type="boolean")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contacttag (contact_id, tag_id, tagged_at) "
            "SELECT c.id, t.id, now() FROM contacts_contact c JOIN contacts_tag t ON c.id % 25 = t.id % 5 "
            "WHERE c.id % 5 = 0"
        )
        cursor.execute("ANALYZE")


def _agent_pages() -> list[str]:
    from contacts.models import Contact, Tag

    tag = Tag.objects.get(name="vip")
    contact = Contact.objects.filter(role="user").order_by("-last_seen_at").first()
    base = "/admin/contacts/contact/"
    return [
        base,
        f"{base}?role__exact=user",
        f"{base}?tag={tag.pk}",
        f"{base}?seen=7d",
        f"{base}?country=FR&role__exact=lead",
        f"{base}?ca__plan=pro",
        f"{base}?q=person777%40",
        f"{base}?p=5",
        f"{base}{contact.pk}/change/",
    ]


def _time_pages(client) -> float:
    total = 0.0
    for url in _agent_pages():

        def fetch(url: str = url) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        total += median_seconds(fetch, repeat=5, warmup=2)
    return total


def _measure_in_subprocess(size: int, name: str) -> float:
    """Build and time one size in its own process, on its own database."""
    output = subprocess.run(
        [sys.executable, "-m", "bench.admin_contacts", str(size), name],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    small = _measure_in_subprocess(SIZES["small"], "parley_bench_admin_small")
    large = _measure_in_subprocess(QUICK_LARGE if quick else SIZES["large"], "parley_bench_admin_large")
    return {"admin_contacts_1m_vs_1k": large / small}


def _main(size: int, name: str) -> None:
    setup_django(fresh_postgres(name))
    from django.contrib.auth import get_user_model
    from django.test import Client

    _build(size)
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("bench", "bench@example.com", "x"))
    print(_time_pages(client))


if __name__ == "__main__":
    _main(int(sys.argv[1]), sys.argv[2])
