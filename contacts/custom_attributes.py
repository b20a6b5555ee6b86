"""Validation of custom attribute values against their DataAttribute definitions, and their values in words."""

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.admin.utils import display_for_value
from django.core.exceptions import ValidationError
from django.db.models.constants import LOOKUP_SEP

from common.parsing import (
    BIGINT_MAX,
    BIGINT_MIN,
    MOMENT_RANGE,
    float_or_none,
    int_or_none,
    iso_date_or_none,
    moment_or_none,
)
from contacts.models import DataAttribute

MAX_STRING_LENGTH = 255
MAX_NAME_LENGTH = 190
FORBIDDEN_NAME_CHARACTERS = (".", "$")
Scalar = str | int | float | bool | None


def coerce_value(attribute: DataAttribute, value: Any) -> Scalar:
    """Return the stored (JSON) form of `value`, or raise ValueError with a reason."""
    kind = attribute.data_type
    types = DataAttribute.DataType
    if kind == types.STRING:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if len(value) > MAX_STRING_LENGTH:
            raise ValueError(f"must be at most {MAX_STRING_LENGTH} characters")
        return value
    if kind == types.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        # Filters cast the JSON value to bigint (PostgreSQL): a larger one would break every search on it.
        if int_or_none(value, minimum=BIGINT_MIN, maximum=BIGINT_MAX) is None:
            raise ValueError(f"must be an integer between {BIGINT_MIN} and {BIGINT_MAX}")
        return value
    if kind == types.FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        number = float_or_none(value)
        if number is None:
            raise ValueError("must be a finite number")
        return number
    if kind == types.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind == types.DATE:
        return _coerce_date(value).isoformat()
    if kind == types.DATETIME:
        return _coerce_datetime(value).isoformat()
    raise ValueError(f"has an unknown type {kind!r}")  # pragma: no cover - choices forbid it


def _coerce_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return _coerce_datetime(value).date()
    if parsed := iso_date_or_none(value):
        return parsed
    raise ValueError("must be a date (YYYY-MM-DD or Unix seconds)")


def _coerce_datetime(value: Any) -> dt.datetime:
    if isinstance(value, bool) or not isinstance(value, dt.datetime | int | str):
        raise ValueError("must be a date and time (ISO 8601 or Unix seconds)")
    parsed = moment_or_none(value, integer=True)
    if parsed is None:
        if isinstance(value, int):
            raise ValueError(f"must be Unix seconds {MOMENT_RANGE}")
        raise ValueError(f"must be a date and time (ISO 8601 or Unix seconds) {MOMENT_RANGE}")
    return parsed


def _inferred_type(value: Any) -> str:
    if isinstance(value, bool):
        return DataAttribute.DataType.BOOLEAN
    if isinstance(value, int):
        return DataAttribute.DataType.INTEGER
    if isinstance(value, float):
        return DataAttribute.DataType.FLOAT
    return DataAttribute.DataType.STRING


