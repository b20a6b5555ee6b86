"""One install snippet: the admin shows it for each website, the README and docs/widget.md show it for
APP_ID at https://parley.example.com, and it works as pasted (tests/e2e/test_install_journey.py)."""

import html
from pathlib import Path

import pytest
from django.urls import reverse

from tracking.services import website_create
from tracking.snippet import install_snippet

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = install_snippet(app_id="APP_ID", base_url="https://parley.example.com")


@pytest.mark.parametrize("document", ["README.md", "docs/widget.md"])
def test_the_documented_snippet_is_the_one_the_admin_shows(document):
    text = (ROOT / document).read_text(encoding="utf-8")

    assert f"```html\n{DOCUMENTED}\n```" in text


def test_the_website_admin_page_shows_the_snippet_with_its_app_id_and_the_public_url(admin_client, settings):
    settings.PUBLIC_URL = "https://support.shop.example"
    website = website_create(name="Shop", allowed_origins=["https://shop.example"])

    page = admin_client.get(reverse("admin:tracking_website_change", args=[website.pk])).content.decode()

    expected = install_snippet(app_id=website.app_id, base_url="https://support.shop.example")
    assert html.escape(expected) in page
    assert f'"https://support.shop.example/widget/{website.app_id}"' in expected
    assert f'app_id: "{website.app_id}",' in expected


def test_the_snippet_mentions_how_signed_in_users_are_verified():
    assert "user_hash" in DOCUMENTED and "HMAC-SHA256" in DOCUMENTED and "your server" in DOCUMENTED
