"""Files in the messenger: a message's body as JSON or, with files, as multipart/form-data; the files'
shape in the widget protocol (docs/widget-protocol.md, "Attachments").

A multipart message is refused by its declared length before any byte is parsed (the website's files
limit times the per-file limit, plus room for the text fields), and it carries only the fields a JSON
message would, each once. Django's multipart parser skips, without a word, a part whose header it cannot
read (a file name that is not UTF-8, a header over 1 KB) or whose file name is empty: the message would go
without its file. So the parts are counted as the body streams through the parser (`_PartCounter`), and a
message that lost one is refused. A browser sends multipart/form-data as a CORS simple request; the
messenger's upload progress listener makes it a preflighted one, which django-cors-headers answers per website.
"""

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files import File
from django.http.multipartparser import MAX_TOTAL_HEADER_SIZE, MultiPartParser, MultiPartParserError
from django.utils.http import parse_header_parameters

from common.parsing import text_problem
from common.rate_limit import Limit
from common.uploads import uploaded_files
from conversations.attachment_links import attachment_link_query, contact_holder
from conversations.models import Attachment, ConversationPart
from conversations.services.attachments import attachment_limits
from widget.http import WidgetCall, WidgetHttpError, declared_length, ip_hash, rate_limit, widget_json_body

MULTIPART = "multipart/form-data"
# The text fields of a message (a JSON message's keys) and room for multipart's own framing.
MESSAGE_FIELDS = frozenset({"token", "body", "anonymous_id", "page_url", "idempotency_key"})
FIELDS_ALLOWANCE_BYTES = 64 * 1024
FILES_FIELD = "files"
# Files per contact per hour, on top of the per-minute message limit; the client IP's and the website's
# allowances are settings (PARLEY_WIDGET_FILES_PER_IP_HOUR, …_FILE_MB_PER_IP_HOUR, …_FILE_MB_PER_WEBSITE_DAY).
FILES_PER_HOUR = 60
TOO_MANY_FILES = "Too many files sent; try again later."
TOO_MANY_FILES_FROM_NETWORK = "Too many files sent from your network; try again later."
WEBSITE_FILES_FULL = "This website takes no more files today; try again tomorrow."
MEGABYTE = 1024 * 1024
HOUR_SECONDS, DAY_SECONDS = 3600, 86400
FILE_NOT_READ = (
    "A file could not be read: its name is missing, longer than the upload allows or not UTF-8. Nothing was "
    "sent; rename the file and try again."
)
# A part's header names a file (Django's parser reads `filename` and RFC 2231's `filename*`).
FILENAME_PARAMETER = re.compile(rb";\s*filename\*?\s*=", re.IGNORECASE)
# The most of one part's header the counter keeps while looking for its end (Django reads 1 KB of it).
PART_HEADER_MAX_BYTES = 16 * 1024


class _PartCounter:
    """The multipart body on its way to Django's parser: counts its parts as the parser splits them (on
    `--boundary`), and those whose header names a file, as the bytes pass (keeping at most a header's or a
    delimiter's length of them)."""

    def __init__(self, stream: Any, boundary: bytes) -> None:
        self._stream = stream
        self._delimiter = b"--" + boundary
        self._pending = bytearray()
        self._in_header = False
        self._closed = False
        self.parts = 0
        self.file_parts = 0
        self.file_header_too_long = False  # Django refuses the whole body for a part header over 1 KB

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        if not self._closed:
            self._pending += chunk
            self._scan(at_end=not chunk)
        return chunk

    def _scan(self, *, at_end: bool) -> None:
        while not self._closed:
            if not self._in_header:
                at = self._pending.find(self._delimiter)
                if at == -1:
                    del self._pending[: max(0, len(self._pending) - len(self._delimiter) + 1)]
                    return
                del self._pending[: at + len(self._delimiter)]
                self._in_header = True
                continue
            if len(self._pending) < 2 and not at_end:
                return
            if self._pending.startswith(b"--"):  # the closing delimiter: no part follows
                self._closed = True
                return
            # A header ends at a blank line; one that runs into the next delimiter (or the body's end) never did.
            ends = [at for at in (self._pending.find(b"\r\n\r\n"), self._pending.find(self._delimiter)) if at != -1]
            if not ends and len(self._pending) < PART_HEADER_MAX_BYTES and not at_end:
                return
            end = min(ends) if ends else min(len(self._pending), PART_HEADER_MAX_BYTES)
            self._count(bytes(self._pending[:end]))
            del self._pending[: end + 4 if self._pending.startswith(b"\r\n\r\n", end) else end]
            self._in_header = False
            if at_end and not ends:
                return

    def _count(self, header: bytes) -> None:
        self.parts += 1
        if FILENAME_PARAMETER.search(header):
            self.file_parts += 1
            self.file_header_too_long |= len(header) > MAX_TOTAL_HEADER_SIZE


