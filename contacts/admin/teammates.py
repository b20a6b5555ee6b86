"""Adding a teammate in one form: their name, email and role (agent or viewer) with the login, instead of Django's
user screens (a login and password, then a second page with the staff flag, a group picker and raw permissions).

The role is one of the teammate groups (contacts.permissions). Only a superuser grants more: a teammate who may
change users (auth.change_user, which no Parley group holds) sees the superuser flag, groups and permissions
read-only, and cannot change, delete or set the password of a superuser."""

import unicodedata
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponse

from contacts.permissions import AGENT_GROUP, VIEWER_GROUP, ensure_teammate_groups

ROLES = ((AGENT_GROUP, "Agent"), (VIEWER_GROUP, "Viewer"))
GRANTS = ("is_superuser", "groups", "user_permissions")


def _same_mailbox(email: str) -> str:
    """An address as Parley compares them: compatibility forms folded (fullwidth letters are plain ones), case
    ignored."""
    return unicodedata.normalize("NFKC", email).casefold()


def email_taken(email: str, *, other_than: int | None = None) -> bool:
    """Whether another teammate has this address (teammates are few: compared in Python, as _same_mailbox says)."""
    wanted = _same_mailbox(email)
    others = get_user_model().objects.exclude(email="").exclude(pk=other_than).values_list("email", flat=True)
    return any(_same_mailbox(other) == wanted for other in others.iterator())


class TeammateCreationForm(AdminUserCreationForm):
    """Django's creation form (login and password), with the teammate's name, email and role."""

    first_name = forms.CharField(label="First name", max_length=150)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    email = forms.EmailField(label="Email", help_text="Where Parley sends their mentions and notifications.")
    role = forms.ChoiceField(
        label="Role",
        choices=ROLES,
        initial=AGENT_GROUP,
        widget=forms.RadioSelect,
        help_text="Agents answer conversations and edit people and companies; viewers read everything and change "
        "only their own profile.",
    )
    # Always a password: Parley signs teammates in with one (there is no single sign-on to leave it to).
    usable_password = None

    class Meta(AdminUserCreationForm.Meta):
        fields = ("username", "first_name", "last_name", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if email_taken(email):
            raise forms.ValidationError("A teammate already has this email.")
        return email

    def clean_role(self) -> Group:
        role = self.cleaned_data["role"]
        group = Group.objects.filter(name=role).first()
        if group is None:  # made by every migrate: only a database set up by hand lacks it
            ensure_teammate_groups()
            group = Group.objects.filter(name=role).first()
        if group is None:
            raise forms.ValidationError("The teammate roles are not set up yet: run manage.py migrate first.")
        return group

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=False)
        user.is_staff = True  # a teammate works in the admin
        if commit:
            user.save()
            self.save_m2m()
        return user

    def _save_m2m(self) -> None:
        super()._save_m2m()
        self.instance.groups.set([self.cleaned_data["role"]])


class TeammateChangeForm(UserChangeForm):
    def clean_email(self) -> str:
        email = self.cleaned_data.get("email", "")
        # Only a new address is checked: two older accounts sharing one can still be saved as they are.
        if email and "email" in self.changed_data and email_taken(email, other_than=self.instance.pk):
            raise forms.ValidationError("A teammate already has this email.")
        return email


class TeammateUserAdmin(UserAdmin):
    form = TeammateChangeForm
    add_form = TeammateCreationForm
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("first_name", "last_name", "email", "role")}),
        ("Login", {"classes": ("wide",), "fields": ("username", "password1", "password2")}),
    )
    list_display = ("username", "first_name", "last_name", "email", "role", "is_active", "last_login")
    list_filter = ("groups", "is_active", "is_superuser")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("groups")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if request.user.is_superuser or obj is None else (*readonly, *GRANTS)

    def _superuser_spared(self, request: HttpRequest, obj: Any) -> bool:
        """A superuser's account is changed (password included) or deleted by a superuser only."""
        return obj is None or not obj.is_superuser or request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._superuser_spared(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._superuser_spared(request, obj)

    @admin.display(description="Role")
    def role(self, user: Any) -> str:
        if user.is_superuser:
            return "Superuser"
        names = sorted(group.name.capitalize() for group in user.groups.all())
        return ", ".join(names) or "—"

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        # Django's user admin always goes on to the change page (to set the staff flag and groups): the form
        # did that already, so "Save" returns to the list as everywhere else.
        return admin.ModelAdmin.response_add(self, request, obj, post_url_continue)


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, TeammateUserAdmin)
