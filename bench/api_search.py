"""api_search_1m_vs_1k: REST API contact search time at 1,000,000 contacts divided by the time at 1,000.

Each size is built on its own PostgreSQL database with server-side SQL (70% anonymous visitors, 10%
leads, 20% users, as a real workspace), analysed, then the same Intercom-style searches on indexed
filters (email, external_id, name prefix, role, dates, a custom attribute, a tag, and the second page
of a role search through its cursor) go through the full API stack (auth, rate limit, view,
serializer); the figure is the ratio of the summed medians.
"""

import json
import sys
import time

from bench.common import fresh_postgres, large_vs_small, median_seconds, setup_django
from bench.datasets import build_contacts

SIZES = {"small": 1_000, "large": 1_000_000}
QUICK_LARGE = 100_000


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


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    large = QUICK_LARGE if quick else SIZES["large"]
    ratio = large_vs_small("bench.api_search", small=SIZES["small"], large=large, database_prefix="parley_bench_api")
    return {"api_search_1m_vs_1k": ratio}


def _main(size: int, name: str) -> None:
    setup_django(fresh_postgres(name))
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from api.services import api_token_create

    settings.PARLEY_API_RATE_LIMIT_PER_MINUTE = 1_000_000
    build_contacts(size)
    teammate = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    _token, raw = api_token_create(user=teammate)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    print(_time_searches(client, size))


if __name__ == "__main__":
    _main(int(sys.argv[1]), sys.argv[2])
