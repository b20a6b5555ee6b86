"""Charts drawn on the server as SVG: no script, no CDN, readable by screen readers.

Each function takes plain values and returns escaped markup (format_html builds every element, so a
label can hold anything). Every chart is an `<svg role="img">` with a `<title>` and a `<desc>`
(aria-labelledby), every bar, point and cell has a `<title>` (the browser's tooltip and what a screen
reader reads), and the `viewBox` lets CSS scale it to the width of its card. Colours are CSS classes
(`series-0`…, `heat-0`…) styled by the dashboard's stylesheet, so they follow the admin's light and dark
themes.
"""

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

WIDTH = 640
HEIGHT = 240
MARGIN_LEFT = 64
MARGIN_RIGHT = 12
MARGIN_TOP = 12
MARGIN_BOTTOM = 30
MAX_X_LABELS = 8
HEAT_LEVELS = 6
_ids = itertools.count(1)  # unique ids for aria-labelledby within a page

Formatter = Callable[[float], str]


def _numbers(args: Sequence[object]) -> tuple[object, ...]:
    """Coordinates to one decimal (format_html escapes its arguments to text, so no format specs there)."""
    return tuple(f"{a:.1f}" if isinstance(a, float) else a for a in args)


def _html(template: str, *args: object) -> SafeString:
    return format_html(template, *_numbers(args))


def _html_rows(template: str, rows: Iterable[Sequence[object]]) -> SafeString:
    return format_html_join("", template, (_numbers(row) for row in rows))


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: no value (a gap in a line, no bar)
    # A column's tooltip says its count with this noun, singular for 1 ("1 new conversation"); else the name.
    noun: tuple[str, str] | None = None

    def counted(self, value: float, fmt: Formatter) -> str:
        singular, plural = self.noun or (self.name.lower(), self.name.lower())
        return f"{fmt(value)} {ngettext(singular, plural, int(value)) if float(value).is_integer() else plural}"


def plain_number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def percent(value: float) -> str:
    return f"{value:.0f}%"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times 10^k at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


NICE_DURATION_STEPS = (
    15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400,
    7 * 86400, 14 * 86400, 30 * 86400,
)  # fmt: skip
TICKS = 4


def axis_top(max_value: float, *, durations: bool = False) -> tuple[float, float]:
    """(top of the axis, step between its TICKS grid lines) for values up to `max_value`."""
    if durations:
        step = next((s for s in NICE_DURATION_STEPS if s * TICKS >= max_value), NICE_DURATION_STEPS[-1])
        return step * TICKS, step
    step = nice_ceiling(max_value / TICKS) if max_value > 0 else 1
    if step < 1:
        step = 1  # counts are whole numbers
    return step * TICKS, step


def _svg(title: str, description: str, parts: Sequence[SafeString], *, height: int = HEIGHT) -> SafeString:
    """The chart's <svg> with its title and description (labelled for screen readers) around `parts`."""
    number = next(_ids)
    title_id, desc_id = f"chart-{number}-title", f"chart-{number}-desc"
    return _html(
        '<svg class="parley-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{} {}" '
        'preserveAspectRatio="xMidYMid meet"><title id="{}">{}</title><desc id="{}">{}</desc>{}</svg>',
        WIDTH, height, title_id, desc_id, title_id, title, desc_id, description,
        format_html_join("", "{}", ((part,) for part in parts)),
    )  # fmt: skip


def _y_axis(top: float, step: float, fmt: Formatter, plot_height: float) -> SafeString:
    lines = []
    value = 0.0
    while value <= top + 1e-9:
        y = MARGIN_TOP + plot_height - plot_height * value / top
        lines.append(
            _html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="axis" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
                MARGIN_LEFT,
                WIDTH - MARGIN_RIGHT,
                y,
                y,
                MARGIN_LEFT - 6,
                y,
                fmt(value),
            )
        )
        value += step
    return format_html_join("", "{}", ((line,) for line in lines))


