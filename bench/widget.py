"""widget_loader_gz_bytes, widget_total_gz_bytes, widget_requests_per_page_view.

- widget_loader_gz_bytes: bytes of the gzipped loader as /widget/<app_id> sends it (a new website's
  app id, the panel and consent adapter URLs baked in as deployed: content-hashed, absolute static URL).
  Budget 3 KiB (3072 bytes); tests/widget/test_serving.py checks the same response.
- widget_total_gz_bytes: loader + chat panel, gzipped. Budget 20 KB (20480 bytes).
- widget_requests_per_page_view: requests that leave a real Chromium per page view of the demo
  page once the script is cached (the page document itself not counted), averaged over several
  page views, against gunicorn on a fresh PostgreSQL database. Goal: exactly 1 (the ping).
  Intercom's messenger makes about 2.
`--quick` visits fewer pages.
"""

import gzip
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, fresh_postgres, setup_django

DATABASE = "parley_bench_widget"
PAGE_VIEWS, QUICK_PAGE_VIEWS = 10, 3
CHROMIUM = "/usr/bin/chromium"


def _gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))


# As deployed: collectstatic's content-hashed names under an absolute static URL (the public URL or a
# CDN: the longest the baked URLs get).
DEPLOYED_STATIC_URL = "https://parley.example.com/static/"


def deployed_static_url(name: str) -> str:
    """`name`'s URL as ManifestStaticFilesStorage gives it after collectstatic (md5 of the content, 12 hex)."""
    from django.contrib.staticfiles import finders

    digest = hashlib.md5(Path(finders.find(name)).read_bytes(), usedforsecurity=False).hexdigest()[:12]
    stem, dot, ext = name.rpartition(".")
    return f"{DEPLOYED_STATIC_URL}{stem}.{digest}{dot}{ext}"


def served_loader_gz_bytes(app_id: str | None = None) -> int:
    """Bytes /widget/<app_id> sends a gzip browser (a new website's app id unless given), static files as deployed."""
    from unittest import mock

    from tracking.models import new_app_id
    from widget.scripts import loader_for

    with mock.patch("widget.scripts.static", deployed_static_url):
        return len(loader_for(app_id or new_app_id()).gzipped)


def _sizes() -> dict[str, float]:
    from widget.scripts import PANEL_STATIC_NAME, static_source

    loader = served_loader_gz_bytes()
    panel = _gz(static_source(PANEL_STATIC_NAME).encode())
    return {"widget_loader_gz_bytes": loader, "widget_total_gz_bytes": loader + panel}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited while starting")
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not start")


def _requests_per_page_view(database_url: str, page_views: int) -> float:
    from playwright.sync_api import sync_playwright

    from tracking.services import website_create

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    website_create(name="Demo shop", allowed_origins=[url])
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HTTPS_ONLY": "false",
        "BIND": f"127.0.0.1:{port}",
        "ACCESS_LOG": "0",
        "VAR_DIR": tempfile.mkdtemp(prefix="parley-bench-widget-"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_up(url, server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page()
            page.goto(f"{url}/demo/")  # first visit: fills the cache with the script
            page.wait_for_load_state("networkidle")
            cdp = page.context.new_cdp_session(page)
            cdp.send("Network.enable")
            sent: dict[str, str] = {}
            cached: set[str] = set()
            cdp.on("Network.requestWillBeSent", lambda e: sent.setdefault(e["requestId"], e["request"]["url"]))
            cdp.on("Network.requestServedFromCache", lambda e: cached.add(e["requestId"]))
            cdp.on(
                "Network.responseReceived",
                lambda e: cached.add(e["requestId"]) if e["response"].get("fromDiskCache") else None,
            )
            for view in range(page_views):
                page.goto(f"{url}/demo/?view={view}")
                page.wait_for_load_state("networkidle")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    network = [u for request_id, u in sent.items() if request_id not in cached and "/demo/" not in u]
    return len(network) / page_views


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    database_url = fresh_postgres(DATABASE)
    setup_django(database_url)
    results: dict[str, float] = dict(_sizes())
    if "widget_requests_per_page_view" in figures:
        views = QUICK_PAGE_VIEWS if quick else PAGE_VIEWS
        results["widget_requests_per_page_view"] = _requests_per_page_view(database_url, views)
    return results


if __name__ == "__main__":
    for name, value in measure(["widget_requests_per_page_view"], "--quick" in sys.argv).items():
        print(name, value)
