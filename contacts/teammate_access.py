"""Teammates' way into the admin: failed sign-ins slowed down, forgotten passwords, invitations.

- **Sign-in.** Once one login name, or one network, has failed PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT (or
  _PER_NETWORK) times in the current window of SIGN_IN_WINDOW_SECONDS, its sign-ins are refused without the
  password being checked, until the window ends: guessing a password gets a few tries an hour, not thousands.
  Counted in the shared cache (common.rate_limit), the name and the network as keyed hashes: no address is kept.
- **Forgotten password.** The login page links to Django's reset pages; a request is counted per network and per
  address before any mail goes out, so the form cannot flood a teammate's inbox (a browser that signed in as that
  teammate has a budget of its own: a stranger spending the address's cannot keep them from a reset). Only active
  staff get a link, and the page says the same whether the address is known or not, as fast: the worker looks the
  address up and mails.
- **Invitation.** A teammate added without a password gets an email with a link to choose one: Django's reset
  token, good once (it ends when the password, the email or the last sign-in changes) and for
  PASSWORD_RESET_TIMEOUT (a forgotten password's link, for PARLEY_PASSWORD_RESET_LINK_SECONDS). Choosing the
  password signs them in.
"""

import ipaddress
import logging
import secrets
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.core.mail import send_mail
from django.db.models import Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_encode
from django.utils.translation import ngettext

from common.client_ip import client_ip, parse_ip
from common.mail import email_header_line
from common.rate_limit import Limit, ip_hash, rate_limit_count, rate_limit_forget, rate_limit_uncount, subject_hash

logger = logging.getLogger(__name__)

SIGN_IN_WINDOW_SECONDS = 15 * 60
RESET_WINDOW_SECONDS = 60 * 60
RESETS_PER_ADDRESS = 3
RESETS_PER_KNOWN_ADDRESS = 10  # all the browsers that signed in as the address's teammate
RESETS_PER_NETWORK = 10
# A browser that signed in as a teammate carries this signed cookie; it names them (hashed) and the browser.
DEVICE_COOKIE = "parley_signed_in"
DEVICE_COOKIE_AGE = 180 * 24 * 3600
_DEVICE_SALT = "parley.teammate_access.device"


def same_mailbox(email: str) -> str:
    """An address as Parley compares them: compatibility forms folded (fullwidth letters are plain ones), case
    ignored, invisible characters (a soft hyphen, a zero-width space: mail servers drop them) left out, and the domain
    as mail writes it (IDNA drops or maps more: a variation selector, a combining grapheme joiner)."""
    folded = "".join(c for c in unicodedata.normalize("NFKC", email).casefold() if not _invisible(c))
    local, at, domain = folded.rpartition("@")
    if not at:
        return folded  # a login name (the sign-in limits fold names the same way)
    # A domain mail cannot write (refused for teammates) is compared as typed.
    return local + at + (mail_domain(domain) or domain)


def mail_domain(domain: str) -> str | None:
    """`domain` as the mail backend writes it (IDNA, ASCII), or None when it cannot be written."""
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _with_mailbox(users: Any, email: str) -> Iterator[Any]:
    """The users among `users` whose address is `email`, compared as same_mailbox does (teammates are few: in Python)."""
    wanted = same_mailbox(email)
    return (user for user in users.exclude(email="").iterator() if same_mailbox(user.email) == wanted)


def granted_permissions(user: Any) -> set[str]:
    """Every permission `user`'s account holds, its own and its groups', as "app_label.codename", whether the
    account is active or not (Django's get_all_permissions says none for an inactive one: reactivated, it holds
    them all again)."""
    return _permission_names(Permission.objects.filter(Q(user=user) | Q(group__user=user)).distinct())


def _permission_names(permissions: Any) -> set[str]:
    return {f"{app}.{codename}" for app, codename in permissions.values_list("content_type__app_label", "codename")}


def may_manage(actor: Any, account: Any) -> bool:
    """Only a superuser grants more: whoever may change users changes (a password and an email included: either takes
    the account over), activates or deletes only accounts with no more rights than their own, never a superuser's."""
    if actor.is_superuser or account.pk == actor.pk:
        return True
    return not account.is_superuser and granted_permissions(account) <= granted_permissions(actor)


def group_grantable(actor: Any, group: Any) -> bool:
    """Whether `actor` may put someone in `group` (a role): it grants nothing they do not hold."""
    if actor.is_superuser:
        return True
    return _permission_names(group.permissions.all()) <= granted_permissions(actor)


