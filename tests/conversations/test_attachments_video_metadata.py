"""Videos (MP4, QuickTime) are stored with their metadata boxes blanked: no recording position, device or XMP
left, the same size, every media byte where it was, and the same frames decoded by FFmpeg; broken or hostile
ones never cost a 500 or unbounded time."""

import io
import logging
import struct

import pytest
from django.core.files.storage import storages

from common.attachment_types import ATTACHMENT_TYPES, DEFAULT_ATTACHMENT_TYPES
from conversations import services
from conversations.video_metadata import (
    CLEANED_VIDEO_TYPES,
    MAX_BOXES,
    MAX_DEPTH,
    video_metadata_removed,
)
from tests.contacts.factories import ContactFactory
from tests.conversations.attachment_samples import (
    SAMSUNG_TRAILER,
    VIDEO_LOCATION,
    VIDEO_METADATA_WORDS,
    XMP,
    XMP_UUID,
    apple_metadata,
    box,
    boxes,
    decoded_video,
    encoded_video,
    large_box,
    payload,
    phone_video,
    quicktime_text,
    upload,
)

# Keys FFmpeg reports for the metadata a phone writes (Apple's keys, QuickTime's user data, 3GPP's loci).
METADATA_KEYS = ("location", "location-eng", "com.apple.quicktime.location.ISO6709", "com.apple.quicktime.make",
                 "com.apple.quicktime.model", "make", "model", "encoder")  # fmt: skip
FTYP = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
MVHD = box(b"mvhd", bytes(100))
LOCATION_UDTA = box(b"udta", quicktime_text(b"\xa9xyz", VIDEO_LOCATION))


def _cleaned(content: bytes) -> bytes:
    cleaned = video_metadata_removed(io.BytesIO(content))
    out = io.BytesIO()
    cleaned.write(io.BytesIO(content), out)
    return out.getvalue()


def _words(content: bytes) -> list[bytes]:
    return [word for word in VIDEO_METADATA_WORDS if word in content]


def _tree(content: bytes, start: int = 0, end: int | None = None) -> list:
    """Every box as (type, start, end), with the children of the containers metadata can be in."""
    return [
        (kind, box_start, box_end,
         _tree(content, *payload(content, (kind, box_start, box_end))) if kind in (b"moov", b"trak") else [])
        for kind, box_start, box_end in boxes(content, start, end)
    ]  # fmt: skip


def _mdat(content: bytes) -> bytes:
    [(_kind, start, end)] = [found for found in boxes(content) if found[0] == b"mdat"]
    return content[start:end]


# --- phone videos -------------------------------------------------------------------------------------------


def test_every_video_type_in_the_catalog_is_one_whose_metadata_is_removed():
    assert {kind.mime for kind in ATTACHMENT_TYPES if kind.mime.startswith("video/")} == CLEANED_VIDEO_TYPES


@pytest.mark.parametrize("container", ["mp4", "mov"])
def test_a_phone_video_loses_its_position_device_and_xmp_and_plays_the_same(container):
    sent = phone_video(container)
    metadata, frames = decoded_video(sent)
    assert {key for key in METADATA_KEYS if key in metadata} == set(METADATA_KEYS)  # the sample carries them
    assert _words(sent) == list(VIDEO_METADATA_WORDS)

    stored = _cleaned(sent)

    assert len(stored) == len(sent) and _mdat(stored) == _mdat(sent)
    assert not _words(stored) and b"XMP_" not in stored and XMP_UUID not in stored
    stored_metadata, stored_frames = decoded_video(stored)
    assert not [key for key in METADATA_KEYS if key in stored_metadata]
    assert stored_frames == frames and len(frames) == 12


