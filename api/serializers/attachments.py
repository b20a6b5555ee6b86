"""Attachments in Intercom's shapes: a part's `attachments` (part_attachment) and a reply's
`attachment_files` (conversation_attachment_files: base64 data, a name, a content type we do not believe).

`attachment_urls` (Intercom fetches each URL itself) is refused by name: fetching whatever URL a caller
names would let any token make the server reach internal addresses (SSRF). Send the bytes instead.
"""

import base64
import binascii
import math
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import reverse
from rest_framework import serializers

from api.errors import ParameterInvalid
from conversations.attachment_links import attachment_link_query
from conversations.models import Attachment, ConversationPart
from conversations.services.attachments import AttachmentLimits

MAX_ATTACHMENT_FILES = 10  # Intercom's own limit per reply
# A reply's JSON besides its files' data: a 10,000-character body and ten names, each character escaped at worst
# as \uXXXX (6 bytes), and the other fields.
REPLY_JSON_ROOM_BYTES = 256 * 1024


def attachment_api_url(attachment: Attachment) -> str:
    """The API's link to a file: signed, expiring, and opened with a token that may read conversations."""
    path = reverse("api-attachment-file", args=[attachment.public_id])
    return settings.PUBLIC_URL + path + attachment_link_query(attachment=attachment)


def part_attachments_json(part: ConversationPart) -> list[dict[str, Any]]:
    """Intercom's part_attachment list for a part whose `attachments` were prefetched."""
    return [
        {
            "type": "upload",
            "name": attachment.name,
            "url": attachment_api_url(attachment),
            "content_type": attachment.content_type,
            "filesize": attachment.size,
            "width": attachment.width,
            "height": attachment.height,
        }
        for attachment in part.attachments.all()
    ]


class AttachmentFileInput(serializers.Serializer):
    content_type = serializers.CharField(max_length=255, help_text="Ignored: the type is read from the bytes.")
    data = serializers.CharField(help_text="The file, base64-encoded.", trim_whitespace=False)
    name = serializers.CharField(max_length=1000, help_text="Made safe: path parts, controls and NUL are removed.")


def attachment_files_body_max_bytes(limits: AttachmentLimits) -> int:
    """The largest JSON body a call with `attachment_files` accepts: as many files as the website's limits
    allow, each of its largest size in base64 (4 bytes per 3), and room for the rest, at most
    PARLEY_API_ATTACHMENTS_BODY_MAX_MB (the body is held in memory); never less than what every other call
    accepts (DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    files = min(limits.max_files, MAX_ATTACHMENT_FILES) if limits.types else 0
    base64_bytes = 4 * math.ceil(limits.max_bytes / 3)
    wanted = min(files * base64_bytes + REPLY_JSON_ROOM_BYTES, settings.PARLEY_API_ATTACHMENTS_BODY_MAX_MB * 1_048_576)
    return max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0, wanted)


def attachment_files_decode(files: list[dict[str, Any]]) -> list[ContentFile]:
    """`attachment_files` as files to check (strict base64; a bad item is a 400 naming its index)."""
    decoded = []
    for index, item in enumerate(files):
        try:
            content = base64.b64decode(item["data"], validate=True)
        except (binascii.Error, ValueError):
            raise ParameterInvalid(f"attachment_files[{index}].data", "data must be base64.") from None
        decoded.append(ContentFile(content, name=item["name"]))
    return decoded


def attachment_urls_refuse(urls: Any) -> None:
    """Parley does not fetch files from URLs (see the module docstring): an explicit 400, never a silent drop."""
    if urls:
        raise ParameterInvalid(
            "attachment_urls",
            "attachment_urls is not supported: Parley does not fetch URLs. Send the files in attachment_files "
            "(base64 data, name, content_type).",
        )
