"""attachment_hostile_scaling: that an upload's metadata walk stays linear on files built to make it slow.

Every image a visitor or a teammate uploads is walked to drop its metadata (conversations.image_metadata), in the
request. Each hostile structure below (a million empty segments or chunks, megabytes of fill bytes, a chunk claiming
4 GB) is walked at its size and at four times its size; the figure is the largest of (time at 4 times / time at 1 time) / 4
over the structures (each time the fastest of a few walks), a median of rounds: about 1 for a walk linear in the
file's size (less where a cap stops it early; up to about 2 where the larger file no longer fits the CPU's caches),
4 for a quadratic one. Goal: ≤ 2.5. stderr shows each structure's seconds at both sizes.
tests/conversations/test_attachments_metadata.py walks the same files for correctness.
"""

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROUNDS, QUICK_ROUNDS = 5, 2
GROWTH = 4
WALKS = 3  # each time is the fastest of this many walks of the same file

# Each structure at its size (`repeat` = 1) or larger: a repeated unit after a fixed head (the same head and
# unit repeated `repeat` times as often).
HOSTILE: dict[str, tuple[str, Callable[[int], bytes]]] = {
    "a million empty JPEG comments": ("image/jpeg", lambda k: b"\xff\xd8" + b"\xff\xfe\x00\x02" * 1_000_000 * k),
    "megabytes of fill bytes": ("image/jpeg", lambda k: b"\xff\xd8" + b"\xff" * 8_000_000 * k),
    "megabytes of stuffed zeros in a scan": (
        "image/jpeg", lambda k: b"\xff\xd8\xff\xda\x00\x02" + b"\xff\x00" * 4_000_000 * k
    ),
    "a million restart markers": ("image/jpeg", lambda k: b"\xff\xd8\xff\xda\x00\x02" + b"\xff\xd0" * 1_000_000 * k),
    "a million empty PNG chunks": (
        "image/png", lambda k: b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x00teXt\x00\x00\x00\x00" * 700_000 * k
    ),
    "a PNG chunk claiming 4 GB": ("image/png", lambda k: b"\x89PNG\r\n\x1a\n\xff\xff\xff\xffIDAT" + b"\x00" * 1000 * k),
    "a million empty WebP chunks": (
        "image/webp", lambda k: b"RIFF\xff\xff\xff\x7fWEBP" + b"XMP \x00\x00\x00\x00" * 1_000_000 * k
    ),
    "a WebP chunk claiming 4 GB": (
        "image/webp", lambda k: b"RIFF\xff\xff\xff\xffWEBPVP8X\xff\xff\xff\xff\x0c" + b"\x00" * 1000 * (k - 1)
    ),
    "millions of one-byte GIF sub-blocks": (
        "image/gif", lambda k: b"GIF89a\x01\x00\x01\x00\x00\x00\x00\x21\xfe" + b"\x01x" * 4_000_000 * k + b"\x00\x3b"
    ),
    "a GIF of empty extensions": (
        "image/gif", lambda k: b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + b"\x21\xf9\x00" * 2_000_000 * k
    ),
}  # fmt: skip


def _seconds(content: bytes, mime: str) -> float:
    from conversations.image_metadata import image_metadata_removed

    times = []
    for _ in range(WALKS):
        started = time.perf_counter()
        image_metadata_removed(content, mime=mime)
        times.append(time.perf_counter() - started)
    return min(times)


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    growths = []
    for _ in range(QUICK_ROUNDS if quick else ROUNDS):
        worst = 0.0
        for name, (mime, build) in HOSTILE.items():
            small, large = _seconds(build(1), mime), _seconds(build(GROWTH), mime)
            growth = large / max(small, 1e-6) / GROWTH
            print(
                f"# bench.attachments: {name}: {small:.4f}s, {GROWTH} times larger {large:.4f}s ({growth:.2f})",
                file=sys.stderr,
            )
            worst = max(worst, growth)
        growths.append(worst)
    return {"attachment_hostile_scaling": statistics.median(growths)}
