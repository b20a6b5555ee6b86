"""Durations (first response, time to close) kept as exact seconds while they are few, and always as bucketed
counts; the median read back from them.

A median cannot be added up across days or teammates. The durations themselves can be put together: a day's
rollup row keeps its durations in whole seconds (up to EXACT_MEDIAN_MAX of a kind), and a dashboard period
holding at most EXACT_MEDIAN_MAX of a kind reads them and tells the exact median, to the second, as every other
duration on the dashboard is told. A busier period would cost a read of all its durations, which the dashboard
never does (its cost depends on the days shown, not on the number of conversations): there the median comes
from a count per bucket, summed in SQL over every row shown, and the page says it is an estimate. Buckets are the
nice durations people read on a chart (30 s, 1 min, 2 min … 30 days): each bucket holds [bound, next bound), the
last one everything from 30 days on. The estimate is found in the bucket where the middle duration lies and
placed inside it by linear interpolation, so it is exact at the bounds and off by less than the bucket's width
elsewhere (tests/reports/test_rollups.py compares both with the median of the raw rows).
"""

import bisect
import statistics
from collections.abc import Sequence

MINUTE = 60
HOUR = 3600
DAY = 86400
DURATION_UNITS = (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1))
# Lower bounds, in seconds, of the buckets; the last bucket is open-ended.
DURATION_BUCKET_BOUNDS: tuple[int, ...] = (
    0, 30, MINUTE, 2 * MINUTE, 3 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 20 * MINUTE, 30 * MINUTE,
    45 * MINUTE, HOUR, 90 * MINUTE, 2 * HOUR, 3 * HOUR, 4 * HOUR, 6 * HOUR, 8 * HOUR, 12 * HOUR, 18 * HOUR,
    DAY, 36 * HOUR, 2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY, 7 * DAY, 10 * DAY, 14 * DAY, 21 * DAY, 30 * DAY,
)  # fmt: skip
BUCKET_COUNT = len(DURATION_BUCKET_BOUNDS)
# The most durations of one kind a rollup row keeps (a busier row keeps none) and a dashboard period reads to tell
# its medians exactly; past it, the medians are estimated from the buckets.
EXACT_MEDIAN_MAX = 20_000


def duration_bucket(seconds: float) -> int:
    """The index of the bucket holding `seconds` (a negative duration, from clock skew, counts as 0)."""
    return max(bisect.bisect_right(DURATION_BUCKET_BOUNDS, seconds) - 1, 0)


def bucket_upper_bound(index: int) -> int | None:
    """Where bucket `index` ends (exclusive); None for the last, open-ended bucket."""
    return DURATION_BUCKET_BOUNDS[index + 1] if index + 1 < BUCKET_COUNT else None


def whole_seconds(seconds: float) -> int:
    """A duration as a rollup row keeps it: whole seconds, never negative (clock skew counts as 0, as a bucket)."""
    return max(round(seconds), 0)


def median_exact(durations: Sequence[int]) -> float | None:
    """The median of the durations themselves (the mean of the middle two for an even number); None for none."""
    return statistics.median(durations) if durations else None


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
    """A duration, exact to the second, in its non-zero units: "45s", "1m 30s", "3h 5m", "2d 4h", "0s"; an em
    dash for no value. The charts' axes step by 15 s, 30 s, 1 min…: every tick must read as the value it marks."""
    if seconds is None:
        return "—"
    left = round(seconds)
    parts = []
    for unit, size in DURATION_UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"