def email_changed_notify(user: Any, *, old_email: str, by: Any) -> None:
    """Tell the address a teammate's account had that it changed (whoever took the account over by changing it would
    get every later notice)."""
    if not old_email or same_mailbox(old_email) == same_mailbox(user.email):
        return
    who = signed_name(by)
    body = (
        f"Hello {greeting_name(user)},\n\nThe email address of your Parley login "
        f"{user.get_username()} was just changed from this one to {user.email or 'none'}, by {who}. Parley's emails "
        "now go there.\n\nIf that was not expected, tell whoever runs Parley for your team at once."
    )
    teammate_email(subject="Your Parley login's email address was changed", body=body, to=old_email)


# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), as ranges: characters fonts draw as nothing
# (joiners, variation selectors, the Hangul fillers, the Khmer inherent vowels…), whatever their category.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
    (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip


def _invisible(character: str) -> bool:
    """A format character (a soft hyphen, a zero-width space) or one Unicode says is drawn as nothing."""
    code = ord(character)
    return unicodedata.category(character) == "Cf" or any(low <= code <= high for low, high in _IGNORABLE_RANGES)


def _shows_blank(character: str) -> bool:
    """Whether a character shows as nothing or as a blank: an invisible one, a separator of words, lines or
    paragraphs, a control, or the blank Braille cell."""
    return _invisible(character) or unicodedata.category(character) in ("Zs", "Zl", "Zp", "Cc") or character == "\u2800"


def teammate_email_refusal(email: str, *, other_than: int | None = None) -> str | None:
    """Why `email` cannot be a teammate's new address (another teammate's, or with invisible characters that make it
    look like another one), or None."""
    if any(_shows_blank(c) for c in email):
        return "Remove the invisible or blank characters from this address (a soft hyphen, a zero-width space…)."
    local, _, domain = email.rpartition("@")
    if mail_domain(domain) is None:
        return "This address's domain cannot be written for mail: check it for stray characters."
    if email_taken(email, other_than=other_than):
        return "A teammate already has this email."
    if not local.isascii():
        # Few mail servers deliver to one (SMTPUTF8), and its letters may pass for others (a dotless i, U+0131, for an i).
        return "Use an address whose part before the @ is plain ASCII (letters a to z, digits, dots, dashes…)."
    return None


def email_taken(email: str, *, other_than: int | None = None) -> bool:
    """Whether another teammate has this address."""
    return any(_with_mailbox(get_user_model().objects.exclude(pk=other_than).only("email"), email))


def _name_hash(username: str) -> str:
    """A login name as the limits count it: folded as same_mailbox does (variants share one lock), then hashed."""
    return subject_hash(same_mailbox(username))


def _network(request: HttpRequest) -> str:
    """The request's network, hashed: its address, or for IPv6 its /64 (one subscriber's, handed out whole: each
    of its addresses must not be a network of its own)."""
    address = parse_ip(client_ip(request) or "")
    if address is not None and address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # an IPv4 client seen through a dual-stack socket: its own network, not ::/64
    if address is not None and address.version == 6:
        return ip_hash(str(ipaddress.ip_network(f"{address}/64", strict=False).network_address) + "/64")
    return ip_hash(str(address or ""))


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def _account_limit(username: str) -> Limit:
    per = settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT
    return Limit("sign-in-account", _name_hash(username), per, SIGN_IN_WINDOW_SECONDS)


def _device_name(username: str) -> str:
    """A login name as the browser cookie knows it: exactly as typed (Django signs in by the exact name). Folded, as
    the limits count names, a cookie earned by signing in as "ROOT" (an account anyone who may rename users could
    make) would exempt guesses at "root" from its lock."""
    return subject_hash(f"device-name:{username}")


def _device_mailbox(email: str) -> str:
    return subject_hash(f"device-mailbox:{same_mailbox(email)}")


def _device_auth(user: Any) -> str:
    """Changes with the teammate's password (Django's session hash of it): a new password voids earlier cookies."""
    return subject_hash(f"device-auth:{user.get_session_auth_hash()}")


def _known_cookie(request: HttpRequest) -> dict[str, Any]:
    """What this browser's signed cookie says of the teammate it signed in as (empty when none, or not ours)."""
    try:
        known = signing.loads(request.COOKIES.get(DEVICE_COOKIE, ""), salt=_DEVICE_SALT, max_age=DEVICE_COOKIE_AGE)
    except signing.BadSignature:
        return {}
    return known if isinstance(known, dict) else {}


def _cookie_device_of(request: HttpRequest, user: Any) -> str:
    """The id in this browser's cookie when the cookie names `user`, whatever password it was earned with ("" else):
    the browser is theirs."""
    known = _known_cookie(request)
    return str(known.get("device", "")) if known.get("user") == user.pk else ""


def _known_device(request: HttpRequest, *, name: str | None = None, mailbox: str | None = None) -> str | None:
    """The id of this browser, when it signed in as the active teammate who holds this exact login name (or this
    mailbox) now, with the password they have now; else None. One query, only for a cookie that names them: a
    stranger has none to show, so the page's timing tells them nothing."""
    known = _known_cookie(request)
    device, user_id = str(known.get("device", "")), known.get("user")
    if not device or not isinstance(user_id, int) or (name, mailbox) == (None, None):
        return None
    if (name is not None and known.get("name") != name) or (mailbox is not None and known.get("mailbox") != mailbox):
        return None
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    if user is None or known.get("auth") != _device_auth(user):
        return None  # gone, inactive, or a password changed since
    if name is not None and _device_name(user.get_username()) != name:
        return None  # renamed: the name is someone else's now
    if mailbox is not None and _device_mailbox(user.email or "") != mailbox:
        return None
    return device


def _device(request: HttpRequest, username: str) -> str | None:
    """The id of this browser, when it has signed in as exactly `username` before (its signed cookie names them)."""
    return _known_device(request, name=_device_name(username))


def device_cookie(request: HttpRequest, user: Any) -> str:
    """The value that marks a browser as one that signed in as `user` (set after each sign-in): who they are (their
    id, exact login name and mailbox, hashed), their password's hash of a hash, and the browser's id, kept from its
    earlier cookie for them (signing in again mints no second budget)."""
    payload = {
        "user": user.pk, "name": _device_name(user.get_username()), "mailbox": _device_mailbox(user.email or ""),
        "auth": _device_auth(user), "device": _cookie_device_of(request, user) or secrets.token_urlsafe(12),
    }  # fmt: skip
    return signing.dumps(payload, salt=_DEVICE_SALT)


@dataclass(frozen=True)
class SignInAttempt:
    """A sign-in, counted as a failure before its password is checked (so parallel ones cannot all pass the check
    first): `refusal` says why it may not go on; sign_in_succeeded takes the count back."""

    limits: list[Limit]
    refusal: str | None


def _device_limit(device: str) -> Limit:
    return Limit("sign-in-device", device, settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT, SIGN_IN_WINDOW_SECONDS)


def sign_in_attempt(request: HttpRequest, username: str) -> SignInAttempt:
    """Count a sign-in as `username`. A browser that signed in as them before counts against itself only; any other
    against the name and its network, so a guesser elsewhere locks the name for strangers, not for its teammate."""
    device = _device(request, username)
    if device is not None:
        limits = [_device_limit(device)]
    else:
        per_network = settings.PARLEY_SIGN_IN_FAILURES_PER_NETWORK
        network = Limit("sign-in-network", _network(request), per_network, SIGN_IN_WINDOW_SECONDS)
        limits = [_account_limit(username), network]
    counted = rate_limit_count(limits)
    for limit, count in zip(limits, counted.counts, strict=True):
        if count > limit.per:
            return SignInAttempt(limits, _SIGN_IN_REFUSALS[limit.scope] % _minutes(limit.retry_after(counted.now)))
    return SignInAttempt(limits, None)


# What each lock says: what it stands on, and what lifts it (a new password lifts the name's lock only).
_SIGN_IN_REFUSALS = {
    "sign-in-account": "Too many failed sign-ins for this account. Try again in %s, or reset your password.",
    "sign-in-network": "Too many failed sign-ins from your network. Try again in %s, from a browser you have "
    "signed in with before, or from another network.",
    "sign-in-device": "Too many failed sign-ins from this browser. Try again in %s, or reset your password.",
}


def sign_in_succeeded(attempt: SignInAttempt) -> None:
    """The attempt was no failure: its count is taken back."""
    rate_limit_uncount(attempt.limits)


def sign_in_failures_forget(request: HttpRequest, user: Any) -> None:
    """Forgive the failed sign-ins under `user`'s name, and this browser's as them: they just chose a new password
    through a link to their mailbox, which a guesser locking the name out does not have. (Networks stay counted.)"""
    device = _cookie_device_of(request, user)  # the password just changed: the cookie's is the old one
    rate_limit_forget([_account_limit(user.get_username()), *([_device_limit(device)] if device else [])])


def password_reset_refusal(request: HttpRequest, email: str) -> str | None:
    """Count a request for a reset link to `email`; why it is refused (too many), or None. A browser that signed in
    as the teammate with this address counts against itself only; any other against the address and its network,
    so a stranger who spends the address's budget keeps their teammate's own browser from nothing."""
    address = subject_hash(same_mailbox(email))
    device = _known_device(request, mailbox=_device_mailbox(email))
    if device:
        # All of the teammate's browsers share a ceiling too: the emails one address gets stay few.
        limits = [
            Limit("password-reset-device", device, RESETS_PER_ADDRESS, RESET_WINDOW_SECONDS),
            Limit("password-reset-known", address, RESETS_PER_KNOWN_ADDRESS, RESET_WINDOW_SECONDS),
        ]
    else:
        limits = [
            Limit("password-reset-address", address, RESETS_PER_ADDRESS, RESET_WINDOW_SECONDS),
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
    return _with_mailbox(get_user_model()._default_manager.filter(is_active=True, is_staff=True), email)


class _LinkTokens(PasswordResetTokenGenerator):
    """Django's password-reset tokens, one kind per purpose, each with its own lifetime (the setting named
    `lifetime_setting`): a reset link does not open the welcome page (which signs in), nor an invitation the reset
    page, and a reset link ends sooner than an invitation."""

    def __init__(self, purpose: str, lifetime_setting: str) -> None:
        super().__init__()
        self.key_salt = f"parley.teammate_access.{purpose}"
        self.lifetime_setting = lifetime_setting

    def seconds(self) -> int:
        return getattr(settings, self.lifetime_setting)

    def check_token(self, user: Any, token: str | None) -> bool:
        # Django's check caps every kind at PASSWORD_RESET_TIMEOUT, the longest: this kind's own lifetime on top.
        if not super().check_token(user, token):
            return False
        made_at = base36_to_int(str(token).partition("-")[0])  # Django's check parsed it already
        return self._num_seconds(self._now()) - made_at <= self.seconds()


reset_tokens = _LinkTokens("reset", "PARLEY_PASSWORD_RESET_LINK_SECONDS")
invitation_tokens = _LinkTokens("invitation", "PASSWORD_RESET_TIMEOUT")


def link_valid_for(tokens: _LinkTokens) -> str:
    """How long a link of this kind works, for its email: "3 days", "1 hour", "90 minutes"."""
    seconds = tokens.seconds()
    if seconds % 86400 == 0:
        days = seconds // 86400
        return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}
    if seconds % 3600 == 0 or seconds > 86400:
        hours = -(-seconds // 3600)
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    minutes = -(-seconds // 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


CONSOLE_MAIL = "django.core.mail.backends.console.EmailBackend"


def _mail_is_the_log() -> bool:
    """Whether email goes to the log: an install without EMAIL_URL prints each email there (console backend)."""
    backend = settings.EMAIL_BACKEND
    if backend == "common.mail.MeteredEmailBackend":
        backend = settings.PARLEY_EMAIL_BACKEND
    return backend == CONSOLE_MAIL


def send_link_email(*, subject: str, body: str, to: str) -> bool:
    """Send an email that carries a sign-in link; False when it did not go out. Never to the log outside DEBUG:
    whoever reads the log could sign in with the link (set EMAIL_URL)."""
    if _mail_is_the_log() and not settings.DEBUG:
        logger.warning("An email with a sign-in link was not sent: email is not set up (EMAIL_URL).")
        return False
    return teammate_email(subject=subject, body=body, to=to)


def teammate_email(*, subject: str, body: str, to: str) -> bool:
    """Send one email to a teammate; False (and the error in the log) when any backend failed (SMTP refused, an API
    down)."""
    try:
        send_mail(subject=email_header_line(subject), message=body, from_email=settings.DEFAULT_FROM_EMAIL,
                  recipient_list=[to])  # fmt: skip
    except Exception:  # said to the caller, not a crash
        logger.exception("Could not send an email to a teammate.")
        return False
    return True


def password_reset_request(email: str) -> None:
    """Have the worker email the reset links for `email`. The request that asks then does the same work whether the
    address is known or not (no lookup, no mail server), so its answer's timing tells nothing, and a slow mail server
    does not hold the page. With the broker unreachable, they are sent here rather than lost."""
    from contacts.tasks import send_password_reset  # the task calls back into this module

    try:
        send_password_reset.apply_async(args=[email], retry=False)
    except Exception:  # kombu raises several unrelated types for an unreachable broker
        logger.warning("Could not queue a password reset email; sending it from the request.", exc_info=True)
        password_reset_send(email)


def password_reset_send(email: str) -> int:
    """Email a reset link to each active teammate with `email` (to the address they have); how many went out."""
    sent = 0
    for user in reset_recipients(email):
        context = {
            "user": user, "name": greeting_name(user),
            "uid": urlsafe_base64_encode(force_bytes(user.pk)), "token": reset_tokens.make_token(user),
            "public_url": settings.PUBLIC_URL, "valid_for": link_valid_for(reset_tokens),
        }  # fmt: skip
        subject = render_to_string("emails/teammate_password_reset_subject.txt", context)
        body = render_to_string("emails/teammate_password_reset.txt", context)
        sent += send_link_email(subject=subject, body=body, to=user.email)
    return sent


def invitation_link(user: Any) -> str:
    """The page where `user` chooses their password (and is signed in), for the email; the public address."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = invitation_tokens.make_token(user)
    return settings.PUBLIC_URL + reverse("teammate_welcome", kwargs={"uidb64": uid, "token": token})


INVITATIONS_PER_TEAMMATE = 5
INVITATION_WINDOW_SECONDS = 24 * 3600


def invitation_refusal(user: Any) -> str | None:
    """Count an invitation to `user`; why it may not go out (too many today: a mailbox is not flooded with Parley's
    emails, whoever asks), or None."""
    limit = Limit("teammate-invitation", subject_hash(f"user:{user.pk}"), INVITATIONS_PER_TEAMMATE,
                  INVITATION_WINDOW_SECONDS)  # fmt: skip
    counted = rate_limit_count([limit])
    if counted.counts[0] > limit.per:
        return f"{limit.per} were sent in the last day already (try again tomorrow)"
    return None


def teammate_invite(user: Any, *, invited_by: Any) -> bool:
    """Email `user` an invitation to choose their password. False when it could not go out (no address, not an
    active teammate, email not set up, the mail server refused): the caller says so, and may invite again."""
    if not user.email or not may_reset_password(user):
        return False
    inviter = signed_name(invited_by)
    name = greeting_name(user)
    body = (
        f"Hello {name},\n\n{inviter} invited you to Parley, where your team answers its customers.\n\n"
        f"Choose your password here (the link works once, for {link_valid_for(invitation_tokens)}):\n{invitation_link(user)}\n\n"
        f"Your login name is: {user.get_username()}\n\n"
        "If you did not expect this, ignore this email: nothing happens until the link is used."
    )
    return send_link_email(subject=f"{inviter} invited you to Parley", body=body, to=user.email)


def greeting_name(user: Any) -> str:
    """How an email to `user` greets them: their first name, else their login, on one line."""
    return one_line(user.first_name or user.get_username())


def signed_name(user: Any) -> str:
    """How an email names `user` as who did something: their full name, else their login, on one line."""
    return one_line(user.get_full_name() or user.get_username())


def one_line(text: str) -> str:
    """A name as an email's text may quote it: one line, no control characters (whoever typed it cannot write lines
    of their own into an email Parley sends)."""
    return " ".join("".join(c if unicodedata.category(c)[0] != "C" else " " for c in text).split())[:150]


def password_changed_notify(user: Any, *, by: Any = None) -> None:
    """Tell `user` their password was just changed (`by`: a teammate who set it for them), so that a change they did
    not make does not go unnoticed."""
    if not user.email:
        return
    changed = "was just changed" if by is None else f"was just set by {signed_name(by)}"
    body = (
        f"Hello {greeting_name(user)},\n\nThe password of your Parley login "
        f"{user.get_username()} {changed}.\n\nIf that was expected, there is nothing to do. If not, choose a new one now with "
        f'"Forgotten your login credentials?" on the sign-in page ({settings.PUBLIC_URL}{reverse("admin:login")}), '
        "and tell whoever runs Parley for your team."
    )
    teammate_email(subject="Your Parley password was changed", body=body, to=user.email)  # the change stands either way
