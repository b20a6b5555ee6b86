"""Field types shared by the API serializers: Unix-second timestamps and string ids."""

import datetime as dt
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.errors import ParameterInvalid
from common.parsing import BIGINT_MAX, MOMENT_RANGE, int_or_none, json_problem, unix_time_or_none


@extend_schema_field(OpenApiTypes.INT)
class UnixTimeField(serializers.Field):
    """Aware datetime ↔ Unix seconds (Intercom sends and receives integers)."""

    default_error_messages = {"invalid": f"Must be a Unix timestamp in seconds, {MOMENT_RANGE}."}

    def to_representation(self, value: dt.datetime | None) -> int | None:
        return int(value.timestamp()) if value else None

    def to_internal_value(self, data: Any) -> dt.datetime:
        moment = unix_time_or_none(data)  # ASCII digits only: not Arabic-Indic or full-width digits, nor "1_000"
        if moment is None:
            self.fail("invalid")
        return moment.replace(microsecond=0)  # whole seconds, as Intercom sends them


@extend_schema_field(OpenApiTypes.STR)
class IdField(serializers.Field):
    """Primary keys travel as strings, as Intercom's ids do."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str | None:
        return None if value is None else str(value)


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanField(serializers.Field):
    """true or false only (not "yes", 1 or "true"): a typo must not switch a teammate's away mode on, nor open
    a conversation."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data

    def to_representation(self, value: Any) -> bool:
        return bool(value)


def json_body_check(data: Any) -> None:
    """Refuse, naming the field, what no column can store: NUL, lone surrogates, 1e400 or NaN anywhere in the body."""
    problem = json_problem(data)
    if problem is not None:
        raise ParameterInvalid(*problem)


def int_param(
    value: Any, *, field: str, minimum: int = 1, maximum: int = BIGINT_MAX, default: int | None = None
) -> int:
    """An integer query or body parameter (ASCII digits, within bounds), else 400 naming the field."""
    if value in (None, "") and default is not None:
        return default
    number = int_or_none(value, minimum=minimum, maximum=maximum)
    if number is None:
        raise ParameterInvalid(field, f"{field} must be an integer between {minimum} and {maximum}.")
    return number


def unix(value: dt.datetime | None) -> int | None:
    return int(value.timestamp()) if value else None
