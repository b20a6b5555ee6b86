"""How the admin shows a service's ValidationError: on the form's fields (ServiceValidatedForm), or as
messages on a page that redirects instead of showing a form (report_validation_error); the admin's one JSON
form field (JSONFormField); the object chosen next to a list action (ActionChoiceField, action_choice), and the
action bar that shows each action's own fields only once it is chosen (ActionFieldsForm)."""

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Model, QuerySet
from django.forms.models import construct_instance
from django.http import HttpRequest
from django.utils import timezone

from common.parsing import JsonDecoder, int_or_none, json_problem
from common.teammates import PROFILE, teammate_name


def report_validation_error(request: HttpRequest, error: ValidationError) -> None:
    """One error message per field, for admin pages that redirect instead of showing a form: the field named in words
    ("Snoozed until: …", where a walk read "Snoozed_until: …"), an error of no one field alone."""
    for field, errors in error.message_dict.items():
        text = " ".join(errors)
        named = field.replace("_", " ") if field != NON_FIELD_ERRORS else ""
        named = named[:1].upper() + named[1:]
        messages.error(request, f"{named}: {text}" if named else text)


def choices_may_be_deleted(form: forms.BaseForm, noun: str, *names: str) -> None:
    """A form's choice of rows a teammate may delete while it is open (a tag): one gone by the time it is saved is
    said as such, not as Django's "Select a valid choice. 15 is not one of the available choices." (its raw id)."""
    message = f"A {noun} chosen here no longer exists (another teammate may have just deleted it): choose again."
    for name in names:
        if name in form.fields:  # absent where the teammate may only read the page: its fields are read-only
            form.fields[name].error_messages.update(invalid_choice=message, invalid_pk_value=message)


class ActionChoiceField(forms.ModelChoiceField):
    """A list next to a list action (a tag, a macro): a choice deleted since the list was shown is no form error,
    which Django's changelist would report as "No action selected."; the action looks it up (action_choice)."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except ValidationError:
            return None


class ActionFieldsForm(ActionForm):
    """A list's action bar whose fields each belong to some actions (`for_actions`: field name → action names). A
    field shows only while one of its actions is chosen (static/parley/admin/action_fields.js): a new-user walk met
    a Teammate, a Snooze, a Tag, a Macro and a tick box side by side, each for another action."""

    for_actions: dict[str, tuple[str, ...]] = {}

    class Media:
        js = ["parley/admin/action_fields.js"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, actions in self.for_actions.items():
            self.fields[name].widget.attrs["data-for-actions"] = " ".join(actions)


def action_choice(
    model_admin: admin.ModelAdmin, request: HttpRequest, choices: QuerySet[Any], field: str
) -> Model | None:
    """The object chosen in the action form's `field` list ("tag", "macro": the name says it to the teammate), or
    None once the teammate is told why: none was chosen, or it is gone (deleted since the list was shown)."""
    raw = request.POST.get(field, "")
    chosen_id = int_or_none(raw)
    chosen = choices.filter(pk=chosen_id).first() if chosen_id is not None else None
    if chosen is None:
        if raw:
            model_admin.message_user(
                request, f"The chosen {field} no longer exists (another teammate may have just deleted it). "
                "Nothing was changed.", messages.WARNING,
            )  # fmt: skip
        else:
            model_admin.message_user(
                request, f"Choose a {field} in the list next to the action first.", messages.WARNING
            )
    return chosen


class JSONFormField(forms.JSONField):
    """Django's JSON form field reading through common.parsing's decoder: text nested too deep is the field's
    "Enter a valid JSON." error (Django's own decoder raises RecursionError past ~1,000 levels, a 500, and a
    document just short of that breaks the page that shows it again). Every admin JSON field is one of these
    (tests/security/test_deep_json.py checks it)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["decoder"] = JsonDecoder  # a model field's formfield() passes its own (None)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        """What no column stores (a NUL, a lone surrogate, NaN, 1e400, 1e-400 read as 0) is the field's error, naming
        where it is in the document: a data attribute's options took `[1e-400]` as `[0.0]`."""
        document = super().to_python(value)
        problem = json_problem(document)
        if problem is not None:
            where, message = problem
            raise forms.ValidationError(message if where == "body" else f"{where}: {message}", code="invalid")
        return document

    def prepare_value(self, value: Any) -> Any:
        """The value as the form shows it again; a lone surrogate (valid as JSON's `\\ud800`, refused by the
        service) stays escaped, since the page could not be encoded with it raw (a 500). No value is an empty box,
        not the text `null` (an add page's field without a default)."""
        if value is None:
            return ""
        text = super().prepare_value(value)
        if isinstance(text, str):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return json.dumps(value, cls=self.encoder)  # ASCII: every such character escaped
        return text