def _x_labels(labels: Sequence[str], centers: Sequence[float]) -> SafeString:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    shown = [(c, label) for i, (c, label) in enumerate(zip(centers, labels, strict=True)) if i % every == 0]
    return _html_rows(
        '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
        ((c, HEIGHT - MARGIN_BOTTOM + 18, label) for c, label in shown),
    )


EMPTY_HEIGHT = 110


def _empty(title: str, description: str, message: str) -> SafeString:
    return _svg(
        title, description,
        [_html('<text class="empty" x="{}" y="{}" text-anchor="middle">{}</text>', WIDTH / 2, EMPTY_HEIGHT / 2, message)],
        height=EMPTY_HEIGHT,
    )  # fmt: skip


def column_chart(
    *, title: str, description: str, labels: Sequence[str], series: Sequence[Series],
    fmt: Formatter = plain_number, empty: str = "Nothing in this period",
) -> SafeString:  # fmt: skip
    """Vertical bars per label (days), one bar per series side by side."""
    values = [v for s in series for v in s.values if v is not None]
    if not labels or not any(values):
        return _empty(title, description, empty)
    top, step = axis_top(max(values))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_width / len(labels)
    bar = max(slot * 0.8 / len(series), 0.5)
    parts = [_y_axis(top, step, fmt, plot_height)]
    for index, one in enumerate(series):
        bars = []
        for position, (label, value) in enumerate(zip(labels, one.values, strict=True)):
            if not value:
                continue
            height = plot_height * value / top
            x = MARGIN_LEFT + slot * position + slot * 0.1 + bar * index
            bars.append((
                index, x, MARGIN_TOP + plot_height - height, bar, height, f"{label}: {one.counted(value, fmt)}",
            ))  # fmt: skip
        parts.append(
            _html_rows(
                '<rect class="series-{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
                bars,
            )
        )
    parts.append(_x_labels(labels, [MARGIN_LEFT + slot * (i + 0.5) for i in range(len(labels))]))
    return _svg(title, description, parts)


def line_chart(
    *, title: str, description: str, labels: Sequence[str], series: Sequence[Series],
    fmt: Formatter = plain_number, durations: bool = False, top: float | None = None,
    empty: str = "Nothing in this period",
) -> SafeString:  # fmt: skip
    """One line per series across labels (days); a missing value breaks the line. `top` fixes the axis (100%)."""
    values = [v for s in series for v in s.values if v is not None]
    if not labels or not values:
        return _empty(title, description, empty)
    if top is None:
        axis, step = axis_top(max(values), durations=durations)
    else:
        axis, step = top, top / TICKS
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_width / len(labels)
    parts = [_y_axis(axis, step, fmt, plot_height)]
    for index, one in enumerate(series):
        # Points of consecutive days are joined; a day without a value breaks the line.
        runs: list[list[tuple[float, float, str, float]]] = []
        previous_present = False
        for i, (label, value) in enumerate(zip(labels, one.values, strict=True)):
            if value is None:
                previous_present = False
                continue
            point = (
                MARGIN_LEFT + slot * (i + 0.5),
                MARGIN_TOP + plot_height * (1 - min(value, axis) / axis),
                label,
                value,
            )
            if previous_present:
                runs[-1].append(point)
            else:
                runs.append([point])
            previous_present = True
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in run)
                parts.append(_html('<polyline class="line series-{}" points="{}"/>', index, path))
        parts.append(
            _html_rows(
                '<circle class="point series-{}" cx="{}" cy="{}" r="3"><title>{}</title></circle>',
                ((index, x, y, f"{label}: {one.name} {fmt(v)}") for run in runs for x, y, label, v in run),
            )
        )
    parts.append(_x_labels(labels, [MARGIN_LEFT + slot * (i + 0.5) for i in range(len(labels))]))
    return _svg(title, description, parts)


BAR_ROW_HEIGHT = 26
BAR_LABEL_WIDTH = 150


