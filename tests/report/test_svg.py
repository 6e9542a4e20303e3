"""Chart helpers: scales, ticks, gaps, rolling means, escaping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from panelml.report.html import Markup, fmt, tag
from panelml.report.oof import rolling_mean
from panelml.report.svg import (
    IntervalPoint,
    LinearScale,
    LineSeries,
    interval_chart,
    line_chart,
    nice_ticks,
    x_ticks,
)
from panelml.report.svg_base import path as _path


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(-0.013, 0.061) == [0.0, 0.02, 0.04, 0.06]
    assert nice_ticks(-0.05, 0.05) == [-0.04, -0.02, 0.0, 0.02, 0.04]
    assert nice_ticks(1.0, 1.0) == [1.0]


def test_scale_maps_domain_to_range_and_handles_a_point_domain() -> None:
    scale = LinearScale(-1.0, 1.0, 100.0, 300.0)
    assert scale(-1.0) == 100.0 and scale(0.0) == 200.0 and scale(1.0) == 300.0
    assert LinearScale(2.0, 2.0, 0.0, 10.0)(2.0) == 5.0


def test_path_breaks_at_gaps() -> None:
    assert _path([0, 1, 2, 3], [0, math.nan, 2, 3]) == "M0 0M2 2L3 3"
    assert _path([0.0], [math.nan]) == ""


def test_x_ticks_pick_real_values_including_both_ends() -> None:
    assert x_ticks([5.0, 1.0, 3.0], 4) == [1.0, 3.0, 5.0]
    assert x_ticks([float(v) for v in range(101)], 5) == [0.0, 25.0, 50.0, 75.0, 100.0]


def test_rolling_mean_ignores_nan_and_needs_half_a_window() -> None:
    values = np.array([1.0, np.nan, 3.0, 5.0, np.nan, np.nan, np.nan, np.nan])
    out = rolling_mean(values, 4)
    assert np.isnan(out[0])  # 1 value in a window of 4 is below half a window
    assert out[2] == pytest.approx(2.0)  # mean of 1 and 3, the NaN ignored
    assert out[3] == pytest.approx(3.0)
    assert out[5] == pytest.approx(4.0)
    assert np.isnan(out[6]) and np.isnan(out[7])


def test_interval_chart_has_one_mark_per_point_and_escapes_labels() -> None:
    points = [
        IntervalPoint("a<b", 0.1, 0.0, 0.2, "#000", "tip"),
        IntervalPoint("c", None, None, None, "#111", "tip"),
    ]
    svg = interval_chart(points, legend=[("x", "#000")], axis_label="s", title="t")
    assert svg.count('class="mark"') == 2
    assert "a&lt;b" in svg and "a<b" not in svg


def test_line_chart_draws_one_path_per_series_with_data() -> None:
    x = [0.0, 1.0, 2.0]
    svg = line_chart(
        x,
        [LineSeries("a", "#000", [0.1, 0.2, 0.3]), LineSeries("b", "#111", [math.nan] * 3)],
        title="t",
        y_label="y",
    )
    assert svg.count('class="line"') == 1


def test_html_builder_escapes_text_and_attributes() -> None:
    out = tag("a", "<x>", Markup("<b>ok</b>"), href='"q"', class_="c", hidden=True, n=None)
    assert out == '<a href="&quot;q&quot;" class="c" hidden>&lt;x&gt;<b>ok</b></a>'
    assert tag("meta", name="viewport") == '<meta name="viewport">'
    with pytest.raises(ValueError, match="void"):
        tag("br", "child")


def test_fmt_is_stable_for_numbers_and_missing_values() -> None:
    assert fmt(None) == "–" and fmt(float("nan")) == "–"
    assert fmt(0.12345) == "0.123" and fmt(3) == "3" and fmt(True) == "yes"
    assert fmt(0.00001234) == "1.23e-05"
