"""Durations (first response, time to close) kept as bucketed counts, and the median read back from them.

A day's rollup cannot keep every duration (a busy day has thousands), and a median cannot be added up
across days or teammates. A count per bucket can: the dashboard sums the buckets of every row it shows
(in SQL) and reads the median from the sum. Buckets are the nice durations people read on a chart
(30 s, 1 min, 2 min … 30 days): each bucket holds [bound, next bound), the last one everything from
30 days on. The median is found in the bucket where the middle duration lies and placed inside it by
linear interpolation, so it is exact at the bounds and off by less than the bucket's width elsewhere
(tests/reports/test_rollups.py compares it with the median of the raw rows).
"""

import bisect
from collections.abc import Sequence

MINUTE = 60
HOUR = 3600
DAY = 86400
# Lower bounds, in seconds, of the buckets; the last bucket is open-ended.
DURATION_BUCKET_BOUNDS: tuple[int, ...] = (
    0, 30, MINUTE, 2 * MINUTE, 3 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 20 * MINUTE, 30 * MINUTE,
    45 * MINUTE, HOUR, 90 * MINUTE, 2 * HOUR, 3 * HOUR, 4 * HOUR, 6 * HOUR, 8 * HOUR, 12 * HOUR, 18 * HOUR,
    DAY, 36 * HOUR, 2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY, 7 * DAY, 10 * DAY, 14 * DAY, 21 * DAY, 30 * DAY,
)  # fmt: skip
BUCKET_COUNT = len(DURATION_BUCKET_BOUNDS)


def duration_bucket(seconds: float) -> int:
    """The index of the bucket holding `seconds` (a negative duration, from clock skew, counts as 0)."""
    return max(bisect.bisect_right(DURATION_BUCKET_BOUNDS, seconds) - 1, 0)


def bucket_upper_bound(index: int) -> int | None:
    """Where bucket `index` ends (exclusive); None for the last, open-ended bucket."""
    return DURATION_BUCKET_BOUNDS[index + 1] if index + 1 < BUCKET_COUNT else None


def median_from_buckets(counts: Sequence[int]) -> float | None:
    """The median duration in seconds estimated from bucket counts; None when there is nothing counted.

    The middle position (n/2 of n durations) is located in its bucket and placed linearly between the
    bucket's bounds; in the open-ended last bucket, the median is its lower bound (at least 30 days).
    """
    total = sum(counts)
    if total <= 0:
        return None
    middle = total / 2
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= middle:
            lower, upper = DURATION_BUCKET_BOUNDS[index], bucket_upper_bound(index)
            if upper is None:
                return float(lower)
            return lower + (upper - lower) * (middle - seen) / count
        seen += count
    return float(DURATION_BUCKET_BOUNDS[-1])  # not reached: the loop ends at the total


def duration_words(seconds: float | None) -> str:
    """A duration as people say it: "45s", "12m", "3h 05m", "2d 4h"; an em dash for no value."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < MINUTE:
        return f"{seconds}s"
    if seconds < HOUR:
        return f"{seconds // MINUTE}m"
    if seconds < DAY:
        return f"{seconds // HOUR}h {seconds % HOUR // MINUTE:02d}m"
    return f"{seconds // DAY}d {seconds % DAY // HOUR}h"
