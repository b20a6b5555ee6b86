"""The admin's sign-in form and its password pages: forgotten password and a new teammate's welcome (the rules are
contacts.teammate_access's). Django's own views and admin templates, with the site's header and these forms."""

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse, reverse_lazy

from contacts.teammate_access import (
    DEVICE_COOKIE,
    DEVICE_COOKIE_AGE,
    device_cookie,
    invitation_tokens,
    link_valid_for,
    may_reset_password,
    password_changed_notify,
    password_reset_refusal,
    password_reset_request,
    reset_tokens,
    sign_in_attempt,
    sign_in_failures_forget,
    sign_in_succeeded,
)
from contacts.two_step import pending, pending_start, two_step_on


class TeammateAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in, counted before its password is checked and refused over the limits
    (contacts.teammate_access); a success takes the count back (and the view marks the browser once signed in)."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if not (username and self.cleaned_data.get("password")):
            return super().clean()
        attempt = sign_in_attempt(self.request, username)
        if attempt.refusal is not None:
            raise ValidationError(attempt.refusal, code="throttled")
        cleaned = super().clean()  # a wrong password raises: the attempt stays counted
        sign_in_succeeded(attempt)
        return cleaned


def mark_browser(request: HttpRequest, response: HttpResponse, user: Any) -> HttpResponse:
    """The cookie that lets this browser past a lock on `user`'s name or address: it signed in as them, with the
    password they have now (teammate_access)."""
    response.set_cookie(
        DEVICE_COOKIE, device_cookie(request, user), max_age=DEVICE_COOKIE_AGE, path="/admin/",
        secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Lax",
    )  # fmt: skip
    return response


class TeammateLoginView(auth_views.LoginView):
    """The admin's sign-in view. For a teammate with two-step sign-in (contacts.two_step), the right password leads
    to the code page instead of signing in; otherwise the browser is marked as theirs once signed in."""

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if not two_step_on(user):
            return mark_browser(self.request, super().form_valid(form), user)
        pending_start(self.request, user, backend=user.backend, next_url=self.get_success_url())
        return HttpResponseRedirect(reverse("two_step_sign_in"))


def sign_in_view(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """The admin's sign-in page: AdminSite.login's page and context, with TeammateLoginView."""
    if request.method == "GET" and admin.site.has_permission(request):
        return HttpResponseRedirect(reverse("admin:index"))
    context = {
        **admin.site.each_context(request), "title": "Log in", "subtitle": None, "app_path": request.get_full_path(),
        "username": request.user.get_username(),
        # A password typed a moment ago waits for its code: the page says where to finish (another admin link
        # followed in between lands here).
        "two_step_waiting": pending(request) is not None,
    }  # fmt: skip
    if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
        context[REDIRECT_FIELD_NAME] = reverse("admin:index")
    request.current_app = admin.site.name
    view = TeammateLoginView.as_view(
        extra_context={**context, **(extra_context or {})}, authentication_form=TeammateAuthenticationForm,
        template_name="admin/login.html",
    )  # fmt: skip
    return view(request)


class CountedPasswordChangeForm(AdminPasswordChangeForm):
    """The admin's "Change password": its current password is a sign-in, counted and limited as one (whoever holds
    a teammate's session gets no more guesses at their password than the sign-in page gives)."""

    def __init__(self, user: Any, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        attempt = sign_in_attempt(self.request, self.user.get_username())
        if attempt.refusal is not None:
            raise ValidationError(attempt.refusal, code="throttled")
        old_password = super().clean_old_password()  # a wrong one raises: the attempt stays counted
        sign_in_succeeded(attempt)
        return old_password

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        old = cleaned.get("old_password")
        if old and cleaned.get("new_password1") == old:  # "changed" to itself, which signed out every other browser
            self.add_error("new_password1", ValidationError("That is your current password: choose a new one."))
        return cleaned


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = CountedPasswordChangeForm
    title = "Change password"  # the header's link's words
    success_url = reverse_lazy("admin:password_change_done")

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**admin.site.each_context(self.request), **super().get_context_data(**kwargs)}

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        password_changed_notify(form.user)
        return mark_browser(self.request, response, form.user)  # the old password's cookies no longer count


class TeammatePasswordResetForm(PasswordResetForm):
    """Django's reset form, counted per address and network; the worker mails active teammates only (invited ones
    too), never into the log (teammate_access.password_reset_request)."""

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        refusal = password_reset_refusal(self.request, email)
        if refusal is not None:
            raise ValidationError(refusal, code="throttled")
        return email

    def save(self, **kwargs: Any) -> None:
        password_reset_request(self.cleaned_data["email"])  # the worker finds the teammates and mails them


class _AdminPage:
    """A page outside the admin's views that looks like one of them (the site's header and title), without the
    navigation (as the sign-in page: whoever reads it may not be signed in)."""

    request: HttpRequest

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        site = {**admin.site.each_context(self.request), "is_nav_sidebar_enabled": False}
        return {**site, **super().get_context_data(**kwargs)}  # type: ignore[misc]


class _TeammateLink:
    """A link from an email works only for an active teammate, whatever its token says; the password it sets
    forgives the failed sign-ins under the teammate's name."""

    def get_user(self, uidb64: str) -> Any:
        user = super().get_user(uidb64)  # type: ignore[misc]
        return user if user is not None and may_reset_password(user) else None

    def form_valid(self, form: Any) -> HttpResponse:
        changed = form.user.has_usable_password()  # a change of the password they had, not an invitation's first
        response = super().form_valid(form)  # type: ignore[misc]
        sign_in_failures_forget(self.request, form.user)  # type: ignore[attr-defined]
        if changed:
            password_changed_notify(form.user)
        return response


class PasswordResetView(_AdminPage, auth_views.PasswordResetView):
    form_class = TeammatePasswordResetForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}


class PasswordResetDoneView(_AdminPage, auth_views.PasswordResetDoneView):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "valid_for": link_valid_for(reset_tokens)}


class PasswordResetConfirmView(_AdminPage, _TeammateLink, auth_views.PasswordResetConfirmView):
    token_generator = reset_tokens


class PasswordResetCompleteView(_AdminPage, auth_views.PasswordResetCompleteView):
    pass


class TeammateWelcomeView(_AdminPage, _TeammateLink, auth_views.PasswordResetConfirmView):
    """An invitation's link: the new teammate chooses their password and is signed in, on the admin's home page."""

    template_name = "registration/teammate_welcome.html"
    token_generator = invitation_tokens
    title = "Welcome to Parley"
    post_reset_login = True
    success_url = reverse_lazy("admin:index")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        return context if context.get("validlink") else {**context, "title": "Invitation link expired"}

    def form_valid(self, form: Any) -> HttpResponse:
        if two_step_on(form.user):  # (an invitation is never signed in with, but a code is never skipped either)
            self.post_reset_login = False
            super().form_valid(form)  # the password is set; the sign-in is the sign-in page's, with a code
            messages.success(self.request, "Your password is set: sign in with it and a code from your app.")
            return HttpResponseRedirect(reverse("admin:login"))
        response = super().form_valid(form)
        messages.success(self.request, "Your password is set, and you are signed in. Welcome to Parley.")
        return mark_browser(self.request, response, form.user)


admin.site.login_form = TeammateAuthenticationForm
