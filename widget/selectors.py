"""Reads for serving the widget and the demo pages."""

from ops.demo import DEMO_WEBSITE_NAME
from tracking.models import Website


def website_for_app_id(*, app_id: str) -> Website | None:
    """The website with this public app id, if any."""
    return Website.objects.filter(app_id=app_id).first()


def demo_website() -> Website | None:
    """The website `setup_demo` creates; never another one (the demo signs a user_hash with its secret)."""
    return Website.objects.filter(name=DEMO_WEBSITE_NAME).order_by("id").first()
