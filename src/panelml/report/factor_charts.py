"""The figures of one target's factor diagnostics, each with the sentence that reads it.

Every function takes the target's OOF arrays (:class:`~panelml.report.oof.TargetOOF`)
and the run's facts (:class:`Facts`), computes its numbers with
:mod:`~panelml.report.diagnostics` and returns a ``<figure>`` plus the one or
two numbers the section's summary cards show. The predictions analysed are the
ensemble's (a rank average of the families), or the only family's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from panelml.report import diagnostics as dg
from panelml.report.html import Markup, fmt, note, tag
from panelml.report.oof import ENSEMBLE, TargetOOF, rolling_mean, thin, timestamp_formatter
from panelml.report.style import POSITIVE_COLOUR, palette
from panelml.report.svg import LineSeries, Marker, line_chart
from panelml.report.svg_columns import column_chart, histogram_chart
from panelml.report.svg_grid import heatmap
from panelml.validation.metrics import ICSeries, ic_series, per_symbol_ic, positive_share

WIDTH = 520
MAX_BARS = 200
"""Most symbols the per-symbol chart draws (evenly spaced by rank beyond that)."""
nan = math.nan


@dataclass(frozen=True)
class Facts:
    """What the figures need to know about the run besides the OOF rows."""

    horizon: int
    scheme: str
    families: Sequence[str]
    min_names: int
    panel_dtype: str | None
    window: int
    binary: bool


def figure(chart: Markup, caption: str) -> Markup:
    return tag("figure", chart, tag("figcaption", caption))


def ic_of(data: TargetOOF, column: str, facts: Facts) -> ICSeries:
    """Per-timestamp rank IC of one prediction column."""
    return ic_series(
        data.columns[column], data.y, data.timestamps, method="rank", min_names=facts.min_names
    )


def quantiles(data: TargetOOF, facts: Facts) -> tuple[Markup, float, float]:
    """Mean forward target per prediction bucket; returns (figure, mean spread, its t)."""
    q = dg.bucket_count(dg.names_per_timestamp(data.pred, data.y, data.timestamps))
    result = dg.quantile_returns(data.pred, data.y, data.timestamps, q)
    if not result.timestamps.size:
        return note(f"No timestamp has a name in each of {q} prediction buckets."), nan, nan
    test = dg.spread_significance(result.spread, facts.horizon, facts.scheme, facts.families)
    labels = [f"Q{k + 1}" for k in range(q)]
    tips = [
        f"Q{k + 1}{' (lowest)' if k == 0 else ' (highest)' if k == q - 1 else ''}: "
        f"mean {data.target} {fmt(float(m), 4)}"
        for k, m in enumerate(result.means)
    ]
    chart = column_chart(
        [float(m) if math.isfinite(m) else None for m in result.means],
        labels=labels,
        tooltips=tips,
        title=f"mean {data.target} by prediction bucket",
        y_label=f"mean {data.target}",
        x_label=f"prediction bucket per timestamp (Q1 lowest, Q{q} highest)",
        width=WIDTH,
    )
    spread = float(np.mean(result.spread)) if result.spread.size else math.nan
    t = test.t_stat if test is not None else math.nan
    if test is None:
        tested = f"no t: the '{facts.scheme}' scheme has no fold factor for the test"
    else:
        tested = f"t = {fmt(test.t_stat, 2)}, one-sided p = {fmt(test.p_value)}; {test.method}"
    caption = (
        f"Names are cut into {q} buckets by {data.pred_name} at every timestamp; each bar is "
        f"the bucket's mean outcome averaged over {result.timestamps.size} timestamps. "
        f"Top minus bottom: {fmt(spread, 4)} per period ({tested}), the test the IC gets "
        f"for overlapping {facts.horizon}-bar labels."
    )
    if result.skipped:
        caption += f" {result.skipped} timestamps with fewer than {q} names are left out."
    return figure(chart, caption), spread, t


def cumulative_ic(
    data: TargetOOF, facts: Facts, series: dict[str, ICSeries], markers: Sequence[Marker]
) -> Markup:
    """Running sum of each column's per-timestamp rank IC, fold starts marked."""
    x_all = sorted({int(t) for s in series.values() for t in np.asarray(s.timestamps).tolist()})
    colours = palette(series)
    lines = []
    for name, s in series.items():
        steps = dict(zip(np.asarray(s.timestamps).tolist(), s.values.tolist(), strict=True))
        total = np.cumsum([steps.get(t, 0.0) for t in x_all])
        step = thin(len(x_all))
        lines.append(
            LineSeries(
                name, colours[name], total[::step].tolist(), 2.5 if name == ENSEMBLE else 1.5
            )
        )
    xs = [float(t) for t in x_all[:: thin(len(x_all))]]
    chart = line_chart(
        xs,
        lines,
        title=f"cumulative rank IC of {data.target}",
        y_label="cumulative rank IC",
        x_format=timestamp_formatter(data.dtype, facts.panel_dtype),
        markers=markers,
        width=WIDTH,
        height=240,
    )
    caption = (
        "Running sum of the per-timestamp rank IC: a steady slope is a steady edge, a flat or "
        "falling stretch a period without one. Dotted lines mark where each fold's test "
        "block starts (each block was predicted by a different model)."
    )
    return figure(chart, caption)