class ServiceValidatedForm:
    """Mixed into an admin form whose rules live in a service: the service's ValidationError lands
    next to the field it names (or above the form), and a model form skips the model's own
    full_clean, since the services own validation, uniqueness included."""

    def add_service_error(self, error: ValidationError) -> None:
        """Put each of the service's messages on the field it names, the others above the form."""
        for name, field_errors in error.update_error_dict({}).items():
            field = self.service_field_name(name)
            self.add_error(field if field in self.fields else None, field_errors)  # type: ignore[attr-defined]

    def service_field_name(self, name: str) -> str:
        """This form's name for a field the service names (the same unless a form says otherwise)."""
        return name

    def validate_with(self, check: Callable[[], Any]) -> None:
        """Run a service's validation; its ValidationError becomes this form's errors."""
        try:
            check()
        except ValidationError as error:
            self.add_service_error(error)

    def _post_clean(self) -> None:
        # Not the model's full_clean: the service validated (see above). A model form still copies
        # what was entered onto its instance, which the admin's save_model hands to the service.
        if isinstance(self, forms.ModelForm):
            opts = self._meta
            self.instance = construct_instance(self, self.instance, opts.fields, opts.exclude)


def posted_as_shown(bound: forms.BoundField) -> bool:
    """Whether a date-and-time field came back as its page wrote its stored moment, in the teammate's zone (to the
    minute or the second: a browser's date-and-time box leaves ":00" off)."""
    stored, posted = bound.initial, bound.data
    if not isinstance(stored, dt.datetime) or timezone.is_naive(stored):
        return False
    if isinstance(posted, list | tuple):  # a date box and a time box (Django's SplitDateTimeWidget)
        posted = "T".join(str(part) for part in posted)
    try:
        written = dt.datetime.fromisoformat(str(posted).strip())
    except ValueError:
        return False
    return written.tzinfo is None and written == timezone.localtime(stored).replace(tzinfo=None)


class ShownMomentsKept:
    """Mixed into an admin form that shows stored moments in the teammate's time zone. A moment in the hour a clock
    goes back (02:30 in Berlin on the last Sunday of October, which comes twice) is written as a local time naming two
    moments, which Django refuses to read back: every save of the page failed, its times untouched (a re-check). A
    field posted as the page wrote it keeps its stored moment, and is no change."""

    def _clean_fields(self) -> None:
        super()._clean_fields()  # type: ignore[misc]
        for name in list(self._errors):  # type: ignore[attr-defined]
            if name in self.fields and posted_as_shown(self[name]):  # type: ignore[attr-defined, index]
                del self._errors[name]  # type: ignore[attr-defined]
                self.cleaned_data[name] = self[name].initial  # type: ignore[attr-defined, index]

    @property
    def changed_data(self) -> list[str]:
        return [name for name in super().changed_data if not posted_as_shown(self[name])]  # type: ignore[misc, index]


class TagLinkInline(admin.TabularInline):
    """The tags of a contact or a company (its tag-link model: `tag`, `tagged_by`, `tagged_at`), added and removed
    on its page; the admin saves them through tag_formset_save."""

    extra = 0
    autocomplete_fields = ["tag"]
    readonly_fields = ["tagged_by_name", "tagged_at"]
    fields = ["tag", "tagged_by_name", "tagged_at"]
    verbose_name = "tag"
    verbose_name_plural = "tags"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("tag", f"tagged_by__{PROFILE}")

    @admin.display(description="tagged by")
    def tagged_by_name(self, link: Any) -> str:
        """The teammate by their one name, as the rest of the admin names them (not their username)."""
        return teammate_name(link.tagged_by) if link.tagged_by_id else "-"


def tag_formset_save(formset: Any, *, tag: Callable[[Any], Any], untag: Callable[[Any], Any]) -> None:
    """Save a tag-link inline through the tag services (so every tagging path records who did it):
    `tag(tag)` for each new row, `untag(tag)` for each deleted one, filling the three lists the admin's
    change history reads."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for inline_form in formset.forms:
        if not hasattr(inline_form, "cleaned_data") or not inline_form.cleaned_data:
            continue
        chosen = inline_form.cleaned_data.get("tag")
        if inline_form.cleaned_data.get("DELETE"):
            if inline_form.instance.pk:
                untag(inline_form.instance.tag)
                formset.deleted_objects.append(inline_form.instance)
        elif chosen and not inline_form.instance.pk:
            formset.new_objects.append(tag(chosen))
