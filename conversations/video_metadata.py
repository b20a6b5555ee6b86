"""Identifying metadata blanked out of MP4 and QuickTime videos, every other byte left where it was.

A phone video carries where it was recorded (Apple and Android write an ISO 6709 position such as
"+48.8584+002.2945/" in `moov/udta/©xyz`, Apple also in `moov/meta` under com.apple.quicktime.location.ISO6709,
3GPP in `udta/loci`), the device's make, model and software (`meta` keys, `udta` atoms such as Samsung's or
GoPro's, with a camera serial number) and sometimes XMP (a `uuid` box, or `udta/XMP_`). Attachments
(conversations.services.attachments) store videos without them. Nothing is decoded or re-encoded, and nothing
moves: the sample tables (stco/co64, and the offsets of fragments) point at absolute positions in the file, so
a box is never removed but turned into a `free` box of the same size, its type changed and its payload zeroed.
Players skip free boxes by definition (ISO/IEC 14496-12: their contents "may be ignored"); the stored file has
the size of the one sent, and every byte of its media data is where it was.

What is blanked is metadata by kind, known or not, as for images: every user data (`udta`) and metadata
(`meta`) box wherever it is in the movie, its tracks and its fragments (no player needs them to play; with
them go titles and cover art), the location and XMP atoms that belong in them should one stand outside,
XMP and Canon's metadata in `uuid` boxes, and at the file's top level every box a player does not
read there (vendor trailers such as Samsung's `sefd`, a top-level `meta`, `udta` or `uuid`). Inside the movie
only those kinds go: the boxes a player reads there are many (QuickTime's track aperture, preload, matte…)
and other `uuid` boxes carry what a player needs (PIFF's protection data, spherical video).

Not cleaned: positions recorded frame by frame in a timed metadata track (GoPro's GPMF, `camm`, dashcams'
subtitle tracks) are media data, samples in `mdat` like the pictures; the recording time in the movie and
track headers (mvhd, tkhd, mdhd), a structural field of every file; the encoder's name in a sample description.

Only headers are read (a seek and a few bytes per box, through the file object): the media data is skipped by
its length. Every size is checked against its container: a box running past its container's end (a file cut
off) is its last one and ends with it, as players read it; size 0 runs to the container's end, size 1 takes the
64-bit size that follows. The walk counts boxes against MAX_BOXES and descends at most MAX_DEPTH containers; a
box whose size is under its own header, too many boxes or too deep a nesting stop the walk of that container:
what came before is cleaned, the rest of it is kept as it came, the walk goes on after that container (its own
length is known; at the top level, the rest of the file is kept), and the result says it is not intact, as
for images (an image is then a download; a video is one anyway).

Written here rather than taken from a library: mutagen (maintained, pure Python) writes only iTunes-style tags
(`udta/meta/ilst`, not Apple's `moov/meta` keys, `©xyz` or `loci`), resizing boxes and rewriting the sample
offsets to do so; the BMFF parsers on PyPI read a structure, and blanking over a read is these few lines.
"""

import io
import shutil
import struct
from dataclasses import dataclass
from typing import IO

MP4, QUICKTIME = "video/mp4", "video/quicktime"
CLEANED_VIDEO_TYPES = frozenset({MP4, QUICKTIME})

# A walk stops (the rest kept as it came) after this many boxes: a phone video has tens, a fragmented one about
# ten per fragment (a fragment of a second or more: a few thousand within the 50 MB an attachment may have).
MAX_BOXES = 50_000
# Containers within containers: moov/trak/mdia/minf is the deepest path to metadata a player reads.
MAX_DEPTH = 8

HEADER_LENGTH = 8  # 32-bit size, type
TYPE_OFFSET = 4
LARGE_HEADER_LENGTH = 16  # size 1, type, 64-bit size
UUID_LENGTH = 16
LARGE_SIZE, TO_THE_END = 1, 0
FREE, UUID = b"free", b"uuid"
COPY_CHUNK = 1024 * 1024

# Containers whose payload is boxes and nothing else, walked for the metadata inside them.
CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"moof", b"traf"})
# Blanked wherever they are: user data and metadata containers whole, and the kinds that belong in them
# (QuickTime's location and XMP atoms, 3GPP's location) should one stand outside.
METADATA_BOXES = frozenset({b"udta", b"meta", b"\xa9xyz", b"loci", b"XMP_"})
METADATA_UUIDS = frozenset({
    bytes.fromhex("be7acfcb97a942e89c71999491e3afac"),  # XMP
    bytes.fromhex("85c0b687820f11e08111f4ce462b6a48"),  # Canon's metadata (CNCV, CMT1-4: EXIF with GPS)
})  # fmt: skip
# What a player reads at a file's top level; anything else there is blanked.
TOP_LEVEL_KEPT = frozenset({
    b"ftyp", b"styp", b"moov", b"mdat", b"moof", b"mfra", b"sidx", b"ssix", b"prft", b"emsg", b"pdin",
    b"free", b"skip", b"wide",
})  # fmt: skip


