"""The contact admin's forms: typed fields for custom attributes, the contact and data attribute forms."""

import datetime as dt
import json
import re
from typing import Any

from django import forms
from django.utils.html import escape

from common.admin_forms import (
    ActionChoiceField,
    ActionFieldsForm,
    JSONFormField,
    ServiceValidatedForm,
    ShownMomentsKept,
)
from contacts import services
from contacts.models import Contact, DataAttribute, Tag

# Custom attribute fields and filters are named with this prefix, apart from the contact's own fields.
CUSTOM_ATTRIBUTE_PREFIX = "ca__"


def custom_attribute_form_field(attribute: DataAttribute, stored: Any = None) -> forms.Field:
    """The typed form field for one custom attribute definition, on a record holding `stored`."""
    label = attribute.label or attribute.name
    # Django renders help_text as HTML (the admin's fieldset uses |safe); the description is
    # anyone's text (the API sets it), so it goes in escaped. The label is escaped by Django.
    help_text = escape(attribute.description)
    common: dict[str, Any] = {"label": label, "required": False, "help_text": help_text}
    types = DataAttribute.DataType
    if attribute.options:
        options = list(attribute.options)
        choices = [("", "—")] + [(str(o), str(o)) for o in options]
        if stored is not None and str(stored) not in {str(o) for o in options}:
            # Set before the options changed: listed, so that a save of something else keeps it (it showed as "—"
            # and the save erased it, an attack review); another choice replaces it.
            choices.append((str(stored), f"{stored} (no longer an option)"))
            options.append(stored)
        return forms.TypedChoiceField(choices=choices, coerce=_option_coercer(options), empty_value=None, **common)
    return {
        types.STRING: lambda: forms.CharField(max_length=255, **common),
        types.INTEGER: lambda: WholeNumberField(**common),
        types.FLOAT: lambda: DecimalNumberField(**common),
        types.BOOLEAN: lambda: YesNoField(**common),
        # The date box sends ISO 8601 ("01/02/2027" read month first, where the API refuses it).
        types.DATE: lambda: AsciiDateField(
            input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"}), **common
        ),
        # The browser's date and time picker, in the teammate's time zone (the admin's), to the second.
        types.DATETIME: lambda: AsciiDateTimeField(widget=DATETIME_INPUT, **common),
    }[attribute.data_type]()


class WholeNumberField(forms.IntegerField):
    """An integer in the digits 0-9, as the API takes it: Python's int() also reads Arabic-Indic and full-width
    digits, and "1_000". A text box: a number box sends nothing for what the browser cannot read ("1e400"), which
    saved as no value."""

    widget = forms.TextInput(attrs={"inputmode": "numeric"})

    def to_python(self, value: Any) -> int | None:
        if value not in self.empty_values and not re.fullmatch(r"[+-]?[0-9]+", str(value).strip()):
            raise forms.ValidationError("Enter a whole number, in the digits 0 to 9.", code="invalid")
        return super().to_python(value)


class DecimalNumberField(forms.FloatField):
    """A number in the digits 0-9, with a point and an exponent if need be (see WholeNumberField); an infinite one
    ("1e400") is refused by Django's FloatField."""

    widget = forms.TextInput(attrs={"inputmode": "decimal"})

    def to_python(self, value: Any) -> float | None:
        written = re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", str(value).strip())
        if value not in self.empty_values and not written:
            raise forms.ValidationError(
                "Enter a number in the digits 0 to 9, with a point for decimals: 3.75.", code="invalid"
            )
        number = super().to_python(value)
        if number == 0 and written and re.search(r"[1-9]", written.group(1)):  # "1e-400": stored as 0, said nothing
            raise forms.ValidationError("This number is too close to 0 to be stored: enter 0 or a larger one.")
        return number


class YesNoField(forms.TypedChoiceField):
    """Yes, no or not set. Django's NullBooleanField reads any other word as "not set": a hand-posted "maybe" cleared
    the stored value and the page said it had saved."""

    def __init__(self, **kwargs: Any) -> None:
        choices = [("", "Unknown"), ("True", "Yes"), ("False", "No")]
        # str(): the stored True or False (a form's initial value) and the posted "True" or "False" alike.
        super().__init__(choices=choices, coerce=lambda value: str(value) == "True", empty_value=None, **kwargs)


DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S")


class AsciiDigits:
    """A date or time in the digits 0-9, as the API takes it: Python's parsers read Arabic-Indic digits too."""

    what = "a date"

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and not value.isascii():
            raise forms.ValidationError(f"Enter {self.what}, in the digits 0 to 9.", code="invalid")
        return super().to_python(value)  # type: ignore[misc]


class AsciiDateField(AsciiDigits, forms.DateField):
    pass


