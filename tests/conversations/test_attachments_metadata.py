"""Images are stored without their metadata (EXIF with its GPS position, XMP, IPTC, comments, text chunks),
their pixels untouched and their orientation kept; broken or hostile ones never cost a 500 (bench/attachments.py
times their walk: linear in their size)."""

import io
import struct

import pytest
from django.core.files.storage import storages
from PIL import Image, ImageCms, ImageOps, PngImagePlugin

from bench.attachments import HOSTILE
from common.attachment_types import INLINE_IMAGE_TYPES
from conversations import services
from conversations.image_metadata import CLEANED_TYPES, MAX_SEGMENTS, exif_orientation, image_metadata_removed
from tests.contacts.factories import ContactFactory
from tests.conversations.attachment_samples import (
    COMMENT,
    GPS_IFD,
    METADATA_WORDS,
    ORIENTATION,
    XMP,
    exif_with_gps,
    gradient,
    iptc_segment,
    jpeg_segment,
    photo,
    pixels,
    png_bytes,
    upload,
    with_segments_after_soi,
)

pytestmark = pytest.mark.django_db

FORMATS = {"JPEG": ("a.jpg", "image/jpeg"), "PNG": ("a.png", "image/png"), "WEBP": ("a.webp", "image/webp"),
           "GIF": ("a.gif", "image/gif")}  # fmt: skip


def _send(website, *files: tuple[str, bytes]):
    contact = ContactFactory()
    conversation = services.conversation_start_by_contact(contact=contact, body="Hello", website=website)
    part = services.conversation_reply_as_contact(
        conversation=conversation, body="", files=[upload(name, content) for name, content in files]
    )
    return list(part.attachments.order_by("id"))


def _stored(attachment) -> bytes:
    with storages["attachments"].open(attachment.file.name) as stored:
        return stored.read()


def _cleaned(content: bytes, mime: str) -> bytes:
    return b"".join(bytes(piece) for piece in image_metadata_removed(content, mime=mime).pieces)


def _metadata_left(content: bytes) -> dict:
    """What Pillow still finds in an image: EXIF tags other than the orientation, a GPS block, XMP, text."""
    with Image.open(io.BytesIO(content)) as image:
        exif = image.getexif()
        return {
            "exif": sorted(tag for tag in exif if tag != ORIENTATION),
            "gps": dict(exif.get_ifd(GPS_IFD)),
            "info": sorted(key for key in image.info if key not in ("exif", "dpi", "background", "loop", "version",
                                                                    "duration", "transparency", "icc_profile")
                           and not key.startswith("jfif")),
            "words": [word for word in METADATA_WORDS if word in content],
        }  # fmt: skip


# --- every inline image format --------------------------------------------------------------------------


def test_every_image_type_shown_inline_is_one_whose_metadata_is_removed():
    assert INLINE_IMAGE_TYPES <= CLEANED_TYPES


@pytest.mark.parametrize("pillow_format", FORMATS)
def test_a_photo_is_stored_without_gps_xmp_or_text_and_with_the_same_pixels(website, pillow_format):
    name, mime = FORMATS[pillow_format]
    sent = photo(pillow_format)
    assert _metadata_left(sent) != {"exif": [], "gps": {}, "info": [], "words": []}  # the sample carries them
    [attachment] = _send(website, (name, sent))
    stored = _stored(attachment)
    assert _metadata_left(stored) == {"exif": [], "gps": {}, "info": [], "words": []}
    assert pixels(stored) == pixels(sent)
    assert attachment.size == len(stored) < len(sent)  # what is recorded describes the stored bytes
    assert attachment.content_type == mime and attachment.is_inline_image
    assert (attachment.width, attachment.height) == (64, 48)


