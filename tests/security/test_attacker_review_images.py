"""Images an outside attacker review sent through the attachment doors (the messenger, which anyone can reach, and
the service every door shares): a progressive JPEG whose decoding is bounded neither by its pixel cap nor by its
bytes, and broken structures after which metadata survives although every decoder reads past the break."""

import io
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.files.storage import storages
from PIL import Image

from conversations import services
from conversations.models import Attachment
from tests.contacts.factories import ContactFactory
from tests.conversations.attachment_samples import (
    COMMENT,
    GPS_IFD,
    METADATA_WORDS,
    exif_with_gps,
    gradient,
    jpeg_segment,
    photo,
    upload,
    with_segments_after_soi,
)
from tracking.widget_auth import widget_token_sign

pytestmark = pytest.mark.django_db

ORIGIN = "https://shop.example"
# A 49-megapixel greyscale picture: under PARLEY_ATTACHMENT_MAX_IMAGE_PIXELS (50 M), which JPEG is held to
# because baseline JPEG decodes at 1/8 of its size (draft mode). A progressive JPEG does not: libjpeg keeps
# every coefficient of the whole picture and walks all of them once per scan.
SIDE = 7000


def _bits(bits: str) -> bytes:
    """Entropy-coded data from a bit string: padded with 1s, each 0xFF byte stuffed with a zero."""
    bits += "1" * (-len(bits) % 8)
    out = bytearray()
    for index in range(0, len(bits), 8):
        out.append(int(bits[index : index + 8], 2))
        if out[-1] == 0xFF:
            out.append(0)
    return bytes(out)


