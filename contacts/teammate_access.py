"""Teammates' way into the admin: failed sign-ins slowed down, forgotten passwords, invitations.

- **Sign-in.** Once one login name, or one network, has failed PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT (or
  _PER_NETWORK) times in the current window of SIGN_IN_WINDOW_SECONDS, its sign-ins are refused without the
  password being checked, until the window ends: guessing a password gets a few tries an hour, not thousands.
  Counted in the shared cache (common.rate_limit), the name and the network as keyed hashes: no address is kept.
- **Forgotten password.** The login page links to Django's reset pages; a request is counted per network and per
  address before any mail goes out, so the form cannot flood a teammate's inbox. Only active staff get a link, and
  the page says the same whether the address is known or not.
- **Invitation.** A teammate added without a password gets an email with a link to choose one: Django's reset
  token, good once (it ends when the password, the email or the last sign-in changes) and for
  PASSWORD_RESET_TIMEOUT. Choosing the password signs them in.
"""

import logging
import unicodedata
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.http import HttpRequest
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import ngettext

from common.client_ip import client_ip
from common.mail import email_header_line
from common.rate_limit import Limit, ip_hash, rate_limit_count, rate_limit_forget, rate_limit_peek, subject_hash

logger = logging.getLogger(__name__)

SIGN_IN_WINDOW_SECONDS = 15 * 60
RESET_WINDOW_SECONDS = 60 * 60
RESETS_PER_ADDRESS = 3
RESETS_PER_NETWORK = 10


def same_mailbox(email: str) -> str:
    """An address as Parley compares them: compatibility forms folded (fullwidth letters are plain ones), case
    ignored."""
    return unicodedata.normalize("NFKC", email).casefold()


def email_taken(email: str, *, other_than: int | None = None) -> bool:
    """Whether another teammate has this address (teammates are few: compared in Python, as same_mailbox says)."""
    wanted = same_mailbox(email)
    others = get_user_model().objects.exclude(email="").exclude(pk=other_than).values_list("email", flat=True)
    return any(same_mailbox(other) == wanted for other in others.iterator())


def _network(request: HttpRequest) -> str:
    return ip_hash(client_ip(request) or "")


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def _account_limit(username: str) -> Limit:
    per = settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT
    return Limit("sign-in-account", subject_hash(same_mailbox(username)), per, SIGN_IN_WINDOW_SECONDS)


def _sign_in_limits(request: HttpRequest, username: str) -> list[Limit]:
    per_network = settings.PARLEY_SIGN_IN_FAILURES_PER_NETWORK
    return [_account_limit(username), Limit("sign-in-network", _network(request), per_network, SIGN_IN_WINDOW_SECONDS)]


def sign_in_refusal(request: HttpRequest, username: str) -> str | None:
    """Why a sign-in as `username` from this request's network is refused before its password is checked (too
    many failures in this window), or None."""
    limits = _sign_in_limits(request, username)
    seen = rate_limit_peek(limits)
    for limit, failures in zip(limits, seen.counts, strict=True):
        if failures >= limit.per:
            return (
                "Too many failed sign-ins for this account or from this network. Try again in "
                f"{_minutes(limit.retry_after(seen.now))}, or reset your password."
            )
    return None


def sign_in_failed(request: HttpRequest, username: str) -> None:
    """Count a failed sign-in against the name and the network."""
    rate_limit_count(_sign_in_limits(request, username))


def sign_in_failures_forget(user: Any) -> None:
    """Forgive the failed sign-ins under `user`'s name: they just chose a new password through a link to their
    mailbox, which a guesser locking the name out does not have. (Its network's failures stay counted.)"""
    rate_limit_forget([_account_limit(user.get_username())])


def password_reset_refusal(request: HttpRequest, email: str) -> str | None:
    """Count a request for a reset link to `email` from this network; why it is refused (too many), or None."""
    limits = [
        Limit("password-reset-address", subject_hash(same_mailbox(email)), RESETS_PER_ADDRESS, RESET_WINDOW_SECONDS),
        Limit("password-reset-network", _network(request), RESETS_PER_NETWORK, RESET_WINDOW_SECONDS),
    ]
    counted = rate_limit_count(limits)
    for limit, count in zip(limits, counted.counts, strict=True):
        if count > limit.per:
            return f"Too many reset requests. Try again in {_minutes(limit.retry_after(counted.now))}."
    return None


def may_reset_password(user: Any) -> bool:
    """Whether `user` may get a reset or invitation link: an active teammate. (Invited teammates have no usable
    password yet, and may ask for a new link this way; Django's own rule would leave them out.)"""
    return user.is_active and user.is_staff


def reset_recipients(email: str) -> Iterator[Any]:
    """The teammates a reset link for `email` goes to (compared as same_mailbox does)."""
    wanted = same_mailbox(email)
    for user in get_user_model()._default_manager.filter(is_active=True, is_staff=True).exclude(email=""):
        if same_mailbox(user.email) == wanted:
            yield user


def link_valid_for() -> str:
    days, seconds = divmod(settings.PASSWORD_RESET_TIMEOUT, 86400)
    if days and not seconds:
        return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}
    hours = max(1, -(-settings.PASSWORD_RESET_TIMEOUT // 3600))
    return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}


def invitation_link(user: Any) -> str:
    """The page where `user` chooses their password (and is signed in), for the email; the public address."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.PUBLIC_URL + reverse("teammate_welcome", kwargs={"uidb64": uid, "token": token})


def teammate_invite(user: Any, *, invited_by: Any) -> bool:
    """Email `user` an invitation to choose their password. False when it could not go out (no address, not an
    active teammate, the mail server refused): the caller says so, and the teammate can be invited again."""
    if not user.email or not may_reset_password(user):
        return False
    inviter = invited_by.get_full_name() or invited_by.get_username()
    name = user.first_name or user.get_username()
    body = (
        f"Hello {name},\n\n{inviter} invited you to Parley, where your team answers its customers.\n\n"
        f"Choose your password here (the link works once, for {link_valid_for()}):\n{invitation_link(user)}\n\n"
        f"Your login name is: {user.get_username()}\n\n"
        "If you did not expect this, ignore this email: nothing happens until the link is used."
    )
    try:
        send_mail(
            subject=email_header_line(f"{inviter} invited you to Parley"),
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[user.email],
        )
    except Exception:  # any backend's failure (SMTP refused, an API down): said to the inviter, not a crash
        logger.exception("Could not send an invitation to teammate %s.", user.pk)
        return False
    return True
