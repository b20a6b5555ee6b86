"""Hostile-input checks shared by the API, the widget and the admin: integers and stored text.

`str.isdigit()` accepts "²" (which `int()` refuses) and "٣" (which `int()` reads as 3); PostgreSQL
stores integers up to bigint and refuses NUL in text; lone UTF-16 surrogates cannot be encoded to
UTF-8; JSON's `1e400` is an infinite float that no database column or JSON document holds.
"""

import math
import re
from typing import Any

BIGINT_MAX = 2**63 - 1
_ASCII_INTEGER = re.compile(r"-?[0-9]{1,19}")


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


def finite_number_or_none(value: Any, *, integer: bool) -> int | float | None:
    """A number typed by a person (an admin filter): an integer within bigint, or a finite float."""
    if integer:
        return int_or_none(value, minimum=-BIGINT_MAX - 1)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def text_problem(value: str) -> str | None:
    """Why this string cannot be stored as text (NUL, a lone surrogate), or None when it can."""
    if "\x00" in value:
        return "Must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode text (no lone surrogates)."
    return None


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
        elif isinstance(value, dict):
            for key, item in value.items():
                name = str(key)[:40]  # a megabyte-long key must not come back in the error
                child = f"{path}.{name}" if path else name
                problem = text_problem(str(key))
                if problem:
                    # The key itself is unprintable: name its parent and say which part is at fault.
                    return path or "body", f"A key {problem[0].lower()}{problem[1:]}"
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None