@pytest.mark.parametrize("pillow_format", ["JPEG", "PNG", "WEBP"])
def test_a_turned_photo_keeps_only_its_orientation_and_shows_the_same(website, pillow_format):
    name, _mime = FORMATS[pillow_format]
    sent = photo(pillow_format, orientation=6)  # a phone held upright: stored sideways, shown turned
    [attachment] = _send(website, (name, sent))
    stored = _stored(attachment)
    with Image.open(io.BytesIO(stored)) as image:
        assert dict(image.getexif()) == {ORIENTATION: 6}
        shown = ImageOps.exif_transpose(image)
    with Image.open(io.BytesIO(sent)) as image:
        shown_as_sent = ImageOps.exif_transpose(image)
    assert shown.size == shown_as_sent.size == (48, 64)
    assert shown.tobytes() == shown_as_sent.tobytes()
    assert (attachment.width, attachment.height) == (48, 64)
    with storages["attachments"].open(attachment.thumbnail.name) as thumbnail, Image.open(thumbnail) as image:
        assert image.size == (48, 64)  # the thumbnail is turned too


def test_an_upright_photo_keeps_no_exif_at_all():
    stored = _cleaned(photo("JPEG", orientation=1), "image/jpeg")
    assert b"Exif\x00\x00" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif()


def test_jpeg_keeps_its_colour_profile_jfif_and_adobe_segments_and_drops_iptc_and_comments():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    gradient().save(out, "JPEG", exif=exif_with_gps(), icc_profile=profile, comment=COMMENT, quality=90)
    adobe = jpeg_segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01")
    vendor = jpeg_segment(0xEB, b"JP\x00\x00vendor block with SN-4471-0042")  # APP11 (JUMBF, C2PA)
    sent = with_segments_after_soi(out.getvalue(), iptc_segment(), adobe, vendor)
    stored = _cleaned(sent, "image/jpeg")
    with Image.open(io.BytesIO(stored)) as image:
        assert image.info["icc_profile"] == profile
        assert image.info["jfif"] and image.info["adobe"]
        assert "comment" not in image.info and "photoshop" not in image.info and not image.getexif()
    assert not [word for word in METADATA_WORDS if word in stored]
    assert pixels(stored) == pixels(sent)


def test_jpeg_drops_what_follows_the_picture_and_a_jfif_thumbnail():
    """A phone's appended pictures (MPF) or motion-photo video carry their own EXIF: everything after the end
    of the picture goes, and so does the thumbnail JFIF may hold."""
    appended = photo("JPEG")
    base = io.BytesIO()
    gradient().save(base, "JPEG", quality=90)
    jfif_with_thumbnail = jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x02\x01" + b"\x10\x20\x30" * 2)
    sent = base.getvalue()[:2] + jfif_with_thumbnail + base.getvalue()[2:] + appended
    stored = _cleaned(sent, "image/jpeg")
    jfif_without_thumbnail = jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    assert stored == base.getvalue()[:2] + jfif_without_thumbnail + base.getvalue()[2:]
    assert pixels(stored) == pixels(sent)


def test_a_progressive_jpeg_with_restart_markers_keeps_every_scan():
    out = io.BytesIO()
    gradient(300, 200).save(out, "JPEG", exif=exif_with_gps(), xmp=XMP, progressive=True, restart_marker_rows=1)
    sent = out.getvalue()
    stored = _cleaned(sent, "image/jpeg")
    assert stored.count(b"\xff\xda") == sent.count(b"\xff\xda") > 1  # every scan
    assert stored.count(b"\xff\xd0") == sent.count(b"\xff\xd0") > 0  # restart markers are data
    assert pixels(stored) == pixels(sent) and not _metadata_left(stored)["gps"]


def test_png_keeps_its_colour_and_size_chunks_and_drops_unknown_ancillary_ones():
    out = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add(b"vpAg", b"SN-4471-0042")  # an unknown ancillary chunk: decoders skip it, so may we
    gradient(mode="RGBA").save(out, "PNG", pnginfo=info, dpi=(144, 144), icc_profile=b"", exif=exif_with_gps())
    sent = out.getvalue().replace(b"IEND\xaeB`\x82", b"IEND\xaeB`\x82" + b"after the end")
    stored = _cleaned(sent, "image/png")
    chunks = _png_chunks(stored)
    assert b"pHYs" in chunks and b"vpAg" not in chunks and b"eXIf" not in chunks
    assert stored.endswith(b"IEND\xaeB`\x82")
    assert pixels(stored) == pixels(sent)


def _png_chunks(content: bytes) -> list[bytes]:
    kinds, position = [], 8
    while position + 8 <= len(content):
        length, kind = struct.unpack(">I4s", content[position : position + 8])
        kinds.append(kind)
        position += 12 + length
    return kinds