def validate_attribute_name(name: Any, *, new: bool = False) -> str:
    """A name that can be stored; a `new` one also contains no "__" (Django's lookup separator), so that
    a filter or search on it can never be read as a lookup such as `vip__contains`."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"custom_attributes": "Custom attribute names must be non-empty strings."})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError({f"custom_attributes.{name[:40]}": f"Name is longer than {MAX_NAME_LENGTH} characters."})
    if any(char in name for char in FORBIDDEN_NAME_CHARACTERS):
        raise ValidationError({f"custom_attributes.{name}": "Names may not contain '.' or '$'."})
    if new and LOOKUP_SEP in name:
        raise ValidationError({f"custom_attributes.{name}": "New names may not contain '__' (two underscores)."})
    return name


def _check_shape(values: dict[str, Any]) -> None:
    for name, value in values.items():
        validate_attribute_name(name)
        if isinstance(value, dict | list | tuple | set):
            raise ValidationError(
                {f"custom_attributes.{name}": "Nested values are not allowed; use a string, number, boolean or date."}
            )


def custom_attributes_split_defined(
    *, values: Any, model: str = DataAttribute.Model.CONTACT
) -> tuple[dict[str, Any], list[str]]:
    """(the values whose names are defined, or that remove an attribute; the names of the others).

    For input that may not define attributes (anonymous or unverified widget input): it keeps what
    is defined and reports the rest, so that it can neither fix a type nor use up the cap.
    """
    if not isinstance(values, dict):
        raise ValidationError({"custom_attributes": "Must be an object of name → value."})
    _check_shape(values)
    defined = set(DataAttribute.objects.filter(model=model, name__in=list(values)).values_list("name", flat=True))
    kept = {name: value for name, value in values.items() if name in defined or value is None}
    return kept, [name for name in values if name not in kept]


def custom_attributes_split_valid(
    *, values: dict[str, Any], model: str = DataAttribute.Model.CONTACT, allow_create: bool | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """(the values that pass validation; name → reason for each that does not), so that one bad
    attribute from a website never costs the others (or the page view) their write."""
    try:
        custom_attributes_clean(values=values, model=model, allow_create=allow_create)
    except ValidationError:
        pass  # find which ones: each on its own (rare, so the few queries do not matter)
    else:
        return values, {}
    valid: dict[str, Any] = {}
    rejected: dict[str, str] = {}
    for name, value in values.items():
        try:
            custom_attributes_clean(values={name: value}, model=model, allow_create=allow_create)
        except ValidationError as error:
            rejected[name] = (
                next(iter(error.message_dict.values()))[0] if hasattr(error, "error_dict") else error.messages[0]
            )
        else:
            valid[name] = value
    return valid, rejected


def custom_attributes_clean(
    *,
    values: Any,
    model: str = DataAttribute.Model.CONTACT,
    allow_create: bool | None = None,
) -> tuple[dict[str, Scalar], list[DataAttribute]]:
    """Validate values against definitions; returns (stored values, definitions to create).

    A None value means "remove this attribute". Unknown names become new definitions typed from
    their first value when PARLEY_AUTO_CREATE_CUSTOM_ATTRIBUTES allows it, and are refused otherwise.
    """
    if not isinstance(values, dict):
        raise ValidationError({"custom_attributes": "Must be an object of name → value."})
    if allow_create is None:
        allow_create = settings.PARLEY_AUTO_CREATE_CUSTOM_ATTRIBUTES
    _check_shape(values)
    definitions = {d.name: d for d in DataAttribute.objects.filter(model=model, name__in=list(values))}
    cleaned: dict[str, Scalar] = {}
    to_create: list[DataAttribute] = []
    for name, value in values.items():
        field = f"custom_attributes.{name}"
        attribute = definitions.get(name)
        if attribute is None:
            if value is None:
                cleaned[name] = None
                continue
            if not allow_create:
                raise ValidationError({field: "Unknown custom attribute; define it under Data attributes first."})
            validate_attribute_name(name, new=True)
            attribute = DataAttribute(model=model, name=name, label=name, data_type=_inferred_type(value))
            to_create.append(attribute)
        elif attribute.archived:
            raise ValidationError({field: "This custom attribute is archived and cannot be written."})
        if value is None:
            cleaned[name] = None
            continue
        try:
            stored = coerce_value(attribute, value)
        except ValueError as error:
            raise ValidationError({field: f"Value {error}."}) from None
        if attribute.options and stored not in attribute.options:
            raise ValidationError({field: f"Value must be one of: {', '.join(map(str, attribute.options))}."})
        cleaned[name] = stored
    if to_create:
        data_attributes_cap_check(model=model, adding=len(to_create), field="custom_attributes")
    return cleaned, to_create


def data_attributes_cap_check(*, model: str, adding: int, field: str) -> None:
    """Refuse definitions beyond PARLEY_MAX_CUSTOM_ATTRIBUTES per model (archived ones count too)."""
    limit = settings.PARLEY_MAX_CUSTOM_ATTRIBUTES
    if DataAttribute.objects.filter(model=model).count() + adding > limit:
        raise ValidationError({field: f"At most {limit} custom attributes can be defined for a {model}."})


def custom_attributes_merge(current: dict[str, Scalar], cleaned: dict[str, Scalar]) -> dict[str, Scalar]:
    """Apply cleaned values to the current ones: None removes a key."""
    merged = dict(current)
    for name, value in cleaned.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def typed_value(attribute: DataAttribute, value: Any) -> Any:
    """A stored value as Python holds it: a date or time as one, not its ISO 8601 text (an admin field holding the
    text read as changed on every save, and the page's history said "Changed Renewal date" of a page left as it was)."""
    types = DataAttribute.DataType
    if isinstance(value, str) and attribute.data_type == types.DATE and not attribute.options:
        return iso_date_or_none(value) or value
    if isinstance(value, str) and attribute.data_type == types.DATETIME and not attribute.options:
        return moment_or_none(value) or value
    return value


def shown_value(attribute: DataAttribute, value: Any) -> str:
    """A custom attribute's value in words, as the admin shows a field's: "-" for none, Yes or No, a date or time as
    the rest of the page writes one ("Jan 15, 2027 10:30", in the teammate's time zone), not as stored
    ("2027-01-15T10:30:00+00:00")."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(display_for_value(typed_value(attribute, value), "-"))
