"""Files in the messenger: a message's body as JSON or, with files, as multipart/form-data; the files'
shape in the widget protocol (docs/widget-protocol.md, "Attachments").

A multipart message is refused by its declared length before any byte is parsed (the website's files
limit times the per-file limit, plus room for the text fields), and it carries only the fields a JSON
message would, each once. A browser sends multipart/form-data as a CORS simple request; the messenger's
upload progress listener makes it a preflighted one, which django-cors-headers answers per website.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files import File
from django.http.multipartparser import MultiPartParserError

from common.parsing import int_or_none, text_problem
from common.rate_limit import Limit
from conversations.attachment_links import attachment_link_query, contact_holder
from conversations.models import Attachment, ConversationPart
from conversations.services.attachments import attachment_limits
from widget.http import WidgetCall, WidgetHttpError, ip_hash, rate_limit, widget_json_body

MULTIPART = "multipart/form-data"
# The text fields of a message (a JSON message's keys) and room for multipart's own framing.
MESSAGE_FIELDS = frozenset({"token", "body", "anonymous_id", "page_url"})
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


def message_payload(call: WidgetCall, *, max_json_bytes: int) -> tuple[dict[str, Any], list[File]]:
    """A message's fields and files: a JSON body (no files) or multipart/form-data (text fields and `files`)."""
    request = call.request
    content_type = request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if content_type != MULTIPART:
        return widget_json_body(request, max_bytes=max_json_bytes), []
    limits = attachment_limits(call.website)
    most = limits.max_files * limits.max_bytes + FIELDS_ALLOWANCE_BYTES
    declared = int_or_none(request.META.get("CONTENT_LENGTH") or "", minimum=0)
    if declared is None:
        raise WidgetHttpError(411, "length_required", "Content-Length", "Send the message with its Content-Length.")
    if declared > most:
        raise WidgetHttpError(
            413, "payload_too_large", FILES_FIELD,
            f"Too large: at most {limits.max_files} files of {limits.max_bytes // (1024 * 1024)} MB each.",
        )  # fmt: skip
    try:
        fields, files = request.POST, request.FILES
    except (MultiPartParserError, RequestDataTooBig, SuspiciousOperation):
        raise WidgetHttpError(400, "invalid", "body", "The multipart body could not be read.") from None
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
    return payload, files.getlist(FILES_FIELD)


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
        thumbnail = Attachment.Variant.THUMBNAIL
        shapes.append({
            "name": attachment.name,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "width": attachment.width,
            "height": attachment.height,
            "inline": inline,
            "url": url + attachment_link_query(attachment=attachment, holder=holder),
            "thumbnail_url": url + attachment_link_query(attachment=attachment, variant=thumbnail, holder=holder)
            if inline else None,
        })  # fmt: skip
    return shapes
