"""Signed, expiring links to attachment files.

A link names the file (its public id), which variant (the file or its thumbnail), until when it works
and whom it was made for, with an HMAC over the four. Teammates' links are made for nobody in particular
and open nothing alone: the admin's door asks for a teammate who may view conversations, the API's for a
token whose teammate may. The messenger's links are made for the conversation's contact, through one
website's messenger, and carry no credential: a widget token in a URL would end up in a copied link, a browser's history and server logs,
and would open the contact's whole history; a link made for the contact opens that one file, for an
hour, at that website's door only, and stops working when the conversation is no longer theirs (a merge) or is gone (an erase).
Expiry times are rounded up to a step, so the links a page gets on each poll are the same for a while
and the browser's cache keeps the images.
"""

import math
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from conversations.models import Attachment

SALT = "parley.attachment-link"
EXPIRY_STEP_SECONDS = 600
SIGNATURE_LENGTH = 32
VARIANTS = frozenset(Attachment.Variant.values)


@dataclass(frozen=True)
class LinkRequest:
    """A checked link: which variant of which attachment."""

    public_id: str
    variant: str


def contact_holder(*, contact_id: int, website_id: int) -> str:
    """Whom a messenger link is made for: the contact whose conversation holds the file, on the website whose
    messenger showed it (another website's door, with its own origins allowed, never serves it)."""
    return f"contact:{contact_id}:website:{website_id}"


def _signature(public_id: str, variant: str, expires: int, holder: str) -> str:
    message = f"{public_id}:{variant}:{expires}:{holder}"
    return salted_hmac(SALT, message, algorithm="sha256").hexdigest()[:SIGNATURE_LENGTH]


def attachment_link_query(
    *, attachment: Attachment, variant: str = Attachment.Variant.ORIGINAL, holder: str = "", now: float | None = None
) -> str:
    """The query string (`?v=…&exp=…&sig=…`) that makes a door's URL for this file work for a while;
    `holder` (contact_holder) binds it to the one contact the messenger's door serves it to."""
    now = time.time() if now is None else now
    expires = math.ceil((now + settings.PARLEY_ATTACHMENT_URL_MAX_AGE) / EXPIRY_STEP_SECONDS) * EXPIRY_STEP_SECONDS
    signature = _signature(attachment.public_id, variant, expires, holder)
    return "?" + urlencode({"v": variant, "exp": expires, "sig": signature})


def attachment_link_check(
    *, public_id: str, params: dict[str, str], holder: str = "", now: float | None = None
) -> LinkRequest | None:
    """The variant a link asks for when it was made for `holder`, its signature holds and it has not
    expired; None for anything else."""
    variant, raw_expires, signature = params.get("v", ""), params.get("exp", ""), params.get("sig", "")
    if variant not in VARIANTS or not raw_expires.isascii() or not raw_expires.isdigit() or len(raw_expires) > 12:
        return None
    if not isinstance(public_id, str) or not public_id.isascii() or len(public_id) > 32:
        return None
    expires = int(raw_expires)
    now = time.time() if now is None else now
    # Links are never made for longer than the setting plus one rounding step.
    if expires < now or expires > now + settings.PARLEY_ATTACHMENT_URL_MAX_AGE + EXPIRY_STEP_SECONDS:
        return None
    if not constant_time_compare(signature, _signature(public_id, variant, expires, holder)):
        return None
    return LinkRequest(public_id=public_id, variant=variant)
