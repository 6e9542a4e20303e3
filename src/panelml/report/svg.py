"""Row and line charts in inline SVG (why hand-written SVG: :mod:`~panelml.report.svg_base`).

:func:`interval_chart` (one dot with a confidence whisker per row: the target
ranking), :func:`grouped_bar_chart` (a few bars per row: consensus and
per-family importance) and :func:`line_chart` (series over a numeric x axis:
IC over time, turnover, calibration), with optional vertical markers (fold
boundaries). Column charts live in :mod:`~panelml.report.svg_columns`, grids
(heatmap, fold timeline) in :mod:`~panelml.report.svg_grid`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from panelml.report.html import Markup, leaf, tag
from panelml.report.svg_base import (
    ROW_HEIGHT,
    LinearScale,
    axis_title,
    finite,
    label_width,
    legend_row,
    nice_ticks,
    padded_domain,
    path,
    r,
    svg,
    tick_label,
    x_axis,
    x_ticks,
    y_axis,
)

__all__ = [
    "BarSeries",
    "IntervalPoint",
    "LineSeries",
    "LinearScale",
    "grouped_bar_chart",
    "interval_chart",
    "line_chart",
    "nice_ticks",
    "x_ticks",
]


@dataclass(frozen=True)
class IntervalPoint:
    """One row of an interval chart: a label, a value with its interval, a colour."""

    label: str
    value: float | None
    low: float | None
    high: float | None
    colour: str
    tooltip: str


def interval_chart(
    points: Sequence[IntervalPoint],
    *,
    legend: Sequence[tuple[str, str]],
    axis_label: str,
    title: str,
    width: float = 760,
) -> Markup:
    """One dot per row at its value with a whisker from low to high, a dashed zero line.

    Every row gets exactly one ``circle.mark``; a row without a finite value gets a
    hollow mark at zero so it still shows up (and is counted).
    """
    left = label_width([p.label for p in points])
    right, top = 20.0, 30.0
    height = top + ROW_HEIGHT * max(len(points), 1) + 40
    values = [v for p in points for v in (p.value, p.low, p.high) if v is not None]
    lo, hi = padded_domain(values)
    scale = LinearScale(lo, hi, left, width - right)
    axis_y = top + ROW_HEIGHT * max(len(points), 1) + 4
    parts = [
        legend_row(legend, left, 16),
        x_axis(scale, axis_y, top, nice_ticks(lo, hi)),
        leaf("line", x1=r(scale(0)), x2=r(scale(0)), y1=r(top), y2=r(axis_y), class_="zero"),
        tag(
            "text",
            axis_label,
            x=r((left + width - right) / 2),
            y=r(axis_y + 30),
            text_anchor="middle",
        ),
    ]
    for i, p in enumerate(points):
        y = top + ROW_HEIGHT * i + ROW_HEIGHT / 2
        row = [tag("text", p.label, x=r(left - 8), y=r(y + 4), text_anchor="end")]
        if finite(p.low) and finite(p.high):
            x1, x2 = scale(p.low or 0.0), scale(p.high or 0.0)
            row.append(
                leaf(
                    "line",
                    x1=r(x1),
                    x2=r(x2),
                    y1=r(y),
                    y2=r(y),
                    stroke=p.colour,
                    stroke_width=2,
                )
            )
            for x in (x1, x2):
                row.append(
                    leaf(
                        "line",
                        x1=r(x),
                        x2=r(x),
                        y1=r(y - 4),
                        y2=r(y + 4),
                        stroke=p.colour,
                        stroke_width=1.5,
                    )
                )
        filled = finite(p.value)
        cx = scale(p.value if filled and p.value is not None else 0.0)
        row.append(
            tag(
                "circle",
                tag("title", p.tooltip),
                cx=r(cx),
                cy=r(y),
                r=5,
                fill=p.colour if filled else "none",
                stroke=p.colour if filled else "#8c959f",
                stroke_width=1.5,
                class_="mark",
                data_target=p.label,
            )
        )
        parts.append(tag("g", row))
    return svg(width, height + 16, title, *parts)


@dataclass(frozen=True)
class BarSeries:
    """One bar series: a name, a colour, one value per row (``None`` = no bar)."""

    name: str
    colour: str
    values: Sequence[float | None]


def grouped_bar_chart(
    labels: Sequence[str],
    series: Sequence[BarSeries],
    *,
    title: str,
    axis_label: str,
    width: float = 760,
) -> Markup:
    """Horizontal bars: for each row label, one thin bar per series, all from zero.

    Each series is drawn relative to its own largest value (the top row of that
    series reaches 100%), so series measured on different scales stay comparable
    by shape; exact values belong in the table beside the chart.
    """
    left = label_width(labels)
    right, top = 20.0, 30.0
    bar_h = max(3.0, min(9.0, 16.0 / max(len(series), 1)))
    group_h = bar_h * len(series) + 8
    plot_h = group_h * max(len(labels), 1)
    scale = LinearScale(0.0, 1.0, left, width - right)
    axis_y = top + plot_h + 2
    parts = [
        legend_row([(s.name, s.colour) for s in series], left, 16),
        x_axis(scale, axis_y, top, [0.0, 0.25, 0.5, 0.75, 1.0]),
        tag(
            "text",
            axis_label,
            x=r((left + width - right) / 2),
            y=r(axis_y + 30),
            text_anchor="middle",
        ),
    ]
    peaks = [
        max((abs(v) for v in s.values if finite(v) and v is not None), default=0.0) for s in series
    ]
    for i, label in enumerate(labels):
        y0 = top + group_h * i + 4
        row = [tag("text", label, x=r(left - 8), y=r(y0 + group_h / 2), text_anchor="end")]
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else None
            if value is None or not math.isfinite(value) or peaks[j] == 0:
                continue
            share = max(value, 0.0) / peaks[j]
            row.append(
                tag(
                    "rect",
                    tag("title", f"{label} - {s.name}: {value:.4g}"),
                    x=r(left),
                    y=r(y0 + bar_h * j),
                    width=r(max(scale(share) - left, 0.5)),
                    height=r(bar_h - 1),
                    fill=s.colour,
                    class_="bar",
                )
            )
        parts.append(tag("g", row))
    return svg(width, axis_y + 42, title, *parts)


@dataclass(frozen=True)
class LineSeries:
    """One line: a name, a colour, y values (NaN = gap) at shared x positions.

    ``dashed`` draws a reference line; ``dots`` marks every point (few points).
    """

    name: str
    colour: str
    values: Sequence[float]
    stroke_width: float = 1.5
    dashed: bool = False
    dots: bool = False


@dataclass(frozen=True)
class Marker:
    """A vertical dashed line at ``x`` with a short label at the top (a fold boundary)."""

    x: float
    label: str


def line_chart(
    x: Sequence[float],
    series: Sequence[LineSeries],
    *,
    title: str,
    y_label: str,
    x_format: Callable[[float], str] = tick_label,
    width: float = 760,
    height: float = 260,
    markers: Sequence[Marker] = (),
    x_label: str | None = None,
    numeric_x: bool = False,
    y_domain: tuple[float, float] | None = None,
) -> Markup:
    """Lines over a shared numeric x axis, gaps at NaN, a dashed zero line.

    x ticks name real x values (timestamps) unless ``numeric_x`` asks for round
    numbers; ``y_domain`` fixes the y range (else the values' and zero's).
    """
    left, right, top = 56.0, 20.0, 30.0
    bottom = 58.0 if x_label else 44.0
    lo, hi = y_domain or padded_domain([v for s in series for v in s.values])
    finite_x = [v for v in x if math.isfinite(v)]
    x_lo, x_hi = (min(finite_x), max(finite_x)) if finite_x else (0.0, 1.0)
    if numeric_x:
        x_lo, x_hi = padded_domain(finite_x, include_zero=False)
    xs = LinearScale(x_lo, x_hi, left, width - right)
    ys = LinearScale(lo, hi, height - bottom, top)
    axis_y = height - bottom
    parts = [
        legend_row([(s.name, s.colour) for s in series], left, 16),
        y_axis(ys, left, width - right, nice_ticks(lo, hi, 5)),
        leaf("line", x1=r(left), x2=r(width - right), y1=r(axis_y), y2=r(axis_y), class_="axis"),
        axis_title(y_label, 12, (top + axis_y) / 2, vertical=True),
    ]
    if numeric_x:
        ticks = [t for t in nice_ticks(x_lo, x_hi, 6) if x_lo <= t <= x_hi]
        anchors = ["middle"] * len(ticks)
    else:
        ticks = x_ticks(finite_x, max(2, int((width - left - right) // 150)))
        anchors = [
            "start" if i == 0 else "end" if i == len(ticks) - 1 else "middle"
            for i in range(len(ticks))
        ]
    for xv, anchor in zip(ticks, anchors, strict=True):
        parts.append(tag("text", x_format(xv), x=r(xs(xv)), y=r(axis_y + 14), text_anchor=anchor))
    if x_label:
        parts.append(axis_title(x_label, (left + width - right) / 2, axis_y + 36))
    for m in markers:
        mx = xs(m.x)
        parts.append(
            tag(
                "g",
                tag("title", m.label),
                leaf("line", x1=r(mx), x2=r(mx), y1=r(top), y2=r(axis_y), class_="marker"),
                tag("text", m.label, x=r(mx + 3), y=r(top + 9), class_="marker-label"),
            )
        )
    for s in series:
        ys_px = [ys(v) if math.isfinite(v) else math.nan for v in s.values]
        xs_px = [xs(v) for v in x]
        d = path(xs_px, ys_px)
        if not d:
            continue
        parts.append(
            tag(
                "path",
                tag("title", s.name),
                d=d,
                fill="none",
                stroke=s.colour,
                stroke_width=s.stroke_width,
                stroke_dasharray="5 4" if s.dashed else None,
                class_="line",
            )
        )
        if s.dots:
            parts += [
                leaf("circle", cx=r(px), cy=r(py), r=3, fill=s.colour, class_="dot")
                for px, py in zip(xs_px, ys_px, strict=False)
                if math.isfinite(px) and math.isfinite(py)
            ]
    return svg(width, height, title, *parts)
