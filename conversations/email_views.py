"""Public endpoints reached from emails: open pixel, click redirect, unsubscribe, the rating page,
inbound replies."""

import base64
import functools
import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from common.client_ip import client_ip
from common.parsing import int_or_none
from common.rate_limit import Limit, RateLimited, ip_hash, rate_limit
from conversations import email_links, services
from conversations.models import ConversationRating
from conversations.models_ratings import RATING_MAX, RATING_MIN
from conversations.services.inbound import MAX_RAW_EMAIL_BYTES
from conversations.services.ratings import (
    RATING_CHANGE_WINDOW,
    RATING_LINK_MAX_AGE,
    REMARK_MAX_LENGTH,
    rating_answer_clean,
)

logger = logging.getLogger(__name__)


def allow_methods(methods: list[str]) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Django's require_http_methods, answering the 405 as JSON like every other refusal here."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                body = {"error": {"code": "method_not_allowed", "field": "", "message": f"Use {' or '.join(methods)}."}}
                return JsonResponse(body, status=405, headers={"Allow": ", ".join(methods)})
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


# A 1x1 transparent GIF.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@never_cache
@allow_methods(["GET", "HEAD"])
def email_open(request: HttpRequest, token: str) -> HttpResponse:
    """The open pixel: always answers the image; a valid token records the open."""
    parsed = email_links.tracking_token_read(token, purpose=email_links.OPEN)
    if parsed:
        services.delivery_record_open(delivery_id=parsed[0])
    return HttpResponse(PIXEL_GIF, content_type="image/gif")


@never_cache
@allow_methods(["GET", "HEAD"])
def email_click(request: HttpRequest, token: str) -> HttpResponse:
    """Signed click redirect: only to a URL that was in the message, never to one from the request."""
    parsed = email_links.tracking_token_read(token, purpose=email_links.CLICK)
    url = None
    if parsed and parsed[1] is not None:
        url = services.delivery_record_click(delivery_id=parsed[0], link_index=parsed[1])
    if url is None:
        raise Http404("Unknown link.")
    return HttpResponseRedirect(url)


