"""Every CSV Parley writes (the contact and company exports, the reports' chart downloads) is safe to open in a
spreadsheet: each cell goes through `csv_cell`."""

import datetime as dt
from typing import Any

# OWASP's CSV injection list (= + - @ tab CR) plus LF and the full-width forms some spreadsheets
# also read as operators; checked after leading whitespace too, which spreadsheets may trim.
CSV_FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: a value that could start a formula gets a leading quote."""
    if isinstance(value, str) and (value[:1] in CSV_FORMULA_STARTS or value.lstrip()[:1] in CSV_FORMULA_STARTS):
        return "'" + value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


class Echo:
    """A file-like object whose write() returns the line: a csv.writer over it yields the lines of a
    StreamingHttpResponse (Django's documented pattern for large CSV files)."""

    def write(self, value: str) -> str:
        return value
