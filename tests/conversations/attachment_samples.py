"""Files for the attachment tests, made here (no fixtures on disk): real images, a PDF, hostile files."""

import io
import struct
import tempfile
import zipfile
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, PngImagePlugin

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.domain)</script><rect width='10' height='10'/></svg>"
)
HTML_PAGE = b"<!DOCTYPE html><html><head><title>x</title></head><body><script>alert(1)</script></body></html>"
# The start of a Windows executable: "MZ" and a PE header offset.
EXECUTABLE = b"MZ" + b"\x90\x00" * 29 + b"\x80\x00\x00\x00" + b"\x00" * 64 + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * 200


def png_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 220)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size (a decompression bomb): the first rows compress to nothing."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (width + 1) * 16, 9)  # only 16 rows: decoding the rest would blow up
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def zip_bomb_bytes() -> bytes:
    """A small zip that expands to 50 MB: stored as is, never unpacked."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\x00" * (50 * 1024 * 1024))
    return out.getvalue()


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    """A file as the browser sends it; the content type it claims is never believed."""
    return SimpleUploadedFile(name, content, content_type=content_type)


# --- photos as phones send them: EXIF with a GPS position, XMP, comments, text chunks -------------------

GPS_IFD = 0x8825
ORIENTATION = 0x0112
CAMERA_SERIAL = "SN-4471-0042"
# Words that are in the metadata and nowhere else: none of them may be in a stored file.
XMP_CITY = "Quimperlé-Secret-City"
XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    f'<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="{XMP_CITY}"/>'
    "</rdf:RDF></x:xmpmeta>"
).encode()
COMMENT = b"Taken at home, 12 rue des Lilas"
METADATA_WORDS = (CAMERA_SERIAL.encode(), XMP_CITY.encode(), COMMENT, b"Ada Lovelace")


def exif_with_gps(orientation: int | None = None) -> Image.Exif:
    """EXIF as a phone writes it: maker, serial number, time and a GPS position (Paris)."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0132] = "2026:05:01 09:30:00"
    exif[0xA431] = CAMERA_SERIAL  # BodySerialNumber
    if orientation is not None:
        exif[ORIENTATION] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    return exif


