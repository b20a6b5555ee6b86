"""The API's one body parser: DRF's JSON parser, refusing a body nested too deep as invalid JSON."""

from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from common.parsing import JSON_TOO_DEEP, json_too_deep


class JSONParser(parsers.JSONParser):
    """DRF's parser (its charset checks kept) whose decoder's RecursionError on ~2 KB of `[[[[…` (a 500: DRF
    catches ValueError only) and any body nested past common.parsing.JSON_MAX_DEPTH are a ParseError, which
    the exception handler answers with 400 naming `body`."""

    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            document = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - {JSON_TOO_DEEP}") from None
        if json_too_deep(document):  # shallow enough to decode, deep enough for later code to recurse into
            raise ParseError(f"JSON parse error - {JSON_TOO_DEEP}")
        return document