class AsciiDateTimeField(AsciiDigits, forms.DateTimeField):
    what = "a date and time"


def _option_coercer(options: list[Any]) -> Any:
    by_text = {str(option): option for option in options}
    return lambda text: by_text.get(text, text)


class TagActionForm(ActionFieldsForm):
    tag = ActionChoiceField(queryset=Tag.objects.order_by("name"), required=False, label="Tag")
    for_actions = {"tag": ("tag_selected", "untag_selected")}


class ContactAdminForm(ShownMomentsKept, ServiceValidatedForm, forms.ModelForm):
    """Validates through the same rules as the services, so errors show next to their fields."""

    # The email as the page showed it. A teammate who left it as it was does not write it back over a change made
    # meanwhile (attack review: a visitor changed the address in the messenger while the page was open; saving a new
    # name restored the old address, and the save marked it confirmed, as a teammate's word).
    email_as_shown = forms.CharField(widget=forms.HiddenInput, required=False, strip=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email_as_shown"].initial = self.instance.email if self.instance.pk else ""

    def changes(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        values = {name: self.cleaned_data[name] for name in self.changed_data if name in services.WRITABLE_FIELDS}
        if "email" in values and "email_as_shown" in self.data and values["email"] == self.data["email_as_shown"]:
            del values["email"]  # not edited here: what it is now stays
        custom = {
            name.removeprefix(CUSTOM_ATTRIBUTE_PREFIX): json_value(self.cleaned_data[name])
            for name in self.changed_data
            if name.startswith(CUSTOM_ATTRIBUTE_PREFIX)
        }
        return values, custom or None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        values, custom = self.changes()
        role = self.instance.role if self.instance.pk else (cleaned.get("role") or Contact.Role.USER)
        self.validate_with(
            lambda: services.contact_validate(contact=self.instance, fields=values, role=role, custom_attributes=custom)
        )
        return cleaned

    def service_field_name(self, name: str) -> str:
        return name.replace("custom_attributes.", CUSTOM_ATTRIBUTE_PREFIX)


class OptionLines(list):
    """Options typed one a line: text each, read as the attribute's type reads a value (DataAttributeForm.clean)."""


class OptionsField(forms.CharField):
    """A data attribute's allowed values, one a line (a walk was told to type "a JSON list"); a JSON list is still
    read as one, and is how values a line cannot hold (a line break, spaces at either end) are shown."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 40})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strip=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        lines = [_option_line(option) for option in value]
        # A first line starting with "[" would read back as JSON: the list is shown as JSON then too.
        if any(line is None for line in lines) or (lines and lines[0].startswith("[")):  # type: ignore[union-attr]
            return json.dumps(value, ensure_ascii=False)
        return "\n".join(lines)  # type: ignore[arg-type]

    def to_python(self, value: Any) -> list[Any]:
        text = (super().to_python(value) or "").strip()
        if text.startswith("["):
            return JSONFormField(required=False).to_python(text) or []
        return OptionLines(line.strip() for line in text.splitlines() if line.strip())

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(self.prepare_value(initial)) != self.to_python(data)
        except forms.ValidationError:
            return True


def _option_line(option: Any) -> str | None:
    """An option as its line, or None when a line cannot hold it."""
    if isinstance(option, bool) or option is None:
        return None
    text = str(option)
    return text if text == text.strip() and "\n" not in text and "\r" not in text and text else None


class DataAttributeForm(ServiceValidatedForm, forms.ModelForm):
    options = OptionsField(
        required=False,
        help_text="The allowed values, one a line (for a number attribute, numbers: 1, 5, 10). Empty: any value.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        options = cleaned.get("options")
        if isinstance(options, OptionLines):
            kind = cleaned.get("data_type") or self.instance.data_type
            cleaned["options"] = self._typed_options(options, kind)
        if not self.errors:
            self.validate_with(lambda: services.data_attribute_validate(attribute=self.instance, **{
                k: cleaned.get(k, getattr(self.instance, k)) for k in ("name", "model", "data_type", "options")
            }))  # fmt: skip
        return cleaned

    def _typed_options(self, lines: list[str], kind: str) -> list[Any]:
        """Each line read as a value of the attribute is typed on a record's page (the same field and rules)."""
        field = custom_attribute_form_field(DataAttribute(name="option", data_type=kind))
        typed = []
        for number, line in enumerate(lines, start=1):
            try:
                typed.append(json_value(field.clean(line)))
            except forms.ValidationError as error:
                self.add_error("options", f"Line {number} ({line[:40]}): {' '.join(error.messages)}")
        return typed


def json_value(value: Any) -> Any:
    """A form value as a custom attribute stores it (dates and times as ISO 8601)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
