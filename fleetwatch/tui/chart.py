"""A time series as a braille line chart (2 × 4 dots per cell).  Pure: points in, lines of text out."""

from __future__ import annotations

import math
from collections.abc import Sequence

_BASE = 0x2800
# Dot bits of a braille cell by (column, row): rows 0-3 top to bottom, columns 0-1.
_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


def bounds(values: Sequence[float]) -> tuple[float, float]:
    """The value range to draw: the data's, widened when flat so a constant still shows as a line."""
    low, high = min(values), max(values)
    if math.isclose(low, high):
        pad = abs(low) * 0.05 or 1.0
        return low - pad, high + pad
    return low, high


def braille(
    points: Sequence[tuple[float, float]], width: int, height: int, since: float, until: float
) -> list[str]:
    """``height`` lines of ``width`` braille cells plotting ``points`` (time, value) between ``since``
    and ``until``; consecutive samples are joined, so a sparse series still reads as a line."""
    width, height = max(1, width), max(1, height)
    cols, rows = width * 2, height * 4
    grid = [[0] * width for _ in range(height)]
    shown = [(t, v) for t, v in points if since <= t <= until and math.isfinite(v)]
    if not shown:
        return [chr(_BASE) * width for _ in range(height)]
    low, high = bounds([v for _, v in shown])
    span_t = max(until - since, 1e-9)

    def dot(x: int, y: int) -> None:
        x, y = min(max(x, 0), cols - 1), min(max(y, 0), rows - 1)
        grid[y // 4][x // 2] |= _BITS[y % 4][x % 2]

    def place(t: float, v: float) -> tuple[int, int]:
        x = round((t - since) / span_t * (cols - 1))
        y = round((high - v) / (high - low) * (rows - 1))
        return x, y

    previous: tuple[int, int] | None = None
    for t, v in shown:
        x, y = place(t, v)
        if previous is not None:
            px, py = previous
            steps = max(abs(x - px), abs(y - py), 1)
            for i in range(steps + 1):
                dot(round(px + (x - px) * i / steps), round(py + (y - py) * i / steps))
        dot(x, y)
        previous = (x, y)
    return ["".join(chr(_BASE + bits) for bits in line) for line in grid]
