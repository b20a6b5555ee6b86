"""Placeholders in text that teammates write: `{{contact.first_name}}`, `{{contact.first_name | fallback: "there"}}`.

One parser and one renderer serve saved replies, outbound emails (subject and body) and in-app messages.
It is plain substitution over a strict grammar, in one pass: no template engine ever runs over what a
teammate wrote, and a value (a contact's name) is never read as a placeholder itself.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from contacts.models import Contact
from conversations.services.threads import teammate_display_name

ANY_PLACEHOLDER_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
PLACEHOLDER_RE = re.compile(
    r"\s*(?P<name>contact\.name|contact\.first_name|contact\.email|teammate\.name)\s*"
    r'(?:\|\s*fallback\s*:\s*"(?P<fallback>[^"\\{}\x00-\x1f]{0,100})"\s*)?'
)
KNOWN_PLACEHOLDERS = ("contact.name", "contact.first_name", "contact.email", "teammate.name")
# Without a fallback of its own, an unknown name reads as this (as saved replies always did).
DEFAULT_NAME_FALLBACK = "there"
MAX_VALUE_LENGTH = 200
# Control characters (NUL, escape, line breaks) and lone surrogates never come out of a value.
_UNSAFE_IN_VALUE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class Placeholder:
    name: str
    fallback: str | None


Segment = str | Placeholder


def _parse(text: str) -> Iterator[Segment | tuple[str, str]]:
    """Literal text and placeholders in order; a `{{…}}` that is not a placeholder comes as ("bad", source)."""
    last = 0
    for match in ANY_PLACEHOLDER_RE.finditer(text):
        if match.start() > last:
            yield text[last : match.start()]
        inner = PLACEHOLDER_RE.fullmatch(match.group(1))
        if inner:
            yield Placeholder(inner.group("name"), inner.group("fallback"))
        else:
            yield ("bad", match.group(0))
        last = match.end()
    if last < len(text):
        yield text[last:]


def placeholders_check(text: str, *, field: str = "body") -> None:
    """Refuse, naming the field, a `{{…}}` that is not a known placeholder with an optional fallback."""
    for segment in _parse(text):
        if isinstance(segment, tuple):
            shown = segment[1] if len(segment[1]) <= 60 else segment[1][:57] + "…}}"
            raise ValidationError(
                {
                    field: f"Unknown placeholder {shown}; use one of: "
                    + ", ".join(f"{{{{{name}}}}}" for name in KNOWN_PLACEHOLDERS)
                    + ', with an optional fallback: {{contact.first_name | fallback: "there"}}.'
                }
            )


def _clean_value(value: str) -> str:
    """One line of printable text: a hostile name cannot add lines, headers or undecodable characters."""
    return " ".join(_UNSAFE_IN_VALUE.sub(" ", value).split())[:MAX_VALUE_LENGTH]


def _value(placeholder: Placeholder, contact: Contact, teammate: AbstractBaseUser | None) -> str:
    full_name = _clean_value(contact.name or "")
    if placeholder.name == "contact.name":
        value, default = full_name, DEFAULT_NAME_FALLBACK
    elif placeholder.name == "contact.first_name":
        value, default = (full_name.split()[0] if full_name else ""), DEFAULT_NAME_FALLBACK
    elif placeholder.name == "contact.email":
        value, default = _clean_value(contact.email or ""), ""
    else:  # teammate.name: the display name the messenger shows ("Support" when there is none)
        value, default = _clean_value(teammate_display_name(teammate)), ""
    return value or (placeholder.fallback if placeholder.fallback is not None else default)


def placeholders_segments(text: str, *, contact: Contact, teammate: AbstractBaseUser | None) -> list[tuple[str, bool]]:
    """(text, is_value) pieces: what the teammate wrote, and the values filled in for this contact.

    The email renderer tracks links only in what the teammate wrote, and escapes both.
    """
    pieces: list[tuple[str, bool]] = []
    for segment in _parse(text):
        if isinstance(segment, Placeholder):
            pieces.append((_value(segment, contact, teammate), True))
        else:
            pieces.append((segment if isinstance(segment, str) else segment[1], False))
    return pieces


def placeholders_render(text: str, *, contact: Contact, teammate: AbstractBaseUser | None) -> str:
    """The text with every placeholder filled for this contact (plain text; escape it to show it in HTML)."""
    return "".join(piece for piece, _ in placeholders_segments(text, contact=contact, teammate=teammate))


def placeholders_in_links(text: str, url_re: re.Pattern[str]) -> bool:
    """Whether a placeholder sits inside a link (tracked links must be the same for every recipient)."""
    return any("{{" in match.group(0) for match in url_re.finditer(text))
