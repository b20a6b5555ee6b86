"""Identifying metadata taken out of image files, their image data left byte for byte as it came.

A phone photo carries EXIF (GPS position, time, camera model and serial number, a thumbnail of the uncropped
picture), often XMP and IPTC too; PNG and WebP files carry the same in their text, eXIf, EXIF and XMP chunks.
Attachments (conversations.services.attachments) store originals without them. Nothing is decoded or
re-encoded: each format is a sequence of length-prefixed segments or chunks, and only whole metadata ones are
left out, so the pixels a decoder produces from the stored file are the ones of the file as sent.

What is kept is what a decoder uses to show the picture, listed per format; everything else of the kinds
decoders ignore by definition (JPEG's application segments and comments, PNG's unknown ancillary chunks,
WebP's unknown chunks, GIF's comment and application extensions) is left out, known or not: a vendor block is
as likely to carry a serial number or a position as EXIF is. The one piece of EXIF that changes how a picture
is shown, its Orientation, is written back alone (a 32-byte EXIF block), so every viewer turns the stored
photo exactly as it turned the one sent. Data after the image's end (a JPEG's appended pictures or motion
photo video, bytes after PNG's IEND) goes too.

Every length read is checked against the data, every loop moves forward and counts against MAX_SEGMENTS, and
the search through JPEG's compressed data is one linear regular expression: hostile files cost at most a scan
of their bytes. A segment cut off by the end of the file is the last one (kept or left out by its kind, as a
whole one would be). What decoders read past is read past the same way: a JPEG segment whose length is under 2
ends right after its length (libjpeg), bytes between GIF blocks that start none are skipped (Pillow). A
structure that cannot be walked further (a PNG chunk type that is not letters, a GIF block cut off, too many
segments) stops the walk: what came before is cleaned, the rest is kept as it came, and the result says it is
not intact, so the file is stored as a download, never shown.

The JPEG walk also notes what the thumbnail's decoding will cost: whether the picture is progressive and how
many scans it has (a progressive JPEG is decoded whole, once per scan, draft mode or not).

Written here rather than taken from a library: piexif (unmaintained since 2019) removes only JPEG and WebP
EXIF and leaves XMP and IPTC; the libraries that cover every format bind a C++ parser (exiv2) with a long
history of memory-safety flaws, wrong for bytes any visitor can send, or re-encode the image (mat2).
"""

import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

JPEG, PNG, WEBP, GIF = "image/jpeg", "image/png", "image/webp", "image/gif"
# A walk stops (the rest kept as it came, the file a download) after this many segments, chunks or GIF blocks:
# real pictures have tens, or a few thousand for an animation or a PNG written in small IDAT chunks.
MAX_SEGMENTS = 100_000
# GIF's compressed data comes in sub-blocks of at most 255 bytes: 50 MB (the largest upload) is 200,000 of them.
MAX_GIF_SUB_BLOCKS = 500_000

ORIENTATION_TAG = 0x0112
TIFF_SHORT = 3
NORMAL_ORIENTATION = 1
EXIF_HEADER = b"Exif\x00\x00"  # before the TIFF structure in a JPEG's APP1 (and in some WebP and PNG files)


@dataclass(frozen=True)
class CleanedImage:
    """The bytes to store, in pieces (slices of the input and small new segments)."""

    pieces: tuple[bytes | memoryview, ...]
    changed: bool  # something was left out (else the pieces are the input, whole)
    intact: bool  # the whole structure was walked; False: kept as it came from where the walk stopped
    progressive: bool = False  # a JPEG whose frame is progressive (SOF2, 6, 10, 14): decoded whole, per scan
    scans: int = 0  # a JPEG's scans (SOS markers) before its end

    @property
    def size(self) -> int:
        return sum(len(piece) for piece in self.pieces)


