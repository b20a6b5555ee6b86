"""Hostile-input checks shared by the API, the widget and the admin: numbers, moments, stored text and JSON.

`str.isdigit()` accepts "²" (which `int()` refuses) and "٣" (which `int()` and `float()` read as 3);
`float()` also reads "1_000" and full-width digits; PostgreSQL stores integers up to bigint and refuses
NUL in text; lone UTF-16 surrogates cannot be encoded to UTF-8; JSON's `1e400` is an infinite float
that no database column or JSON document holds; "9999-12-31T23:59:59-01:00" is valid ISO 8601 but lies
in year 10000 in UTC, so converting it raises OverflowError; JSON's decoder raises RecursionError, not
ValueError, on `[[[[…` a few kilobytes long. Every number, moment or JSON document from outside is read here,
nowhere else.
"""

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any

BIGINT_MAX = 2**63 - 1
BIGINT_MIN = -(2**63)
_ASCII_INTEGER = re.compile(r"-?[0-9]{1,19}")
_ASCII_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
# Long enough for "2024-01-01T10:00:00.123456+05:30" with room to spare; longer text is not a moment.
_MOMENT_MAX_LENGTH = 40
# What ISO 8601 text is made of; `fromisoformat` itself overlooks a trailing NUL.
_ISO_CHARACTERS = re.compile(r"[0-9][0-9T:.,+\-Z ]*")


def int_or_none(value: Any, *, minimum: int = 1, maximum: int = BIGINT_MAX) -> int | None:
    """An int, or a string of ASCII digits, within [minimum, maximum]; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _ASCII_INTEGER.fullmatch(text := value.strip()):
        number = int(text)
    else:
        return None
    return number if minimum <= number <= maximum else None


def bool_or_none(value: Any) -> bool | None:
    """A JSON boolean, or its text in any case ("true", "False"), as the search language reads booleans; anything
    else ("yes", 1, "", null) is None, never quietly false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def float_or_none(value: Any) -> float | None:
    """A finite number: an int or float, or ASCII decimal text ("1.5", "-2e3"); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 64 or not _ASCII_DECIMAL.fullmatch(text):
            return None
        value = text
    elif not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond a float's range
        return None
    return number if math.isfinite(number) else None


def finite_number_or_none(value: Any, *, integer: bool) -> int | float | None:
    """A number typed by a person (an admin filter): an integer within bigint, or a finite float."""
    if integer:
        return int_or_none(value, minimum=BIGINT_MIN)
    return float_or_none(value)


# --- moments ------------------------------------------------------------------------------------


# The moments Parley takes: a day inside years 1-9999, so that each is a date and time in every time zone a teammate
# reads it in (UTC-12 to UTC+14). "9999-12-31T23:59:59Z" is in year 10000 in Berlin: its record's page could not be
# shown there (an attack review).
MOMENT_MIN = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
MOMENT_MAX = dt.datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=dt.UTC)
MOMENT_RANGE = "within years 1 to 9999, a day or more from either end"


def utc_or_none(moment: dt.datetime) -> dt.datetime | None:
    """The moment in UTC (a naive one is read as UTC), or None outside MOMENT_MIN to MOMENT_MAX."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        utc = moment.replace(tzinfo=dt.UTC)
    else:
        try:
            utc = moment.astimezone(dt.UTC)
        except OverflowError:  # "9999-12-31T23:59:59-01:00" is in year 10000 in UTC
            return None
    return utc if MOMENT_MIN <= utc <= MOMENT_MAX else None


