"""The one name a teammate goes by, wherever Parley shows one (admin lists, pickers and filters, mentions,
presence, reports, the messenger, emails): their profile's display name, else their full name, else their
username; never their email.

The profile is the conversations app's TeammateProfile, reached by its related name: common imports no
app, and the contacts admin (a contact's owner, notes) sits below conversations, so the rule lives here.
Query teammates with `select_related(PROFILE)` (or a path ending in it): naming then costs no query.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Value
from django.db.models.functions import Coalesce, Lower, NullIf

PROFILE = "parley_profile"


def teammate_name_order(path: str = "") -> list[Any]:
    """An order_by() of teammates close to the order of their names (the display name, else the full name,
    which starts with the first name, else the username); of the teammate at `path` ("created_by") if given."""
    at = f"{path}__" if path else ""
    shown = Coalesce(
        NullIf(f"{at}{PROFILE}__display_name", Value("")), NullIf(f"{at}first_name", Value("")), f"{at}username"
    )
    return [Lower(shown), f"{at}username"]


def teammate_name(teammate: Any) -> str:
    """Display name, else full name, else username."""
    profile = getattr(teammate, PROFILE, None)  # a teammate who never saved a profile has none
    return teammate_name_from(
        display_name=getattr(profile, "display_name", "") if profile is not None else "",
        full_name=teammate.get_full_name(),
        username=teammate.get_username(),
    )


def teammate_name_from(*, display_name: str | None, full_name: str, username: str) -> str:
    """The same rule over columns read with values() (a report's rows)."""
    return display_name or full_name.strip() or username


class TeammateChoiceField(forms.ModelChoiceField):
    """A teammate picker that names each one as the rest of Parley does."""

    def label_from_instance(self, obj: Any) -> str:
        return teammate_name(obj)


class TeammateMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Several teammates (a team's members), each named as the rest of Parley does."""

    def label_from_instance(self, obj: Any) -> str:
        return teammate_name(obj)


class TeammateNamesAdmin:
    """Mixed into a ModelAdmin: every field that picks teammates (a foreign key or many-to-many to the user
    model, autocomplete included) names them by their one name, their profiles read in the same query."""

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.related_model is get_user_model():
            kwargs.setdefault("form_class", TeammateChoiceField)
            kwargs.setdefault("queryset", _teammate_choices(db_field))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.related_model is get_user_model():
            kwargs.setdefault("form_class", TeammateMultipleChoiceField)
            kwargs.setdefault("queryset", _teammate_choices(db_field))
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]


def _teammate_choices(db_field: Any) -> Any:
    users = get_user_model().objects.select_related(PROFILE).order_by(*teammate_name_order())
    return users.complex_filter(db_field.get_limit_choices_to())


class CreatedByName:
    """Mixed into a ModelAdmin of rows a teammate creates (`created_by`): the "Created by" column and field
    (`created_by_name`) name them as the rest of the admin does, not by username, sorted by that name; read-only, as
    the services record who created the row (a walk found a data attribute's page offering a select of usernames that
    saving ignored). List them with `list_select_related = [f"created_by__{PROFILE}"]`."""

    @admin.display(description="Created by", ordering=teammate_name_order("created_by")[0])
    def created_by_name(self, obj: Any) -> str:
        return teammate_name(obj.created_by) if obj.created_by_id else "—"
