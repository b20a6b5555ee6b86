"""Reads for serving the widget and the demo pages."""

from ops.management.commands.setup_demo import DEMO_WEBSITE_NAME
from tracking.models import Website


def website_for_app_id(*, app_id: str) -> Website | None:
    return Website.objects.filter(app_id=app_id).first()


def demo_website() -> Website | None:
    """The website `setup_demo` creates, or else the oldest one."""
    return Website.objects.filter(name=DEMO_WEBSITE_NAME).first() or Website.objects.order_by("id").first()
