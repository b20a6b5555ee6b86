import gzip
import html
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.widget import DEPLOYED_STATIC_URL, deployed_static_url, served_loader_gz_bytes
from tests.tracking.factories import user_hash
from tracking.services import website_create
from tracking.snippet import install_snippet
from widget.build import OUTPUT_DIR, built_bundles
from widget.scripts import BAKED_PLACEHOLDER

LOADER_BUDGET_GZ_BYTES = 3 * 1024
TOTAL_BUDGET_GZ_BYTES = 20 * 1024


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def gzipped_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))


def panel_url_in(loader: bytes) -> str:
    return re.search(rb'"p":"([^"]+)"', loader).group(1).decode()


def test_loader_as_served_fits_its_gzip_budget(client, website, settings):
    """The budget is what a browser downloads: the gzipped response of /widget/<app_id> for a real app id,
    with the URLs baked in as deployed (content-hashed static names under the public URL)."""
    settings.STATIC_URL = DEPLOYED_STATIC_URL
    with mock.patch("widget.scripts.static", deployed_static_url):
        response = client.get(f"/widget/{website.app_id}", HTTP_ACCEPT_ENCODING="gzip")

    assert response["Content-Encoding"] == "gzip"
    assert DEPLOYED_STATIC_URL + "widget/panel." in gzip.decompress(response.content).decode()
    assert len(response.content) <= LOADER_BUDGET_GZ_BYTES
    assert len(response.content) == served_loader_gz_bytes(website.app_id)  # the bench's figure measures the same


def test_loader_and_panel_fit_their_gzip_budgets(client, website):
    loader = body_of(client.get(f"/widget/{website.app_id}"))
    panel = body_of(client.get(panel_url_in(loader)))

    assert gzipped_size(loader) + gzipped_size(panel) <= TOTAL_BUDGET_GZ_BYTES


def test_widget_script_bakes_in_the_app_id_and_the_panel_url(client, website):
    response = client.get(f"/widget/{website.app_id}")

    body = body_of(response).decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert f'"a":"{website.app_id}"' in body
    assert panel_url_in(body.encode()).endswith("panel.js")
    assert BAKED_PLACEHOLDER not in body


