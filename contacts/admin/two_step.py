"""Two-step sign-in's pages (rules in contacts/two_step.py): the code after the password, and a teammate's own
page to turn it on (an authenticator app, recovery codes) or off. A superuser turns it off for a teammate who lost
their phone from the users list (contacts/admin/teammates.py)."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from contacts import two_step
from contacts.admin.sign_in import mark_browser
from contacts.teammate_access import sign_in_attempt, sign_in_succeeded

# django-otp's own admin pages show every teammate's app key: no one needs them (the pages here do the work).
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class _CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )


class _PasswordForm(forms.Form):
    password = forms.CharField(label="Password", max_length=4096, widget=forms.PasswordInput)


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def two_step_sign_in_view(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the app (or a recovery code) finishes the sign-in the password started. Each code
    counts as a sign-in under the teammate's name (a stolen password gets as few guesses at it as at the password)."""
    waiting = two_step.pending(request)
    if waiting is None:
        messages.warning(
            request,
            "No sign-in is waiting for a code in this browser: sign in with your password (its code is asked "
            "for within five minutes of it).",
        )
        return redirect("admin:login")
    if request.method == "POST" and request.POST.get("do") == "again":  # "Sign in as someone else"
        two_step.pending_end(request)
        return redirect("admin:login")
    username = waiting.user.get_username()
    form = _CodeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        attempt = sign_in_attempt(request, username)
        if attempt.refusal is not None:
            form.add_error(None, attempt.refusal)
        elif (refusal := two_step.code_refusal(waiting.user, form.cleaned_data["code"])) is None:
            sign_in_succeeded(attempt)
            two_step.pending_end(request)
            login(request, waiting.user, backend=waiting.backend)
            if two_step.is_recovery_code(form.cleaned_data["code"]):
                left = two_step.recovery_codes_left(waiting.user)
                messages.warning(
                    request,
                    f"You signed in with a recovery code: {left} left. Lost your phone? Turn two-step sign-in off and on "
                    "again with a new one on your Two-step sign-in page (that makes new recovery codes too).",
                )
            return mark_browser(request, HttpResponseRedirect(waiting.next_url or reverse("admin:index")), waiting.user)
        else:
            form.add_error("code", refusal)
    context = {
        **admin.site.each_context(request), "is_nav_sidebar_enabled": False, "title": "Two-step sign-in",
        "form": form, "username": username,
    }  # fmt: skip
    return TemplateResponse(request, "admin/two_step/sign_in.html", context)


@sensitive_post_parameters("code", "password")
@csrf_protect
@never_cache
@login_required
def two_step_setup_view(request: HttpRequest) -> HttpResponse:
    """A teammate's own two-step sign-in: on (app, recovery codes) or off (with their password)."""
    if not request.user.is_staff:
        return redirect("admin:login")
    user = request.user
    action = request.POST.get("do") if request.method == "POST" else None
    context: dict[str, Any] = {"confirm_form": _CodeForm(), "codes_form": _CodeForm(), "off_form": _PasswordForm()}
    if action == "start":
        two_step.setup_device(user)
    elif action == "cancel":
        two_step.setup_cancel(user)
    elif action == "confirm":
        context["confirm_form"] = form = _CodeForm(request.POST)
        if form.is_valid():
            confirmed = two_step.setup_confirm(user, form.cleaned_data["code"])
            if isinstance(confirmed, str):
                form.add_error("code", confirmed)
            else:
                context |= _codes_shown(user, confirmed)
    elif action == "codes":
        context["codes_form"] = form = _CodeForm(request.POST)
        # An app code only: whoever holds a session and one recovery code must not silently replace them all.
        refusal = lambda: two_step.code_refusal(user, form.cleaned_data["code"], recovery=False)  # noqa: E731
        if form.is_valid() and _counted(request, refusal, form):
            context |= {**_codes_shown(user, two_step.recovery_codes_new(user, told=True)), "codes_renewed": True}
    elif action == "off":
        context["off_form"] = form = _PasswordForm(request.POST)
        if form.is_valid() and _counted(request, lambda: _password_refusal(user, form.cleaned_data["password"]), form):
            two_step.two_step_off(user)
            messages.success(request, "Two-step sign-in is off: your password alone signs you in.")
            return redirect("two_step_setup")
    pending = two_step.setup_pending(user)
    context |= {
        **admin.site.each_context(request), "title": "Two-step sign-in", "username": user.get_username(),
        "since": two_step.two_step_since(user), "codes_left": two_step.recovery_codes_left(user),
        "setting_up": pending is not None,
        **({"qr_image": two_step.setup_qr_image(pending), "key": two_step.setup_key(pending)} if pending else {}),
    }  # fmt: skip
    return TemplateResponse(request, "admin/two_step/setup.html", context)


def _codes_shown(user: Any, codes: list[str]) -> dict[str, Any]:
    """The recovery codes on the page, and as the text file its link downloads (shown once: nothing keeps them)."""
    lines = [f"Parley recovery codes for {user.get_username()} (each signs in once instead of an app code):", *codes]
    return {"recovery_codes": codes, "codes_file": "\n".join(lines) + "\n"}


def _password_refusal(user: Any, password: str) -> str | None:
    return None if user.check_password(password) else "This password is not right."


def _counted(request: HttpRequest, refusal: Callable[[], str | None], form: forms.Form) -> bool:
    """A check of the signed-in teammate's password or code (`refusal`: why it fails, or None), counted as a sign-in,
    as "Change password" is: whoever holds a session gets no more guesses than the sign-in page gives. The form's one
    field says why not."""
    field = next(iter(form.fields))
    attempt = sign_in_attempt(request, request.user.get_username())
    why = attempt.refusal if attempt.refusal is not None else refusal()
    if why is not None:
        form.add_error(field, why)
        return False
    sign_in_succeeded(attempt)
    return True
