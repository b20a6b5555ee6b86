"""Attachments: check a file (size, type read from its bytes, name), make its thumbnail, store it.

Every way a file arrives (the messenger, the conversation page, the API's base64 `attachment_files`,
an inbound email) goes through `attachments_check`, then `attachments_staged` writes the files to storage,
both **before** the message's transaction opens; inside it `attachments_record` only inserts the rows.
Reading types, decoding images and writing files take time, and on SQLite an open transaction holds the
database's one write lock (IMMEDIATE mode) for every other writer. Files staged for a transaction that then
fails are removed as the failure passes through `attachments_staged`; a process killed in between leaves
files no row names, which `manage.py attachments_sweep` removes after an hour.

Images are stored without their metadata (conversations.image_metadata: EXIF with its GPS position, XMP, IPTC,
comments and text chunks left out, the image data untouched, the orientation kept): the size, dimensions and
thumbnail recorded are those of the stored bytes. An image whose structure cannot be walked to the end is kept
as a download, never shown inline. MP4 and QuickTime videos are stored with their metadata boxes blanked
(conversations.video_metadata: the recording location, device make, model and serial, XMP turned into `free`
boxes of the same size), so the file keeps its size and its media data stays where its sample tables point.

Thumbnails are made here, on upload, not in a Celery task: the bytes are already at hand, the message shows
its image at once (no "thumbnail pending" state for the widget and the admin to poll), and the work is
bounded (Pillow only decodes images under PARLEY_ATTACHMENT_MAX_IMAGE_PIXELS, draft mode for JPEG, one
frame; a progressive JPEG, decoded whole once per scan, only under the PNG cap and with at most
MAX_PROGRESSIVE_SCANS scans), about as long as receiving the upload itself.
"""

import contextlib
import datetime as dt
import io
import logging
import secrets
import tempfile
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import magic
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image, ImageOps

from common.attachment_types import (
    ATTACHMENT_TYPES,
    ATTACHMENT_TYPES_BY_MIME,
    DEFAULT_ATTACHMENT_MAX_MB,
    DEFAULT_ATTACHMENT_TYPES,
    INLINE_IMAGE_TYPES,
)
from common.parsing import without_direction_controls
from conversations.image_metadata import CLEANED_TYPES, image_metadata_removed
from conversations.models import Attachment, ConversationPart
from conversations.models_attachments import attachments_storage
from conversations.video_metadata import CLEANED_VIDEO_TYPES, video_metadata_removed

logger = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024
NAME_MAX_LENGTH = 150
FALLBACK_NAME = "attachment"
# libmagic reads the start of a file: enough for Office and OpenDocument containers (their first entry).
SNIFF_BYTES = 64 * 1024
THUMBNAIL_SIZE = (400, 400)
THUMBNAIL_QUALITY = 80
# A progressive JPEG is decoded whole once per scan: cameras and encoders write about 10; more is not thumbnailed.
MAX_PROGRESSIVE_SCANS = 100
PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
# libmagic's names for text it cannot be sure of ("text/x-c" for a log with braces): served as plain text,
# a download like any file. Markup and script keep their own type, which no website can allow.
ACTIVE_TEXT_TYPES = frozenset({
    "text/html", "text/xml", "application/xml", "image/svg+xml", "text/javascript", "application/javascript",
    "text/x-shellscript", "application/x-httpd-php", "text/x-php",
})  # fmt: skip
# Windows cannot save these names whatever their extension; a person downloading there must be able to.
WINDOWS_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)
STORAGE_PREFIX = "attachments"
THUMBNAIL_SUFFIX = "-thumb"


# --- limits ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttachmentLimits:
    """What one website lets a message carry: bytes per file, types (catalog order), files per message."""

    max_bytes: int
    types: tuple[str, ...]
    max_files: int

    def as_json(self) -> dict[str, Any]:
        kinds = [ATTACHMENT_TYPES_BY_MIME[mime] for mime in self.types]
        return {
            "max_bytes": self.max_bytes,
            "max_files": self.max_files,
            "types": list(self.types),
            "extensions": [ext for kind in kinds for ext in kind.extensions],
        }