# A box to store as a `free` box: (start, header end, end). Its size (and 64-bit size) stay as they were, its
# type becomes `free`, zeros follow its header. A plain tuple: a hostile file can have tens of thousands.
BlankedBox = tuple[int, int, int]


@dataclass(frozen=True)
class CleanedVideo:
    """The boxes to blank, in file order; the stored file is the input with them blanked (`write`)."""

    blanked: tuple[BlankedBox, ...]
    intact: bool  # the whole structure was walked; False: parts kept as they came from where the walk stopped
    size: int

    @property
    def changed(self) -> bool:
        return bool(self.blanked)

    def write(self, source: IO[bytes], destination: IO[bytes]) -> None:
        """Copy `source` to `destination` with the boxes blanked: the same size, every other byte as it was."""
        source.seek(0)
        position = 0
        for start, header_end, end in self.blanked:
            _copy(source, destination, start + TYPE_OFFSET - position)  # up to the type, the size included
            destination.write(FREE)
            source.seek(start + HEADER_LENGTH)
            _copy(source, destination, header_end - start - HEADER_LENGTH)  # a 64-bit size
            _write_zeros(destination, end - header_end)
            position = end
            source.seek(position)
        shutil.copyfileobj(source, destination, COPY_CHUNK)


def _copy(source: IO[bytes], destination: IO[bytes], length: int) -> None:
    while length > 0:
        chunk = source.read(min(length, COPY_CHUNK))
        if not chunk:
            return
        destination.write(chunk)
        length -= len(chunk)


def _write_zeros(destination: IO[bytes], length: int) -> None:
    if length <= 0:
        return
    zeros = bytes(min(length, COPY_CHUNK))
    while length > 0:
        destination.write(zeros[:length])
        length -= len(zeros)


def _is_metadata(kind: bytes, head: bytes, header_length: int, *, top_level: bool) -> bool:
    """Whether a box (its type, and its first bytes for a uuid box) is blanked where it is."""
    if top_level:
        return kind not in TOP_LEVEL_KEPT
    if kind == UUID:
        return head[header_length : header_length + UUID_LENGTH] in METADATA_UUIDS
    return kind in METADATA_BOXES


class _Walk:
    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.blanked: list[BlankedBox] = []
        self.boxes = 0
        self.intact = True

    def children(self, start: int, end: int, depth: int) -> None:
        """Walk the boxes from `start` to `end` (a container's payload, or the file), blanking metadata."""
        source, position = self.source, start
        while end - position >= HEADER_LENGTH:  # fewer bytes are no box: nothing a player reads
            self.boxes += 1
            if self.boxes > MAX_BOXES:
                self.intact = False
                return
            source.seek(position)
            head = source.read(LARGE_HEADER_LENGTH + UUID_LENGTH)
            if len(head) < HEADER_LENGTH:
                return  # the file is shorter than it said: cut off
            size, kind = struct.unpack_from(">I4s", head)
            header_length = HEADER_LENGTH
            if size == LARGE_SIZE:
                if len(head) < LARGE_HEADER_LENGTH or end - position < LARGE_HEADER_LENGTH:
                    return  # a 64-bit size cut off by the end
                size, header_length = struct.unpack_from(">Q", head, HEADER_LENGTH)[0], LARGE_HEADER_LENGTH
            elif size == TO_THE_END:
                size = end - position
            if size < header_length:
                self.intact = False  # no way to the next box: the rest of this container is kept as it came
                return
            box_end = position + size if position + size < end else end  # past its container: the last box
            if _is_metadata(kind, head, header_length, top_level=depth == 0):
                self.blanked.append((position, position + header_length, box_end))
            elif kind in CONTAINERS:
                if depth >= MAX_DEPTH:
                    self.intact = False  # kept as it came
                else:
                    self.children(position + header_length, box_end, depth + 1)
            position = box_end


def video_metadata_removed(source: IO[bytes]) -> CleanedVideo:
    """The metadata boxes of an MP4 or QuickTime file (a seekable binary file, one of CLEANED_VIDEO_TYPES read
    from its bytes) to blank; `write` stores the file without them."""
    size = source.seek(0, io.SEEK_END)
    walk = _Walk(source)
    walk.children(0, size, depth=0)
    source.seek(0)
    return CleanedVideo(blanked=tuple(walk.blanked), intact=walk.intact, size=size)
