"""The training section: out-of-fold metrics per family and fold, and the rolling IC.

Per target (in :func:`~panelml.report.targets.ordered_targets` order): the
summary over all OOF rows (fold -1) and the IC of every fold from the
``metrics`` table, then the rolling rank IC of each family's OOF predictions.
The factor diagnostics of the same predictions are in
:mod:`~panelml.report.factor`.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from panelml.report.html import Child, Markup, fmt, note, table, tag
from panelml.report.inputs import ReportInputs, table_of
from panelml.report.oof import (
    oof_tables,
    prediction_columns,
    rolling_mean,
    thin,
    timestamp_formatter,
)
from panelml.report.sections import section
from panelml.report.style import palette
from panelml.report.svg import LineSeries, line_chart
from panelml.report.targets import ordered_targets
from panelml.validation.metrics import ic_series

_METRIC_COLUMNS = (
    "ic_mean",
    "icir",
    "t_stat",
    "t_stat_nw",
    "r2",
    "auc",
    "log_loss",
    "hit_rate",
    "best_iteration",
    "n_train",
    "n_test",
)


def _metrics_tables(metrics: pl.DataFrame) -> list[Child]:
    """The summary over all OOF rows (fold -1) and the IC of every fold."""
    parts: list[Child] = []
    fold = metrics["fold"] if "fold" in metrics.columns else None
    overall = metrics.filter(fold == -1) if fold is not None else metrics
    cols = [
        c
        for c in _METRIC_COLUMNS
        if c in overall.columns and overall[c].null_count() < overall.height
    ]
    if overall.height:
        rows = [
            [fmt(r.get("family")), *(fmt(r[c]) for c in cols)]
            for r in overall.iter_rows(named=True)
        ]
        parts += [
            tag("h4", "all out-of-fold rows"),
            table(["family", *cols], rows, numeric=range(1, len(cols) + 1)),
        ]
    if fold is not None and "ic_mean" in metrics.columns and "family" in metrics.columns:
        per_fold = metrics.filter(fold >= 0)
        folds = sorted({int(f) for f in per_fold["fold"].to_list() if f is not None})
        families = list(dict.fromkeys(str(f) for f in per_fold["family"].to_list()))
        if folds:
            lookup = {
                (str(r["family"]), int(r["fold"])): r["ic_mean"]
                for r in per_fold.iter_rows(named=True)
                if r["fold"] is not None
            }
            rows = [[fam, *(fmt(lookup.get((fam, f))) for f in folds)] for fam in families]
            parts += [
                tag("h4", "rank IC per fold"),
                table(
                    ["family", *(f"fold {f}" for f in folds)],
                    rows,
                    numeric=range(1, len(folds) + 1),
                ),
            ]
    return parts


def oof_ic_chart(inputs: ReportInputs, target: str, oof: pl.DataFrame) -> Markup:
    """Rolling mean of each family's per-timestamp rank IC on the OOF predictions."""
    needed = {"timestamp", "target"}
    if not needed <= set(oof.columns):
        return note("The out-of-fold table has no timestamp or target column.")
    families = prediction_columns(oof)
    if not families:
        return note("The out-of-fold table holds no predictions.")
    ts_dtype = oof["timestamp"].dtype
    ts = oof["timestamp"].to_physical().cast(pl.Int64).to_numpy()
    y = oof["target"].cast(pl.Float64).to_numpy()
    per_family = {}
    for fam in families:
        series = ic_series(oof[fam].cast(pl.Float64).to_numpy(), y, ts, method="rank")
        per_family[fam] = dict(
            zip(np.asarray(series.timestamps).tolist(), series.values.tolist(), strict=True)
        )
    x_all = sorted({t for d in per_family.values() for t in d})
    if not x_all:
        return note("Too few names per timestamp to compute an IC series.")
    window = max(1, min(inputs.ic_window, len(x_all) // 4 or 1))
    step = thin(len(x_all))
    colours = palette(families)
    lines = []
    for fam in families:
        raw = np.array([per_family[fam].get(t, math.nan) for t in x_all], dtype=np.float64)
        smooth = rolling_mean(raw, window)[::step]
        lines.append(
            LineSeries(fam, colours[fam], smooth.tolist(), 2.5 if fam == "ensemble" else 1.5)
        )
    xs = [float(t) for t in x_all[::step]]
    chart = line_chart(
        xs,
        lines,
        title=f"out-of-fold rank IC over time for {target}",
        y_label="rank IC",
        x_format=timestamp_formatter(ts_dtype, inputs.timestamp_dtype),
    )
    caption = (
        f"Rolling {window}-period mean of the cross-sectional rank IC of each family's "
        "out-of-fold predictions. Long stretches below zero mean the signal faded."
    )
    return tag("figure", chart, tag("figcaption", caption))


def training_section(inputs: ReportInputs) -> Markup:
    """Per target: metrics per family and fold, and the OOF IC over time."""
    meaning = (
        "Out-of-sample quality of the trained models. Every number comes from predictions on "
        "folds the model never saw (purged and embargoed). IC is the rank correlation between "
        "prediction and outcome across names at each time; ICIR its mean over its volatility. "
        "'ensemble' is the rank average of the families."
    )
    result = inputs.result("training")
    if result is None:
        return section("training", "Training", meaning, inputs.missing("training"))
    metrics = table_of(result, "metrics")
    oof = oof_tables(result)
    candidates = set(oof)
    if metrics is not None and "target" in metrics.columns:
        candidates |= {str(t) for t in metrics["target"].to_list() if t is not None}
    if not candidates:
        return section(
            "training",
            "Training",
            meaning,
            note("training recorded no metrics (no target was trained)."),
        )
    targets = ordered_targets(inputs, sorted(candidates))
    parts: list[Child] = []
    for target in targets[: inputs.max_targets]:
        parts.append(tag("h3", target))
        if metrics is not None and "target" in metrics.columns:
            parts += _metrics_tables(metrics.filter(pl.col("target") == target))
        if target in oof:
            parts.append(oof_ic_chart(inputs, target, oof[target]))
        else:
            parts.append(note("No out-of-fold predictions were saved for this target."))
    if len(targets) > inputs.max_targets:
        parts.append(note(f"{len(targets) - inputs.max_targets} more targets not shown."))
    return section("training", "Training", meaning, *parts)