def attachment_limits(website: Any = None) -> AttachmentLimits:
    """The website's limits (the defaults for a conversation without one: email, started by a teammate)."""
    max_mb = getattr(website, "attachment_max_mb", None) or DEFAULT_ATTACHMENT_MAX_MB
    chosen = getattr(website, "attachment_types", None) if website is not None else DEFAULT_ATTACHMENT_TYPES
    chosen = set(chosen) if isinstance(chosen, list) else set()
    # Catalog order, and only catalog types: a hand-edited row cannot allow text/html.
    types = tuple(kind.mime for kind in ATTACHMENT_TYPES if kind.mime in chosen)
    return AttachmentLimits(max_bytes=max_mb * MEGABYTE, types=types, max_files=settings.PARLEY_ATTACHMENT_MAX_FILES)


# --- names -------------------------------------------------------------------------------------------


def attachment_name_clean(raw: Any) -> str:
    """A file name safe to show, store and offer for saving: its last path segment, no control or
    direction-override characters, no NUL, no lone surrogates, no leading dots, at most 150 characters
    (the extension kept)."""
    name = without_direction_controls(raw, replacement=" ") if isinstance(raw, str) else ""
    # Cc: NUL and other controls; Cf: bidi overrides (U+202E "gpj.exe"), zero-width characters; Cs: lone
    # surrogates (JSON "\\ud800"), which no database or file system can store.
    name = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") else ch for ch in name)
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(name.split()).strip(" .")
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > 10:
        stem, extension = name, ""
    if stem.split(".")[0].upper() in WINDOWS_RESERVED_NAMES:
        stem = "_" + stem
    extension = f".{extension}" if extension else ""
    stem = stem[: NAME_MAX_LENGTH - len(extension)].rstrip(" .")
    return (stem + extension) if stem else FALLBACK_NAME + extension


def _name_for_type(name: str, mime: str) -> str:
    """The name with an extension that says what the bytes are: "invoice.pdf" holding a PNG becomes
    "invoice.pdf.png", so the saved file opens in the program its content needs, never as something else."""
    kind = ATTACHMENT_TYPES_BY_MIME.get(mime)
    if kind is None or name.lower().endswith(kind.extensions):
        return name
    return attachment_name_clean(name[: NAME_MAX_LENGTH - len(kind.extensions[0])] + kind.extensions[0])


# --- checking a file ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed its website's limits: ready to store."""

    source: File
    name: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None


def size_words(size: int) -> str:
    """A file's size as a person reads it, the same in the admin, refusals and the messenger (whose browser says it
    through Intl: en-US "kB"): "1.4 MB" from a megabyte, else whole kilobytes, at least 1 ("312 kB")."""
    return f"{size / MEGABYTE:.1f} MB" if size >= MEGABYTE else f"{max(1, round(size / 1024))} kB"


def sniffed_type(head: bytes) -> str:
    """The MIME type libmagic reads in the first bytes of a file; uncertain text reads as text/plain."""
    mime = (magic.from_buffer(head, mime=True) or "application/octet-stream").lower()
    if mime.startswith("text/") and mime not in ATTACHMENT_TYPES_BY_MIME and mime not in ACTIVE_TEXT_TYPES:
        return "text/plain"
    return mime


def _without_metadata(source: File, mime: str) -> tuple[File, int, bool, int | None]:
    """The image without its metadata (conversations.image_metadata), its size, whether its structure was whole
    (a broken one is kept as it came from where it broke, and must not be shown inline), and the scans of a
    progressive JPEG (None for any other image)."""
    source.seek(0)
    data = source.read()
    source.seek(0)
    cleaned = image_metadata_removed(data, mime=mime)
    if not cleaned.intact:
        logger.info("An image's structure could not be read to its end; kept as a download.")
    progressive_scans = cleaned.scans if cleaned.progressive else None
    if not cleaned.changed:
        return source, len(data), cleaned.intact, progressive_scans

    def write(destination: IO[bytes]) -> None:
        for piece in cleaned.pieces:
            destination.write(piece)

    return _rewritten(source, cleaned.size, write), cleaned.size, cleaned.intact, progressive_scans