def test_webp_metadata_flags_are_cleared_with_the_chunks():
    sent = photo("WEBP")
    stored = _cleaned(sent, "image/webp")
    assert b"EXIF" not in stored and b"XMP " not in stored
    assert stored[:4] == b"RIFF" and struct.unpack("<I", stored[4:8])[0] == len(stored) - 8
    vp8x = stored.index(b"VP8X")
    assert stored[vp8x + 8] & 0x0C == 0  # neither the EXIF nor the XMP flag
    assert pixels(stored) == pixels(sent)


@pytest.mark.parametrize("pillow_format", ["GIF", "WEBP", "PNG"])
def test_animations_keep_every_frame(pillow_format):
    frames = [gradient(mode="P" if pillow_format == "GIF" else "RGB").rotate(angle) for angle in (0, 90, 180)]
    out = io.BytesIO()
    extra = {"exif": exif_with_gps()} if pillow_format != "GIF" else {"comment": COMMENT}
    frames[0].save(out, pillow_format, save_all=True, append_images=frames[1:], duration=100, loop=0, **extra)
    sent = out.getvalue()
    _name, mime = FORMATS[pillow_format]
    stored = _cleaned(sent, mime)
    assert len(pixels(stored)) == 3 and pixels(stored) == pixels(sent)
    assert not [word for word in METADATA_WORDS if word in stored]
    with Image.open(io.BytesIO(stored)) as image:
        assert image.info.get("loop") == 0


def test_an_image_without_metadata_is_stored_byte_for_byte(website):
    [attachment] = _send(website, ("a.png", png_bytes()))
    assert _stored(attachment) == png_bytes()
    for pillow_format, (_name, mime) in FORMATS.items():
        out = io.BytesIO()
        gradient(mode="RGBA" if pillow_format in ("PNG", "WEBP") else "RGB").save(out, pillow_format)
        cleaned = image_metadata_removed(out.getvalue(), mime=mime)
        assert (cleaned.changed, cleaned.pieces) == (False, (out.getvalue(),)), pillow_format


def test_exif_orientation_is_read_only_where_viewers_read_it():
    assert exif_orientation(b"Exif\x00\x00" + exif_with_gps(8).tobytes()[6:]) == 8
    assert exif_orientation(exif_with_gps(3).tobytes()) == 3
    assert exif_orientation(b"Exif\x00\x00MM\x00*\xff\xff\xff\xff") is None  # the IFD past the end
    assert exif_orientation(b"") is None and exif_orientation(b"II*\x00\x08\x00\x00\x00\xff\xff") is None


def _image_with_hostile_exif(pillow_format: str) -> bytes:
    """An image whose EXIF block makes Pillow's exif_transpose raise (an ASCII value in a SHORT tag)."""
    ifd = (
        b"MM\x00*\x00\x00\x00\x08" + struct.pack(">H", 2) + struct.pack(">HHI4s", 0x0109, 2, 4, b"cam\x00")
        + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + b"\0" * 4
    )  # fmt: skip
    out = io.BytesIO()
    Image.new("RGB", (64, 48)).save(out, pillow_format, exif=b"Exif\x00\x00" + ifd)
    return out.getvalue()


@pytest.mark.parametrize(("pillow_format", "name"), [("PNG", "a.png"), ("JPEG", "a.jpg"), ("WEBP", "a.webp")])
def test_a_hostile_exif_block_is_replaced_by_its_orientation_alone(website, pillow_format, name):
    [attachment] = _send(website, (name, _image_with_hostile_exif(pillow_format)))
    with Image.open(io.BytesIO(_stored(attachment))) as image:
        assert dict(image.getexif()) == {ORIENTATION: 6}
    assert attachment.is_inline_image and (attachment.width, attachment.height) == (48, 64)


# --- broken and hostile files ------------------------------------------------------------------------------

EXIF_APP1 = jpeg_segment(0xE1, exif_with_gps().tobytes())


