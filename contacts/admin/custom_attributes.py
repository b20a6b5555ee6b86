"""A record page's custom attributes (contacts' and companies'): a typed form field each for whoever may change the
record, and their labels and values, read only, for whoever may not."""

import weakref
from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from contacts.admin.forms import CUSTOM_ATTRIBUTE_PREFIX, custom_attribute_form_field
from contacts.custom_attributes import shown_value, typed_value
from contacts.models import DataAttribute

# One read of the definitions per request: the fieldsets and the form both need them.
_definitions_by_request: weakref.WeakKeyDictionary[HttpRequest, list[DataAttribute]] = weakref.WeakKeyDictionary()


class CustomAttributesAdmin(admin.ModelAdmin):
    """`base_fieldsets` with a "Custom attributes" fieldset inserted at `attributes_at`, when any is defined."""

    base_fieldsets: list[tuple[str | None, dict[str, Any]]]
    attributes_at: int

    def attribute_definitions(self) -> QuerySet[DataAttribute]:
        raise NotImplementedError

    def _definitions(self, request: HttpRequest) -> list[DataAttribute]:
        definitions = _definitions_by_request.get(request)
        if definitions is None:
            definitions = _definitions_by_request[request] = list(self.attribute_definitions())
        return definitions

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> list[Any]:
        # Django shows a reader a field of the form alone by its name, with "None" ("Ca  plan: None", "Email as
        # shown: None", a re-check): a reader gets the model's fields, and the custom attributes' labels and values.
        reader = obj is not None and not self.has_change_permission(request, obj)
        form_only = self.form.declared_fields if reader else {}
        fieldsets = [
            (name, {**options, "fields": [field for field in options["fields"] if field not in form_only]})
            for name, options in self.base_fieldsets
        ]
        definitions = self._definitions(request)
        if not definitions:
            return fieldsets
        if reader:  # the list of labels and values, under the fieldset's heading (a field would need a label too)
            options = {"fields": [], "description": attribute_values(definitions, obj.custom_attributes or {})}
        else:
            options = {"fields": [f"{CUSTOM_ATTRIBUTE_PREFIX}{a.name}" for a in definitions]}
        fieldsets.insert(self.attributes_at, ("Custom attributes", options))
        return fieldsets

    def get_form(self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any) -> Any:
        definitions = self._definitions(request)
        stored = (obj.custom_attributes or {}) if obj else {}
        declared = {}
        for attribute in definitions:
            value = stored.get(attribute.name)
            field = custom_attribute_form_field(attribute, value)
            field.initial = typed_value(attribute, value)
            declared[f"{CUSTOM_ATTRIBUTE_PREFIX}{attribute.name}"] = field
        kwargs["form"] = type(self.form.__name__, (self.form,), declared)
        return super().get_form(request, obj, change=change, **kwargs)


def attribute_values(definitions: list[DataAttribute], values: dict[str, Any]) -> SafeString:
    """The attributes' labels and values, as text (both are anyone's words: the API sets them)."""
    rows = [(a.label or a.name, shown_value(a, values.get(a.name))) for a in definitions]
    return format_html('<dl class="parley-attributes">{}</dl>', format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows))
