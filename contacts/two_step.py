"""Two-step sign-in for teammates: a code from an authenticator app after the password (django-otp's TOTP device),
or one of ten recovery codes (its static device) when the phone is lost.

- **Turning it on.** A teammate scans a QR code (or types the key) into an app and confirms with a code: only then
  is the device confirmed, and the ten recovery codes are shown, once.
- **Signing in.** The password alone no longer signs in: it leaves a pending sign-in in the session (for
  PENDING_SECONDS), and the code page finishes it. Each code is counted as a sign-in under the teammate's name
  (teammate_access), so a stolen password gets as few guesses at the code as at the password; django-otp also slows
  down each device after a wrong code.
- **Turning it off.** The teammate, with their password; or a superuser, for a teammate who lost their phone and
  their recovery codes.
"""

import base64
import io
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import qrcode
import qrcode.image.svg
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from contacts.teammate_access import greeting_name, signed_name, teammate_email

RECOVERY_CODES = 10
PENDING_SECONDS = 5 * 60
SETUP_WRONG = "This code is not right. Type the 6-digit code the app shows for Parley now."
WRONG_CODE = (
    "This code is not right, or was used already. Type the one your app shows now (it changes every 30 seconds), "
    "or an unused recovery code."
)
_PENDING_KEY = "parley_two_step_pending"
_APP_CODE = re.compile(r"[0-9]{6}")
_RECOVERY_CODE = re.compile(r"[a-z2-7]{8}")  # StaticToken.random_token: 5 random bytes in base32


def two_step_on(user: Any) -> bool:
    """Whether `user` signs in with a code after their password."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def two_step_since(user: Any) -> Any:
    """When `user` turned two-step sign-in on (None when off)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).only("created_at").first()
    return device.created_at if device is not None else None


def users_with_two_step(user_ids: list[int]) -> set[int]:
    """Which of these teammates have two-step sign-in on (one query)."""
    return set(TOTPDevice.objects.filter(user_id__in=user_ids, confirmed=True).values_list("user_id", flat=True))


def recovery_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def setup_device(user: Any) -> TOTPDevice:
    """The app key `user` is setting up: a new one, unconfirmed until a code from it proves the app has it (an
    earlier unconfirmed one is replaced: only the last QR code shown works)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def setup_pending(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def setup_key(device: TOTPDevice) -> str:
    """The key as an app asks for it when typed: base32, in groups of four."""
    secret = device.config_url.split("secret=", 1)[1].split("&", 1)[0]
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


def setup_qr_image(device: TOTPDevice) -> str:
    """The otpauth:// address of `device` as an SVG QR code in a data: address, for an <img> (no image file; as an
    image, nothing in it is ever markup of the page)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


def setup_cancel(user: Any) -> None:
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()


def setup_confirm(user: Any, code: str) -> list[str] | str:
    """Confirm the app `user` set up with a code from it: two-step sign-in is on (they are told by email), and these
    are their recovery codes (shown once). Else why not."""
    if not _APP_CODE.fullmatch(normalized(code)):
        return SETUP_WRONG
    with transaction.atomic():
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").select_for_update().first()
        if device is None:
            return "Nothing to confirm: set up the app again."
        refusal = _device_refusal(device, normalized(code))
        if refusal is not None:
            return SETUP_WRONG if refusal == WRONG_CODE else refusal
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed, device.created_at = True, timezone.now()  # "on since": when it was confirmed
        device.save(update_fields=["confirmed", "created_at"])
        codes = recovery_codes_new(user)
    _notify(user, on=True)
    return codes


def recovery_codes_new(user: Any, *, told: bool = False) -> list[str]:
    """Ten new recovery codes for `user` (the old ones stop working): each signs in once instead of an app code.
    `told`: the teammate is emailed that new ones were made (not when turning two-step on: that email says it)."""
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
        StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    if told and user.email:
        body = (
            f"Hello {greeting_name(user)},\n\nNew recovery codes were just made for your "
            f"Parley login {user.get_username()}: the old ones no longer work.\n\nIf that was not you, choose a new "
            "password now and tell whoever runs Parley for your team."
        )
        teammate_email(subject="New Parley recovery codes were made", body=body, to=user.email)
    return codes


def normalized(code: str) -> str:
    """A code as typed, without the spaces and dashes people put in, in lower case (recovery codes)."""
    return re.sub(r"[\s-]", "", code or "").lower()


def is_recovery_code(code: str) -> bool:
    """Whether `code` has a recovery code's shape (not an app's six digits)."""
    return _RECOVERY_CODE.fullmatch(normalized(code)) is not None