def _multipart_parse(call: WidgetCall) -> tuple[Any, Any]:
    """The body's fields and files, parsed by Django's parser; refused when a part the body carries is not among
    them (a file: 400 naming `files`)."""
    request = call.request
    content_type = request.META.get("CONTENT_TYPE", "")
    boundary = parse_header_parameters(content_type)[1].get("boundary", "")
    counter = None
    try:
        counter = _PartCounter(request, boundary.encode("ascii"))
        fields, files = MultiPartParser(request.META, counter, request.upload_handlers, request.encoding).parse()
    except (MultiPartParserError, RequestDataTooBig, SuspiciousOperation, UnicodeEncodeError):
        if counter is not None and counter.file_header_too_long:
            raise WidgetHttpError(400, "invalid", FILES_FIELD, FILE_NOT_READ) from None
        raise WidgetHttpError(400, "invalid", "body", "The multipart body could not be read.") from None
    # Where Django's own parse keeps them: request.POST and FILES agree, and the request's end closes the files
    # (an upload spooled to a temporary file is deleted then).
    request._post, request._files = fields, files
    files_read = sum(len(values) for _, values in files.lists())
    if counter.file_parts > files_read:
        raise WidgetHttpError(400, "invalid", FILES_FIELD, FILE_NOT_READ)
    # Django reads a name's bytes that are not UTF-8 (RFC 8187's filename*=UTF-8''%ff) as U+FFFD, "?" in a box.
    if any("\ufffd" in (upload.name or "") for _, values in files.lists() for upload in values):
        raise WidgetHttpError(400, "invalid", FILES_FIELD, FILE_NOT_READ)
    if counter.parts > files_read + sum(len(values) for _, values in fields.lists()):
        raise WidgetHttpError(400, "invalid", "body", "A part of the message could not be read.")
    return fields, files


def message_payload(call: WidgetCall, *, max_json_bytes: int) -> tuple[dict[str, Any], list[File]]:
    """A message's fields and files: a JSON body (no files) or multipart/form-data (text fields and `files`)."""
    request = call.request
    content_type = request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if content_type != MULTIPART:
        return widget_json_body(request, max_bytes=max_json_bytes), []
    limits = attachment_limits(call.website)
    most = limits.max_files * limits.max_bytes + FIELDS_ALLOWANCE_BYTES
    declared = declared_length(request)
    if declared is None:
        raise WidgetHttpError(411, "length_required", "Content-Length", "Send the message with its Content-Length.")
    if declared > most:
        raise WidgetHttpError(
            413, "payload_too_large", FILES_FIELD,
            f"Too large: at most {limits.max_files} files of {limits.max_bytes // (1024 * 1024)} MB each.",
        )  # fmt: skip
    fields, files = _multipart_parse(call)
    payload: dict[str, Any] = {}
    for name in fields:
        values = fields.getlist(name)
        if name not in MESSAGE_FIELDS:
            raise WidgetHttpError(400, "unknown_field", name, "Unknown field.")
        if len(values) != 1:
            raise WidgetHttpError(400, "invalid", name, "Send this field once.")
        problem = text_problem(values[0])
        if problem:
            raise WidgetHttpError(400, "invalid", name, problem)
        payload[name] = values[0]
    unknown = [name for name in files if name != FILES_FIELD]
    if unknown:
        raise WidgetHttpError(400, "unknown_field", unknown[0], f"Send files as “{FILES_FIELD}”.")
    return payload, uploaded_files(files, FILES_FIELD)


