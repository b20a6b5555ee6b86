"""The API's one body parser: DRF's JSON parser, taking JSON in UTF-8 only, refusing a body nested too deep as invalid
JSON, and reading a number no float holds so that the body's check names it."""

import codecs
import sys
from typing import IO, Any

from django.utils.http import parse_header_parameters
from rest_framework import parsers
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.utils import json

from common.parsing import JSON_TOO_DEEP, json_float, json_too_deep

# JSON between systems is UTF-8 (RFC 8259), of which ASCII is a part. Django reads a charset it does not know as
# UTF-8, and Python decodes EBCDIC, UTF-7 (which spells "<" as "+ADw-") or a decompressing codec: refused instead.
ACCEPTED_CHARSETS = ("utf-8", "ascii")


def refuse_other_charsets(media_type: str | None) -> None:
    """UnsupportedMediaType (415 naming Content-Type) unless the charset, if one is named, is UTF-8 or ASCII."""
    _, params = parse_header_parameters(media_type or "")
    name = params.get("charset")
    if name is None:
        return
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        canonical = ""
    if canonical not in ACCEPTED_CHARSETS:
        shown = json.dumps(name[:40], ensure_ascii=True)
        raise UnsupportedMediaType(media_type, detail=f"Send JSON in UTF-8: the charset {shown} is not accepted.")


class JSONParser(parsers.JSONParser):
    """DRF's parser (its strict-constant check kept) with three changes:
    - a body in any charset but UTF-8 (or ASCII) is refused (refuse_other_charsets);
    - the decoder's RecursionError on ~2 KB of `[[[[…` (a 500: DRF catches ValueError only) and any body nested
      past common.parsing.JSON_MAX_DEPTH are a ParseError, which the exception handler answers with 400 naming `body`;
    - a nonzero number that rounds to 0 ("1e-400") is read as common.parsing.NumberTooSmall, which the fields'
      check (common.parsing.json_problem) refuses, naming it, where 0 had been stored."""

    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> Any:
        refuse_other_charsets(media_type)
        parse_constant = json.strict_constant if self.strict else None
        try:
            document = json.load(
                codecs.getreader("utf-8")(stream), parse_constant=parse_constant, parse_float=json_float
            )
        except RecursionError:
            raise ParseError(f"JSON parse error - {JSON_TOO_DEEP}") from None
        except ValueError as error:
            raise ParseError(f"JSON parse error - {_without_internals(error)}") from None
        if json_too_deep(document):  # shallow enough to decode, deep enough for later code to recurse into
            raise ParseError(f"JSON parse error - {JSON_TOO_DEEP}")
        return document


def _without_internals(error: ValueError) -> str:
    """The decoder's reason, without Python's advice to its own programmers (a number of 5,000 digits: "Exceeds the
    limit (4300 digits) for integer string conversion: value has 5000 digits; use sys.set_int_max_str_digits()…")."""
    reason = str(error)
    if "sys.set_int_max_str_digits" in reason:
        return f"a number has more than {sys.get_int_max_str_digits()} digits"
    return reason
