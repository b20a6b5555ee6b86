"""Adding a teammate in one form: their name, email and role (agent or viewer) with the login, instead of Django's
user screens (a login and password, then a second page with the staff flag, a group picker and raw permissions).
By default the teammate is emailed an invitation to choose their own password (contacts.teammate_access); the list
and an invited teammate's page send a new one. A teammate's page puts the name, email and role first, as the add form
does, and folds Django's raw grants away under "Advanced permissions"; a role change keeps the other groups.

The role is one of the teammate groups (contacts.permissions). Only a superuser grants more: a teammate who may
change users (auth.change_user, which no Parley group holds) sees the superuser flag, groups and permissions
read-only, and cannot change, delete or set the password of a superuser."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import (
    AdminPasswordChangeForm,
    AdminUserCreationForm,
    ReadOnlyPasswordHashWidget,
    UserChangeForm,
)
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import capfirst
from django_otp.plugins.otp_totp.models import TOTPDevice

from common.admin_display import breakable
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP, ensure_teammate_groups
from contacts.teammate_access import (
    email_changed_notify,
    group_grantable,
    invitation_refusal,
    invitation_tokens,
    link_valid_for,
    may_manage,
    password_changed_notify,
    teammate_email_refusal,
    teammate_invite,
)
from contacts.two_step import two_step_off, two_step_since, users_with_two_step

ROLES = ((AGENT_GROUP, "Agent"), (VIEWER_GROUP, "Viewer"))
ROLE_NAMES = tuple(name for name, _ in ROLES)
# What a teammate who may change users, but is no superuser, sees read-only: granting is a superuser's.
GRANTS = ("role", "is_superuser", "is_staff", "groups", "user_permissions")


ROLE_HELP = (
    "Agents answer conversations and edit people and companies; viewers read everything and change only their own "
    "profile."
)


def _role_group(role: str) -> Group:
    group = Group.objects.filter(name=role).first()
    if group is None:  # made by every migrate: only a database set up by hand lacks it
        ensure_teammate_groups()
        group = Group.objects.filter(name=role).first()
    if group is None:
        raise forms.ValidationError("The teammate roles are not set up yet: run manage.py migrate first.")
    return group


def invited(user: Any) -> bool:
    """Whether `user` was invited and has not chosen a password yet (so a new invitation may go out)."""
    return user.is_active and user.last_login is None and not user.has_usable_password()


def _two_step_text(since: Any) -> str:
    if since is None:
        return "Off: their password alone signs them in (they turn it on from their own menu)."
    return f"On since {date_format(timezone.localtime(since), 'DATETIME_FORMAT')}."


class _RulesOnTheFirstField:
    """Django checks a new password's rules on its second field ("Password confirmation"): they are about the
    password, so they are said on the first."""

    def validate_password_for_user(self, user: Any, password_field_name: str = "password2") -> None:  # noqa: S107 - a field's name
        super().validate_password_for_user(user, password_field_name="password1")  # type: ignore[misc]  # noqa: S106


class TeammateCreationForm(_RulesOnTheFirstField, AdminUserCreationForm):
    """Django's creation form (login and password), with the teammate's name, email and role."""

    first_name = forms.CharField(label="First name", max_length=150)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    email = forms.EmailField(label="Email", help_text="Where Parley sends their mentions and notifications.")
    role = forms.ChoiceField(
        label="Role",
        choices=ROLES,
        initial=AGENT_GROUP,
        widget=forms.RadioSelect,
        help_text=ROLE_HELP,
    )
    # Django's "password-based authentication" choice (its CSS hides the password fields when "false"), as what it
    # means here: Parley signs teammates in with a password, which an invited teammate chooses themselves.
    usable_password = forms.ChoiceField(
        label="Password",
        choices={"false": "Email them an invitation to choose their own", "true": "Set one now and pass it on"},
        initial="false",
        required=False,
        widget=forms.RadioSelect(attrs={"class": "radiolist"}),
        help_text="The invitation's link works once, for a few days; you can send a new one from the list.",
    )

    class Meta(AdminUserCreationForm.Meta):
        fields = ("username", "first_name", "last_name", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if (refusal := teammate_email_refusal(email)) is not None:
            raise forms.ValidationError(refusal)
        return email

    def invited(self) -> bool:
        return not self.cleaned_data.get("set_usable_password", True)

    def clean(self) -> dict[str, Any]:
        if self.cleaned_data.get("usable_password") == "false":  # an invitation: whatever was typed is not a password
            self.cleaned_data.pop("password1", None)
            self.cleaned_data.pop("password2", None)
        return super().clean()

    actor: Any = None  # who adds: TeammateUserAdmin.get_form sets it; they give only a role they hold the rights of

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.actor is not None and not self.actor.is_superuser:
            role = self.fields["role"]
            role.choices = [(name, label) for name, label in ROLES if group_grantable(self.actor, _role_group(name))]
            if not role.choices:
                role.choices, role.required, role.initial = [("", "No role: a superuser gives them one")], False, ""

    def clean_role(self) -> Group | None:
        return _role_group(self.cleaned_data["role"]) if self.cleaned_data["role"] else None

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=False)
        user.is_staff = True  # a teammate works in the admin
        if commit:
            user.save()
            self.save_m2m()
        return user

    def _save_m2m(self) -> None:
        super()._save_m2m()
        role = self.cleaned_data["role"]
        self.instance.groups.set([role] if role is not None else [])


class PasswordSummary(ReadOnlyPasswordHashWidget):
    """Whether a teammate has a password, in words, instead of Django's hash summary (algorithm, salt, iterations)."""

    template_name = "contacts/password_summary.html"

    def get_context(self, name: str, value: Any, attrs: Any) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["usable"] = bool(value) and not value.startswith(UNUSABLE_PASSWORD_PREFIX)
        return context


