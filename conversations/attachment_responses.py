"""The one HTTP answer carrying an attachment's bytes, for the three doors that serve it (widget, admin, API).

Only a raster image Parley decoded itself (it has a thumbnail) is served inline, with the type read from
its bytes, unless the link asks for the download variant. Everything else, SVG and anything HTML-like
included, is a download (`Content-Disposition: attachment`), and active types go out as
`application/octet-stream`. Either way the answer names the file (`content_disposition`), so a browser saves
it under its name. Every answer says `nosniff`, carries a Content-Security-Policy that runs nothing
(`sandbox`), sends no referrer and is cached by the browser only (`private`) until its link expires.
"""

import unicodedata
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpResponse

from conversations.models import Attachment
from conversations.services.attachments import ACTIVE_TEXT_TYPES, attachment_read

# Nothing in a file's answer may run, load or be framed; an image opened on its own still shows.
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
DOWNLOAD_FALLBACK_TYPE = "application/octet-stream"


def content_disposition(*, inline: bool, name: str) -> str:
    """RFC 6266 with both names: `filename`, printable ASCII for clients that read nothing else (accents
    dropped; any other character, `"`, `\\` and `;` as "_": none has to unescape, a naive split on ";" holds),
    and always RFC 8187's `filename*` (UTF-8, every byte but letters, digits and `-._~` percent-encoded), which
    browsers prefer: Chromium decodes `%xx` and `=?utf-8?…?=` inside a plain `filename`, so "100%25.pdf" alone
    would save as "100%.pdf". Whatever the name holds (quotes, `;`, CR or LF, another script), it stays one
    parameter of this one line (Django's FileResponse gives no ASCII fallback and a plain `filename` for ASCII)."""
    decomposed = "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\;' else "_" for ch in decomposed)
    disposition = "inline" if inline else "attachment"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def attachment_file_response(*, attachment: Attachment, variant: str, cross_origin: bool = False) -> HttpResponse:
    """The file (or its thumbnail) with the headers above; `cross_origin` lets other sites' pages embed it
    (the messenger runs on the customer's site)."""
    thumbnail = variant == Attachment.Variant.THUMBNAIL
    if thumbnail and not attachment.thumbnail:
        return HttpResponse(status=404)
    inline = thumbnail or (attachment.is_inline_image and variant != Attachment.Variant.DOWNLOAD)
    if thumbnail:
        content_type = "image/webp"
    elif inline or attachment.content_type not in ACTIVE_TEXT_TYPES:
        content_type = attachment.content_type
    else:
        content_type = DOWNLOAD_FALLBACK_TYPE
    response = FileResponse(
        attachment_read(attachment=attachment, variant=variant), as_attachment=not inline, content_type=content_type
    )
    # The thumbnail is WebP whatever the original: its name says so ("shot.png" → "shot-thumb.webp").
    name = f"{attachment.name.rsplit('.', 1)[0]}-thumb.webp" if thumbnail else attachment.name
    response["Content-Disposition"] = content_disposition(inline=inline, name=name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = f"private, max-age={settings.PARLEY_ATTACHMENT_URL_MAX_AGE}"
    response["Cross-Origin-Resource-Policy"] = "cross-origin" if cross_origin else "same-origin"
    return response