def progressive_jpeg(*, side: int = SIDE, components: int = 1, scans: int = 0) -> bytes:
    """A valid progressive JPEG of side x side pixels: one DC scan (one bit a block), then `scans` AC scans of a
    few dozen bytes each (end-of-band runs of 32,767 blocks), each of which the decoder walks block by block."""
    blocks = (-(-side // 8)) ** 2
    ids = bytes(range(1, components + 1))
    frame = struct.pack(">BHHB", 8, side, side, components) + b"".join(bytes([i, 0x11, 0]) for i in ids)
    lengths = bytes([1, 1] + [0] * 14)  # two codes: "0" and "10"
    tables = jpeg_segment(0xC4, b"\x00" + lengths + b"\x00\x01" + b"\x10" + lengths + b"\xe0\x00")  # DC 0, AC 0 (EOB14)
    dc_scan = jpeg_segment(0xDA, bytes([components]) + b"".join(bytes([i, 0]) for i in ids) + b"\x00\x00\x00")
    dc_scan += _bits("0" * blocks * components)
    ac_scan = jpeg_segment(0xDA, b"\x01\x01\x00\x01\x3f\x00") + _bits(("0" + "1" * 14) * -(-blocks // 32767))
    return (
        b"\xff\xd8" + jpeg_segment(0xDB, b"\x00" + b"\x01" * 64) + jpeg_segment(0xC2, frame) + tables + dc_scan
        + ac_scan * scans + b"\xff\xd9"
    )  # fmt: skip


def test_the_sample_is_a_jpeg_that_decodes():
    with Image.open(io.BytesIO(progressive_jpeg(side=64, scans=3))) as image:
        image.load()
        assert image.size == (64, 64) and image.format == "JPEG"


def test_a_progressive_jpeg_of_many_scans_sent_through_the_messenger_is_not_decoded(client, website):
    """A small file from anyone with the messenger: 400 scans of a 9-megapixel picture (under the decoded-pixel cap),
    each walked whole if its thumbnail were made in the request (the 99,990 scans MAX_SEGMENTS lets through fit in a
    few megabytes and cost minutes of a worker's CPU; inbound email, which anyone can send, decodes the same way in
    a Celery worker). Past MAX_PROGRESSIVE_SCANS it is kept as a download, never decoded."""
    token = widget_token_sign(contact_id=ContactFactory().pk, website_id=website.pk)
    sent = progressive_jpeg(side=3000, scans=400)
    response = client.post(
        f"/widget-api/{website.app_id}/conversations",
        data={"token": token, "body": "", "files": [upload("photo.jpg", sent)]},
        HTTP_ORIGIN=ORIGIN,
    )
    assert response.status_code == 201, response.content[:300]
    attachment = Attachment.objects.get()
    assert not attachment.thumbnail and not attachment.is_inline_image  # never decoded: no thumbnail made


MEASURE_PEAK = textwrap.dedent(
    """
    import sys
    import django
    django.setup()
    from conversations.services.attachments import attachment_check, attachment_limits
    from tests.conversations.attachment_samples import upload
    sent = sys.stdin.buffer.read()

    def kilobytes(name):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(name))

    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the peak starts again from what the process holds now
    before = kilobytes("VmRSS:")
    attachment_check(source=upload("photo.jpg", sent), limits=attachment_limits(None))
    print((kilobytes("VmHWM:") - before) // 1024)
    """
)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measures peak memory through Linux's /proc")
def test_a_small_progressive_jpeg_does_not_make_its_request_hold_hundreds_of_megabytes():
    """280 KB, three components at full resolution, one scan: libjpeg holds 49 M x 3 coefficients of 2 bytes
    (~300 MB) to make a 400-pixel thumbnail; a few such uploads at once exhaust a web node's memory."""
    sent = progressive_jpeg(components=3)
    assert len(sent) < 300_000
    root = Path(__file__).resolve().parents[2]
    measured = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", MEASURE_PEAK], input=sent, capture_output=True, cwd=root, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}, check=True,
    )  # fmt: skip
    peak_growth_mb = int(measured.stdout.decode().split()[-1])
    assert peak_growth_mb < 100, f"checking one {len(sent) // 1024} KB file took {peak_growth_mb} MB more"


# --- metadata after a break that decoders read past ----------------------------------------------------------


def _send(website, name: str, content: bytes):
    conversation = services.conversation_start_by_contact(contact=ContactFactory(), body="Hello", website=website)
    part = services.conversation_reply_as_contact(conversation=conversation, body="", files=[upload(name, content)])
    [attachment] = part.attachments.all()
    with storages["attachments"].open(attachment.file.name) as stored:
        return attachment, stored.read()


def _jpeg() -> bytes:
    out = io.BytesIO()
    gradient().save(out, "JPEG", quality=90)
    return out.getvalue()


def test_a_jpeg_with_an_empty_comment_before_its_exif_is_stored_without_the_gps_position(website):
    """`FF FE 00 00`, a comment whose length is 0: libjpeg and Pillow read on right after its length field, show
    the picture, and read the EXIF that follows. The walk stops there and keeps the rest as sent, so the stored
    download still holds the GPS position, the camera's serial number and the time."""
    sent = with_segments_after_soi(_jpeg(), b"\xff\xfe\x00\x00", jpeg_segment(0xE1, exif_with_gps().tobytes()))
    with Image.open(io.BytesIO(sent)) as image:
        image.load()  # decoders show it
        assert dict(image.getexif().get_ifd(GPS_IFD))
    _attachment, stored = _send(website, "photo.jpg", sent)
    with Image.open(io.BytesIO(stored)) as image:
        assert not dict(image.getexif().get_ifd(GPS_IFD))
    assert not [word for word in METADATA_WORDS if word in stored]


def test_a_gif_with_a_stray_byte_between_blocks_is_stored_without_its_comment_and_xmp(website):
    """A zero byte between two blocks (what some encoders leave after a frame): Pillow skips it, as GIF87a says,
    and reads the comment after it; the walk stops there and keeps the comment and the XMP as sent."""
    gif = photo("GIF")  # a comment extension before the picture, XMP after it
    packed = gif[10]
    first_block = 13 + (3 * 2 ** ((packed & 0x07) + 1) if packed & 0x80 else 0)  # after the global colour table
    sent = gif[:first_block] + b"\x00" + gif[first_block:]
    with Image.open(io.BytesIO(sent)) as image:
        image.load()
        assert image.info.get("comment") == COMMENT  # decoders read past the byte
    _attachment, stored = _send(website, "photo.gif", sent)
    with Image.open(io.BytesIO(stored)) as image:
        assert "comment" not in image.info
    assert not [word for word in METADATA_WORDS if word in stored]