def gradient(width: int = 64, height: int = 48, mode: str = "RGB") -> Image.Image:
    """A picture whose every pixel differs, so that a turned or altered image cannot compare equal."""
    image = Image.new("RGB", (width, height))
    image.putdata([(x * 255 // width, y * 255 // height, (x * y) % 256) for y in range(height) for x in range(width)])
    return image.convert(mode)


def photo(pillow_format: str, *, orientation: int | None = None, **options) -> bytes:
    """An image of `pillow_format` carrying EXIF with GPS, and the XMP and text its format can hold."""
    image = gradient(mode="P" if pillow_format == "GIF" else "RGB")
    out = io.BytesIO()
    if pillow_format == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Author", "Ada Lovelace")
        info.add_text("Comment", COMMENT.decode(), zip=True)  # zTXt
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        info.add(b"tIME", struct.pack(">HBBBBB", 2026, 5, 1, 9, 30, 0))
        options = {"pnginfo": info, **options}
    if pillow_format == "GIF":
        image.save(out, "GIF", comment=COMMENT, **options)
        return gif_with_xmp(out.getvalue())
    if pillow_format in ("JPEG", "WEBP"):
        options = {"xmp": XMP, **options}
    if pillow_format == "JPEG":
        options = {"comment": COMMENT, "quality": 90, **options}
    if pillow_format == "WEBP":
        options = {"lossless": True, **options}
    image.save(out, pillow_format, exif=exif_with_gps(orientation), **options)
    return out.getvalue()


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def iptc_segment() -> bytes:
    """An APP13 (Photoshop IRB) segment holding IPTC: the photographer's name (By-line)."""
    dataset = b"\x1c\x02\x50" + struct.pack(">H", 12) + b"Ada Lovelace"
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(dataset)) + dataset
    return jpeg_segment(0xED, b"Photoshop 3.0\x00" + resource)


def with_segments_after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def gif_with_xmp(gif: bytes) -> bytes:
    """XMP as Photoshop writes it into a GIF: an application extension before the trailer."""
    blocks = b"".join(bytes([len(XMP[i : i + 255])]) + XMP[i : i + 255] for i in range(0, len(XMP), 255))
    extension = b"\x21\xff\x0bXMP DataXMP" + blocks + b"\x00"
    return gif[:-1] + extension + gif[-1:]


def pixels(content: bytes) -> list[tuple[str, tuple[int, int], bytes]]:
    """Every frame's mode, size and decoded pixels."""
    frames = []
    with Image.open(io.BytesIO(content)) as image:
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            frame = image.convert("RGBA")
            frames.append((frame.mode, frame.size, frame.tobytes()))
    return frames


# --- videos as phones send them: the recording position, the device, XMP ---------------------------------

VIDEO_LOCATION = b"+48.8584+002.2945+035.000/"  # ISO 6709, as Apple and Android write it
VIDEO_MAKE, VIDEO_MODEL = b"PhoneMaker", b"Phone 15 " + CAMERA_SERIAL.encode()
SAMSUNG_TRAILER = b"SEFH\x00\x00\x00\x00MCC_Data 208 SEFT"  # a vendor trailer: the network's country code
# Words that are in a video's metadata and nowhere else: none of them may be in a stored video.
VIDEO_METADATA_WORDS = (b"+48.8584", VIDEO_MAKE, CAMERA_SERIAL.encode(), XMP_CITY.encode(), COMMENT, b"MCC_Data")
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
LANGUAGE_ENGLISH = 0x15C7  # "eng", packed as QuickTime packs a language code


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def large_box(kind: bytes, payload: bytes = b"") -> bytes:
    """A box with a 64-bit size (size 1, then the size after the type), as files over 4 GB need for mdat."""
    return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload


def boxes(content: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """Each box from `start` to `end` as (type, start, end), read the plain way (sizes 0 and 1 included)."""
    end = len(content) if end is None else end
    found, position = [], start
    while position + 8 <= end:
        size, kind = struct.unpack(">I4s", content[position : position + 8])
        if size == 1:
            size = struct.unpack(">Q", content[position + 8 : position + 16])[0]
        elif size == 0:
            size = end - position
        found.append((kind, position, position + size))
        position += size
    return found


def payload(content: bytes, found: tuple[bytes, int, int]) -> tuple[int, int]:
    """Where a box's children start and end (after its 8- or 16-byte header)."""
    _kind, start, end = found
    return start + (16 if struct.unpack(">I", content[start : start + 4])[0] == 1 else 8), end


def quicktime_text(kind: bytes, text: bytes) -> bytes:
    """A QuickTime user data string (©xyz, ©mak…): its length, its language, the text."""
    return box(kind, struct.pack(">HH", len(text), LANGUAGE_ENGLISH) + text)


def apple_metadata(items: list[tuple[bytes, bytes]]) -> bytes:
    """moov/meta as an iPhone writes it: the mdta handler, the keys, and one ilst item per key (a UTF-8 value)."""
    handler = box(b"hdlr", bytes(8) + b"mdta" + bytes(12) + b"\x00")
    keys = box(b"keys", bytes(4) + struct.pack(">I", len(items))
               + b"".join(struct.pack(">I", 8 + len(key)) + b"mdta" + key for key, _value in items))  # fmt: skip
    values = box(b"ilst", b"".join(
        box(struct.pack(">I", index), box(b"data", struct.pack(">II", 1, 0) + value))
        for index, (_key, value) in enumerate(items, start=1)
    ))  # fmt: skip
    return box(b"meta", handler + keys + values)


def loci(name: bytes) -> bytes:
    """3GPP's location box: a place name, then longitude, latitude and altitude in 16.16 fixed point."""
    position = struct.pack(">iii", round(2.2945 * 65536), round(48.8584 * 65536), 35 * 65536)
    return box(
        b"loci", bytes(4) + struct.pack(">H", LANGUAGE_ENGLISH) + name + b"\x00\x00" + position + b"Earth\x00\x00"
    )


def encoded_video(
    container: str = "mp4", *, movflags: str = "", metadata: dict | None = None, frames: int = 12
) -> bytes:
    """A real H.264 video (64x48, 10 frames a second) muxed by FFmpeg (PyAV) into `container` (mp4 or mov)."""
    import av  # FFmpeg's libraries, loaded by the video tests only

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/video.{container}"
        with av.open(path, "w", format=container, options={"movflags": movflags} if movflags else {}) as output:
            output.metadata.update(metadata or {})
            stream = output.add_stream("libx264", rate=10, options={"g": "4"})
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for index in range(frames):
                frame = av.VideoFrame(64, 48, "yuv420p")
                for plane in frame.planes:
                    plane.update(bytes((x * 3 + index * 17) % 256 for x in range(plane.buffer_size)))
                output.mux(stream.encode(frame))
            output.mux(stream.encode())
        with open(path, "rb") as written:
            return written.read()


def decoded_video(content: bytes) -> tuple[dict[str, str], list[bytes]]:
    """What FFmpeg reads in a video: its metadata (the container's and the streams') and every decoded frame."""
    import av

    with av.open(io.BytesIO(content)) as video:
        metadata = dict(video.metadata)
        for stream in video.streams:
            metadata.update(stream.metadata)
        frames = [b"".join(bytes(plane) for plane in frame.planes) for frame in video.decode(video=0)]
    return metadata, frames


def _with_children_appended(content: bytes, path: tuple[bytes, ...], added: bytes) -> bytes:
    """`content` with boxes added at the end of the box at `path` (its first match at each level), every
    enclosing size grown to match. Only safe when nothing follows that box's media data."""
    start, end, enclosing = 0, len(content), []
    for kind in path:
        found = next(box for box in boxes(content, start, end) if box[0] == kind)
        enclosing.append(found[1])
        start, end = payload(content, found)
    grown = bytearray(content[:end] + added + content[end:])
    for at in enclosing:
        size = struct.unpack(">I", grown[at : at + 4])[0]
        grown[at : at + 4] = struct.pack(">I", size + len(added))
    return bytes(grown)


def phone_video(container: str = "mp4") -> bytes:
    """A real video carrying metadata where phones and cameras write it: Apple's moov/meta keys (position, make,
    model), moov/udta (©xyz, ©mak, ©mod, XMP_, loci, with a 64-bit size), a track's own udta and meta, an XMP
    uuid box and a Samsung trailer at the top level. FFmpeg writes the movie after its media data, so the boxes
    are added without moving a sample."""
    video = encoded_video(container)
    kinds = [kind for kind, _start, _end in boxes(video)]
    assert kinds.index(b"moov") > kinds.index(b"mdat") and kinds[-1] == b"moov"
    apple = apple_metadata([
        (b"com.apple.quicktime.location.ISO6709", VIDEO_LOCATION),
        (b"com.apple.quicktime.make", VIDEO_MAKE),
        (b"com.apple.quicktime.model", VIDEO_MODEL),
    ])  # fmt: skip
    user_data = large_box(b"udta", quicktime_text(b"\xa9xyz", VIDEO_LOCATION) + quicktime_text(b"\xa9mak", VIDEO_MAKE)
                          + quicktime_text(b"\xa9mod", VIDEO_MODEL) + box(b"XMP_", XMP) + loci(COMMENT))  # fmt: skip
    video = _with_children_appended(video, (b"moov",), apple + user_data)
    track = box(b"udta", quicktime_text(b"\xa9xyz", VIDEO_LOCATION)) + apple_metadata([(b"serial", VIDEO_MODEL)])
    video = _with_children_appended(video, (b"moov", b"trak"), track)
    return video + box(b"uuid", XMP_UUID + XMP) + box(b"sefd", SAMSUNG_TRAILER)
