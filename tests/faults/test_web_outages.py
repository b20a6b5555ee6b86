"""Redis or PostgreSQL down under load: no 500s, 503s only where nothing can answer, recovery by itself."""

import itertools
import uuid

import pytest
import redis
from django.conf import settings as django_settings

from api.services import api_token_create
from tests.faults.support import Answer, RedisServer, TcpProxy, WebServer, steady_load, wait_until
from tracking.models import PageView
from tracking.page_view_buffer import page_views_flush
from tracking.services import website_create

ORIGIN = "https://shop.example"
# A browser's user agent: a request without one is answered as a bot's (no contact is created).
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
WIDGET_HEADERS = {"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN, "User-Agent": BROWSER}
REQUESTS_PER_PHASE = 40


class Visitor:
    """One browser's widget against the real server: a returning visitor's pings and polls."""

    _numbers = itertools.count()

    def __init__(self, web: WebServer, app_id: str) -> None:
        self.web, self.app_id = web, app_id
        self.anonymous_id: str | None = None
        self.token: str | None = None
        self.number = next(self._numbers)
        self.pages = itertools.count()

    def ping(self, phase: str) -> Answer:
        # The URL names the phase, so the test can count the page views each phase wrote.
        page = {"url": f"{ORIGIN}/p/{self.number}/{next(self.pages)}?phase={phase}", "title": "Product"}
        body = {"page": page, "anonymous_id": self.anonymous_id, "token": self.token}
        answer = self.web.request("POST", f"/widget-api/{self.app_id}/ping", body, WIDGET_HEADERS)
        if answer.status == 200:
            self.anonymous_id, self.token = answer.json()["anonymous_id"], answer.json()["token"]
        return answer

    def poll(self, phase: str) -> Answer:
        return self.web.request(
            "GET",
            f"/widget-api/{self.app_id}/poll?token={self.token}",
            headers={"Origin": ORIGIN, "User-Agent": BROWSER},
        )


def _api_call(web: WebServer, token: str) -> Answer:
    return web.request(
        "GET", "/api/contacts", headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )


def _pages_of(phase: str) -> int:
    return PageView.objects.filter(url__endswith=f"?phase={phase}").count()


def _assert_service_unavailable_shape(load) -> None:
    """Every 503 says when to come back, in its API's JSON error shape."""
    for (_, name, status), answer in load.samples.items():
        if status != 503:
            continue
        assert answer.headers.get("Retry-After", "").isdigit(), (name, answer.headers)
        body = answer.json()
        if name == "api":
            assert body["type"] == "error.list"
            assert body["errors"][0]["code"] == "service_unavailable"
        else:
            assert body["error"]["code"] == "service_unavailable"


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_a_redis_outage_under_load_serves_everything_without_redis_and_recovers(redis_server, superuser, settings):
    website = website_create(name="Shop", allowed_origins=[ORIGIN])
    _, api_token = api_token_create(user=superuser, name="faults")
    buffer_key = f"parley:fault-page-views:{uuid.uuid4().hex}"
    web = WebServer(
        extra_env={
            "CACHE_URL": redis_server.url(0),
            "PARLEY_PAGE_VIEW_BUFFER_URL": redis_server.url(1),
            "PARLEY_PAGE_VIEW_BUFFER_KEY": buffer_key,
            # One Redis for everything, as small deployments run it: the broker goes down too.
            "CELERY_BROKER_URL": redis_server.url(2),
        }
    )
    buffer = redis.Redis.from_url(redis_server.url(1))
    settings.PARLEY_PAGE_VIEW_BUFFER_URL, settings.PARLEY_PAGE_VIEW_BUFFER_KEY = redis_server.url(1), buffer_key
    try:

        def calls():
            visitor = Visitor(web, website.app_id)
            return {"ping": visitor.ping, "poll": visitor.poll, "api": lambda phase: _api_call(web, api_token)}

        with steady_load(calls) as load:
            load.wait_for("up", REQUESTS_PER_PHASE, name="ping")
            # The visitors' first visits written, as a worker (none runs here) would have by now: a poll for a
            # first visit the kill loses finds no contact, rightly (that loss, a second's queue without an
            # append-only file, is documented). Their later page views are queued again before the kill.
            page_views_flush()
            wait_until(lambda: buffer.xlen(buffer_key) > 0, what="returning visitors' page views queued in Redis")
            redis_server.stop()
            load.phase = "down"
            load.wait_for("down", REQUESTS_PER_PHASE, name="ping")
            redis_server.start()
            load.phase = "back"
            # The buffer takes page views again, without a restart of the web server.
            wait_until(lambda: buffer.xlen(buffer_key) > 0, what="page views queued in the restarted Redis")
            load.wait_for("back", REQUESTS_PER_PHASE, name="ping")
    finally:
        web.stop()

    assert load.statuses_seen() == {200}, (load.statuses, load.samples)
    # Down: each ping wrote its page view in its own request, once (one still on its way when Redis came back may
    # have queued it there: counted after the flush). Back: queued or written, once.
    page_views_flush()  # this process's connection predates the restart: the client reconnects by itself
    assert _pages_of("down") == load.count("down", name="ping")
    assert _pages_of("back") == load.count("back", name="ping")
    assert "Traceback" not in "\n".join(web.log_lines)


@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_postgresql_unreachable_under_load_answers_503_and_recovers(superuser):
    db = django_settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://…)")
    website = website_create(name="Shop", allowed_origins=[ORIGIN])
    _, api_token = api_token_create(user=superuser, name="faults")
    proxy = TcpProxy((db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)))
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    web = WebServer(extra_env={"DATABASE_URL": f"postgres://{user}{password}@127.0.0.1:{proxy.port}/{db['NAME']}"})
    try:

        def calls():
            returning, new = Visitor(web, website.app_id), Visitor(web, website.app_id)

            def new_visitor(phase: str) -> Answer:
                new.anonymous_id = new.token = None
                return new.ping(phase)

            return {
                "ping": returning.ping,
                "new_visitor": new_visitor,
                "poll": returning.poll,
                "api": lambda phase: _api_call(web, api_token),
            }

        with steady_load(calls) as load:
            load.wait_for("up", REQUESTS_PER_PHASE, name="api")
            proxy.cut()
            load.phase = "down"
            load.wait_for("down", REQUESTS_PER_PHASE, name="api")
            proxy.restore()
            load.phase = "back"
            for name in ("ping", "new_visitor", "poll", "api"):
                load.wait_for("back", REQUESTS_PER_PHASE, name=name, status=200)
    finally:
        web.stop()
        proxy.close()

    # (A call under way when the connection was cut counts under "up": it may be a 503 too.)
    assert load.statuses_seen() <= {200, 503}, (load.statuses, load.samples)
    for name in ("api", "new_visitor", "poll"):  # they need the database
        assert load.count("down", name=name, status=503) > 0, name
    # A returning visitor's page view is queued in Redis: the widget keeps tracking without PostgreSQL.
    assert load.count("down", name="ping", status=200) > 0
    _assert_service_unavailable_shape(load)
    log = "\n".join(web.log_lines)
    assert "Traceback" not in log and "Internal Server Error" not in log, log[-3000:]
    assert log.count("answering 503") < load.count("down") / 4  # a line every few seconds, not per request
