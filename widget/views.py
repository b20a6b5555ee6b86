"""The messenger script at /widget/<app_id> and the demo site pages."""

import hashlib
import hmac
import re
import secrets
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from tracking.demo import PAGES as DEMO_PAGES
from tracking.snippet import install_snippet
from widget.scripts import loader_for
from widget.selectors import demo_website, website_for_app_id

JAVASCRIPT = "text/javascript; charset=utf-8"
# Short: a site that changes its settings or a new release reaches visitors within minutes; the
# panel it references is content-hashed and cached for a year by the static files server.
SCRIPT_MAX_AGE_SECONDS = 300
UNKNOWN_APP_MAX_AGE_SECONDS = 60
APP_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")

DEMO_USER = {
    "user_id": "demo-1001",
    "email": "jamie.rivera@demo-shop.test",
    "name": "Jamie Rivera",
    "created_at": 1_700_000_000,
    "plan": "pro",
}


@require_safe
def widget_script(request: HttpRequest, app_id: str) -> HttpResponse:
    """The loader for one website; an unknown app id gets a 404 that is still valid JavaScript."""
    website = website_for_app_id(app_id=app_id) if APP_ID_PATTERN.fullmatch(app_id) else None
    if website is None:
        response = HttpResponse(b"/* Parley: unknown app id */\n", status=404, content_type=JAVASCRIPT)
        response["Cache-Control"] = f"public, max-age={UNKNOWN_APP_MAX_AGE_SECONDS}"
        return response
    script = loader_for(website.app_id)
    if request.headers.get("If-None-Match") == script.etag:
        response = HttpResponse(status=304)
    elif "gzip" in request.headers.get("Accept-Encoding", ""):
        response = HttpResponse(script.gzipped, content_type=JAVASCRIPT)
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(script.body, content_type=JAVASCRIPT)
    response["ETag"] = script.etag
    response["Cache-Control"] = f"public, max-age={SCRIPT_MAX_AGE_SECONDS}, stale-while-revalidate=86400"
    # Sites that isolate themselves (COEP) may still load it.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


def user_hash(*, secret: str, subject: str) -> str:
    """Identity verification: HMAC-SHA256 of the user_id (or email) with the website's secret."""
    return hmac.new(secret.encode(), subject.encode(), hashlib.sha256).hexdigest()


def _demo(request: HttpRequest, *, logged_in: bool, section: str = "") -> HttpResponse:
    """The demo shop's page: its home (`section` empty) or another of its pages (a DEMO_PAGES path)."""
    if not settings.PARLEY_DEMO_PAGES:
        raise Http404("The demo pages are off (PARLEY_DEMO_PAGES).")
    website = demo_website()
    nonce = secrets.token_urlsafe(16)
    context: dict[str, Any] = {
        "website": website, "logged_in": logged_in, "nonce": nonce, "section": section,
        "section_title": DEMO_TITLES.get(section, "") if section else "",
        "menu": [(path, title) for path, title in DEMO_PAGES if path in MENU_SECTIONS],
    }  # fmt: skip
    if website is not None:
        widget_settings: dict[str, Any] = {"app_id": website.app_id}
        if logged_in:
            widget_settings.update(DEMO_USER)
            widget_settings["user_hash"] = user_hash(secret=website.identity_secret, subject=DEMO_USER["user_id"])
        script_path = f"/widget/{website.app_id}"
        context.update(
            script_path=script_path,
            snippet=install_snippet(app_id=website.app_id, base_url=request.build_absolute_uri("/")),
            widget_settings=widget_settings,
            user=DEMO_USER if logged_in else None,
        )
    response = render(request, "demo/shop.html", context)
    # The demo runs under the strict policy docs/widget.md recommends, so it proves the widget needs no more.
    response["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic'; style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data: blob: https:; connect-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    )
    return response


@require_safe
def demo_page(request: HttpRequest) -> HttpResponse:
    """A small fake product page with the widget snippet for the demo website."""
    return _demo(request, logged_in=False)


@require_safe
def demo_logged_in(request: HttpRequest) -> HttpResponse:
    """The same page for a signed-in customer: boots with user_id, email and a valid user_hash."""
    return _demo(request, logged_in=True)


# The shop's pages in its menu; the others (a blog post, the docs…) are reached from the seeded page views.
MENU_SECTIONS = ("pricing", "features", "contact")
DEMO_TITLES = dict(DEMO_PAGES)


@require_safe
def demo_section(request: HttpRequest, section: str) -> HttpResponse:
    """Another page of the demo shop (its pages are the ones the seeded page views visit), for a guest."""
    if not DEMO_TITLES.get(section):
        raise Http404("The demo shop has no such page.")
    return _demo(request, logged_in=False, section=section)
