"""Signed tokens carried by emails: open pixel, click redirects, unsubscribe, reply-to addresses and
the conversation rating page."""

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

# One signing salt per purpose, so that a token for one cannot act as another: the open pixel's
# URL (seen by image proxies, kept in forwarded mail) must not unsubscribe anyone.
OPEN = "open"
CLICK = "click"
UNSUBSCRIBE = "unsubscribe"
PURPOSE_SALTS = {
    OPEN: "parley.email-open",
    CLICK: "parley.email-click",
    UNSUBSCRIBE: "parley.email-unsubscribe",
}
# Tokens from before the split served every purpose. Emails already sent still record opens and
# follow their links with them; they never unsubscribe (an old pixel URL reads the same).
LEGACY_TRACKING_SALT = "parley.email-tracking"
LEGACY_PURPOSES = (OPEN, CLICK)
MAX_TOKEN_LENGTH = 200
REPLY_SALT = "parley.email-reply-to"
REPLY_HMAC_LENGTH = 32
# reply+c12-<hmac>@domain (a conversation) or reply+d34-<hmac>@domain (a delivery). Lowercase hex
# only, because mail servers may change the case of the local part.
REPLY_ADDRESS_RE = re.compile(rf"reply\+([cd])(\d{{1,18}})-([0-9a-f]{{{REPLY_HMAC_LENGTH}}})@", re.IGNORECASE)


@dataclass(frozen=True)
class ReplyTarget:
    kind: str  # "conversation" or "delivery"
    object_id: int


def tracking_token(*, purpose: str, delivery_id: int, link_index: int | None = None) -> str:
    """A signed token for one purpose (open, click, unsubscribe) of one delivery."""
    if (purpose == CLICK) != (link_index is not None):
        raise ValueError("a click token carries a link index, and only a click token does")
    value = str(delivery_id) if link_index is None else f"{delivery_id}.{link_index}"
    return signing.Signer(salt=PURPOSE_SALTS[purpose]).sign(value)


def tracking_token_read(token: str, *, purpose: str) -> tuple[int, int | None] | None:
    """(delivery id, link index or None) from a valid token of `purpose`; None for anything else."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return None
    salts = [PURPOSE_SALTS[purpose]] + ([LEGACY_TRACKING_SALT] if purpose in LEGACY_PURPOSES else [])
    for salt in salts:
        try:
            value = signing.Signer(salt=salt).unsign(token)
        except signing.BadSignature:
            continue
        delivery, _, link = value.partition(".")
        if not delivery.isdigit() or (link and not link.isdigit()) or (purpose == CLICK) != bool(link):
            return None
        return int(delivery), int(link) if link else None
    return None


def open_pixel_url(delivery_id: int) -> str:
    token = tracking_token(purpose=OPEN, delivery_id=delivery_id)
    return settings.PUBLIC_URL + reverse("conversations:email_open", args=[token])


def click_url(delivery_id: int, link_index: int) -> str:
    token = tracking_token(purpose=CLICK, delivery_id=delivery_id, link_index=link_index)
    return settings.PUBLIC_URL + reverse("conversations:email_click", args=[token])


def unsubscribe_url(delivery_id: int) -> str:
    token = tracking_token(purpose=UNSUBSCRIBE, delivery_id=delivery_id)
    return settings.PUBLIC_URL + reverse("conversations:email_unsubscribe", args=[token])


def _reply_hmac(kind: str, object_id: int) -> str:
    return salted_hmac(REPLY_SALT, f"{kind}{object_id}", algorithm="sha256").hexdigest()[:REPLY_HMAC_LENGTH]


def reply_address(*, conversation_id: int | None = None, delivery_id: int | None = None) -> str:
    """The Reply-To address that routes an email answer back to a conversation or a delivery."""
    kind, object_id = ("c", conversation_id) if conversation_id is not None else ("d", delivery_id)
    if object_id is None:
        raise ValueError("reply_address needs a conversation id or a delivery id")
    return f"reply+{kind}{object_id}-{_reply_hmac(kind, object_id)}@{settings.PARLEY_REPLY_DOMAIN}"


def reply_address_read(address: str) -> ReplyTarget | None:
    """Where a reply address points; None when it is not ours or its signature is forged."""
    match = REPLY_ADDRESS_RE.search(address or "")
    if not match:
        return None
    kind, object_id, given = match.group(1).lower(), int(match.group(2)), match.group(3).lower()
    if not constant_time_compare(given, _reply_hmac(kind, object_id)):
        return None
    return ReplyTarget(kind="conversation" if kind == "c" else "delivery", object_id=object_id)


# The rating page's link names one closure's rating request (no login), and expires.
RATING_SALT = "parley.conversation-rating"


def rating_token(rating_id: int) -> str:
    """A signed, timestamped token naming one rating request (one closure of one conversation)."""
    return signing.TimestampSigner(salt=RATING_SALT).sign(str(rating_id))


def rating_token_read(token: str, *, max_age: dt.timedelta | None) -> int | None:
    """The rating request's id from a valid token younger than `max_age` (None: any age); None for anything
    else (forged, expired, another purpose's token, not text)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        value = signing.TimestampSigner(salt=RATING_SALT).unsign(token, max_age=max_age)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def rating_url(rating_id: int, *, rating: int | None = None) -> str:
    """The rating page of one request; `rating` preselects a score (the email's five links)."""
    url = settings.PUBLIC_URL + reverse("conversations:rating_page", args=[rating_token(rating_id)])
    return f"{url}?rating={rating}" if rating is not None else url
