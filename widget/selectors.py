"""Reads for serving the widget and the demo pages."""

from tracking.models import Website

# The demo pages serve only the website of this name, the one `setup_demo` creates.
DEMO_WEBSITE_NAME = "Demo shop"


def website_for_app_id(*, app_id: str) -> Website | None:
    """The website with this public app id, if any."""
    return Website.objects.filter(app_id=app_id).first()


def demo_website() -> Website | None:
    """The website `setup_demo` creates; never another one (the demo signs a user_hash with its secret)."""
    return Website.objects.filter(name=DEMO_WEBSITE_NAME).order_by("id").first()