@csrf_exempt  # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" without any cookie or token
@never_cache
@allow_methods(["GET", "POST"])
def email_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation button (link scanners prefetch GETs); POST unsubscribes in one click."""
    # Only an unsubscribe token: never the pixel's or a link's token of the same email.
    parsed = email_links.tracking_token_read(token, purpose=email_links.UNSUBSCRIBE)
    if not parsed:
        raise Http404("Unknown link.")
    if request.method == "POST":
        if not services.delivery_record_unsubscribe(delivery_id=parsed[0]):
            raise Http404("Unknown link.")
        return render(request, "emails/unsubscribed.html", {"done": True})
    return render(request, "emails/unsubscribed.html", {"done": False})


# The rating page's posts per minute. The link is the only key and anyone holding it may post, so no sender can
# use up the contact's allowance: each sender (a keyed hash of its address) has its own window for every post,
# bad ones included, and the request's own window counts only answers that could be recorded. A link holder
# flooding it with bad posts locks out only themselves; one sender alone stays below the request's window.
RATING_PAGE_POSTS_PER_SENDER_PER_MINUTE = 10
RATING_PAGE_ANSWERS_PER_MINUTE = 20
TOO_MANY_ANSWERS = "Too many answers; try again in a minute."


@never_cache
@allow_methods(["GET", "POST"])
def rating_page(request: HttpRequest, token: str) -> HttpResponse:
    """The rating page an email links to (no login: the signed, expiring token names one closure's request).
    GET shows it (`?rating=N` preselects a score: link scanners fetch GETs, so only POST records)."""
    rating_id = email_links.rating_token_read(token, max_age=RATING_LINK_MAX_AGE)
    if rating_id is None:
        expired = email_links.rating_token_read(token, max_age=None) is not None
        return _rating_page(request, "link_expired" if expired else "invalid", status=410 if expired else 404)
    row = ConversationRating.objects.select_related("website").filter(pk=rating_id).first()
    if row is None:  # erased with the contact, or the conversation deleted
        return _rating_page(request, "invalid", status=404)
    status = services.rating_status(row)
    if not status.is_open and status.withdrawn:
        # The conversation opened again: closed, a given rating shown as it stays; an answer sent now is refused.
        late = request.method == "POST"
        return _rating_page(request, "withdrawn", row=row, error=late,
                            status=409 if late else 200 if row.rating else 410)  # fmt: skip
    if not status.is_open:
        if row.rating is None:
            return _rating_page(request, "expired", row=row, status=410)
        # Read-only now; an answer sent late (a page left open) is refused, and the page says why.
        late = request.method == "POST"
        return _rating_page(request, "final", row=row, error=late, status=409 if late else 200)
    if request.method == "GET":
        preselected = int_or_none(request.GET.get("rating", ""), minimum=RATING_MIN, maximum=RATING_MAX)
        return _rating_page(request, "form", row=row, picked=preselected or row.rating, remark=row.remark)
    sender = f"{row.pk}:{ip_hash(client_ip(request) or '')}"
    if not _within([Limit("rating-page-sender", sender, RATING_PAGE_POSTS_PER_SENDER_PER_MINUTE)]):
        return _rating_page(request, "form", row=row, error=TOO_MANY_ANSWERS, status=429)
    raw_rating, remark = request.POST.get("rating", ""), request.POST.get("remark", "")
    # A form sends text: ASCII digits only ("٣" and "5.0" are refused like anything else).
    score = int_or_none(raw_rating, minimum=RATING_MIN, maximum=RATING_MAX)
    rating = score if score is not None else raw_rating
    try:
        rating_answer_clean(rating=rating, remark=remark)  # a bad post never counts against the request
        if not _within([Limit("rating-page", str(row.pk), RATING_PAGE_ANSWERS_PER_MINUTE)]):
            return _rating_page(request, "form", row=row, error=TOO_MANY_ANSWERS, status=429)
        row = services.conversation_rating_give(request=row, rating=rating, remark=remark)
    except services.RatingClosed as closed:
        state = "withdrawn" if services.rating_status(row).withdrawn else "final"
        return _rating_page(request, state, row=row, error=closed.message_dict["rating"][0], status=409)
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        return _rating_page(request, "form", row=row, picked=score, remark=remark[:REMARK_MAX_LENGTH],
                            error=messages[0], error_field=field, status=400)  # fmt: skip
    return _rating_page(request, "thanks", row=row, picked=row.rating, remark=row.remark)


def _within(limits: list[Limit]) -> bool:
    """Counted against `limits` (common.rate_limit): False once one is exceeded."""
    try:
        rate_limit(limits)
    except RateLimited:
        return False
    return True


def _rating_page(
    request: HttpRequest, state: str, *, row: ConversationRating | None = None, status: int = 200, **context: Any
) -> HttpResponse:
    open_until = services.rating_status(row).open_until if row is not None else None
    context = {
        "state": state,
        "row": row,
        "team_name": row.website.name if row is not None and row.website else "",
        "scores": range(RATING_MIN, RATING_MAX + 1),
        "rating_max": RATING_MAX,
        "open_until": timezone.localtime(open_until) if open_until else None,
        "change_hours": int(RATING_CHANGE_WINDOW.total_seconds() // 3600),
        "remark_max": REMARK_MAX_LENGTH,
        **context,
    }
    response = render(request, "emails/rating_page.html", context, status=status)
    response["X-Robots-Tag"] = "noindex"
    return response


# The confirmation page's posts per minute and sender (a keyed hash of its address): confirming is one post; more is a
# script trying links.
CONFIRM_PAGE_POSTS_PER_SENDER_PER_MINUTE = 10
CONFIRM_PAGE_STATUS = {"invalid": 404, "expired": 410, "changed": 410}


@never_cache
@allow_methods(["GET", "POST"])
def email_confirm_page(request: HttpRequest, token: str) -> HttpResponse:
    """The page a confirmation email links to (no login: the signed, expiring token names the contact and a digest
    of the address).
    GET shows a button; only its POST confirms, as link scanners fetch every GET of an email."""
    found = services.confirmation_read(token)
    if found.state == "ready" and request.method == "POST":
        sender = ip_hash(client_ip(request) or "")
        if not _within([Limit("email-confirm-page", sender, CONFIRM_PAGE_POSTS_PER_SENDER_PER_MINUTE)]):
            return _confirm_page(request, found, "form", error="Too many tries; try again in a minute.", status=429)
        found = services.email_confirm(token=token)
    if found.state != "ready":
        return _confirm_page(request, found, found.state, status=CONFIRM_PAGE_STATUS[found.state])
    confirmed = request.method == "POST" or services.email_confirmed(found.contact)
    return _confirm_page(request, found, "confirmed" if confirmed else "form")


def _confirm_page(
    request: HttpRequest, found: services.Confirmation, state: str, *, status: int = 200, **context: Any
) -> HttpResponse:
    context = {
        "state": state,
        "email": found.email,
        "team_name": found.website.name if found.website else "",
        "valid_days": services.CONFIRM_LINK_MAX_AGE.days,
        **context,
    }
    response = render(request, "emails/email_confirm_page.html", context, status=status)
    response["X-Robots-Tag"] = "noindex"
    return response


@csrf_exempt  # called by the mail server: its secret or address, then the signed reply address, authenticate it
@allow_methods(["POST"])
def email_inbound(request: HttpRequest) -> JsonResponse:
    """A raw RFC 822 email in the body (or a `message` form field): append it as the contact's reply."""
    if not _inbound_allowed(request):
        message = "Send the inbound secret (X-Parley-Inbound-Secret) or call from an allowed source."
        return JsonResponse({"error": {"code": "forbidden", "message": message}}, status=403)
    too_large = JsonResponse({"error": {"code": "too_large", "message": "The email is too large."}}, status=413)
    declared = int_or_none(request.META.get("CONTENT_LENGTH") or "0", minimum=0)
    if declared is None or declared > MAX_RAW_EMAIL_BYTES:
        return too_large
    if request.content_type == "multipart/form-data":
        raw = request.POST.get("message", "")
    else:
        # Read from the stream: request.body stops at DATA_UPLOAD_MAX_MEMORY_SIZE, below an email with files.
        raw = request.read(MAX_RAW_EMAIL_BYTES + 1)
        if len(raw) > MAX_RAW_EMAIL_BYTES:
            return too_large
    try:
        result = services.email_reply_receive(raw=raw)
    except (LookupError, ValueError):  # a charset Python does not know (or holding a NUL): the sender's mistake
        message = "The email's text cannot be decoded (unknown charset or transfer encoding)."
        return JsonResponse({"error": {"code": "invalid_encoding", "field": "body", "message": message}}, status=400)
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        status = 403 if field in ("to", "from") else 400
        code = "unknown_reply_address" if field == "to" else "sender_mismatch" if field == "from" else "invalid"
        return JsonResponse({"error": {"code": code, "field": field, "message": messages[0]}}, status=status)
    answer = {"conversation": result.conversation.public_id, "part": str(result.part.pk)}
    if result.warnings:
        answer["warnings"] = list(result.warnings)
    return JsonResponse(answer, status=201)


def _inbound_allowed(request: HttpRequest) -> bool:
    """The shared secret, or a request from an allowed source; open only where nothing is required."""
    secret = settings.PARLEY_INBOUND_EMAIL_SECRET
    sources = _allowed_sources(tuple(settings.PARLEY_INBOUND_EMAIL_ALLOWED_SOURCES))
    if not secret and not settings.PARLEY_INBOUND_EMAIL_ALLOWED_SOURCES:
        return not settings.PARLEY_INBOUND_EMAIL_REQUIRE_AUTH
    given = request.headers.get("X-Parley-Inbound-Secret") or request.GET.get("secret") or ""
    if secret and constant_time_compare(given, secret):
        return True
    if sources:
        address = client_ip(request)  # compared in memory only, never stored or logged
        return address is not None and any(ipaddress.ip_address(address) in network for network in sources)
    return False


@functools.lru_cache(maxsize=4)
def _allowed_sources(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            logger.warning("Ignoring an invalid PARLEY_INBOUND_EMAIL_ALLOWED_SOURCES entry.")
    return tuple(networks)