def test_blanked_boxes_become_free_boxes_of_the_same_size_and_nothing_else_moves():
    sent = phone_video("mov")
    stored = _cleaned(sent)
    blanked = {b"udta", b"meta", b"uuid", b"sefd"}

    def expected(tree: list) -> list:
        return [(b"free" if kind in blanked else kind, start, end, [] if kind in blanked else expected(children))
                for kind, start, end, children in tree]  # fmt: skip

    assert _tree(stored) == expected(_tree(sent))
    # Byte for byte: the input with each blanked box's type made `free` and the rest after its header zeroed.
    expected_bytes = bytearray(sent)
    [moov] = [found for found in _tree(sent) if found[0] == b"moov"]
    [trak] = [found for found in moov[3] if found[0] == b"trak"]
    for kind, start, end, _children in _tree(sent) + moov[3] + trak[3]:
        if kind in blanked:
            header_end = payload(sent, (kind, start, end))[0]
            expected_bytes[start + 4 : end] = b"free" + sent[start + 8 : header_end] + bytes(end - header_end)
    assert stored == bytes(expected_bytes)
    udta_start, udta_end = moov[3][-1][1:3]  # the 64-bit udta keeps its size, after size 1 and `free`
    assert stored[udta_start : udta_start + 16] == struct.pack(">I4sQ", 1, b"free", udta_end - udta_start)


@pytest.mark.parametrize("movflags", ["faststart", "frag_keyframe+empty_moov+default_base_moof", "frag_keyframe"])
def test_movie_first_and_fragmented_layouts_keep_their_frames(movflags):
    """FFmpeg's own metadata (its ©too tag, the location and make given to it) in moov before the media data,
    and in fragmented files (moof + mdat pairs, their offsets relative to each fragment)."""
    metadata = {"location": VIDEO_LOCATION.decode(), "com.apple.quicktime.make": "PhoneMaker"}
    sent = encoded_video("mp4", movflags=f"{movflags}+use_metadata_tags", metadata=metadata)
    stored = _cleaned(sent)
    stored_metadata, stored_frames = decoded_video(stored)
    assert "location" not in stored_metadata and "com.apple.quicktime.make" not in stored_metadata
    assert stored_frames == decoded_video(sent)[1]
    assert len(stored) == len(sent) and b"+48.8584" not in stored and b"PhoneMaker" not in stored
    kinds = [kind for kind, _start, _end in boxes(stored)]
    assert kinds == [kind for kind, _start, _end in boxes(sent)]
    if "frag" in movflags:
        assert kinds.count(b"moof") > 1


def test_metadata_in_a_fragment_is_blanked_too():
    traf = box(b"traf", box(b"tfhd", bytes(8)) + box(b"meta", bytes(4) + quicktime_text(b"\xa9xyz", VIDEO_LOCATION)))
    moof = box(b"moof", box(b"mfhd", bytes(8)) + traf + LOCATION_UDTA)
    sent = FTYP + box(b"moov", MVHD) + moof + box(b"mdat", b"\x01\x02" * 50)
    stored = _cleaned(sent)
    assert b"+48.8584" not in stored and len(stored) == len(sent) and stored.endswith(box(b"mdat", b"\x01\x02" * 50))
    assert stored.count(b"free") == 2


def test_media_data_with_a_64_bit_size_and_a_last_box_running_to_the_end():
    """mdat with size 1 (the 64-bit size after the type), then a trailer with size 0: to the end of the file."""
    media = large_box(b"mdat", b"\xa9xyz" + VIDEO_LOCATION)  # media bytes that look like metadata stay media
    sent = FTYP + box(b"moov", MVHD + LOCATION_UDTA) + media + struct.pack(">I4s", 0, b"sefd") + SAMSUNG_TRAILER
    stored = _cleaned(sent)
    assert stored[: len(FTYP) + 8 + len(MVHD)] == sent[: len(FTYP) + 8 + len(MVHD)]
    assert media in stored  # untouched, its location-looking bytes included
    assert stored.endswith(struct.pack(">I4s", 0, b"free") + bytes(len(SAMSUNG_TRAILER)))
    assert stored.count(VIDEO_LOCATION) == 1


def test_uuid_boxes_other_than_metadata_are_kept_inside_the_movie():
    """PIFF's protection header and spherical video's description are uuid boxes a player reads."""
    spherical = box(b"uuid", bytes.fromhex("ffcc8263f8554a938814587a02521fdd") + b"<rdf:SphericalVideo/>")
    xmp = box(b"uuid", XMP_UUID + XMP)
    sent = FTYP + box(b"moov", MVHD + box(b"trak", spherical + xmp)) + box(b"mdat", b"\x00" * 10)
    stored = _cleaned(sent)
    assert spherical in stored and XMP not in stored and len(stored) == len(sent)


