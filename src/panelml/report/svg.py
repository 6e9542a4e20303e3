"""Inline SVG charts drawn from plain numbers (no plotting library).

Three charts cover the report: :func:`interval_chart` (one dot with a confidence
whisker per row: the target ranking), :func:`grouped_bar_chart` (a few bars per
row: consensus and per-family importance) and :func:`line_chart` (series over
time: OOF IC). Coordinates are rounded to 0.1 px so identical inputs give
byte-identical SVG. Inline SVG in an HTML5 document needs no ``xmlns``, which
keeps the report free of any URL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from panelml.report.html import Markup, join, leaf, tag

ROW_HEIGHT = 22
CHAR_WIDTH = 6.6  # average width of an 11px sans-serif character, for label room


def _r(x: float) -> str:
    """A coordinate as short, stable text."""
    value = round(x, 1)
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _finite(x: float | None) -> bool:
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
    finite = [v for v in values if _finite(v)]
    if include_zero:
        finite.append(0.0)
    if not finite:
        return (0.0, 1.0)
    lo, hi = min(finite), max(finite)
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        return (lo - pad, hi + pad)
    pad = (hi - lo) * 0.05
    return (lo - pad, hi + pad)


def _tick_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.001:
        return f"{value:.1e}"
    return f"{value:.4g}"


def _x_axis(scale: LinearScale, y: float, top: float, ticks: Sequence[float]) -> Markup:
    parts = [leaf("line", x1=_r(scale.start), x2=_r(scale.end), y1=_r(y), y2=_r(y), class_="axis")]
    for t in ticks:
        x = scale(t)
        parts.append(leaf("line", x1=_r(x), x2=_r(x), y1=_r(top), y2=_r(y), class_="grid"))
        parts.append(tag("text", _tick_label(t), x=_r(x), y=_r(y + 14), text_anchor="middle"))
    return join(parts)


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> Markup:
    """Coloured squares with labels, laid out left to right from (x, y)."""
    parts = []
    for label, colour in items:
        parts.append(leaf("rect", x=_r(x), y=_r(y - 9), width=10, height=10, fill=colour))
        parts.append(tag("text", label, x=_r(x + 14), y=_r(y)))
        x += 14 + len(label) * CHAR_WIDTH + 14
    return tag("g", parts, class_="legend")


def _svg(width: float, height: float, label: str, *body: Markup) -> Markup:
    return tag(
        "svg",
        tag("title", label),
        *body,
        width=_r(width),
        height=_r(height),
        viewBox=f"0 0 {_r(width)} {_r(height)}",
        role="img",
        aria_label=label,
    )


def _label_width(labels: Sequence[str]) -> float:
    longest = max((len(s) for s in labels), default=4)
    return min(max(longest * CHAR_WIDTH + 12, 60), 260)


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
    left = _label_width([p.label for p in points])
    right, top = 20.0, 30.0
    height = top + ROW_HEIGHT * max(len(points), 1) + 40
    values = [v for p in points for v in (p.value, p.low, p.high) if v is not None]
    lo, hi = padded_domain(values)
    scale = LinearScale(lo, hi, left, width - right)
    axis_y = top + ROW_HEIGHT * max(len(points), 1) + 4
    parts = [
        _legend(legend, left, 16),
        _x_axis(scale, axis_y, top, nice_ticks(lo, hi)),
        leaf("line", x1=_r(scale(0)), x2=_r(scale(0)), y1=_r(top), y2=_r(axis_y), class_="zero"),
        tag(
            "text",
            axis_label,
            x=_r((left + width - right) / 2),
            y=_r(axis_y + 30),
            text_anchor="middle",
        ),
    ]
    for i, p in enumerate(points):
        y = top + ROW_HEIGHT * i + ROW_HEIGHT / 2
        row = [tag("text", p.label, x=_r(left - 8), y=_r(y + 4), text_anchor="end")]
        if _finite(p.low) and _finite(p.high):
            x1, x2 = scale(p.low or 0.0), scale(p.high or 0.0)
            row.append(
                leaf(
                    "line",
                    x1=_r(x1),
                    x2=_r(x2),
                    y1=_r(y),
                    y2=_r(y),
                    stroke=p.colour,
                    stroke_width=2,
                )
            )
            for x in (x1, x2):
                row.append(
                    leaf(
                        "line",
                        x1=_r(x),
                        x2=_r(x),
                        y1=_r(y - 4),
                        y2=_r(y + 4),
                        stroke=p.colour,
                        stroke_width=1.5,
                    )
                )
        filled = _finite(p.value)
        cx = scale(p.value if filled and p.value is not None else 0.0)
        row.append(
            tag(
                "circle",
                tag("title", p.tooltip),
                cx=_r(cx),
                cy=_r(y),
                r=5,
                fill=p.colour if filled else "none",
                stroke=p.colour if filled else "#8c959f",
                stroke_width=1.5,
                class_="mark",
                data_target=p.label,
            )
        )
        parts.append(tag("g", row))
    return _svg(width, height + 16, title, *parts)


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
    left = _label_width(labels)
    right, top = 20.0, 30.0
    bar_h = max(3.0, min(9.0, 16.0 / max(len(series), 1)))
    group_h = bar_h * len(series) + 8
    plot_h = group_h * max(len(labels), 1)
    scale = LinearScale(0.0, 1.0, left, width - right)
    axis_y = top + plot_h + 2
    parts = [
        _legend([(s.name, s.colour) for s in series], left, 16),
        _x_axis(scale, axis_y, top, [0.0, 0.25, 0.5, 0.75, 1.0]),
        tag(
            "text",
            axis_label,
            x=_r((left + width - right) / 2),
            y=_r(axis_y + 30),
            text_anchor="middle",
        ),
    ]
    peaks = [
        max((abs(v) for v in s.values if _finite(v) and v is not None), default=0.0) for s in series
    ]
    for i, label in enumerate(labels):
        y0 = top + group_h * i + 4
        row = [tag("text", label, x=_r(left - 8), y=_r(y0 + group_h / 2), text_anchor="end")]
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else None
            if value is None or not math.isfinite(value) or peaks[j] == 0:
                continue
            share = max(value, 0.0) / peaks[j]
            row.append(
                tag(
                    "rect",
                    tag("title", f"{label} - {s.name}: {value:.4g}"),
                    x=_r(left),
                    y=_r(y0 + bar_h * j),
                    width=_r(max(scale(share) - left, 0.5)),
                    height=_r(bar_h - 1),
                    fill=s.colour,
                )
            )
        parts.append(tag("g", row))
    return _svg(width, axis_y + 42, title, *parts)


@dataclass(frozen=True)
class LineSeries:
    """One line: a name, a colour, y values (NaN = gap) at shared x positions."""

    name: str
    colour: str
    values: Sequence[float]
    stroke_width: float = 1.5


def line_chart(
    x: Sequence[float],
    series: Sequence[LineSeries],
    *,
    title: str,
    y_label: str,
    x_format: Callable[[float], str] = _tick_label,
    width: float = 760,
    height: float = 260,
) -> Markup:
    """Lines over a shared numeric x axis (timestamps), gaps at NaN, a dashed zero line."""
    left, right, top, bottom = 56.0, 20.0, 30.0, 44.0
    values = [v for s in series for v in s.values]
    lo, hi = padded_domain(values)
    finite_x = [v for v in x if math.isfinite(v)]
    x_lo, x_hi = (min(finite_x), max(finite_x)) if finite_x else (0.0, 1.0)
    xs = LinearScale(x_lo, x_hi, left, width - right)
    ys = LinearScale(lo, hi, height - bottom, top)
    parts = [_legend([(s.name, s.colour) for s in series], left, 16)]
    for t in nice_ticks(lo, hi, 5):
        y = ys(t)
        parts.append(
            leaf("line", x1=_r(left), x2=_r(width - right), y1=_r(y), y2=_r(y), class_="grid")
        )
        parts.append(tag("text", _tick_label(t), x=_r(left - 6), y=_r(y + 4), text_anchor="end"))
    parts.append(
        leaf("line", x1=_r(left), x2=_r(width - right), y1=_r(ys(0)), y2=_r(ys(0)), class_="zero")
    )
    axis_y = height - bottom
    parts.append(
        leaf("line", x1=_r(left), x2=_r(width - right), y1=_r(axis_y), y2=_r(axis_y), class_="axis")
    )
    ticks = x_ticks(finite_x, max(2, int((width - left - right) // 150)))
    for i, xv in enumerate(ticks):
        anchor = "start" if i == 0 else "end" if i == len(ticks) - 1 else "middle"
        parts.append(tag("text", x_format(xv), x=_r(xs(xv)), y=_r(axis_y + 14), text_anchor=anchor))
    parts.append(
        tag(
            "text",
            y_label,
            x=12,
            y=_r((top + axis_y) / 2),
            text_anchor="middle",
            transform=f"rotate(-90 12 {_r((top + axis_y) / 2)})",
        )
    )
    for s in series:
        path = _path(
            [xs(v) for v in x], [ys(v) if math.isfinite(v) else math.nan for v in s.values]
        )
        if path:
            parts.append(
                tag(
                    "path",
                    tag("title", s.name),
                    d=path,
                    fill="none",
                    stroke=s.colour,
                    stroke_width=s.stroke_width,
                    class_="line",
                )
            )
    return _svg(width, height, title, *parts)


def x_ticks(x: Sequence[float], count: int) -> list[float]:
    """``count`` values of ``x`` itself, evenly spaced by position, first and last
    included: labels then name real timestamps rather than points between them."""
    values = sorted(set(x))
    if len(values) <= count:
        return values
    return [values[round(i * (len(values) - 1) / (count - 1))] for i in range(count)]


def _path(xs: Sequence[float], ys: Sequence[float]) -> str:
    """An SVG path through the points, starting a new segment after every gap."""
    out: list[str] = []
    pen_down = False
    for x, y in zip(xs, ys, strict=False):
        if not (math.isfinite(x) and math.isfinite(y)):
            pen_down = False
            continue
        out.append(f"{'L' if pen_down else 'M'}{_r(x)} {_r(y)}")
        pen_down = True
    return "".join(out)
