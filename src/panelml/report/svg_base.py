"""Shared pieces of the report's inline SVG charts: scales, ticks, axes, legend, frame.

The charts are hand-written SVG rather than a plotting library's output: the
report must stay one small, offline, byte-reproducible file. A JavaScript
library (Plotly, Vega) would add 0.5-3.5 MB of inlined script to every report
and draw only when scripts run; matplotlib's SVG embeds glyph paths and ids
that change between versions, costs tens of kilobytes per chart and would make
a heavy library a dependency of every install. Each chart here is a few
hundred lines of arithmetic over the primitives below, renders with scripts
disabled, and follows the page's light or dark palette through CSS classes
and ``currentColor`` (no colour that only works on a white page is hard-coded
for text, axes or the ensemble's line).

Coordinates are rounded to 0.1 px so identical inputs give byte-identical SVG.
Inline SVG in an HTML5 document needs no ``xmlns``, which keeps the report free
of any URL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from panelml.report.html import Markup, join, leaf, tag

ROW_HEIGHT = 22
CHAR_WIDTH = 6.6  # average width of an 11px sans-serif character, for label room


def r(x: float) -> str:
    """A coordinate as short, stable text."""
    value = round(x, 1)
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def finite(x: float | None) -> bool:
    """``x`` is a finite number (not ``None``, NaN or infinite)."""
    return x is not None and math.isfinite(x)


@dataclass(frozen=True)
class LinearScale:
    """Maps the domain [lo, hi] onto the pixel range [start, end]."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        if span == 0:
            return (self.start + self.end) / 2
        return self.start + (value - self.lo) / span * (self.end - self.start)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + step * 1e-9:
        ticks.append(round(k * step, 12))
        k += 1
    return ticks


def padded_domain(values: Sequence[float], *, include_zero: bool = True) -> tuple[float, float]:
    """[min, max] of the finite values (and zero), widened by 5% so marks are not clipped."""
    kept = [v for v in values if finite(v)]
    if include_zero:
        kept.append(0.0)
    if not kept:
        return (0.0, 1.0)
    lo, hi = min(kept), max(kept)
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        return (lo - pad, hi + pad)
    pad = (hi - lo) * 0.05
    return (lo - pad, hi + pad)


def tick_label(value: float) -> str:
    """A tick value as short text (scientific for very large or small values)."""
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.001:
        return f"{value:.1e}"
    return f"{value:.4g}"


def x_axis(scale: LinearScale, y: float, top: float, ticks: Sequence[float]) -> Markup:
    """A horizontal axis at ``y`` with vertical grid lines up to ``top`` and labels."""
    parts = [leaf("line", x1=r(scale.start), x2=r(scale.end), y1=r(y), y2=r(y), class_="axis")]
    for t in ticks:
        x = scale(t)
        parts.append(leaf("line", x1=r(x), x2=r(x), y1=r(top), y2=r(y), class_="grid"))
        parts.append(tag("text", tick_label(t), x=r(x), y=r(y + 14), text_anchor="middle"))
    return join(parts)


def y_axis(scale: LinearScale, left: float, right: float, ticks: Sequence[float]) -> Markup:
    """Horizontal grid lines with labels left of ``left``, and a dashed zero line
    when zero is inside the scale's domain."""
    parts = []
    for t in ticks:
        y = scale(t)
        parts.append(leaf("line", x1=r(left), x2=r(right), y1=r(y), y2=r(y), class_="grid"))
        parts.append(tag("text", tick_label(t), x=r(left - 6), y=r(y + 4), text_anchor="end"))
    if scale.lo < 0 < scale.hi:
        y0 = scale(0.0)
        parts.append(leaf("line", x1=r(left), x2=r(right), y1=r(y0), y2=r(y0), class_="zero"))
    return join(parts)


def axis_title(text: str, x: float, y: float, *, vertical: bool = False) -> Markup:
    """An axis title centred at (x, y), rotated for a vertical axis."""
    if vertical:
        return tag(
            "text",
            text,
            x=r(x),
            y=r(y),
            text_anchor="middle",
            transform=f"rotate(-90 {r(x)} {r(y)})",
        )
    return tag("text", text, x=r(x), y=r(y), text_anchor="middle")


def legend_row(items: Sequence[tuple[str, str]], x: float, y: float) -> Markup:
    """Coloured squares with labels, laid out left to right from (x, y)."""
    parts = []
    for label, colour in items:
        parts.append(leaf("rect", x=r(x), y=r(y - 9), width=10, height=10, fill=colour))
        parts.append(tag("text", label, x=r(x + 14), y=r(y)))
        x += 14 + len(label) * CHAR_WIDTH + 14
    return tag("g", parts, class_="legend")


def svg(width: float, height: float, label: str, *body: Markup) -> Markup:
    """The ``<svg>`` element: fixed viewBox, an accessible title and label."""
    return tag(
        "svg",
        tag("title", label),
        *body,
        width=r(width),
        height=r(height),
        viewBox=f"0 0 {r(width)} {r(height)}",
        role="img",
        aria_label=label,
    )


def label_width(labels: Sequence[str]) -> float:
    """Room (px) for the longest of ``labels`` at the left of a chart."""
    longest = max((len(s) for s in labels), default=4)
    return min(max(longest * CHAR_WIDTH + 12, 60), 260)


def x_ticks(x: Sequence[float], count: int) -> list[float]:
    """``count`` values of ``x`` itself, evenly spaced by position, first and last
    included: labels then name real timestamps rather than points between them."""
    values = sorted(set(x))
    if len(values) <= count:
        return values
    return [values[round(i * (len(values) - 1) / (count - 1))] for i in range(count)]


def path(xs: Sequence[float], ys: Sequence[float]) -> str:
    """An SVG path through the points, starting a new segment after every gap."""
    out: list[str] = []
    pen_down = False
    for x, y in zip(xs, ys, strict=False):
        if not (math.isfinite(x) and math.isfinite(y)):
            pen_down = False
            continue
        out.append(f"{'L' if pen_down else 'M'}{r(x)} {r(y)}")
        pen_down = True
    return "".join(out)
