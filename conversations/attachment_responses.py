"""The one HTTP answer carrying an attachment's bytes, for the three doors that serve it (widget, admin, API).

Only a raster image Parley decoded itself (it has a thumbnail) is served inline, with the type read from
its bytes. Everything else, SVG and anything HTML-like included, is a download
(`Content-Disposition: attachment`), and active types go out as `application/octet-stream`. Every answer
says `nosniff`, carries a Content-Security-Policy that runs nothing (`sandbox`), sends no referrer and is
cached by the browser only (`private`) until its link expires.
"""

from django.conf import settings
from django.http import FileResponse, HttpResponse

from conversations.models import Attachment
from conversations.services.attachments import ACTIVE_TEXT_TYPES, attachment_read

# Nothing in a file's answer may run, load or be framed; an image opened on its own still shows.
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
DOWNLOAD_FALLBACK_TYPE = "application/octet-stream"


def attachment_file_response(*, attachment: Attachment, variant: str, cross_origin: bool = False) -> HttpResponse:
    """The file (or its thumbnail) with the headers above; `cross_origin` lets other sites' pages embed it
    (the messenger runs on the customer's site)."""
    thumbnail = variant == Attachment.Variant.THUMBNAIL
    if thumbnail and not attachment.thumbnail:
        return HttpResponse(status=404)
    inline = thumbnail or attachment.is_inline_image
    if thumbnail:
        content_type = "image/webp"
    elif inline or attachment.content_type not in ACTIVE_TEXT_TYPES:
        content_type = attachment.content_type
    else:
        content_type = DOWNLOAD_FALLBACK_TYPE
    response = FileResponse(
        attachment_read(attachment=attachment, variant=variant),
        as_attachment=not inline,
        # The thumbnail is WebP whatever the original: its name says so ("shot.png" → "shot-thumb.webp").
        filename=f"{attachment.name.rsplit('.', 1)[0]}-thumb.webp" if thumbnail else attachment.name,
        content_type=content_type,
    )
    if inline:  # FileResponse names inline files too; say it outright
        response["Content-Disposition"] = response["Content-Disposition"] or "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = f"private, max-age={settings.PARLEY_ATTACHMENT_URL_MAX_AGE}"
    response["Cross-Origin-Resource-Policy"] = "cross-origin" if cross_origin else "same-origin"
    return response
