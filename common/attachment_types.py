"""The file types a conversation attachment may have: one catalog for every website's settings.

A type is the one libmagic reads from the bytes (conversations.services.attachments), never what the
client claims. A website allows a subset of this catalog (`Website.attachment_types`); a type outside it
(HTML, scripts, executables) can never be allowed, whatever a website's settings say.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class AttachmentType:
    mime: str
    label: str
    extensions: tuple[str, ...]  # the first one is added to a name that ends otherwise
    inline: bool = False  # a raster image Parley decodes itself, shown inline with a thumbnail


ATTACHMENT_TYPES: tuple[AttachmentType, ...] = (
    AttachmentType("image/png", "PNG image", (".png",), inline=True),
    AttachmentType("image/jpeg", "JPEG image", (".jpg", ".jpeg", ".jpe"), inline=True),
    AttachmentType("image/gif", "GIF image", (".gif",), inline=True),
    AttachmentType("image/webp", "WebP image", (".webp",), inline=True),
    AttachmentType("application/pdf", "PDF document", (".pdf",)),
    AttachmentType("text/plain", "Plain text", (".txt", ".log", ".md")),
    AttachmentType("text/csv", "CSV table", (".csv",)),
    AttachmentType("application/zip", "ZIP archive", (".zip",)),
    AttachmentType(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word document", (".docx",)
    ),
    AttachmentType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel workbook", (".xlsx",)),
    AttachmentType(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation", "PowerPoint deck", (".pptx",)
    ),
    AttachmentType("application/vnd.oasis.opendocument.text", "OpenDocument text", (".odt",)),
    AttachmentType("application/vnd.oasis.opendocument.spreadsheet", "OpenDocument spreadsheet", (".ods",)),
    AttachmentType("application/msword", "Word 97 document", (".doc",)),
    AttachmentType("application/vnd.ms-excel", "Excel 97 workbook", (".xls",)),
    AttachmentType("video/mp4", "MP4 video", (".mp4",)),
    AttachmentType("video/quicktime", "QuickTime video", (".mov",)),
    # Never inline (it can carry script): allowed only where a website opts in, then always a download.
    AttachmentType("image/svg+xml", "SVG drawing (download only)", (".svg",)),
)
ATTACHMENT_TYPES_BY_MIME = {kind.mime: kind for kind in ATTACHMENT_TYPES}
INLINE_IMAGE_TYPES = frozenset(kind.mime for kind in ATTACHMENT_TYPES if kind.inline)

# A new website's settings: the common documents and images; no video, no SVG.
DEFAULT_ATTACHMENT_TYPES = [
    "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain", "text/csv",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
]  # fmt: skip
DEFAULT_ATTACHMENT_MAX_MB = 10
# The most a website may set: the widget's upload and the API's base64 body stay within what one web
# process can hold.
ATTACHMENT_MAX_MB_CEILING = 50


def default_attachment_types() -> list[str]:
    """A fresh copy for a model field's default (a shared list would be mutated across rows)."""
    return list(DEFAULT_ATTACHMENT_TYPES)
