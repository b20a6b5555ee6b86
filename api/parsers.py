"""The API's one body parser: DRF's JSON parser, refusing a body nested too deep as invalid JSON, and reading a
number no float holds so that the body's check names it."""

import codecs
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

from common.parsing import JSON_TOO_DEEP, json_float, json_too_deep


class JSONParser(parsers.JSONParser):
    """DRF's parser (its charset and strict-constant checks kept) with two changes:
    - the decoder's RecursionError on ~2 KB of `[[[[…` (a 500: DRF catches ValueError only) and any body nested
      past common.parsing.JSON_MAX_DEPTH are a ParseError, which the exception handler answers with 400 naming `body`;
    - a nonzero number that rounds to 0 ("1e-400") is read as common.parsing.NumberTooSmall, which the fields'
      check (common.parsing.json_problem) refuses, naming it, where 0 had been stored."""

    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        parse_constant = json.strict_constant if self.strict else None
        try:
            document = json.load(
                codecs.getreader(encoding)(stream), parse_constant=parse_constant, parse_float=json_float
            )
        except RecursionError:
            raise ParseError(f"JSON parse error - {JSON_TOO_DEEP}") from None
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        if json_too_deep(document):  # shallow enough to decode, deep enough for later code to recurse into
            raise ParseError(f"JSON parse error - {JSON_TOO_DEEP}")
        return document
