"""Grid charts in inline SVG: a diverging heatmap and the fold timeline.

:func:`heatmap` colours each cell by its value's sign (two hues) with an
opacity that grows with its size, so it reads on a light and a dark page
alike; the value is written in the cell when it fits. :func:`timeline_chart`
draws one row per fold with coloured spans (train, purge, embargo, test...)
over the panel's bars. Shared primitives: :mod:`~panelml.report.svg_base`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from panelml.report.html import Markup, leaf, tag
from panelml.report.style import NEGATIVE_COLOUR, POSITIVE_COLOUR
from panelml.report.svg_base import (
    CHAR_WIDTH,
    LinearScale,
    label_width,
    legend_row,
    r,
    svg,
    x_ticks,
)

__all__ = ["TimelineRow", "heatmap", "timeline_chart"]


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float]],
    *,
    title: str,
    tooltip: Callable[[int, int], str],
    digits: int = 2,
    width: float = 620,
) -> Markup:
    """Cells ``values[i][j]`` (NaN: no cell); colour scaled by the largest |value|."""
    left = label_width(list(rows))
    top, cell_h = 22.0, 22.0
    cell_w = (width - left - 8) / max(len(columns), 1)
    peak = max((abs(v) for row in values for v in row if math.isfinite(v)), default=0.0)
    parts = [
        tag("text", c, x=r(left + cell_w * (j + 0.5)), y=r(top - 8), text_anchor="middle")
        for j, c in enumerate(columns)
    ]
    show_text = cell_w >= CHAR_WIDTH * (digits + 3)
    for i, label in enumerate(rows):
        y = top + cell_h * i
        parts.append(tag("text", label, x=r(left - 8), y=r(y + cell_h / 2 + 4), text_anchor="end"))
        for j, value in enumerate(values[i]):
            if not math.isfinite(value):
                continue
            x = left + cell_w * j
            strength = 0.12 + 0.78 * (abs(value) / peak if peak > 0 else 0.0)
            parts.append(
                tag(
                    "rect",
                    tag("title", tooltip(i, j)),
                    x=r(x + 1),
                    y=r(y + 1),
                    width=r(cell_w - 2),
                    height=r(cell_h - 2),
                    fill=POSITIVE_COLOUR if value >= 0 else NEGATIVE_COLOUR,
                    fill_opacity=f"{strength:.2f}",
                    class_="cell",
                )
            )
            if show_text:
                parts.append(
                    tag(
                        "text",
                        f"{value:.{digits}f}",
                        x=r(x + cell_w / 2),
                        y=r(y + cell_h / 2 + 4),
                        text_anchor="middle",
                        class_="cell-label",
                    )
                )
    return svg(width, top + cell_h * max(len(rows), 1) + 8, title, *parts)


@dataclass(frozen=True)
class TimelineRow:
    """One split: a label and its spans ``(first, last, kind)`` in bar indices."""

    label: str
    spans: Sequence[tuple[int, int, str]]


def timeline_chart(
    rows: Sequence[TimelineRow],
    n_bars: int,
    *,
    colours: Mapping[str, str],
    title: str,
    x_format: Callable[[int], str] = str,
    width: float = 760,
) -> Markup:
    """A row of coloured spans per split over bars 0..n_bars-1; kinds without a
    colour in ``colours`` are left blank. Every span is a ``rect.span`` with a tooltip."""
    left = label_width([row.label for row in rows])
    right, top, row_h = 20.0, 30.0, 18.0
    xs = LinearScale(0.0, float(max(n_bars, 1)), left, width - right)
    used = {kind for row in rows for _, _, kind in row.spans}
    parts = [legend_row([(k, c) for k, c in colours.items() if k in used], left, 16)]
    for i, row in enumerate(rows):
        y = top + row_h * i
        parts.append(
            tag("text", row.label, x=r(left - 8), y=r(y + row_h / 2 + 4), text_anchor="end")
        )
        for first, last, kind in row.spans:
            colour = colours.get(kind)
            if colour is None:
                continue
            x0, x1 = xs(first), xs(last + 1)
            parts.append(
                tag(
                    "rect",
                    tag("title", f"{row.label}: {kind}, {x_format(first)} to {x_format(last)}"),
                    x=r(x0),
                    y=r(y + 2),
                    width=r(max(x1 - x0, 0.8)),
                    height=r(row_h - 4),
                    fill=colour,
                    class_="span",
                )
            )
    axis_y = top + row_h * max(len(rows), 1) + 2
    parts.append(
        leaf("line", x1=r(left), x2=r(width - right), y1=r(axis_y), y2=r(axis_y), class_="axis")
    )
    ticks = x_ticks([float(b) for b in range(n_bars)], 5) if n_bars else []
    for k, tick in enumerate(ticks):
        anchor = "start" if k == 0 else "end" if k == len(ticks) - 1 else "middle"
        x = xs(tick + (0.0 if k == 0 else 1.0 if k == len(ticks) - 1 else 0.5))
        parts.append(tag("text", x_format(int(tick)), x=r(x), y=r(axis_y + 14), text_anchor=anchor))
    return svg(width, axis_y + 22, title, *parts)