def limit_files(call: WidgetCall, *, contact_id: int, files: list[File]) -> None:
    """Count a message's files (nothing to count without files) against the contact's and the client IP's hourly
    allowances (files; bytes for the IP) in one round trip, then, only if those took them, their bytes against the
    website's daily allowance: minting contacts (one ping each) gets past the contact's limit but not the IP's,
    many IPs not past the website's, and uploads refused for their IP do not use up the website's day.
    Over any: 429 naming `files`."""
    if not files:
        return
    count, size = len(files), max(1, sum(file.size or 0 for file in files))
    limits = [Limit("chat-files", str(contact_id), FILES_PER_HOUR, HOUR_SECONDS, message=TOO_MANY_FILES, cost=count)]
    if call.ip:
        network = ip_hash(call.ip)
        limits += [
            Limit("chat-files-ip", network, settings.PARLEY_WIDGET_FILES_PER_IP_HOUR, HOUR_SECONDS,
                  message=TOO_MANY_FILES_FROM_NETWORK, cost=count),
            Limit("chat-bytes-ip", network, settings.PARLEY_WIDGET_FILE_MB_PER_IP_HOUR * MEGABYTE, HOUR_SECONDS,
                  message=TOO_MANY_FILES_FROM_NETWORK, cost=size),
        ]  # fmt: skip
    rate_limit(limits, field=FILES_FIELD)
    website_day = settings.PARLEY_WIDGET_FILE_MB_PER_WEBSITE_DAY * MEGABYTE
    website = Limit("chat-bytes-website", str(call.website.pk), website_day, DAY_SECONDS, message=WEBSITE_FILES_FULL,
                    cost=size)  # fmt: skip
    rate_limit([website], field=FILES_FIELD)


@dataclass(frozen=True)
class FileLinks:
    """How the messenger's links to files are made: where this server serves them for the website (as the
    browser reached it), and the contact and website they are made for."""

    base: str
    contact_id: int
    website_id: int


def file_links(call: WidgetCall, *, contact_id: int) -> FileLinks:
    """The links to files a contact's messenger gets in this call's answer."""
    base = call.request.build_absolute_uri(f"/widget-api/{call.website.app_id}/attachments/")
    return FileLinks(base=base, contact_id=contact_id, website_id=call.website.pk)


def part_attachments_shape(part: ConversationPart, *, links: FileLinks) -> list[dict[str, Any]]:
    """A message's files for the messenger (prefetched `attachments`), each with links made for the contact
    (no token: the links alone open these files, for a while)."""
    holder = contact_holder(contact_id=links.contact_id, website_id=links.website_id)
    shapes = []
    for attachment in part.attachments.all():
        inline = attachment.is_inline_image
        url = links.base + attachment.public_id
        file_url = url + attachment_link_query(attachment=attachment, holder=holder)
        thumbnail, download = Attachment.Variant.THUMBNAIL, Attachment.Variant.DOWNLOAD
        shapes.append({
            "name": attachment.name,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "width": attachment.width,
            "height": attachment.height,
            "inline": inline,
            "url": file_url,
            "thumbnail_url": url + attachment_link_query(attachment=attachment, variant=thumbnail, holder=holder)
            if inline else None,
            # Saves the file under its name (an inline image's `url` shows it; any other file's `url` saves it).
            "download_url": url + attachment_link_query(attachment=attachment, variant=download, holder=holder)
            if inline else file_url,
        })  # fmt: skip
    return shapes
