"""Vertical bar charts in inline SVG: categories (quantiles, symbols) and histograms.

:func:`column_chart` draws one bar per category from zero (negative bars go
down), coloured by sign unless colours are given; labels are written under
the bars when they fit, and every bar carries a tooltip. :func:`histogram_chart`
draws adjacent bars over a numeric axis (bin edges), with optional vertical
markers (the mean, zero). Shared primitives: :mod:`~panelml.report.svg_base`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from panelml.report.html import Markup, leaf, tag
from panelml.report.style import NEGATIVE_COLOUR, POSITIVE_COLOUR
from panelml.report.svg import Marker
from panelml.report.svg_base import (
    CHAR_WIDTH,
    LinearScale,
    axis_title,
    finite,
    nice_ticks,
    padded_domain,
    r,
    svg,
    x_axis,
    y_axis,
)

__all__ = ["column_chart", "histogram_chart"]


def sign_colour(value: float) -> str:
    """The bar colour of a value: positive and zero one colour, negative another."""
    return NEGATIVE_COLOUR if value < 0 else POSITIVE_COLOUR


def column_chart(
    values: Sequence[float | None],
    *,
    title: str,
    y_label: str,
    x_label: str,
    labels: Sequence[str] | None = None,
    tooltips: Sequence[str] | None = None,
    colours: Sequence[str] | None = None,
    width: float = 520,
    height: float = 240,
) -> Markup:
    """One bar per value from zero; a missing value leaves an empty slot.

    Every drawn bar is a ``rect.bar`` with a ``<title>`` tooltip (its label and
    value, or ``tooltips[i]``).
    """
    left, right, top, bottom = 72.0, 14.0, 14.0, 46.0
    n = max(len(values), 1)
    lo, hi = padded_domain([v for v in values if v is not None])
    ys = LinearScale(lo, hi, height - bottom, top)
    axis_y = height - bottom
    slot = (width - left - right) / n
    gap = min(slot * 0.2, 6.0) if slot > 3 else 0.0
    parts = [
        y_axis(ys, left, width - right, nice_ticks(lo, hi, 5)),
        leaf("line", x1=r(left), x2=r(width - right), y1=r(axis_y), y2=r(axis_y), class_="axis"),
        axis_title(y_label, 12, (top + axis_y) / 2, vertical=True),
        axis_title(x_label, (left + width - right) / 2, axis_y + 36),
    ]
    show_labels = (
        labels is not None and max((len(s) for s in labels), default=0) * CHAR_WIDTH < slot
    )
    zero = ys(0.0)
    for i, value in enumerate(values):
        x = left + slot * i
        label = labels[i] if labels is not None and i < len(labels) else str(i + 1)
        if show_labels:
            parts.append(
                tag("text", label, x=r(x + slot / 2), y=r(axis_y + 14), text_anchor="middle")
            )
        if value is None or not math.isfinite(value):
            continue
        y = ys(value)
        tip = tooltips[i] if tooltips is not None and i < len(tooltips) else f"{label}: {value:.4g}"
        colour = colours[i] if colours is not None and i < len(colours) else sign_colour(value)
        parts.append(
            tag(
                "rect",
                tag("title", tip),
                x=r(x + gap / 2),
                y=r(min(y, zero)),
                width=r(max(slot - gap, 0.6)),
                height=r(max(abs(zero - y), 0.6)),
                fill=colour,
                class_="bar",
            )
        )
    return svg(width, height, title, *parts)


def histogram_chart(
    edges: Sequence[float],
    counts: Sequence[int],
    *,
    title: str,
    x_label: str,
    y_label: str = "periods",
    markers: Sequence[Marker] = (),
    width: float = 520,
    height: float = 240,
) -> Markup:
    """Adjacent bars over [edges[0], edges[-1]], one per bin, and dashed markers."""
    left, right, top, bottom = 56.0, 14.0, 18.0, 46.0
    lo, hi = (edges[0], edges[-1]) if len(edges) > 1 else (0.0, 1.0)
    xs = LinearScale(lo, hi, left, width - right)
    peak = max((c for c in counts), default=0)
    ys = LinearScale(0.0, max(peak, 1) * 1.08, height - bottom, top)
    axis_y = height - bottom
    parts = [
        y_axis(
            ys, left, width - right, [t for t in nice_ticks(0.0, max(peak, 1), 4) if t == int(t)]
        ),
        x_axis(xs, axis_y, top, nice_ticks(lo, hi, 6)),
        axis_title(y_label, 12, (top + axis_y) / 2, vertical=True),
        axis_title(x_label, (left + width - right) / 2, axis_y + 36),
    ]
    for i, count in enumerate(counts):
        if count <= 0 or i + 1 >= len(edges):
            continue
        x0, x1 = xs(edges[i]), xs(edges[i + 1])
        y = ys(count)
        parts.append(
            tag(
                "rect",
                tag("title", f"{edges[i]:.3g} to {edges[i + 1]:.3g}: {count}"),
                x=r(x0 + 0.5),
                y=r(y),
                width=r(max(x1 - x0 - 1, 0.6)),
                height=r(max(axis_y - y, 0.6)),
                fill=POSITIVE_COLOUR if edges[i] >= 0 else NEGATIVE_COLOUR,
                class_="bar",
            )
        )
    for m in markers:
        if not finite(m.x) or not lo <= m.x <= hi:
            continue
        mx = xs(m.x)
        parts.append(
            tag(
                "g",
                tag("title", m.label),
                leaf("line", x1=r(mx), x2=r(mx), y1=r(top), y2=r(axis_y), class_="marker"),
                tag("text", m.label, x=r(mx + 3), y=r(top + 9), class_="marker-label"),
            )
        )
    return svg(width, height, title, *parts)