def unix_time_or_none(value: Any, *, integer: bool = False) -> dt.datetime | None:
    """Unix seconds (an int, a finite float unless `integer`, or their ASCII text) as aware UTC, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        number: int | float | None = int_or_none(value, minimum=BIGINT_MIN)
        if number is None and not integer:
            number = float_or_none(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and not integer:
        number = value if math.isfinite(value) else None
    else:
        number = None
    if number is None:
        return None
    try:
        return utc_or_none(dt.datetime.fromtimestamp(number, tz=dt.UTC))
    except (OverflowError, OSError, ValueError):  # beyond year 9999 (or the platform's range)
        return None


def _iso_text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= _MOMENT_MAX_LENGTH and bool(_ISO_CHARACTERS.fullmatch(value))


def iso_datetime_or_none(value: Any, *, offset_required: bool = False) -> dt.datetime | None:
    """ISO 8601 text with ASCII digits ("Z" or an offset; without one read as UTC unless
    `offset_required`) as aware UTC within MOMENT_MIN to MOMENT_MAX, or None."""
    if not _iso_text(value):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if offset_required and parsed.tzinfo is None:
        return None
    return utc_or_none(parsed)


def iso_date_or_none(value: Any) -> dt.date | None:
    """An ISO 8601 date ("2024-01-31") with ASCII digits, or None."""
    if not _iso_text(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def moment_or_none(value: Any, *, integer: bool = False) -> dt.datetime | None:
    """A moment from outside: Unix seconds (a number) or ISO 8601 text, as aware UTC; anything else is None.

    Text of digits alone is read as ISO ("20240131" is a date), as JSON clients send seconds as numbers.
    """
    if isinstance(value, dt.datetime):
        return utc_or_none(value)
    if isinstance(value, str):
        return iso_datetime_or_none(value)
    return unix_time_or_none(value, integer=integer)


# A moment relative to when a query runs: "now", "today" (midnight UTC), each optionally shifted by a whole
# number of hours, days or weeks ("now-30d", "today-1w", "now+12h"). ASCII digits only, at most six of them.
_RELATIVE_MOMENT = re.compile(r"(now|today)(?:([+-])([0-9]{1,6})([hdw]))?")
_RELATIVE_UNITS = {"h": dt.timedelta(hours=1), "d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1)}
# A century either way: further than any date a contact or a company holds, and far from year 1 or 9999.
RELATIVE_MOMENT_MAX_SHIFT = dt.timedelta(days=36_500)


@dataclass(frozen=True)
class RelativeMoment:
    """ "now-30d" parsed: an anchor (now, or the start of today in UTC) shifted by `amount` `unit`s (signed)."""

    anchor: str  # "now" | "today"
    amount: int  # negative: before the anchor
    unit: str  # "h" | "d" | "w"

    def at(self, now: dt.datetime) -> dt.datetime:
        """The moment this names when the query runs at `now` (aware UTC)."""
        start = (
            now if self.anchor == "now" else now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        )
        return start + self.amount * _RELATIVE_UNITS[self.unit]


def relative_moment_or_none(value: Any) -> RelativeMoment | None:
    """A relative moment ("now", "today", "now-30d", "today+1w"; h, d or w; at most a century away), or None."""
    if not isinstance(value, str) or len(value) > 16:
        return None
    match = _RELATIVE_MOMENT.fullmatch(value)
    if match is None:
        return None
    anchor, sign, digits, unit = match.groups()
    if sign is None:
        return RelativeMoment(anchor=anchor, amount=0, unit="d")
    amount = int(digits) * (-1 if sign == "-" else 1)
    if abs(amount) * _RELATIVE_UNITS[unit] > RELATIVE_MOMENT_MAX_SHIFT:
        return None
    return RelativeMoment(anchor=anchor, amount=amount, unit=unit)


# Direction controls: embeddings, overrides, isolates and marks (U+202A-202E, U+2066-2069, U+200E/200F,
# U+061C). They reorder how the text around them shows ("\u202egpj.exe" reads "exe.jpg"), so what a person
# typed is stored without them: file names, CSAT remarks. One list for every such field.
DIRECTION_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def without_direction_controls(value: str, *, replacement: str = "") -> str:
    """The text with every direction control (DIRECTION_CONTROLS) replaced (dropped by default)."""
    if not DIRECTION_CONTROLS.intersection(value):
        return value
    return "".join(replacement if ch in DIRECTION_CONTROLS else ch for ch in value)


def text_problem(value: str) -> str | None:
    """Why this string cannot be stored as text (NUL, a lone surrogate), or None when it can."""
    if "\x00" in value:
        return "Must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode text (no lone surrogates)."
    return None


class NumberTooSmall(float):
    """A JSON number written nonzero that a float holds only as 0 ("1e-400"), as json_float decodes it: it reads as
    0.0, and json_problem names where it is, where 0 had been stored without a word."""


def json_float(literal: str) -> float:
    """A JSON number with a fraction or an exponent (json's `parse_float`): "1e400" is inf, which json_problem
    refuses, and a nonzero one that rounds to 0 is a NumberTooSmall."""
    value = float(literal)
    if value == 0 and any(digit in "123456789" for digit in literal.lower().partition("e")[0]):
        return NumberTooSmall(value)
    return value


def json_problem(data: Any, *, root: str = "") -> tuple[str, str] | None:
    """The first place in decoded JSON that cannot be stored: (dotted path, message), or None.

    Walks keys and values without recursion, so a deeply nested body cannot exhaust the stack.
    """
    stack: list[tuple[str, Any]] = [(root, data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return path or "body", problem
        elif isinstance(value, float):
            if not math.isfinite(value):
                return path or "body", "Must be a finite number."
            if isinstance(value, NumberTooSmall):
                return (
                    path or "body",
                    "This number is too close to 0 to be read (it would be 0): send 0 or a larger one.",
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                name = str(key)[:64]  # a megabyte-long key must not come back in the error (64: every field name fits)
                child = f"{path}.{name}" if path else name
                problem = text_problem(str(key))
                if problem:
                    # The key itself is unprintable: name its parent and say which part is at fault.
                    return path or "body", f"A key {problem[0].lower()}{problem[1:]}"
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None


# --- JSON documents -------------------------------------------------------------------------------

# Deeper than any document Parley reads (a search query with its nested groups is 9 levels), shallow enough that
# code walking a document recursively (encoders, serializers, templates) stays far from the stack's limit.
JSON_MAX_DEPTH = 64
JSON_TOO_DEEP = f"nested more than {JSON_MAX_DEPTH} levels deep"


def json_too_deep(document: Any) -> bool:
    """Whether lists and objects in decoded JSON nest more than JSON_MAX_DEPTH levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        if children and depth > JSON_MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class JsonDecoder(json.JSONDecoder):
    """json's decoder, refusing a document nested more than JSON_MAX_DEPTH levels as invalid JSON (JSONDecodeError,
    a ValueError). Near the interpreter's stack limit the decoder itself raises RecursionError, which code catching
    ValueError (Django's JSON form field, a view's `except ValueError`) lets through as a 500. Numbers are read by
    json_float unless told otherwise, so that json_problem names a nonzero one that would be stored as 0."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("parse_float", json_float)
        super().__init__(**kwargs)

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        try:
            document = super().decode(s, *args, **kwargs)
        except RecursionError:
            raise json.JSONDecodeError(JSON_TOO_DEEP, s, 0) from None
        # A document with fewer brackets than the limit cannot nest deeper: most skip the walk.
        if s.count("[") + s.count("{") > JSON_MAX_DEPTH and json_too_deep(document):
            raise json.JSONDecodeError(JSON_TOO_DEEP, s, 0)
        return document


def json_loads(text: str | bytes, **options: Any) -> Any:
    """`json.loads` through JsonDecoder: every refusal, a document nested too deep included, is a ValueError."""
    return json.loads(text, cls=JsonDecoder, **options)