def test_a_video_without_metadata_is_kept_as_it_came():
    sent = FTYP + box(b"moov", MVHD + box(b"trak", box(b"tkhd", bytes(84)))) + box(b"mdat", b"\x00" * 10)
    cleaned = video_metadata_removed(io.BytesIO(sent))
    assert (cleaned.changed, cleaned.intact, cleaned.size) == (False, True, len(sent))


# --- through the service ------------------------------------------------------------------------------------


@pytest.fixture
def video_website(website):
    website.attachment_types = [*DEFAULT_ATTACHMENT_TYPES, *sorted(CLEANED_VIDEO_TYPES)]
    website.save()
    return website


def _send(website, name: str, content: bytes):
    conversation = services.conversation_start_by_contact(contact=ContactFactory(), body="Hello", website=website)
    part = services.conversation_reply_as_contact(conversation=conversation, body="", files=[upload(name, content)])
    return part.attachments.get()


def _stored(attachment) -> bytes:
    with storages["attachments"].open(attachment.file.name) as stored:
        return stored.read()


@pytest.mark.django_db
@pytest.mark.parametrize(("container", "mime"), [("mp4", "video/mp4"), ("mov", "video/quicktime")])
def test_a_phone_video_sent_in_a_conversation_is_stored_without_its_metadata(video_website, container, mime):
    sent = phone_video(container)
    attachment = _send(video_website, f"clip.{container}", sent)
    stored = _stored(attachment)
    assert attachment.content_type == mime and not attachment.is_inline_image and not attachment.thumbnail
    assert attachment.size == len(stored) == len(sent)
    assert not _words(stored) and _mdat(stored) == _mdat(sent)
    assert decoded_video(stored)[1] == decoded_video(sent)[1]


@pytest.mark.django_db
def test_a_broken_video_is_stored_cleaned_up_to_the_break_and_no_error(video_website, caplog):
    broken = struct.pack(">I4s", 3, b"junk")  # a size under the header: no way to the next box
    sent = FTYP + box(b"moov", MVHD + LOCATION_UDTA + broken + LOCATION_UDTA) + box(b"mdat", b"\x00" * 64)
    with caplog.at_level(logging.INFO, logger="conversations.services.attachments"):
        attachment = _send(video_website, "clip.mp4", sent)
    stored = _stored(attachment)
    assert attachment.size == len(stored) == len(sent)
    assert stored.count(VIDEO_LOCATION) == 1  # the udta after the break is kept as it came, as images keep theirs
    assert "could not be read to its end" in caplog.text


# --- broken and hostile files -------------------------------------------------------------------------------


def test_a_box_running_past_its_container_ends_with_it():
    """A file cut off inside the movie: the last box runs to the end and is still blanked; the walk is whole."""
    sent = FTYP + box(b"moov", MVHD + LOCATION_UDTA)
    truncated = sent[:-5]
    cleaned = video_metadata_removed(io.BytesIO(truncated))
    udta_start = len(truncated) - len(LOCATION_UDTA) + 5
    assert cleaned.intact and cleaned.blanked == ((udta_start, udta_start + 8, len(truncated)),)
    assert b"+48.8584" not in _cleaned(truncated)


