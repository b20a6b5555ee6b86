"""Password rules Django's validators leave out at Parley's length (15 characters at least: settings): Django's
common-password list holds few passwords that long, so a long password that is only a few characters, spaces or
one short word repeated passes its checks. This one refuses them."""

import unicodedata
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

MIN_DIFFERENT_CHARACTERS = 5
_LONGEST_REPEATED_PART = 8


def _visible(password: str) -> str:
    """The password without spaces and invisible characters (a zero-width space, a soft hyphen)."""
    return "".join(c for c in password if not c.isspace() and unicodedata.category(c) != "Cf")


def _repeated(text: str) -> bool:
    """Whether `text` is one short part said again and again ("passwordpassword", "ab12ab12ab12")."""
    for size in range(1, min(_LONGEST_REPEATED_PART, len(text) // 2) + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return True
    return False


class VarietyValidator:
    """Refuses a password of fewer than MIN_DIFFERENT_CHARACTERS different visible characters, or one short part
    repeated."""

    def validate(self, password: str, user: Any = None) -> None:
        shown = "".join(c for c in password if unicodedata.category(c) != "Cf")
        # Django's length counts a zero-width space too; a password too short anyway is Django's to say (once).
        if len(shown) < settings.PARLEY_PASSWORD_MIN_LENGTH <= len(password):
            raise ValidationError(
                f"This password is too short once its invisible characters (a zero-width space, a soft hyphen) are "
                f"left out: it must contain at least {settings.PARLEY_PASSWORD_MIN_LENGTH} characters.",
                code="password_too_short",
            )
        visible = _visible(password)
        if len(set(visible.casefold())) < MIN_DIFFERENT_CHARACTERS:
            raise ValidationError(
                f"This password has too few different characters: use at least {MIN_DIFFERENT_CHARACTERS}, not "
                "counting spaces.",
                code="password_too_plain",
            )
        if _repeated(visible.casefold()):
            raise ValidationError("This password is one short word repeated.", code="password_repeated")

    def get_help_text(self) -> str:
        return (
            f"Your password must have at least {MIN_DIFFERENT_CHARACTERS} different characters besides spaces, and "
            "can't be one short word repeated."
        )
