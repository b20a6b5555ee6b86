"""api_search_1m_vs_1k: REST API contact search time at 1,000,000 contacts divided by the time at 1,000.

Each size is built on its own PostgreSQL database with server-side SQL (70% anonymous visitors, 10%
leads, 20% users, as a real workspace), analysed, then the same Intercom-style searches on indexed
filters (email, external_id, name prefix, role, dates, a custom attribute, a tag, and the second page
of a role search through its cursor) go through the full API stack (auth, rate limit, view,
serializer); the figure is the ratio of the summed medians.
"""

import json
import subprocess
import sys
import time

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
    '', '',
    CASE WHEN g %% 10 >= 8 THEN now() - (g %% 700) * interval '1 day' END,
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
            "WHERE c.id % 5 = 0 AND c.role <> 'visitor'"
        )
        cursor.execute("ANALYZE")


def _searches(size: int) -> list[dict]:
    from contacts.models import Tag

    # A person near the middle of the table, so both sizes look up an existing row.
    g = (size // 2) // 10 * 10 + 9
    month_ago = int(time.time()) - 30 * 86400
    vip = str(Tag.objects.get(name="vip").pk)

    def single(field: str, operator: str, value: object) -> dict:
        return {"query": {"field": field, "operator": operator, "value": value}, "pagination": {"per_page": 50}}

    return [
        single("email", "=", f"person{g}@example.com"),
        single("external_id", "=", f"user-{g}"),
        single("name", "^", f"edsger {g}"),
        single("role", "=", "user"),
        single("created_at", ">", month_ago),
        single("custom_attributes.plan", "=", "pro"),
        single("tag_id", "=", vip),
        {
            "query": {
                "operator": "AND",
                "value": [
                    {"field": "role", "operator": "=", "value": "user"},
                    {"field": "signed_up_at", "operator": ">", "value": month_ago},
                ],
            },
            "pagination": {"per_page": 50},
        },
    ]


def _time_searches(client, size: int) -> float:
    total = 0.0
    searches = _searches(size)
    first_page = client.post("/api/contacts/search", json.dumps(searches[3]), content_type="application/json").json()
    second_page = {
        **searches[3],
        "pagination": {"per_page": 50, "starting_after": first_page["pages"]["next"]["starting_after"]},
    }
    for body in [*searches, second_page]:
        payload = json.dumps(body)

        def search(payload: str = payload) -> None:
            response = client.post("/api/contacts/search", payload, content_type="application/json")
            assert response.status_code == 200, (payload, response.status_code, response.content[:300])

        total += median_seconds(search, repeat=7, warmup=2)
    return total


def _measure_in_subprocess(size: int, name: str) -> float:
    """Build and time one size in its own process, on its own database."""
    output = subprocess.run(
        [sys.executable, "-m", "bench.api_search", str(size), name],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    small = _measure_in_subprocess(SIZES["small"], "parley_bench_api_small")
    large = _measure_in_subprocess(QUICK_LARGE if quick else SIZES["large"], "parley_bench_api_large")
    return {"api_search_1m_vs_1k": large / small}


def _main(size: int, name: str) -> None:
    setup_django(fresh_postgres(name))
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from api.services import api_token_create

    settings.PARLEY_API_RATE_LIMIT_PER_MINUTE = 1_000_000
    _build(size)
    teammate = get_user_model().objects.create_user("bench", "bench@example.com", "x", is_staff=True)
    _token, raw = api_token_create(user=teammate)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    print(_time_searches(client, size))


if __name__ == "__main__":
    _main(int(sys.argv[1]), sys.argv[2])