def test_a_phone_video_cut_off_anywhere_keeps_none_of_its_metadata():
    sent = phone_video("mp4")
    for cut in range(8, len(sent), max(1, len(sent) // 211)):
        truncated = sent[:cut]
        stored = _cleaned(truncated)
        assert len(stored) == len(truncated) and not _words(stored), cut


def test_a_size_under_its_header_stops_that_container_and_the_walk_goes_on_after_it():
    broken = struct.pack(">I4s", 3, b"junk")
    sent = FTYP + box(b"moov", MVHD + LOCATION_UDTA + broken + LOCATION_UDTA) + box(b"uuid", XMP_UUID + XMP)
    cleaned = video_metadata_removed(io.BytesIO(sent))
    stored = _cleaned(sent)
    assert not cleaned.intact
    assert stored.count(VIDEO_LOCATION) == 1 and XMP not in stored  # before the break and after the movie: blanked


def test_a_64_bit_size_under_its_header_is_a_break():
    sent = FTYP + box(b"moov", MVHD + struct.pack(">I4sQ", 1, b"udta", 15) + bytes(20))
    assert video_metadata_removed(io.BytesIO(sent)).intact is False


def _nested(depth: int) -> bytes:
    """Tracks each inside the one before, `depth` deep, the innermost holding a location."""
    total = 8 * depth + len(LOCATION_UDTA)
    return b"".join(struct.pack(">I4s", total - 8 * level, b"trak") for level in range(depth)) + LOCATION_UDTA


HOSTILE = {
    "a million empty top-level boxes": FTYP + box(b"free") * 1_000_000,
    "a million empty boxes in the movie": FTYP + box(b"moov", box(b"free") * 1_000_000),
    "a million unknown top-level boxes": FTYP + box(b"junk") * 1_000_000,
    "containers nested a million deep": FTYP + struct.pack(">I4s", 8 + 8_000_000 + len(LOCATION_UDTA), b"moov")
    + _nested(1_000_000),
    "a movie claiming 4 GB": FTYP + struct.pack(">I4s", 0xFFFFFFFF, b"moov") + MVHD + LOCATION_UDTA,
    "a movie claiming 2^64 - 1 bytes": FTYP + struct.pack(">I4sQ", 1, b"moov", 2**64 - 1) + LOCATION_UDTA,
    "a user data box claiming 4 GB inside a small movie": FTYP
    + box(b"moov", MVHD + struct.pack(">I4s", 0xFFFFFFFF, b"udta") + VIDEO_LOCATION) + box(b"mdat", bytes(64)),
    "a movie of size 0 (to the end)": FTYP + struct.pack(">I4s", 0, b"moov") + LOCATION_UDTA,
    "nothing but a header": struct.pack(">I4s", 0xFFFFFFFF, b"ftyp"),
    "fewer bytes than a header": b"\x00\x00\x00",
    "empty": b"",
}  # fmt: skip


@pytest.mark.parametrize("content", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_structures_are_stored_whole_without_an_error(content):
    # The walk's work is bounded by MAX_BOXES and MAX_DEPTH (test_too_many_boxes_or_too_deep_a_nesting_is_not_intact);
    # its time is a benchmark's concern, not a test's.
    cleaned = video_metadata_removed(io.BytesIO(content))
    stored = io.BytesIO()
    cleaned.write(io.BytesIO(content), stored)
    assert len(stored.getvalue()) == cleaned.size == len(content)


def test_too_many_boxes_or_too_deep_a_nesting_is_not_intact():
    assert video_metadata_removed(io.BytesIO(HOSTILE["a million empty top-level boxes"])).intact is False
    assert video_metadata_removed(io.BytesIO(FTYP + box(b"free") * (MAX_BOXES - 10))).intact is True
    deep = FTYP + struct.pack(">I4s", 8 + 8 * MAX_DEPTH + len(LOCATION_UDTA), b"moov") + _nested(MAX_DEPTH)
    assert video_metadata_removed(io.BytesIO(deep)).intact is False
    shallow = FTYP + struct.pack(">I4s", 8 + 8 * 3 + len(LOCATION_UDTA), b"moov") + _nested(3)
    assert video_metadata_removed(io.BytesIO(shallow)).intact is True
    assert b"+48.8584" not in _cleaned(shallow)


def test_metadata_claiming_past_the_end_is_blanked_to_the_end():
    for name in ("a movie claiming 4 GB", "a movie claiming 2^64 - 1 bytes", "a movie of size 0 (to the end)"):
        assert b"+48.8584" not in _cleaned(HOSTILE[name]), name
    stored = _cleaned(HOSTILE["a user data box claiming 4 GB inside a small movie"])
    assert b"+48.8584" not in stored and stored.endswith(box(b"mdat", bytes(64)))


def test_apple_metadata_alone_in_a_track_is_blanked():
    track = box(b"trak", box(b"tkhd", bytes(84)) + apple_metadata([(b"com.apple.quicktime.make", b"PhoneMaker")]))
    sent = FTYP + box(b"moov", MVHD + track) + box(b"mdat", bytes(8))
    stored = _cleaned(sent)
    assert b"PhoneMaker" not in stored and b"com.apple.quicktime.make" not in stored
