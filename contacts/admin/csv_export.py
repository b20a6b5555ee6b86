"""The contact list's CSV export: streamed in chunks, safe to open in a spreadsheet."""

import csv
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from common.csv_export import Echo, csv_cell
from contacts import selectors
from contacts.models import Contact

CSV_COLUMNS = (
    "id", "role", "external_id", "name", "email", "phone", "city", "country", "first_seen_at", "last_seen_at",
    "web_sessions_count", "signed_up_at", "unsubscribed_from_emails", "created_at",
)  # fmt: skip
CSV_CHUNK = 2000


def contacts_csv_response(queryset: QuerySet[Contact]) -> StreamingHttpResponse:
    """The contacts as a streamed CSV download: their fields, tags and custom attributes."""
    writer = csv.writer(Echo())
    attributes = [definition.name for definition in selectors.contact_attribute_definitions()]

    def rows() -> Iterator[str]:
        yield writer.writerow([csv_cell(v) for v in (*CSV_COLUMNS, "tags", *(f"custom:{name}" for name in attributes))])
        chunk: list[tuple[Any, ...]] = []
        contacts = queryset.order_by("pk").values_list(*CSV_COLUMNS, "custom_attributes")
        for values in contacts.iterator(chunk_size=CSV_CHUNK):
            chunk.append(values)
            if len(chunk) == CSV_CHUNK:
                yield from _csv_lines(writer, chunk, attributes)
                chunk = []
        yield from _csv_lines(writer, chunk, attributes)

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="contacts.csv"'
    return response


def _csv_lines(writer: Any, chunk: list[tuple[Any, ...]], attributes: list[str]) -> Iterator[str]:
    """CSV lines of a chunk of contacts, with their tags (one query per chunk) and custom attributes."""
    if not chunk:
        return
    tags = selectors.contact_tag_names(contact_ids=[values[0] for values in chunk])
    for *values, custom in chunk:
        custom = custom or {}
        extra = ["; ".join(tags.get(values[0], [])), *(custom.get(name, "") for name in attributes)]
        yield writer.writerow([csv_cell(v) for v in (*values, *extra)])