def bar_list(
    *, title: str, description: str, rows: Sequence[tuple[str, Sequence[float | None]]], series_names: Sequence[str],
    fmt: Formatter = plain_number, durations: bool = False, empty: str = "Nothing in this period",
) -> SafeString:  # fmt: skip
    """Horizontal bars: one row per label (a teammate, a state, a role), one bar per series, value at its end."""
    values = [v for _, row in rows for v in row if v is not None]
    if not rows or not any(values):
        return _empty(title, description, empty)
    top = axis_top(max(values), durations=durations)[0] if durations else max(values)
    per_row = BAR_ROW_HEIGHT * len(series_names) + 8
    height = MARGIN_TOP * 2 + per_row * len(rows)
    plot_width = WIDTH - BAR_LABEL_WIDTH - 90
    parts = []
    for position, (label, row_values) in enumerate(rows):
        y = MARGIN_TOP + per_row * position
        parts.append(
            _html(
                '<text class="label" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
                BAR_LABEL_WIDTH - 8,
                y + per_row / 2 - 4,
                label[:24],
            )
        )
        for index, value in enumerate(row_values):
            bar_y = y + BAR_ROW_HEIGHT * index
            width = plot_width * (value or 0) / top if top else 0
            shown = fmt(value) if value is not None else "—"
            parts.append(
                _html(
                    '<rect class="series-{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>'
                    '<text class="value" x="{}" y="{}" dominant-baseline="middle">{}</text>',
                    index,
                    BAR_LABEL_WIDTH,
                    bar_y,
                    max(width, 1 if value else 0),
                    BAR_ROW_HEIGHT - 6,
                    f"{label}: {series_names[index]} {shown}",
                    BAR_LABEL_WIDTH + width + 6,
                    bar_y + (BAR_ROW_HEIGHT - 6) / 2,
                    shown,
                )
            )
    return _svg(title, description, parts, height=int(height))


HEAT_CELL_HEIGHT = 24
HEAT_LABEL_WIDTH = 44


def heat_map(
    *, title: str, description: str, row_labels: Sequence[str], column_labels: Sequence[str],
    values: Sequence[Sequence[int]], empty: str = "Nothing in this period",
) -> SafeString:  # fmt: skip
    """A grid (days of the week by hours) shaded by value in HEAT_LEVELS steps; every cell has its number."""
    highest = max((v for row in values for v in row), default=0)
    if not highest:
        return _empty(title, description, empty)
    cell_width = (WIDTH - HEAT_LABEL_WIDTH - MARGIN_RIGHT) / len(column_labels)
    height = MARGIN_TOP + HEAT_CELL_HEIGHT * len(row_labels) + 24
    parts = []
    for r, (row_label, row) in enumerate(zip(row_labels, values, strict=True)):
        y = MARGIN_TOP + HEAT_CELL_HEIGHT * r
        parts.append(
            _html(
                '<text class="label" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
                HEAT_LABEL_WIDTH - 6,
                y + HEAT_CELL_HEIGHT / 2,
                row_label,
            )
        )
        parts.append(
            _html_rows(
                '<rect class="heat-{}" x="{}" y="{}" width="{}" height="{}" rx="2"><title>{} {}: {}</title></rect>',
                (
                    (
                        0 if not value else 1 + min(HEAT_LEVELS - 2, int((HEAT_LEVELS - 1) * value / (highest + 1))),
                        HEAT_LABEL_WIDTH + cell_width * c + 1,
                        y + 1,
                        cell_width - 2,
                        HEAT_CELL_HEIGHT - 2,
                        row_label,
                        column_labels[c],
                        value,
                    )
                    for c, value in enumerate(row)
                ),
            )
        )
    every = 3
    parts.append(
        _html_rows(
            '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
            (
                (HEAT_LABEL_WIDTH + cell_width * (c + 0.5), height - 6, label)
                for c, label in enumerate(column_labels)
                if c % every == 0
            ),
        )
    )
    return _svg(title, description, parts, height=int(height))
