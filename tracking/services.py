"""Writes for websites and, with the tracking issue, sessions, page views and events."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from tracking.models import Website


def _clean_origin(origin: str) -> str:
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValidationError({"allowed_origins": f"{origin!r} is not an origin like https://example.com."})
    return f"{parts.scheme}://{parts.netloc}".lower()


@transaction.atomic
def website_create(
    *,
    name: str,
    allowed_origins: list[str],
    identity_verification: str = Website.IdentityVerification.OFF,
    tracking_mode: str = Website.TrackingMode.FULL,
) -> Website:
    """Register a site that embeds the widget."""
    if not name or not name.strip():
        raise ValidationError({"name": "A website needs a name."})
    website = Website(
        name=name.strip(),
        allowed_origins=[_clean_origin(origin) for origin in allowed_origins],
        identity_verification=identity_verification,
        tracking_mode=tracking_mode,
    )
    website.full_clean()
    website.save()
    return website


@transaction.atomic
def website_update(*, website: Website, **fields: object) -> Website:
    if "allowed_origins" in fields:
        fields["allowed_origins"] = [_clean_origin(o) for o in fields["allowed_origins"]]  # type: ignore[union-attr]
    for name, value in fields.items():
        setattr(website, name, value)
    website.full_clean()
    website.save()
    return website
