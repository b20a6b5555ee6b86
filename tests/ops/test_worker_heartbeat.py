"""The admin says so on every page when no Celery worker has been heard from (ops.worker_heartbeat)."""

import time

import pytest
from django.core.cache import cache

from ops.worker_heartbeat import SEEN_KEY, worker_heartbeat_start

NOTICE = 'id="parley-worker-silent"'


@pytest.fixture(autouse=True)
def _no_heartbeat():
    cache.delete(SEEN_KEY)
    yield
    cache.delete(SEEN_KEY)


@pytest.mark.parametrize(
    ("seen_ago", "warned"), [(None, False), (5, False), (100, False), (181, True), (3 * 3600, True)]
)
def test_every_admin_page_warns_once_no_worker_was_heard_from_for_the_setting(admin_client, seen_ago, warned):
    if seen_ago is not None:
        cache.set(SEEN_KEY, time.time() - seen_ago, None)
    for path in ("/admin/", "/admin/contacts/contact/", "/admin/conversations/conversation/"):
        page = admin_client.get(path).content.decode()
        assert (NOTICE in page) is warned, path
    if warned:
        assert f"for {round(seen_ago / 60)} minutes" in page


def test_the_login_page_says_nothing_of_it(client):
    cache.set(SEEN_KEY, time.time() - 3600, None)
    assert NOTICE not in client.get("/admin/login/").content.decode()


def test_a_worker_writes_its_heartbeat_once_ready(settings):
    settings.PARLEY_WORKER_LATE_SECONDS = 4  # every second
    stop = worker_heartbeat_start()
    try:
        deadline = time.monotonic() + 10
        while cache.get(SEEN_KEY) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first = cache.get(SEEN_KEY)
        assert first is not None and time.time() - first < 5
        while cache.get(SEEN_KEY) == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cache.get(SEEN_KEY) > first  # again and again
    finally:
        stop.set()
