"""Writes for websites: register one, change it, count the custom attributes it sent that were refused."""

import json
import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from contacts.models import DataAttribute
from tracking.models import RejectedAttribute, Website, new_identity_secret
from tracking.selectors import website_cache_forget

DEFAULT_PORTS = {"http": 80, "https": 443}


def _clean_origin(origin: str) -> str:
    """ "HTTPS://Shop.example.com:443/" → "https://shop.example.com": the form browsers send in Origin."""
    refused = ValidationError({"allowed_origins": f"{origin!r} is not an origin like https://example.com."})
    parts = urlsplit(origin.strip())
    try:
        port = parts.port
    except ValueError:
        raise refused from None
    if (
        parts.scheme not in DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise refused
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[parts.scheme] else "")


def website_origins_clean(*, origins: list[str]) -> list[str]:
    """Origins as browsers send them, each once, blank lines dropped; a bad one is refused by name."""
    return list(dict.fromkeys(_clean_origin(origin) for origin in origins if origin.strip()))


@transaction.atomic
def website_create(
    *,
    name: str,
    allowed_origins: list[str],
    identity_verification: str = Website.IdentityVerification.ENFORCED,
    tracking_mode: str = Website.TrackingMode.FULL,
    marketing_basis: str = Website.MarketingBasis.CONSENT,
) -> Website:
    """Register a site that embeds the widget."""
    if not name or not name.strip():
        raise ValidationError({"name": "A website needs a name."})
    website = Website(
        name=name.strip(),
        allowed_origins=website_origins_clean(origins=allowed_origins),
        identity_verification=identity_verification,
        tracking_mode=tracking_mode,
        marketing_basis=marketing_basis,
    )
    website.full_clean()
    website.save()
    return website


@transaction.atomic
def website_update(*, website: Website, **fields: object) -> Website:
    """Change a website's settings; widget requests see the change at once (its cached row is dropped)."""
    if "allowed_origins" in fields:
        fields["allowed_origins"] = website_origins_clean(origins=fields["allowed_origins"])  # type: ignore[arg-type]
    for name, value in fields.items():
        setattr(website, name, value)
    website.full_clean()
    website.save()
    website_cache_forget(app_id=website.app_id)
    return website


def website_identity_secret_rotate(*, website: Website) -> Website:
    """A new identity secret: user_hash values signed with the old one stop verifying at once."""
    website.identity_secret = new_identity_secret()
    website.save(update_fields=["identity_secret", "updated_at"])
    website_cache_forget(app_id=website.app_id)
    return website


REJECTED_EXAMPLE_LENGTH = 60


def _example_of(value: Any, *, definition: DataAttribute | None) -> str:
    """What the admin shows of a refused value (escaped there): the value itself, cut to 60 characters,
    so the site owner sees what their code sent ("gold", "3"); only text for a free-text attribute (a
    string without options, or one not defined) is shown by its length, as it may be a visitor's own
    words and this record outlives the contact."""
    if isinstance(value, bool | int | float):
        return json.dumps(value)[:REJECTED_EXAMPLE_LENGTH]
    if isinstance(value, str):
        free_text = definition is None or (
            definition.data_type == DataAttribute.DataType.STRING and not definition.options
        )
        if free_text:
            return f"text of {len(value)} character(s) (free text: not kept, it may be a visitor's words)"
        shown = json.dumps(_UNPRINTABLE_RE.sub("\ufffd", value), ensure_ascii=False)
        return shown if len(shown) <= REJECTED_EXAMPLE_LENGTH else shown[: REJECTED_EXAMPLE_LENGTH - 2] + '…"'
    return type(value).__name__


_UNPRINTABLE_RE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def rejected_attributes_record(*, website: Website, rejected: dict[str, str], values: dict[str, Any]) -> None:
    """Count each custom attribute this website sent and Parley refused, with the last reason and example."""
    now = timezone.now()
    definitions = {
        attribute.name: attribute
        for attribute in DataAttribute.objects.filter(model=DataAttribute.Model.CONTACT, name__in=list(rejected)[:100])
    }
    for name, reason in rejected.items():
        example = _example_of(values.get(name), definition=definitions.get(name))
        updated = RejectedAttribute.objects.filter(website=website, name=name[:255]).update(
            count=F("count") + 1, last_reason=reason[:255], last_example=example, last_at=now
        )
        if not updated:
            RejectedAttribute.objects.get_or_create(
                website=website, name=name[:255],
                defaults={"count": 1, "last_reason": reason[:255], "last_example": example, "first_at": now,
                          "last_at": now},
            )  # fmt: skip