class TeammatePasswordForm(_RulesOnTheFirstField, AdminPasswordChangeForm):
    """Django's page to set a teammate's password, without its "password-based authentication: disabled" choice
    (for single sign-on, which Parley does not offer): a teammate signs in with a password."""

    usable_password = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.pop("usable_password", None)


class TeammateChangeForm(UserChangeForm):
    """Django's change form, with the role as on the add form. Other groups (Advanced permissions) stay as they are."""

    role = forms.ChoiceField(
        label="Role",
        choices=(*ROLES, ("", "No role")),
        required=False,
        widget=forms.RadioSelect(attrs={"class": "radiolist"}),
        help_text=f"{ROLE_HELP} With no role, they sign in but see only their own profile (unless Advanced "
        "permissions grant more).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "password" in self.fields:
            self.fields["password"].widget = PasswordSummary()
            self.fields["password"].help_text = ""
        names = {group.name for group in self.instance.groups.all()} if self.instance.pk else set()
        if "role" in self.fields:  # read-only for who may not grant (TeammateUserAdmin.get_readonly_fields)
            self.fields["role"].initial = next((name for name, _ in ROLES if name in names), "")
        if "groups" in self.fields:  # the role's group is the role above: only the others here
            groups = self.fields["groups"]
            groups.queryset = groups.queryset.exclude(name__in=ROLE_NAMES)
            groups.help_text = "Groups besides the role: each grants its permissions too."
        if "is_active" in self.fields:
            self.fields[
                "is_active"
            ].help_text = (
                "Untick to stop their sign-ins, instead of deleting them: their conversations, notes and history stay."
            )

    def clean_role(self) -> Group | None:
        role = self.cleaned_data["role"]
        return _role_group(role) if role else None

    def _save_m2m(self) -> None:
        had_role = [group for group in self.instance.groups.all() if group.name in ROLE_NAMES]
        super()._save_m2m()  # the other groups picked under Advanced permissions, when this teammate may grant them
        if "role" not in self.fields:
            return
        role = self.cleaned_data["role"] if "role" in self.changed_data else (had_role[0] if had_role else None)
        kept = [group for group in self.instance.groups.all() if group.name not in ROLE_NAMES]
        self.instance.groups.set([*kept, *([role] if role is not None else [])])

    def clean_email(self) -> str:
        email = self.cleaned_data.get("email", "")
        # Only a new address is checked: two older accounts sharing one can still be saved as they are.
        refusal = teammate_email_refusal(email, other_than=self.instance.pk) if "email" in self.changed_data else None
        if email and refusal is not None:
            raise forms.ValidationError(refusal)
        return email


class RoleFilter(admin.RelatedFieldListFilter):
    """The users list's filter by group, named as the Role column names them ("Agent", where the group is "agent";
    "No role" for none, where the filter said "-")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "role"
        self.empty_value_display = "No role"

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return [(pk, str(name).capitalize()) for pk, name in super().field_choices(field, request, model_admin)]


class TeammateUserAdmin(UserAdmin):
    form = TeammateChangeForm
    change_password_form = TeammatePasswordForm
    add_form = TeammateCreationForm
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("first_name", "last_name", "email", "role")}),
        ("Login", {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2")}),
    )
    list_display = ("username", "full_name", "email_address", "role", "is_active", "signed_in", "two_step")
    actions = ["send_invitation", "turn_off_two_step"]
    list_filter = (("groups", RoleFilter), "is_active", "is_superuser")

    def get_queryset(self, request: HttpRequest) -> Any:
        two_step_on = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).prefetch_related("groups").annotate(two_step_on=Exists(two_step_on))

    # A teammate's page as the add form: name, email and role first; Django's raw grants folded away.
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Name and email", {"fields": ("first_name", "last_name", "email")}),
        ("Role and access", {"fields": ("role", "is_active")}),
        (
            "Advanced permissions",
            {
                "classes": ("collapse",),
                "description": "What a role does not cover: everything (superuser), other groups, single permissions. "
                "Without staff status, no sign-in to the admin.",
                "fields": ("is_superuser", "is_staff", "groups", "user_permissions"),
            },
        ),
        ("Sign-in", {"fields": ("two_step_state", "signed_in", "date_joined")}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        if not request.user.is_superuser or obj.pk == request.user.pk:  # two-step's state, without its button
            swap = {"two_step_state": "own_two_step_words" if obj.pk == request.user.pk else "two_step_words"}
            fieldsets = [
                (name, {**options, "fields": tuple(swap.get(field, field) for field in options["fields"])})
                for name, options in fieldsets
            ]
        if not invited(obj) or not self.has_change_permission(request, obj):
            return fieldsets
        (name, options), *rest = fieldsets
        return ((name, {**options, "fields": (*options["fields"], "invitation")}), *rest)

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user}) if obj is None else form

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = (
            *super().get_readonly_fields(request, obj),
            "signed_in",
            "invitation",
            "two_step_state",
            "two_step_words",
            "own_two_step_words",
            "date_joined",
        )
        return readonly if request.user.is_superuser or obj is None else (*readonly, *GRANTS)

    @admin.display(description="Invitation")
    def invitation(self, user: Any) -> str:
        # A button of the page's own form: what was typed on the page is saved first, then the invitation goes out
        # (to the address just corrected, say). response_change sends it.
        return format_html(
            "Sent; they have not chosen a password yet (each link works for {}). "
            '<button type="submit" class="button" name="_invite" value="1">Save and send a new invitation</button>',
            link_valid_for(invitation_tokens),
        )

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        if "_invite" in request.POST:
            transaction.on_commit(lambda: self._invite(request, [obj]))  # once the changes are saved for good
        elif "_two_step_off" in request.POST:
            # The page is saved; turning it off is asked first, as from the list.
            if self.has_turn_off_two_step_permission(request):
                return self._two_step_off_confirmation(request, [obj])
            self._two_step_off(request, [obj])
        else:
            return super().response_change(request, obj)
        return HttpResponseRedirect(reverse("admin:auth_user_change", args=[obj.pk]))

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """Django's list of what deleting takes, without the rows that only link a teammate to a group or a permission
        ("User-group relationship: User_groups object (5)"): the groups and permissions themselves stay."""
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        user_model = get_user_model()
        links = [user_model.groups.through._meta, user_model.user_permissions.through._meta]
        prefixes = tuple(f"{capfirst(meta.verbose_name)}: " for meta in links)

        def without_links(items: list[Any]) -> list[Any]:
            kept = []
            for item in items:
                if isinstance(item, list):
                    if nested := without_links(item):
                        kept.append(nested)
                elif not str(item).startswith(prefixes):
                    kept.append(item)
            return kept

        for meta in links:
            model_count.pop(meta.verbose_name_plural, None)
        return without_links(to_delete), model_count, perms_needed, protected

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        """Django's "set a password" page for a teammate: told to them by email. One's own password is changed on
        "Change password" instead, with the current one (counted as a sign-in)."""
        user = self.get_object(request, unquote(id))
        if user is not None and user.pk == request.user.pk:  # the account, however its id is spelled
            return HttpResponseRedirect(reverse("admin:password_change"))
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302 and user is not None:
            password_changed_notify(user, by=request.user)
        return response

    def _may_manage(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or may_manage(request.user, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_manage(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_manage(request, obj)

    # One column for the name (first and last): at 1280 px, with both sidebars, the list keeps every column in view.
    @admin.display(description="Name", ordering="first_name")
    def full_name(self, user: Any) -> str:
        return user.get_full_name()

    @admin.display(description="Email address", ordering="email")
    def email_address(self, user: Any) -> str:
        """Wrapped at its @ and dots in a narrow list, not mid-word (a walk found "kim@lamps.exa" / "mple")."""
        return breakable(user.email)

    @admin.display(description="Role")
    def role(self, user: Any) -> str:
        if user.is_superuser:
            return "Superuser"
        names = sorted(group.name.capitalize() for group in user.groups.all())
        return ", ".join(names) or "—"

    # The list's column says "Two-step": its heading took four lines of a narrow column at 1280 px (a re-check).
    @admin.display(description="Two-step", boolean=True, ordering="two_step_on")
    def two_step(self, user: Any) -> bool:
        return user.two_step_on

    @admin.display(description="Two-step sign-in")
    def two_step_words(self, user: Any) -> str:
        return _two_step_text(two_step_since(user))

    @admin.display(description="Two-step sign-in")
    def own_two_step_words(self, user: Any) -> str:
        """One's own page: its state, and where one changes it."""
        return format_html(
            '{} <a href="{}">Your Two-step sign-in page</a> turns it on or off.',
            _two_step_text(two_step_since(user)),
            reverse("two_step_setup"),
        )

    @admin.display(description="Two-step sign-in")
    def two_step_state(self, user: Any) -> str:
        """Its state in words, and (for a superuser looking at someone else's page) a button to turn it off."""
        since = two_step_since(user)
        if since is None:
            return _two_step_text(since)
        # A button of the page's form, as "Save and send a new invitation": the page is saved, then it is turned off.
        return format_html(
            '{} <button type="submit" class="button" name="_two_step_off" value="1">Save and turn it off (a lost '
            "phone)</button>",
            _two_step_text(since),
        )

    @admin.action(
        description="Turn off two-step sign-in for the selected teammates (a lost phone)",
        permissions=["turn_off_two_step"],
    )
    def turn_off_two_step(self, request: HttpRequest, queryset: Any) -> TemplateResponse | None:
        users = list(queryset.order_by("username"))
        if request.POST.get("confirm") != "yes":
            return self._two_step_off_confirmation(request, users)
        self._two_step_off(request, users)
        return None

    def _two_step_off_confirmation(self, request: HttpRequest, users: list[Any]) -> TemplateResponse:
        """Whose two-step sign-in the action turns off, and whose it leaves (one's own; none to turn off), before it
        does: "Yes, turn it off" posts the selection to the list's action with `confirm=yes`."""
        on = users_with_two_step([user.pk for user in users])
        mine = request.user.pk
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Turn off two-step sign-in?",
            "turned_off": [user for user in users if user.pk in on and user.pk != mine],
            "own_on": mine in on and any(user.pk == mine for user in users),
            "without": [user for user in users if user.pk not in on],
            "selected": [user.pk for user in users],
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/auth/user/turn_off_two_step_confirmation.html", context)

    def has_turn_off_two_step_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def _two_step_off(self, request: HttpRequest, users: list[Any]) -> None:
        """A superuser turns two-step sign-in off for teammates who lost their phone. Not their own: that takes their
        password, on their own two-step page (a stolen session must not be enough)."""
        if not request.user.is_superuser:
            self.message_user(
                request,
                "Not changed: only a superuser turns off another teammate's two-step sign-in.",
                messages.WARNING,
            )
            return
        turned_off, own = [], False
        for user in users:
            if user.pk == request.user.pk:
                own = two_step_since(user) is not None
            elif two_step_off(user, by=request.user):
                turned_off.append(user.get_username())
        if turned_off:
            self.message_user(
                request,
                f"Two-step sign-in is off for {', '.join(turned_off)}: their password alone signs them in until they "
                "turn it on again (they were told by email).",
            )
        if own:
            self.message_user(
                request,
                "Yours is still on: you turn your own off on your Two-step sign-in page, with your password.",
                messages.WARNING,
            )
        if not turned_off and not own:
            self.message_user(request, "None of the selected teammates had two-step sign-in on.", messages.WARNING)

    @admin.display(description="Last sign-in", ordering="last_login")
    def signed_in(self, user: Any) -> str:
        if user.last_login is not None:
            return date_format(timezone.localtime(user.last_login), "DATETIME_FORMAT")
        if not user.is_active:
            return "Never (not active)"
        return "Never (invited)" if not user.has_usable_password() else "Never"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "email" in form.changed_data:
            old_email = form.initial.get("email") or ""
            transaction.on_commit(lambda: email_changed_notify(obj, old_email=old_email, by=request.user))
        if not change and form.invited():
            # Once the teammate is saved for good: a rolled-back add must not have mailed a link.
            transaction.on_commit(lambda: self._invite(request, [obj]))

    @admin.action(description="Send a new invitation to the selected teammates", permissions=["change"])
    def send_invitation(self, request: HttpRequest, queryset: Any) -> None:
        self._invite(request, list(queryset))

    def _invite(self, request: HttpRequest, users: list[Any]) -> None:
        """Email each teammate who has never signed in an invitation; say who got one, and why the others did not."""
        sent, refused = [], []
        for user in users:
            reason = self._not_invitable(request, user)
            if reason is None and not teammate_invite(user, invited_by=request.user):
                reason = (
                    "it could not be sent (email not set up with EMAIL_URL, or the mail server refused it; see the log)"
                )
            if reason is None:
                sent.append(user.email)
            else:
                refused.append(f"{user.get_username()}: {reason}")
        if sent:
            self.message_user(
                request,
                f"Invitation sent to {', '.join(sent)}: its link works for {link_valid_for(invitation_tokens)}.",
            )
        for refusal in refused:
            self.message_user(request, f"No invitation for {refusal}.", messages.WARNING)

    def _not_invitable(self, request: HttpRequest, user: Any) -> str | None:
        if not self.has_change_permission(request, user):
            return "you may not change their account"
        if not user.is_active:
            return "their account is not active (tick Active on their page first)"
        if not user.is_staff:
            return "they are not a teammate (no staff status under Advanced permissions)"
        if not user.email:
            return "they have no email address (add one on their page)"
        if user.last_login is not None:
            return 'they have signed in already (they can use "Forgotten your login credentials?" on the sign-in page)'
        if user.has_usable_password():
            return "they have a password already, set when they were added (pass it on, or set a new one on their page)"
        return invitation_refusal(user)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        # Django's user admin always goes on to the change page (to set the staff flag and groups): the form
        # did that already, so "Save" returns to the list as everywhere else.
        return admin.ModelAdmin.response_add(self, request, obj, post_url_continue)


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, TeammateUserAdmin)