def _video_without_metadata(source: File) -> tuple[File, int]:
    """The video with its metadata boxes blanked (conversations.video_metadata) and its size (the size as sent:
    nothing is removed, so every offset in it still points where it did)."""
    cleaned = video_metadata_removed(source)
    if not cleaned.intact:
        logger.info("A video's structure could not be read to its end; the part not read is kept as it came.")
    if not cleaned.changed:
        return source, cleaned.size
    return _rewritten(source, cleaned.size, lambda destination: cleaned.write(source, destination)), cleaned.size


def _rewritten(source: File, size: int, write: Callable[[IO[bytes]], None]) -> File:
    """A new file in place of `source`, written by `write`: on disk past the upload threshold, as Django keeps
    uploads (a message's files are all held until stored)."""
    # Not a `with`: it lives as long as its CheckedFile, and goes (closed, deleted) with it.
    spooled = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
    write(spooled)
    spooled.seek(0)
    rewritten = File(spooled, name=source.name)
    rewritten.size = size
    return rewritten


def _image_facts(
    source: File, mime: str, *, progressive_scans: int | None = None
) -> tuple[int | None, int | None, bytes | None]:
    """(width, height, WebP thumbnail) of an image; no thumbnail for one too large or not decodable, or for a
    progressive JPEG (`progressive_scans`: its scans) too large to decode whole or of too many scans."""
    progressive = progressive_scans is not None
    too_many_scans = progressive_scans is not None and progressive_scans > MAX_PROGRESSIVE_SCANS
    source.seek(0)
    try:
        with warnings.catch_warnings():
            # Pillow's own decompression-bomb warning is a refusal here, as its error is.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=[PILLOW_FORMATS[mime]]) as image:
                width, height = image.size
                if (image.getexif() or {}).get(ImageOps.ExifTags.Base.Orientation) in (5, 6, 7, 8):
                    width, height = height, width  # shown turned a quarter, as every viewer shows it
                # JPEG decodes at a fraction of its size (draft mode); PNG, GIF and WebP only whole, so their
                # cap is far lower: a small file can claim millions of pixels that cost seconds and gigabytes.
                # A progressive JPEG keeps every coefficient of the whole picture and walks them once per scan.
                cap = settings.PARLEY_ATTACHMENT_MAX_IMAGE_PIXELS
                if mime != "image/jpeg" or progressive:
                    cap = min(cap, settings.PARLEY_ATTACHMENT_MAX_DECODED_IMAGE_PIXELS)
                if width * height > cap or too_many_scans:
                    return width, height, None  # never decoded: a download like any other file
                return width, height, _thumbnail(image)
    except Exception:
        # Kept as a download, never shown inline: Pillow's EXIF parser and decoders raise many kinds of error
        # on hostile input (struct.error, AttributeError, OSError, ValueError…), and none may become a 500.
        logger.info("An image could not be decoded for its thumbnail; kept as a download.")
        return None, None, None
    finally:
        source.seek(0)


def _thumbnail(image: Image.Image) -> bytes:
    image.draft("RGB", THUMBNAIL_SIZE)  # JPEG decodes at a fraction of its size (no-op elsewhere)
    thumb = ImageOps.exif_transpose(image)
    thumb.thumbnail(THUMBNAIL_SIZE)
    thumb = thumb.convert("RGBA" if thumb.mode in ("RGBA", "LA", "P", "PA") else "RGB")
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=THUMBNAIL_QUALITY)
    return out.getvalue()