class _Output:
    """The input's kept ranges and the new pieces, in order."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.view = memoryview(data)
        self.parts: list[tuple[int, int] | bytes] = []
        self.segments = 0
        self.sub_blocks = 0
        self.exif_seen = False  # only a file's first EXIF block can give the orientation (as in viewers)
        self.progressive = False
        self.scans = 0

    def keep(self, start: int, end: int) -> None:
        end = min(end, len(self.data))
        if end <= start:
            return
        last = self.parts[-1] if self.parts else None
        if isinstance(last, tuple) and last[1] == start:
            self.parts[-1] = (last[0], end)  # contiguous: one piece
        else:
            self.parts.append((start, end))

    def add(self, piece: bytes) -> None:
        self.parts.append(piece)

    def counted(self) -> bool:
        """One more segment; False once there were too many."""
        self.segments += 1
        return self.segments <= MAX_SEGMENTS

    def result(self, *, intact: bool = True) -> CleanedImage:
        facts = {"intact": intact, "progressive": self.progressive, "scans": self.scans}
        if self.parts == [(0, len(self.data))]:
            return CleanedImage(pieces=(self.data,), changed=False, **facts)
        pieces = tuple(part if isinstance(part, bytes) else self.view[part[0] : part[1]] for part in self.parts)
        return CleanedImage(pieces=pieces, changed=True, **facts)

    def broken(self, position: int) -> CleanedImage:
        """The walk cannot go on at `position`: the rest is kept as it came; the file is not intact."""
        self.keep(position, len(self.data))
        return self.result(intact=False)


# --- EXIF: only the orientation survives ------------------------------------------------------------------


def exif_orientation(block: bytes | memoryview) -> int | None:
    """The Orientation (1-8) in an EXIF block's first IFD, read the way browsers read it (a SHORT, count 1);
    None when absent or unreadable (then no viewer turns the picture either)."""
    tiff = bytes(block[len(EXIF_HEADER) :]) if bytes(block[:6]) == EXIF_HEADER else bytes(block)
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8 or struct.unpack(order + "H", tiff[2:4])[0] != 42:
        return None
    ifd = struct.unpack(order + "I", tiff[4:8])[0]
    if ifd + 2 > len(tiff):
        return None
    count = min(struct.unpack(order + "H", tiff[ifd : ifd + 2])[0], (len(tiff) - ifd - 2) // 12)
    for index in range(count):
        entry = ifd + 2 + 12 * index
        tag, kind, values = struct.unpack(order + "HHI", tiff[entry : entry + 8])
        if tag == ORIENTATION_TAG:
            value = struct.unpack(order + "H", tiff[entry + 8 : entry + 10])[0]
            return value if kind == TIFF_SHORT and values == 1 and 1 <= value <= 8 else None
    return None


def orientation_only_tiff(orientation: int) -> bytes:
    """A TIFF structure holding one tag, Orientation: what EXIF blocks become."""
    entry = struct.pack(">HHIHH", ORIENTATION_TAG, TIFF_SHORT, 1, orientation, 0)
    return b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + struct.pack(">I", 0)


def _kept_orientation(block: bytes | memoryview) -> int | None:
    """The orientation worth writing back: none for a normal (1) or unreadable one."""
    orientation = exif_orientation(block)
    return orientation if orientation not in (None, NORMAL_ORIENTATION) else None


# --- JPEG -----------------------------------------------------------------------------------------------

SOI, EOI, SOS, APP0, APP1, APP2, APP14 = 0xD8, 0xD9, 0xDA, 0xE0, 0xE1, 0xE2, 0xEE
APP_MARKERS = range(0xE0, 0xF0)
COM = 0xFE
PROGRESSIVE_FRAMES = frozenset([0xC2, 0xC6, 0xCA, 0xCE])  # SOF2, SOF6, SOF10, SOF14
MIN_SEGMENT_LENGTH = 2  # the length counts itself; a shorter one ends right after it, as libjpeg reads it
STANDALONE_MARKERS = frozenset([0x01, SOI, *range(0xD0, 0xD8)])  # TEM, SOI, RST0-7: no length follows
# A marker: 0xFF then a byte that is neither fill (0xFF) nor a stuffed zero; libjpeg skips anything else.
JPEG_MARKER = re.compile(rb"\xff[^\x00\xff]")
# The end of compressed data: a marker other than a restart (RST0-7 belong to the data).
JPEG_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
JFIF = b"JFIF\x00"
JFIF_WITHOUT_THUMBNAIL_LENGTH = 12  # "JFIF\0", version, units, densities; the thumbnail size follows
# Application segments a decoder uses: JFIF (density), the ICC colour profile, Adobe's colour transform.
JPEG_KEPT_APPS = ((APP0, JFIF), (APP2, b"ICC_PROFILE\x00"), (APP14, b"Adobe"))


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_app_kept(marker: int, payload: memoryview, out: _Output, start: int, end: int) -> None:
    """An application segment: kept if a decoder uses it, JFIF without its thumbnail, EXIF reduced to the
    orientation (the first EXIF segment only), anything else left out."""
    head = bytes(payload[:16])
    if marker == APP1 and head.startswith(EXIF_HEADER) and not out.exif_seen:
        out.exif_seen = True
        orientation = _kept_orientation(payload)
        if orientation is not None:
            out.add(_jpeg_segment(APP1, EXIF_HEADER + orientation_only_tiff(orientation)))
        return
    if marker == APP0 and head.startswith(JFIF) and len(payload) > JFIF_WITHOUT_THUMBNAIL_LENGTH + 2:
        out.add(_jpeg_segment(APP0, bytes(payload[:JFIF_WITHOUT_THUMBNAIL_LENGTH]) + b"\x00\x00"))
        return
    if any(marker == kept and head.startswith(prefix) for kept, prefix in JPEG_KEPT_APPS):
        out.keep(start, end)


def _jpeg(data: bytes) -> CleanedImage:
    out = _Output(data)
    out.keep(0, 2)  # SOI (libmagic read FF D8 FF)
    position = 2
    while out.counted():
        found = JPEG_MARKER.search(data, position)
        if found is None:
            return out.result()  # bytes no decoder reads, then the end: a file cut off
        start, position = found.start(), found.end()  # bytes skipped on the way are left out, as decoders skip them
        marker = data[position - 1]
        if marker == EOI:
            out.keep(start, position)
            return out.result()  # anything after the picture's end (appended pictures, a video) goes
        if marker in STANDALONE_MARKERS:
            out.keep(start, position)
            continue
        if position + 2 > len(data):
            return out.result()  # a length cut off by the end of the file
        length = struct.unpack(">H", data[position : position + 2])[0]
        end = position + max(length, MIN_SEGMENT_LENGTH)
        if marker in PROGRESSIVE_FRAMES:
            out.progressive = True
        elif marker == SOS:
            out.scans += 1
        if marker in APP_MARKERS:
            _jpeg_app_kept(marker, memoryview(data)[position + 2 : end], out, start, end)
        elif marker != COM:
            out.keep(start, end)
        position = end
        if position >= len(data):
            return out.result()
        if marker == SOS:  # compressed data follows, up to the next marker that is not a restart
            scan_end = JPEG_SCAN_END.search(data, position)
            stop = scan_end.start() if scan_end else len(data)
            out.keep(position, stop)
            position = stop
    return out.broken(position)


# --- PNG ------------------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEPT_CHUNKS = frozenset({
    b"IHDR", b"PLTE", b"IDAT", b"IEND",  # the image
    b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP", b"mDCV", b"cLLI", b"mDCv", b"cLLi",  # colour
    b"bKGD", b"hIST", b"pHYs", b"sPLT",  # background, palette use, pixel size
    b"acTL", b"fcTL", b"fdAT",  # animation (APNG)
})  # fmt: skip
PNG_EXIF = b"eXIf"


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _png(data: bytes) -> CleanedImage:
    out = _Output(data)
    if not data.startswith(PNG_SIGNATURE):
        return out.broken(0)
    out.keep(0, len(PNG_SIGNATURE))
    position = len(PNG_SIGNATURE)
    while position < len(data):
        if not out.counted():
            return out.broken(position)
        if position + 8 > len(data):
            return out.result()  # a chunk header cut off: nothing a decoder reads
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if not kind.isalpha():  # ASCII letters only, for bytes
            return out.broken(position)
        end = position + 12 + length
        if kind in PNG_KEPT_CHUNKS or kind[:1].isupper():  # critical chunks are never left out
            out.keep(position, end)
        elif kind == PNG_EXIF and not out.exif_seen:
            out.exif_seen = True
            orientation = _kept_orientation(memoryview(data)[position + 8 : min(end - 4, len(data))])
            if orientation is not None:
                out.add(_png_chunk(PNG_EXIF, orientation_only_tiff(orientation)))
        if kind == b"IEND":
            break  # anything after the image's end goes
        position = end
    return out.result()


# --- WebP -----------------------------------------------------------------------------------------------

WEBP_KEPT_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
WEBP_EXIF, WEBP_VP8X = b"EXIF", b"VP8X"
VP8X_EXIF_FLAG, VP8X_XMP_FLAG = 0x08, 0x04
RIFF_HEADER_LENGTH = 12  # "RIFF", size, "WEBP"


def _webp(data: bytes) -> CleanedImage:
    out = _Output(data)
    if len(data) < RIFF_HEADER_LENGTH or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return out.broken(0)
    riff_end = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])  # what follows the RIFF is not the image
    chunks: list[tuple[bytes, int, int]] = []
    position = RIFF_HEADER_LENGTH
    intact = True
    while position + 8 <= riff_end:
        if not out.counted():
            intact = False
            break
        kind, length = struct.unpack("<4sI", data[position : position + 8])
        end = min(position + 8 + length + (length & 1), riff_end)  # chunks are padded to an even length
        chunks.append((kind, position, end))
        position = end
    orientation = next(
        (_kept_orientation(memoryview(data)[start + 8 : end]) for kind, start, end in chunks if kind == WEBP_EXIF),
        None,
    )
    has_vp8x = any(kind == WEBP_VP8X for kind, _start, _end in chunks)
    pieces: list[bytes | memoryview] = []
    view = memoryview(data)
    for kind, start, end in chunks:
        if kind == WEBP_VP8X and end - start >= 9:
            flags = data[start + 8] & ~(VP8X_XMP_FLAG | VP8X_EXIF_FLAG)
            if orientation is not None:
                flags |= VP8X_EXIF_FLAG
            pieces += [view[start : start + 8], bytes([flags]), view[start + 9 : end]]
        elif kind in WEBP_KEPT_CHUNKS:
            pieces.append(view[start:end])
        elif kind == WEBP_EXIF and orientation is not None and has_vp8x:
            tiff = orientation_only_tiff(orientation)
            pieces.append(WEBP_EXIF + struct.pack("<I", len(tiff)) + tiff)
            orientation = None  # written once
    if not intact:
        pieces.append(view[position:])
    body_size = sum(len(piece) for piece in pieces)
    header = b"RIFF" + struct.pack("<I", body_size + 4) + b"WEBP"
    cleaned = (header, *pieces)
    if _spells(data, cleaned):  # nothing left out, the header and flags as they were
        return CleanedImage(pieces=(data,), changed=False, intact=intact)
    return CleanedImage(pieces=cleaned, changed=True, intact=intact)


def _spells(data: bytes, pieces: tuple[bytes | memoryview, ...]) -> bool:
    """Whether the pieces put together are the input, byte for byte (compared without copying)."""
    if sum(len(piece) for piece in pieces) != len(data):
        return False
    view, position = memoryview(data), 0
    for piece in pieces:
        if view[position : position + len(piece)] != piece:
            return False
        position += len(piece)
    return True


# --- GIF ------------------------------------------------------------------------------------------------

GIF_EXTENSION, GIF_IMAGE, GIF_TRAILER = 0x21, 0x2C, 0x3B
GIF_GRAPHIC_CONTROL, GIF_PLAIN_TEXT, GIF_APPLICATION = 0xF9, 0x01, 0xFF
GIF_HEADER_LENGTH = 13  # "GIF89a" and the logical screen descriptor
GIF_IMAGE_DESCRIPTOR_LENGTH = 10
# A byte that starts a block; Pillow skips any other between blocks, one at a time (GIF87a: "ignore").
GIF_BLOCK_START = re.compile(rb"[\x21\x2c\x3b]")
# Application extensions a decoder uses: the loop count and the ICC profile.
GIF_KEPT_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")


def _colour_table_length(packed: int) -> int:
    return 3 * (2 ** ((packed & 0x07) + 1)) if packed & 0x80 else 0


def _gif(data: bytes) -> CleanedImage:
    out = _Output(data)
    if len(data) < GIF_HEADER_LENGTH:
        return out.broken(0)
    position = GIF_HEADER_LENGTH + _colour_table_length(data[10])
    out.keep(0, position)

    def sub_blocks_end(position: int) -> int | None:
        """Where a run of sub-blocks (size byte, data; a zero size ends it) ends; None past the budget."""
        while position < len(data):
            out.sub_blocks += 1
            if out.sub_blocks > MAX_GIF_SUB_BLOCKS:
                return None
            size = data[position]
            position += 1 + size
            if size == 0:
                return position
        return len(data)

    while position < len(data):
        if not out.counted():
            return out.broken(position)
        introducer = data[position]
        if introducer not in (GIF_EXTENSION, GIF_IMAGE, GIF_TRAILER):
            found = GIF_BLOCK_START.search(data, position)  # stray bytes are left out, as decoders skip them
            position = found.start() if found else len(data)
            continue
        if introducer == GIF_TRAILER:
            out.keep(position, position + 1)
            return out.result()  # anything after the trailer goes
        if introducer == GIF_EXTENSION and position + 1 < len(data):
            label = data[position + 1]
            end = sub_blocks_end(position + 2)
            if end is None:
                return out.broken(position)
            has_name = data[position + 2 : position + 3] == b"\x0b"  # an application's name: one 11-byte block
            application = data[position + 3 : position + 14] if label == GIF_APPLICATION and has_name else b""
            # Kept: frame timing and transparency, drawn text, the loop count and the ICC profile; left out:
            # comments, other applications' blocks (XMP), extensions decoders do not know.
            kept = label in (GIF_GRAPHIC_CONTROL, GIF_PLAIN_TEXT) or application in GIF_KEPT_APPLICATIONS
            if not kept:
                position = end
                continue
        elif introducer == GIF_IMAGE and position + GIF_IMAGE_DESCRIPTOR_LENGTH < len(data):
            pixels = position + GIF_IMAGE_DESCRIPTOR_LENGTH + _colour_table_length(data[position + 9])
            end = sub_blocks_end(pixels + 1)  # after the LZW minimum code size
            if end is None:
                return out.broken(position)
        else:
            return out.broken(position)
        out.keep(position, end)
        position = end
    return out.result()


CLEANERS: dict[str, Callable[[bytes], CleanedImage]] = {JPEG: _jpeg, PNG: _png, WEBP: _webp, GIF: _gif}
CLEANED_TYPES = frozenset(CLEANERS)


def image_metadata_removed(data: bytes, *, mime: str) -> CleanedImage:
    """The image of type `mime` (one of CLEANED_TYPES, read from its bytes) without its metadata."""
    return CLEANERS[mime](data)