def ic_distribution(data: TargetOOF, ic: ICSeries) -> Markup:
    """Histogram of the ensemble's per-timestamp rank IC, its mean marked."""
    hist = dg.histogram(ic.values)
    mean = float(np.mean(ic.values)) if ic.values.size else math.nan
    chart = histogram_chart(
        hist.edges.tolist(),
        hist.counts.tolist(),
        title=f"distribution of the per-timestamp rank IC of {data.target}",
        x_label="rank IC at one timestamp",
        markers=[Marker(mean, f"mean {fmt(mean)}")],
        width=WIDTH,
    )
    caption = (
        f"{ic.values.size} timestamps; {fmt(100 * positive_share(ic.values), 1)}% have a "
        f"positive IC. A wide spread around a small mean is normal for a real signal: it "
        "pays on average, not every period."
    )
    return figure(chart, caption)


def ic_heatmap(data: TargetOOF, ic: ICSeries) -> Markup:
    """Mean rank IC per calendar month (or per block of periods)."""
    grid = dg.period_grid(np.asarray(ic.timestamps, dtype=np.int64), ic.values, data.dtype)

    def tip(i: int, j: int) -> str:
        return (
            f"{grid.rows[i]} {grid.columns[j]}: mean IC {grid.values[i, j]:.3f} "
            f"over {grid.counts[i, j]} periods"
        )

    chart = heatmap(
        grid.rows,
        grid.columns,
        grid.values.tolist(),
        title=f"mean rank IC of {data.target} per {grid.title}",
        tooltip=tip,
        width=WIDTH,
    )
    caption = (
        f"Mean rank IC per {grid.title} (blue above zero, red below; stronger colour, "
        "larger |IC|). Clusters of red show when the signal stopped working."
    )
    return figure(chart, caption)


