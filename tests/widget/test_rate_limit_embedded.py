"""The embedded mode's rate limits hold while new visitors fill its file cache (attack review: the cache's culling, past
its 300 entries, threw the counters away at random, and 600 first visits from one address in 13 s were all taken)."""

import json
from collections import Counter

import pytest

from tests.tracking.factories import ORIGIN

pytestmark = pytest.mark.django_db
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


@pytest.fixture
def small_file_cache(settings, tmp_path):
    """The embedded caches (config/settings.py), the default one made small enough to cull within a few visits."""
    file_cache = "django.core.cache.backends.filebased.FileBasedCache"
    settings.CACHES = {
        "default": {"BACKEND": file_cache, "LOCATION": str(tmp_path / "cache"), "OPTIONS": {"MAX_ENTRIES": 6}},
        "rate_limits": {"BACKEND": file_cache, "LOCATION": str(tmp_path / "rate-limits")},
    }
    settings.PARLEY_WIDGET_RATE_PER_IP = 12
    settings.PARLEY_PAGE_VIEW_BUFFER_URL = ""


def test_first_visits_from_one_address_are_refused_past_the_limit_while_the_cache_culls(
    client, website, small_file_cache
):
    statuses = Counter()
    for index in range(20):
        body = json.dumps({"page": {"url": f"{ORIGIN}/p/{index}"}})
        answer = client.post(f"/widget-api/{website.app_id}/ping", body, content_type="text/plain",
                             HTTP_ORIGIN=ORIGIN, HTTP_USER_AGENT=BROWSER, REMOTE_ADDR="203.0.113.9")  # fmt: skip
        statuses[answer.status_code] += 1
    assert statuses == {200: 12, 429: 8}