def test_widget_script_is_short_cached_and_revalidates_with_its_etag(client, website):
    first = client.get(f"/widget/{website.app_id}")
    again = client.get(f"/widget/{website.app_id}", HTTP_IF_NONE_MATCH=first["ETag"])

    assert "max-age=300" in first["Cache-Control"]
    assert "public" in first["Cache-Control"]
    assert first["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert again.status_code == 304
    assert again.content == b""


def test_widget_script_is_sent_gzipped_to_browsers_that_accept_it(client, website):
    plain = client.get(f"/widget/{website.app_id}")
    packed = client.get(f"/widget/{website.app_id}", HTTP_ACCEPT_ENCODING="gzip, deflate, br")

    assert packed["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.content) == plain.content
    assert "Accept-Encoding" in packed["Vary"]


def test_unknown_app_id_gets_a_404_that_is_still_harmless_javascript(client, db):
    for app_id in ("nosuchap", "bad.id!", "x" * 300):
        response = client.get(f"/widget/{app_id}")

        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/javascript")
        assert response.content.startswith(b"/*") and response.content.rstrip().endswith(b"*/")


def test_widget_script_costs_one_query_whatever_the_number_of_websites(client, website):
    for _ in range(5):
        website_create(name="Other", allowed_origins=["https://other.example"])
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/widget/{website.app_id}")

    assert len(queries) == 1


def test_stable_static_url_serves_the_same_loader_without_baked_settings(client, website):
    static = body_of(client.get("/static/widget/parley.js"))
    served = body_of(client.get(f"/widget/{website.app_id}"))

    assert BAKED_PLACEHOLDER.encode() in static
    assert static.replace(BAKED_PLACEHOLDER.encode(), b"") == re.sub(
        rb'\{"a":"[^"]+","p":"[^"]+","c":"[^"]+"\}', b"", served
    )


def test_committed_bundles_are_built_from_the_current_sources():
    for name, text in built_bundles().items():
        assert (OUTPUT_DIR / name).read_text(encoding="utf-8") == text, f"run `manage.py build_widget` ({name})"


def test_bundles_never_evaluate_strings_as_code():
    for name in built_bundles():
        text = (OUTPUT_DIR / name).read_text(encoding="utf-8")
        assert "eval(" not in text and "new Function" not in text, name
        assert not re.search(r"set(Timeout|Interval)\(\s*[\"']", text), name


@pytest.fixture
def demo_pages(settings):
    settings.PARLEY_DEMO_PAGES = True  # what `make run` sets


def test_demo_page_installs_the_snippet_for_the_demo_website(client, db, demo_pages):
    website_create(name="Another site", allowed_origins=["https://another.example"])
    demo = website_create(name="Demo shop", allowed_origins=["http://127.0.0.1:8000"])

    response = client.get("/demo/")

    page = response.content.decode()
    assert response.status_code == 200
    assert f"/widget/{demo.app_id}" in page
    assert f'"app_id": "{demo.app_id}"' in page
    assert '"user_hash"' not in page  # (the snippet shown on the page says how to compute one)
    assert html.escape(install_snippet(app_id=demo.app_id, base_url="http://testserver")) in page
    policy = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy


def test_logged_in_demo_boots_with_a_valid_identity_hash(client, db, demo_pages):
    demo = website_create(name="Demo shop", allowed_origins=["http://127.0.0.1:8000"])

    page = client.get("/demo/logged-in/").content.decode()

    expected = user_hash(demo, "demo-1001")
    assert '"user_id": "demo-1001"' in page
    assert '"email": "jamie.rivera@demo-shop.test"' in page
    assert f'"user_hash": "{expected}"' in page


def test_demo_page_without_any_website_explains_how_to_create_one(client, db, demo_pages):
    response = client.get("/demo/")

    assert response.status_code == 200
    assert b"setup_demo" in response.content
    assert b"/widget/" not in response.content


@pytest.mark.parametrize("path", ["/demo/", "/demo/logged-in/"])
def test_demo_pages_never_use_a_real_website(client, db, demo_pages, path):
    real = website_create(name="Bank", allowed_origins=["https://bank.example"])

    response = client.get(path)

    page = response.content.decode()
    assert response.status_code == 200
    assert "setup_demo" in page
    assert real.app_id not in page
    assert "user_hash" not in page and "demo-1001" not in page


@pytest.mark.parametrize("path", ["/demo/", "/demo/logged-in/"])
def test_demo_pages_are_not_served_unless_turned_on(client, db, settings, path):
    settings.PARLEY_DEMO_PAGES = False
    website_create(name="Demo shop", allowed_origins=["http://127.0.0.1:8000"])

    response = client.get(path)

    assert response.status_code == 404
    assert b"user_hash" not in response.content


@pytest.mark.parametrize(
    ("environment", "served"),
    [
        ({"DATABASE_URL": "postgres://parley@db/parley"}, False),  # production
        ({"DATABASE_URL": "postgres://parley@db/parley", "DEBUG": "true"}, False),
        ({}, False),  # embedded, e.g. `manage.py serve` without `make run`
        ({"DEBUG": "true"}, True),  # embedded development server
        ({"PARLEY_DEMO_PAGES": "true"}, True),  # `make run`
    ],
)
def test_demo_pages_are_off_unless_make_run_or_embedded_debug_turns_them_on(tmp_path, environment, served):
    names = ("DATABASE_URL", "DEBUG", "PARLEY_DEMO_PAGES")
    env = {k: v for k, v in os.environ.items() if k not in names} | environment | {"VAR_DIR": str(tmp_path)}
    code = "import config.settings as s; print(s.PARLEY_DEMO_PAGES)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    assert result.stdout.strip() == str(served)


@pytest.mark.parametrize(("make_args", "port"), [([], "8000"), (["PORT=8010"], "8010")])
def test_make_run_serves_the_demo_pages_on_its_port(make_args, port):
    root = Path(__file__).resolve().parents[2]
    command = ["make", "-n", "run", *make_args]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=True)  # noqa: S603
    lines = result.stdout.splitlines()
    serve = [line for line in lines if "manage.py serve" in line]
    setup = [line for line in lines if "manage.py setup_demo" in line]
    assert serve and serve[0].startswith("PARLEY_DEMO_PAGES=true ")
    assert serve[0].endswith(f"manage.py serve --bind 127.0.0.1:{port}")
    assert all(f"PUBLIC_URL=http://127.0.0.1:{port} " in line for line in (*serve, *setup))


def test_the_logged_in_demo_signs_in_for_real_on_the_verifying_demo_website(client, db, demo_pages):
    call_command("setup_demo", "--contacts", "0", stdout=io.StringIO())
    page = client.get("/demo/logged-in/").content.decode()
    found = re.search(r'<script id="parley-settings" type="application/json">(.*?)</script>', page)
    widget_settings = json.loads(found.group(1))
    user = {k: widget_settings[k] for k in ("user_id", "email", "name", "created_at", "user_hash")}
    user["custom_attributes"] = {"plan": widget_settings["plan"]}

    response = client.post(
        f"/widget-api/{widget_settings['app_id']}/ping",
        json.dumps({"page": {"url": "http://127.0.0.1:8000/demo/logged-in/"}, "user": user}),
        content_type="text/plain",
    )

    assert response.status_code == 200, response.content
    assert response.json()["contact"]["role"] == "user"
    assert "ignored_custom_attributes" not in response.json()  # a verified user defines attributes


def test_setup_demo_turns_verification_on_for_a_demo_website_made_before_it_was_the_default(client, db, demo_pages):
    from tracking.models import Website

    old = website_create(
        name="Demo shop",
        allowed_origins=["http://127.0.0.1:8000"],
        identity_verification=Website.IdentityVerification.OFF,
    )
    call_command("setup_demo", "--contacts", "0", stdout=io.StringIO())

    old.refresh_from_db()
    assert old.identity_verification == Website.IdentityVerification.ENFORCED
    assert Website.objects.count() == 1


def test_the_demo_shops_other_pages_are_the_ones_its_seeded_page_views_visit(client, db, demo_pages):
    """The seeded contacts' page views link to /demo/pricing/, /demo/blog/launch/…: each is a page of the demo shop,
    with the widget, titled as its page views are; a page it does not have is a 404."""
    from tracking.demo import PAGES

    demo = website_create(name="Demo shop", allowed_origins=["http://127.0.0.1:8000"])
    for path, title in PAGES:
        response = client.get(f"/demo/{path}/" if path else "/demo/")
        assert response.status_code == 200, path
        if path:
            assert f"<title>{title} · Demo shop</title>" in response.content.decode()
            assert f"/widget/{demo.app_id}" in response.content.decode()
    menu = client.get("/demo/pricing/").content.decode()
    assert '<a href="/demo/pricing/" aria-current="page">Pricing</a>' in menu and '<a href="/demo/features/">' in menu
    assert client.get("/demo/no-such-page/").status_code == 404
    assert client.get("/demo/../admin/").status_code == 404
