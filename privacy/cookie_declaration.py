"""The cookie declaration of one website, generated from the widget's own list (widget.cookies), so it cannot drift."""

from typing import Any

from django.template.loader import render_to_string

from tracking.models import Website
from widget.cookies import WIDGET_STORAGE_KEYS

SECONDS_PER_DAY = 86400


def cookie_declaration(*, website: Website) -> dict[str, Any]:
    """Every cookie and storage key Parley's widget sets on this website's pages, as JSON for a CMP import."""
    return {
        "website": {"name": website.name, "app_id": website.app_id, "origins": list(website.allowed_origins)},
        "provider": "Parley, self-hosted by the website's owner",
        "items": [
            {
                "name": key.name(website.app_id),
                "storage": key.storage,
                "party": "first",
                "domain": "the website's own host (no Domain attribute)",
                # A session cookie has no lifetime to give (null, not 0: it is not deleted at once).
                "duration_days": None if key.session else key.days,
                "duration_seconds": None if key.session else key.days * SECONDS_PER_DAY,
                "session": key.session,
                "duration": key.duration,
                "purpose": key.purpose,
                "category": key.category,
                "description": key.description,
                "set_when": key.set_when,
            }
            for key in WIDGET_STORAGE_KEYS
        ],
        "local_storage": [],
        "session_storage": [key.name(website.app_id) for key in WIDGET_STORAGE_KEYS if key.storage == "sessionStorage"],
    }


def cookie_declaration_html(*, website: Website) -> str:
    """The same declaration as an HTML table to paste into the site's cookie policy (every value escaped)."""
    return render_to_string("privacy/cookie_declaration.html", {"declaration": cookie_declaration(website=website)})