def code_refusal(user: Any, code: str, *, recovery: bool = True) -> str | None:
    """None when `code` is `user`'s app code now, or (`recovery`) one of their unused recovery codes, then used up and
    told to them by email; else why not. The device's row is locked while it is checked: two requests with one code
    cannot both pass (django-otp checks, then marks the code used)."""
    code = normalized(code)
    if _APP_CODE.fullmatch(code):
        devices: Any = TOTPDevice.objects.filter(user=user, confirmed=True)
    elif recovery and _RECOVERY_CODE.fullmatch(code):
        devices = StaticDevice.objects.filter(user=user, confirmed=True)
    else:  # no code of either kind (nor anything the database should be asked about)
        return WRONG_CODE
    with transaction.atomic():
        device = devices.select_for_update().first()
        refusal = WRONG_CODE if device is None else _device_refusal(device, code)
    if refusal is None and isinstance(device, StaticDevice):
        _recovery_code_used_notify(user)
    return refusal


def _recovery_code_used_notify(user: Any) -> None:
    left = recovery_codes_left(user)
    body = (
        f"Hello {greeting_name(user)},\n\nA recovery code was just used to sign in as "
        f"{user.get_username()}; {left} left. If your phone is lost, turn two-step sign-in off and on again with a new "
        "one (your Two-step sign-in page), which also makes new recovery codes.\n\nIf that was not you, choose a new "
        "password now and tell whoever runs Parley for your team."
    )
    if user.email:
        teammate_email(subject="A recovery code was used to sign in to Parley", body=body, to=user.email)


def _device_refusal(device: Any, code: str) -> str | None:
    """None when `device` takes `code`; else why not. After a wrong code, django-otp makes a device wait (1, 2, 4…
    seconds): a code typed meanwhile is not checked, and the teammate is told so, not that it is wrong."""
    allowed, wait = device.verify_is_allowed()
    if not allowed and wait and wait.get("locked_until"):
        seconds = max(1, math.ceil((wait["locked_until"] - timezone.now()).total_seconds()))
        wait_for = ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
        return f"After a wrong code, the next one is checked only after a pause: try again in {wait_for}."
    return None if device.verify_token(code) else WRONG_CODE


def two_step_off(user: Any, *, by: Any = None) -> bool:
    """Turn two-step sign-in off for `user` (their app key and recovery codes are deleted), by themselves or by a
    superuser (`by`: a lost phone); whether it was on. They are told by email."""
    with transaction.atomic():
        was_on = two_step_on(user)
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    if was_on:
        _notify(user, on=False, by=by)
    return was_on


def _notify(user: Any, *, on: bool, by: Any = None) -> None:
    """Tell `user` their two-step sign-in changed, so that a change they did not make does not go unnoticed."""
    if not user.email:
        return
    subject = f"Two-step sign-in is now {'on' if on else 'off'} for your Parley login"
    who = f"{signed_name(by)} (a superuser)" if by is not None else "you, signed in"
    body = (
        f"Hello {greeting_name(user)},\n\n{subject} {user.get_username()}: changed by {who}.\n\n"
        "If that was not expected, tell whoever runs Parley for your team, and choose a new password now."
    )
    teammate_email(subject=subject, body=body, to=user.email)


# --- the sign-in between the password and the code ------------------------------------------------------------


@dataclass(frozen=True)
class PendingSignIn:
    user: Any
    backend: str
    next_url: str


def pending_start(request: HttpRequest, user: Any, *, backend: str, next_url: str) -> None:
    """The password was right: the code page may finish this sign-in, for PENDING_SECONDS."""
    request.session[_PENDING_KEY] = {
        "user": user.pk, "backend": backend, "next": next_url, "at": time.time(),
        "password": user.get_session_auth_hash(),  # a new password since ends it
    }  # fmt: skip


def pending(request: HttpRequest) -> PendingSignIn | None:
    """The sign-in waiting for its code in this browser, if any (and not expired, and its teammate still active)."""
    state = request.session.get(_PENDING_KEY)
    if not isinstance(state, dict) or time.time() - float(state.get("at", 0)) > PENDING_SECONDS:
        return None
    user = get_user_model()._default_manager.filter(pk=state.get("user"), is_active=True, is_staff=True).first()
    if user is None or not constant_time_compare(str(state.get("password", "")), user.get_session_auth_hash()):
        return None
    return PendingSignIn(user=user, backend=str(state.get("backend")), next_url=str(state.get("next") or ""))


def pending_end(request: HttpRequest) -> None:
    request.session.pop(_PENDING_KEY, None)