def attachment_check(*, source: File, limits: AttachmentLimits, field: str = "files") -> CheckedFile:
    """One file against the limits: its size, the type its bytes say, its name; raises naming `field`."""
    name = attachment_name_clean(getattr(source, "name", ""))
    size = source.size if source.size is not None else 0
    if size <= 0:
        raise ValidationError({field: f"“{name}” is empty."})
    if size > limits.max_bytes:
        raise ValidationError(
            {field: f"“{name}” is {size_words(size)}; files can be at most {size_words(limits.max_bytes)}."}
        )
    source.seek(0)
    mime = sniffed_type(source.read(SNIFF_BYTES))
    source.seek(0)
    if mime not in limits.types:
        kind = ATTACHMENT_TYPES_BY_MIME.get(mime)
        what = kind.label if kind else mime
        raise ValidationError({field: f"“{name}” is a file of type {what}, which cannot be sent here."})
    width = height = thumbnail = None
    intact, progressive_scans = True, None
    if mime in CLEANED_TYPES:
        source, size, intact, progressive_scans = _without_metadata(source, mime)
    elif mime in CLEANED_VIDEO_TYPES:
        source, size = _video_without_metadata(source)
    if mime in INLINE_IMAGE_TYPES and intact:
        width, height, thumbnail = _image_facts(source, mime, progressive_scans=progressive_scans)
    return CheckedFile(
        source=source, name=_name_for_type(name, mime), content_type=mime, size=size,
        width=width, height=height, thumbnail=thumbnail,
    )  # fmt: skip


@dataclass(frozen=True)
class FilesField:
    """How refusals name the input that carried a message's files: one name for all of them (`files`: the
    messenger, the conversation page), or each file by its index (the API's `attachment_files[2]`)."""

    name: str = "files"
    indexed: bool = False

    def of_file(self, index: int) -> str:
        return f"{self.name}[{index}]" if self.indexed else self.name


FILES = FilesField()


def attachments_check(
    *, files: Sequence[File], limits: AttachmentLimits, field: FilesField = FILES
) -> list[CheckedFile]:
    """Every file of one message, all or nothing: the first refusal names its file and `field`."""
    if len(files) > limits.max_files:
        raise ValidationError({field.name: f"At most {limits.max_files} files per message."})
    if files and not limits.types:
        raise ValidationError({field.name: "Files cannot be sent here."})
    return [
        attachment_check(source=source, limits=limits, field=field.of_file(index)) for index, source in enumerate(files)
    ]


def attachments_check_lenient(
    *, files: Sequence[File], limits: AttachmentLimits
) -> tuple[list[CheckedFile], list[str]]:
    """For mail already sent (inbound email): the files within the limits, and why each other one was left out."""
    kept: list[CheckedFile] = []
    refused: list[str] = []
    for source in files:
        if len(kept) >= limits.max_files:
            refused.append(f"“{attachment_name_clean(source.name)}”: at most {limits.max_files} files per message.")
            continue
        try:
            kept.append(attachment_check(source=source, limits=limits))
        except ValidationError as error:
            refused.append(next(iter(error.message_dict.values()))[0])
    return kept, refused


# --- storing ----------------------------------------------------------------------------------------


def _storage_name() -> str:
    """A random name that says nothing of the person or the file (two letters of it shard the folder)."""
    token = secrets.token_hex(16)
    return f"{STORAGE_PREFIX}/{token[:2]}/{token}"


@dataclass(frozen=True)
class StoredFile:
    """A checked file written to storage ahead of its message's transaction; its row is made inside it."""

    file: str
    thumbnail: str
    name: str
    content_type: str
    size: int
    width: int | None
    height: int | None


@dataclass(frozen=True)
class StagedFiles:
    """A message's files in storage before its transaction (`attachments_staged`): whoever staged them
    removes them if the transaction fails."""

    files: tuple[StoredFile, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.files)

    @property
    def preview(self) -> str:
        """What the inbox and the messenger's list show for a message with these files and no text."""
        if len(self.files) == 1:
            return f"Attachment: {self.files[0].name}"
        return f"{len(self.files)} attachments"


NO_FILES = StagedFiles()


def _discard(names: Sequence[str]) -> None:
    """Remove stored files whose rows never committed (each one tried: one left behind is the sweep's)."""
    storage = attachments_storage()
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # the name is random, no personal data; attachments_sweep removes it later
            logger.exception("Could not remove the stored file %s of a message that was not written.", name)