def turnover(data: TargetOOF, facts: Facts) -> tuple[Markup, float]:
    """Rank autocorrelation of the predictions over time; returns (figure, its mean)."""
    result = dg.rank_autocorrelation(
        data.pred, data.symbol_codes, data.timestamps, min_names=facts.min_names
    )
    if not result.values.size:
        return note("No two consecutive timestamps share enough names for a turnover."), nan
    mean = result.mean
    window = max(1, min(facts.window, result.values.size // 4 or 1))
    step = thin(result.values.size)
    smooth = rolling_mean(result.values, window)[::step]
    xs = [float(t) for t in result.timestamps[::step]]
    chart = line_chart(
        xs,
        [
            LineSeries(f"rolling {window}", POSITIVE_COLOUR, smooth.tolist(), 2.0),
            LineSeries("mean", "currentColor", [mean] * len(xs), 1.0, dashed=True),
        ],
        title=f"prediction rank autocorrelation of {data.target}",
        y_label="rank autocorrelation",
        x_format=timestamp_formatter(data.dtype, facts.panel_dtype),
        width=WIDTH,
        height=240,
    )
    caption = (
        f"Rank correlation of each name's {data.pred_name} with its value one timestamp "
        f"earlier: mean {fmt(mean)}. Near 1 the ranking barely changes (cheap to trade); "
        "near 0 it is a new ranking every period (costly)."
    )
    return figure(chart, caption), mean


def per_symbol(data: TargetOOF, facts: Facts) -> tuple[Markup, float]:
    """Each symbol's time-series rank IC, sorted; returns (figure, share positive)."""
    codes, names = data.symbol_codes, data.symbol_names
    min_obs = max(10, 2 * facts.horizon)
    kept, values = per_symbol_ic(data.pred, data.y, codes, method="rank", min_obs=min_obs)
    if not values.size:
        return note(f"No symbol has {min_obs} rows with a prediction and an outcome."), nan
    order = np.argsort(-values, kind="stable")
    share = positive_share(values)
    shown = order
    if order.size > MAX_BARS:  # evenly spaced ranks, best and worst included
        shown = order[np.unique(np.round(np.linspace(0, order.size - 1, MAX_BARS)).astype(int))]
    labels = [str(names[int(kept[i])]) for i in shown]
    chart = column_chart(
        [float(values[i]) for i in shown],
        labels=labels,
        tooltips=[f"{lab}: IC {values[i]:.3f}" for lab, i in zip(labels, shown, strict=True)],
        title=f"rank IC of {data.target} per symbol",
        y_label="rank IC over time",
        x_label=f"{values.size} symbols, best to worst"
        + (f" ({shown.size} evenly spaced shown)" if shown.size < values.size else ""),
        width=WIDTH,
    )
    caption = (
        f"Each symbol's rank correlation between {data.pred_name} and outcome over its own "
        f"history (symbols with at least {min_obs} rows). {fmt(100 * share, 1)}% are positive: "
        "a signal carried by a few symbols is fragile."
    )
    return figure(chart, caption), share


def calibration(data: TargetOOF) -> Markup:
    """Observed frequency of y = 1 per bin of the mean family probability, or, when
    the families' outputs are not probabilities, per bin of the predicted rank."""
    probs = [
        v
        for name, v in data.columns.items()
        if name != ENSEMBLE
        and np.isfinite(v).any()
        and float(np.nanmin(v)) >= 0.0
        and float(np.nanmax(v)) <= 1.0
    ]
    if probs:
        stack = np.vstack(probs)
        known = np.isfinite(stack)
        count = known.sum(axis=0)
        total = np.where(known, stack, 0.0).sum(axis=0)
        pred = np.where(count > 0, total / np.maximum(count, 1), math.nan)
        x_label = "predicted probability (mean of the families' probabilities)"
    else:
        pred = data.pred
        x_label = f"predicted percentile rank of {data.pred_name} (a rank, not a probability)"
    cal = dg.calibration(pred, data.y)
    if not cal.counts.size:
        return note("No row has both a prediction and an outcome to calibrate.")
    xs = cal.predicted.tolist()
    reference = (
        LineSeries("perfectly calibrated", "currentColor", xs, 1.0, dashed=True)
        if probs
        else LineSeries("base rate", "currentColor", [cal.base_rate] * len(xs), 1.0, dashed=True)
    )
    chart = line_chart(
        xs,
        [
            LineSeries(
                "observed share of 1", POSITIVE_COLOUR, cal.observed.tolist(), 2.0, dots=True
            ),
            reference,
        ],
        title=f"calibration of {data.target}",
        y_label="observed share of 1",
        x_label=x_label,
        numeric_x=True,
        y_domain=(0.0, 1.0),
        width=WIDTH,
        height=260,
    )
    if probs:
        caption = (
            "Rows binned by predicted probability (10 bins of equal row count); dots on the dashed "
            "diagonal mean the probabilities can be taken at face value."
        )
    else:
        caption = (
            "The predictions are ranks, so this is not a calibration of probabilities: rows "
            "are binned by predicted rank (10 bins of equal row count) and the line shows "
            "how often the outcome was 1 in each bin, against the base rate."
        )
    return figure(chart, caption)
