"""Adding a teammate in one form: their name, email and role (agent or viewer) with the login, instead of Django's
user screens (a login and password, then a second page with the staff flag, a group picker and raw permissions).

The role is one of the teammate groups (contacts.permissions); making a teammate a superuser stays on Django's
change page, where only a superuser may tick it."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponse

from contacts.permissions import AGENT_GROUP, VIEWER_GROUP, ensure_teammate_groups

ROLES = ((AGENT_GROUP, "Agent"), (VIEWER_GROUP, "Viewer"))


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
        "nothing.",
    )
    # Always a password: Parley signs teammates in with one (there is no single sign-on to leave it to).
    usable_password = None

    class Meta(AdminUserCreationForm.Meta):
        fields = ("username", "first_name", "last_name", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A teammate already has this email.")
        return email

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=False)
        user.is_staff = True  # a teammate works in the admin
        if commit:
            user.save()
            self.save_m2m()
        return user

    def _save_m2m(self) -> None:
        super()._save_m2m()
        ensure_teammate_groups()
        self.instance.groups.set([Group.objects.get(name=self.cleaned_data["role"])])


class TeammateUserAdmin(UserAdmin):
    add_form = TeammateCreationForm
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("first_name", "last_name", "email", "role")}),
        ("Login", {"classes": ("wide",), "fields": ("username", "password1", "password2")}),
    )
    list_display = ("username", "first_name", "last_name", "email", "role", "is_active", "last_login")
    list_filter = ("groups", "is_active", "is_superuser")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("groups")

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
