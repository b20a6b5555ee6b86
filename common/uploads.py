"""Files sent as multipart/form-data by a browser, as their senders named them.

The HTML standard has browsers escape three characters of a file's name in the part's header: `"` as `%22`, CR as
`%0D` and LF as `%0A` (a name cannot otherwise hold a quote in `filename="…"`). Django's parser leaves them escaped,
so `my "plan".pdf` would be kept as `my %22plan%22.pdf`. Browsers do not escape `%` itself, so a name that held
`%22` as such reads as a quote: the standard's own ambiguity, far rarer than a quote. A name sent as JSON (the REST
API) is taken as written.
"""

import re
from typing import Any

from django.http import HttpRequest

_ESCAPED = re.compile("%(22|0D|0A)", re.IGNORECASE)
_CHARACTERS = {"22": '"', "0D": "\r", "0A": "\n"}


def browser_file_name(name: str) -> str:
    """A multipart part's file name with the HTML standard's three escapes undone (CR and LF then become spaces
    where the name is cleaned, conversations.services.attachments.attachment_name_clean)."""
    return _ESCAPED.sub(lambda escaped: _CHARACTERS[escaped.group(1).upper()], name)


def uploaded_files(files: Any, field: str) -> list[Any]:
    """The files of one multipart field (a MultiValueDict of uploads), named as their senders named them."""
    chosen = files.getlist(field)
    for upload in chosen:
        if isinstance(upload.name, str):
            upload.name = browser_file_name(upload.name)
    return chosen


def request_files(request: HttpRequest, field: str) -> list[Any]:
    """uploaded_files of a request's own multipart body."""
    return uploaded_files(request.FILES, field)
