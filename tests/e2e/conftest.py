"""Real-browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live server.

The customer's site is another origin of the same live server (`http://127.0.0.1:<port>/_host/…`,
pages written by each test, see tests/e2e/urls.py) while Parley answers at `http://localhost:<port>`:
the widget runs cross-origin with CORS, first-party cookies and the browser's real HTTP cache.
"""

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.urls import Resolver404, resolve

from conversations.models import Conversation
from conversations.services import conversation_start_by_contact
from tests.e2e.urls import HOST_PAGES
from tracking.selectors import website_cache_forget
from tracking.services import website_create

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are plain synchronous code, which Django would otherwise refuse next to a loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Chromium itself logs every failed network request to the console ("Failed to load resource: …").
# No page script can prevent that line, so it is not counted as an error of the widget; uncaught
# exceptions, rejected promises and console.error/warn calls from any script are.
BROWSER_NETWORK_LOG = "Failed to load resource"
# And every request whose answer it hides from the page for want of CORS headers (a refused origin).
BROWSER_CORS_LOG = "has been blocked by CORS policy"


def endpoint_routed(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def needs_endpoints(*names: str):
    """Skip only while another app's widget endpoint is not routed yet; runs as soon as it is."""
    missing = [name for name in names if not endpoint_routed(f"/widget-api/x/{name}")]
    return pytest.mark.skipif(bool(missing), reason=f"widget endpoint(s) not routed yet: {', '.join(missing)}")


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (CI's .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


# The messenger's panel fades in (opacity) when it opens: settled when absent, hidden or fully shown.
PANEL_SETTLED = """() => {
  const host = document.querySelector('parley-messenger');
  const panel = host && host.shadowRoot && host.shadowRoot.querySelector('.p');
  return !panel || panel.hidden || getComputedStyle(panel).opacity === '1';
}"""


class HostSite:
    """A customer's site on its own origin, with one browser profile visiting it."""

    def __init__(self, browser, parley_url: str, *, locale: str = "en-US", timezone_id: str | None = None) -> None:
        port = urlsplit(parley_url).port
        self.parley = parley_url.rstrip("/")
        self.origin = f"http://127.0.0.1:{port}"
        self.context = browser.new_context(
            locale=locale, timezone_id=timezone_id, viewport={"width": 1280, "height": 760}
        )
        self.page = self.context.new_page()
        self.pages = HOST_PAGES
        self.pages.clear()
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        self.page.on("console", self._console)
        self.page.on("request", lambda request: self.requests.append(f"{request.method} {request.url}"))

    def _console(self, message) -> None:
        if message.type in ("error", "warning") and not message.text.startswith(BROWSER_NETWORK_LOG):
            self.problems.append(f"console.{message.type}: {message.text}")

    def add_page(self, path: str, body_html: str, *, head: str = "") -> str:
        self.pages[path] = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>'
            f'<link rel="icon" href="data:,">{head}</head><body><h1>Shop</h1>{body_html}</body></html>'
        )
        return f"{self.origin}/_host{path}"

    def snippet_page(
        self, path: str, app_id: str, settings: dict | None = None, *, extra: str = "", head: str = "", body: str = ""
    ) -> str:
        """A page with Parley's documented snippet (settings + queue stub + async script)."""
        settings = {"app_id": app_id, **(settings or {})}
        script = (
            f"<script>window.parleySettings = {json.dumps(settings)};"
            "(function(w,d){var p=function(){p.q.push(arguments)};p.q=[];w.Parley=w.Parley||p;"
            "var s=d.createElement('script');s.async=1;"
            f"s.src='{self.parley}/widget/{app_id}';d.head.appendChild(s)}})(window,document);{extra}</script>"
        )
        return self.add_page(path, body + script, head=head)

    def launcher(self):
        return self.page.locator("parley-messenger button.l")

    def panel(self):
        return self.page.locator("parley-messenger .p")

    def write(self, text: str) -> None:
        """The visitor sends a message in the open panel and waits until the server has it (the
        composer becomes a reply box once the conversation exists)."""
        from playwright.sync_api import expect

        self.page.locator("parley-messenger textarea").fill(text)
        self.page.keyboard.press("Enter")
        expect(self.page.locator("parley-messenger .m.me .bu").last).to_have_text(text)
        expect(self.page.locator("parley-messenger textarea")).to_have_attribute("aria-label", "Reply to the team")
        # A reply shows at once, faded (.pd) until Parley has answered that it has it.
        expect(self.page.locator("parley-messenger .m.me").last).not_to_have_class(re.compile(r"\b(pd|fail)\b"))

    def screenshot(self, **options) -> None:
        """A screenshot once the messenger's panel has finished opening (never mid-fade)."""
        self.page.wait_for_function(PANEL_SETTLED)
        self.page.screenshot(**options)

    def wait_booted(self) -> None:
        self.launcher().wait_for(state="attached")
        self.page.wait_for_load_state("networkidle")

    def cookies(self) -> dict[str, dict]:
        return {c["name"]: c for c in self.context.cookies(self.origin)}

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def parley_url(live_server) -> str:
    website_cache_forget()
    return live_server.url


@pytest.fixture
def host(chromium, parley_url):
    site = HostSite(chromium, parley_url)
    yield site
    site.close()


@pytest.fixture
def make_website(host):
    def make(**options):
        return website_create(name=options.pop("name", "Shop"), allowed_origins=[host.origin], **options)

    return make


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


ADMIN_PASSWORD = "correct-horse-battery"


def parley_outage(route) -> None:
    """Answer a widget call as Parley does while a backing service is down: its 503, in the widget's error shape. The
    page can read it: Playwright adds the page's origin where no Access-Control-Allow-Origin is given, as Parley's
    outage answer has "*"."""
    body = {"error": {"code": "service_unavailable", "field": "", "message": "Parley is unavailable."}}
    route.fulfill(status=503, content_type="application/json", body=json.dumps(body))


def visitor_writes_then_has_more(host, website, path: str, first: str, more: list[str]) -> Conversation:
    """The visitor opens the messenger on `path` and starts a conversation with `first`; then a conversation of theirs
    starts with each of `more` (as from other pages). Their first conversation."""
    host.page.goto(host.snippet_page(path, website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write(first)
    oldest = Conversation.objects.get()
    for body in more:
        conversation_start_by_contact(contact=oldest.contact, body=body, website=website)
    return oldest


def agent_teammate(username: str, first_name: str = ""):
    """A teammate in the agent group (answers conversations), who can log in with ADMIN_PASSWORD."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from contacts.permissions import AGENT_GROUP, ensure_teammate_groups

    ensure_teammate_groups()
    user = get_user_model().objects.create_user(
        username, f"{username}@parley.test", ADMIN_PASSWORD, is_staff=True, first_name=first_name
    )
    user.groups.add(Group.objects.get(name=AGENT_GROUP))
    return user


class AdminSession:
    """A teammate logged into the admin in a browser context of their own."""

    def __init__(
        self, browser, parley_url: str, *, username: str, password: str = ADMIN_PASSWORD, timezone_id: str | None = None
    ) -> None:
        self.parley = parley_url.rstrip("/")
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=timezone_id)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        self.page.goto(f"{self.parley}/admin/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("input[type=submit]")
        self.page.wait_for_url(f"{self.parley}/admin/")

    def open(self, path: str) -> None:
        self.page.goto(f"{self.parley}{path}")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def agent_admin(chromium, parley_url, superuser):
    """The superuser (from tests/conftest.py) logged into the admin in Chromium."""
    session = AdminSession(chromium, parley_url, username=superuser.username)
    yield session
    session.close()


@pytest.fixture
def sam_admin(chromium, parley_url):
    """A second teammate, Sam (an agent), in a browser context of their own."""
    agent_teammate("sam", "Sam")
    session = AdminSession(chromium, parley_url, username="sam")
    yield session
    session.close()


# The thread's newest message is in view: its bottom within the messenger's scrolled body.
NEWEST_IN_VIEW = """() => {
  const root = document.querySelector('parley-messenger').shadowRoot;
  const body = root.querySelector('.bd'), bubbles = root.querySelectorAll('.m');
  const last = bubbles[bubbles.length - 1].getBoundingClientRect(), box = body.getBoundingClientRect();
  return last.bottom <= box.bottom + 2 && last.bottom > box.top;
}"""