def _jpeg() -> bytes:
    out = io.BytesIO()
    gradient().save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.mark.parametrize(
    ("what", "content"),
    [
        ("a PNG chunk type that is not letters", photo("PNG").replace(b"tEXt", b"t\x00Xt", 1)),
        ("a GIF image descriptor cut off", photo("GIF")[:-1] + b"\x99" + b",rest"),
    ],
)
def test_an_image_whose_structure_breaks_is_kept_as_a_download(website, what, content):
    name = "a.png" if content.startswith(b"\x89PNG") else "a.gif" if content.startswith(b"GIF") else "a.jpg"
    [attachment] = _send(website, (name, content))
    assert not attachment.is_inline_image and not attachment.thumbnail, what
    assert attachment.size == len(_stored(attachment))


def test_a_jpeg_segment_length_under_2_ends_after_its_length_and_the_walk_goes_on():
    """As libjpeg reads it: the metadata on both sides goes, the picture after it is kept, the file is whole."""
    sent = with_segments_after_soi(_jpeg(), EXIF_APP1, b"\xff\xe5\x00\x01", EXIF_APP1)
    cleaned = image_metadata_removed(sent, mime="image/jpeg")
    stored = b"".join(bytes(piece) for piece in cleaned.pieces)
    assert cleaned.intact
    assert b"SN-4471-0042" not in stored and stored.endswith(sent[2 + 2 * len(EXIF_APP1) + 4 :])


def _truncations(content: bytes) -> list[bytes]:
    return [content[:cut] for cut in range(3, len(content), max(1, len(content) // 97))]


@pytest.mark.parametrize("pillow_format", FORMATS)
def test_a_file_cut_off_anywhere_is_cleaned_without_error(pillow_format):
    _name, mime = FORMATS[pillow_format]
    sent = photo(pillow_format, orientation=6)
    for truncated in _truncations(sent):
        stored = _cleaned(truncated, mime)
        assert len(stored) <= len(truncated) + 32  # at most the orientation's own EXIF block is added
        assert b"SN-4471-0042" not in stored


def test_a_jpeg_segment_running_past_the_end_is_the_last_one():
    sent = _jpeg()[:2] + b"\xff\xe1\xff\xf0Exif\x00\x00" + b"SN-4471-0042"
    assert _cleaned(sent, "image/jpeg") == b"\xff\xd8"


def test_a_cut_off_photo_through_the_service_is_a_download_and_no_error(website):
    sent = photo("JPEG")
    [attachment] = _send(website, ("a.jpg", sent[: len(sent) - 200]))
    assert not attachment.is_inline_image
    assert b"SN-4471-0042" not in _stored(attachment)


@pytest.mark.parametrize(("mime", "build"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_structures_are_walked_without_error_or_growth(mime, build):
    """Files built to make the walk slow (bench/attachments.py times them: linear in their size) come out no
    larger than they went in."""
    content = build(1)
    cleaned = image_metadata_removed(content, mime=mime)
    assert cleaned.size <= len(content)


def test_too_many_segments_stop_the_walk_and_make_a_download(website):
    content = b"\xff\xd8" + b"\xff\xfe\x00\x02" * (MAX_SEGMENTS + 10) + _jpeg()[2:]
    assert image_metadata_removed(content, mime="image/jpeg").intact is False
    [attachment] = _send(website, ("many.jpg", content))
    assert not attachment.is_inline_image and attachment.size == len(_stored(attachment))


def test_a_clean_structure_with_broken_pixel_data_is_still_a_download(website):
    """Stripping reads structure only; the decoder still meets bad data and its error is no 500."""
    sent = bytearray(_jpeg())
    sof = sent.index(b"\xff\xc0")
    sent[sof + 5 : sof + 9] = b"\x00\x00\x00\x00"  # zero height and width
    [attachment] = _send(website, ("a.jpg", bytes(sent)))
    assert not attachment.is_inline_image and not attachment.thumbnail


def test_a_png_whose_exif_crc_is_wrong_still_loses_it():
    sent = photo("PNG")
    at = sent.index(b"eXIf")
    length = struct.unpack(">I", sent[at - 4 : at])[0]
    broken_crc = sent[: at + 4 + length] + b"\x00\x00\x00\x00" + sent[at + 8 + length :]
    stored = _cleaned(broken_crc, "image/png")
    assert b"eXIf" not in stored and b"SN-4471-0042" not in stored