def _write(checked: CheckedFile, *, written: list[str]) -> StoredFile:
    """Store one checked file and its thumbnail; `written` collects the stored names as they land."""
    storage = attachments_storage()
    name = _storage_name()
    checked.source.seek(0)
    saved = storage.save(name, checked.source)
    written.append(saved)
    thumbnail = ""
    if checked.thumbnail is not None:
        thumbnail = storage.save(name + THUMBNAIL_SUFFIX, ContentFile(checked.thumbnail))
        written.append(thumbnail)
    return StoredFile(
        file=saved, thumbnail=thumbnail, name=checked.name, content_type=checked.content_type, size=checked.size,
        width=checked.width, height=checked.height,
    )  # fmt: skip


@contextlib.contextmanager
def attachments_staged(files: Sequence[CheckedFile]) -> Iterator[StagedFiles]:
    """Write checked files (and their thumbnails) to storage now, before the caller's transaction, and remove
    them again when the block raises: a message whose transaction rolls back leaves no file behind."""
    written: list[str] = []
    try:
        yield StagedFiles(tuple(_write(checked, written=written) for checked in files))
    except BaseException:
        _discard(written)
        raise


def attachments_record(*, part: ConversationPart, files: StagedFiles) -> list[Attachment]:
    """The rows of `part`'s staged files, inside the message's transaction (no file is read or written here)."""
    if not files:
        return []
    return Attachment.objects.bulk_create(
        Attachment(
            part=part,
            file=stored.file,
            thumbnail=stored.thumbnail,
            name=stored.name,
            content_type=stored.content_type,
            size=stored.size,
            width=stored.width,
            height=stored.height,
        )
        for stored in files.files
    )


# What one email may carry: most mail servers refuse messages over 25 MB, and base64 adds a third.
EMAIL_ATTACHMENTS_MAX_BYTES = 18 * MEGABYTE


def attachments_attach_to_email(*, email: Any, part: ConversationPart) -> list[str]:
    """Attach the part's files to an outgoing email, in order, while they fit; returns the names left out."""
    left_out = []
    total = 0
    for attachment in part.attachments.all():
        if total + attachment.size > EMAIL_ATTACHMENTS_MAX_BYTES:
            left_out.append(attachment.name)
            continue
        with attachment_read(attachment=attachment) as stored:
            email.attach(attachment.name, stored.read(), attachment.content_type)
        total += attachment.size
    return left_out


# A stored file younger than this may belong to a message whose transaction has not committed yet.
ORPHAN_MIN_AGE = dt.timedelta(hours=1)
ORPHAN_LOOKUP_BATCH = 500


def attachment_orphans_delete(*, dry_run: bool = False, now: dt.datetime | None = None) -> int:
    """Delete stored files no row names (a crash between a deletion's commit and its files' removal, a message
    whose transaction rolled back after its files were written), older than an hour; returns how many."""
    storage = attachments_storage()
    now = now or timezone.now()
    if not storage.exists(STORAGE_PREFIX):
        return 0
    deleted = 0
    for shard in storage.listdir(STORAGE_PREFIX)[0]:
        names = [f"{STORAGE_PREFIX}/{shard}/{name}" for name in storage.listdir(f"{STORAGE_PREFIX}/{shard}")[1]]
        for start in range(0, len(names), ORPHAN_LOOKUP_BATCH):
            batch = names[start : start + ORPHAN_LOOKUP_BATCH]
            known = set(Attachment.objects.filter(file__in=batch).values_list("file", flat=True))
            known |= set(Attachment.objects.filter(thumbnail__in=batch).values_list("thumbnail", flat=True))
            for name in batch:
                if name in known or now - storage.get_modified_time(name) < ORPHAN_MIN_AGE:
                    continue
                if not dry_run:
                    storage.delete(name)
                deleted += 1
    return deleted


def attachment_read(*, attachment: Attachment, variant: str = Attachment.Variant.ORIGINAL) -> File:
    """The stored file (or its thumbnail) opened for reading; the caller closes it."""
    field = attachment.thumbnail if variant == Attachment.Variant.THUMBNAIL else attachment.file
    return field.storage.open(field.name, "rb")
