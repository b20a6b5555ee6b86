"""Field types shared by the API serializers: Unix-second timestamps and string ids."""

import datetime as dt
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(OpenApiTypes.INT)
class UnixTimeField(serializers.Field):
    """Aware datetime ↔ Unix seconds (Intercom sends and receives integers)."""

    default_error_messages = {"invalid": "Must be a Unix timestamp in seconds."}

    def to_representation(self, value: dt.datetime | None) -> int | None:
        return int(value.timestamp()) if value else None

    def to_internal_value(self, data: Any) -> dt.datetime:
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            self.fail("invalid")
        try:
            return dt.datetime.fromtimestamp(int(float(data)), tz=dt.UTC)
        except (ValueError, OverflowError, OSError):
            self.fail("invalid")
        raise AssertionError("unreachable")  # pragma: no cover


@extend_schema_field(OpenApiTypes.STR)
class IdField(serializers.Field):
    """Primary keys travel as strings, as Intercom's ids do."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str | None:
        return None if value is None else str(value)


def unix(value: dt.datetime | None) -> int | None:
    return int(value.timestamp()) if value else None
