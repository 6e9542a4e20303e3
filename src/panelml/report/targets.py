"""The per-target sections of the report: feature selection and training.

Both sections walk the same targets: the ranking's selected targets in rank
order, then any other target that has results (sorted), capped at
``max_targets``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml import contracts
from panelml.data.timestamps import format_timestamp
from panelml.report.html import Child, Markup, fmt, note, table, tag
from panelml.report.inputs import ReportInputs, as_float, column, meta_of, table_of, tables_of
from panelml.report.sections import section
from panelml.report.style import CONSENSUS_COLOUR, palette
from panelml.report.svg import BarSeries, LineSeries, grouped_bar_chart, line_chart
from panelml.validation.metrics import ic_series

MAX_CHART_POINTS = 500
_OOF_KEYS = ("symbol", "timestamp", "target")


def _oof_tables(result: Any) -> dict[str, pl.DataFrame]:
    """target -> OOF predictions, for the targets whose table the result holds."""
    out: dict[str, pl.DataFrame] = {}
    for target in contracts.oof_table_names(result):
        try:
            out[target] = contracts.oof(result, target)
        except contracts.ContractReadError:
            continue
    return out


def ordered_targets(inputs: ReportInputs, candidates: list[str]) -> list[str]:
    """``candidates`` in the ranking's order (selected first), the rest sorted."""
    order: list[str] = []
    try:
        scores = contracts.ranking_scores(inputs.result("target_ranking"))
        order = scores.sort("rank", nulls_last=True, maintain_order=True)["target"].to_list()
    except contracts.ContractReadError:
        order = []
    known = set(candidates)
    ranked = [t for t in order if t in known]
    return ranked + sorted(known - set(ranked))


# -- feature selection ---------------------------------------------------------
def _stability_text(stats: Any) -> str:
    if not isinstance(stats, dict) or as_float(stats.get("phi")) is None:
        return "Stability over folds: not recorded."
    phi = as_float(stats.get("phi")) or 0.0
    low, high = as_float(stats.get("ci_low")), as_float(stats.get("ci_high"))
    verdict = "excellent" if phi > 0.75 else "intermediate to good" if phi >= 0.4 else "poor"
    interval = (
        f" (95% CI {fmt(low)} to {fmt(high)})" if low is not None and high is not None else ""
    )
    return (
        f"Stability over folds (Nogueira φ): {fmt(phi)}{interval}: {verdict}. "
        "1 means every fold picked the same features, 0 what chance would give."
    )


def _imp_label(name: str) -> str:
    """``imp_lightgbm_gain`` -> ``lightgbm (gain)``."""
    body = name.removeprefix("imp_")
    family, _, kind = body.rpartition("_")
    return f"{family} ({kind})" if family else body


def _top_features(frame: pl.DataFrame, n: int) -> pl.DataFrame:
    if "rank" in frame.columns:
        frame = frame.sort("rank", nulls_last=True, maintain_order=True)
    elif "consensus_score" in frame.columns:
        frame = frame.sort("consensus_score", descending=True, nulls_last=True, maintain_order=True)
    return frame.head(n)


def _selection_block(
    inputs: ReportInputs, target: str, frame: pl.DataFrame, stats: Any
) -> list[Child]:
    top = _top_features(frame, inputs.top_features)
    imp_cols = sorted(c for c in top.columns if c.startswith("imp_"))
    colours = palette(_imp_label(c) for c in imp_cols)
    labels = [str(f) for f in column(top, "feature")]
    series = []
    if "consensus_score" in top.columns:
        series.append(
            BarSeries(
                "consensus", CONSENSUS_COLOUR, [as_float(v) for v in column(top, "consensus_score")]
            )
        )
    series += [
        BarSeries(_imp_label(c), colours[_imp_label(c)], [as_float(v) for v in column(top, c)])
        for c in imp_cols
    ]
    n_selected = sum(1 for v in column(frame, "selected") if v is True)
    parts: list[Child] = [
        tag("h3", target),
        tag("p", f"{n_selected} of {frame.height} features selected. " + _stability_text(stats)),
    ]
    if series and labels:
        chart = grouped_bar_chart(
            labels,
            series,
            axis_label="importance relative to the top feature of each series",
            title=f"consensus and per-family importance of the top features for {target}",
        )
        parts.append(
            tag(
                "figure",
                chart,
                tag(
                    "figcaption",
                    f"Top {len(labels)} features by consensus rank. Each colour is scaled "
                    "to its own largest value; exact values are in the table.",
                ),
            )
        )
    cols = [
        c
        for c in (
            "rank",
            "feature",
            "consensus_score",
            *imp_cols,
            "selection_frequency",
            "selected",
            "reason",
        )
        if c in top.columns
    ]
    headers = [_imp_label(c) if c.startswith("imp_") else c.replace("_", " ") for c in cols]
    rows = [[fmt(r[c]) for c in cols] for r in top.iter_rows(named=True)]
    numeric = [i for i, c in enumerate(cols) if top[c].dtype.is_numeric()]
    parts.append(table(headers, rows, numeric=numeric))
    return parts


def selection_section(inputs: ReportInputs) -> Markup:
    """Per selected target: consensus importance by family, selection frequency, stability."""
    meaning = (
        "For each selected target, the features the models agree on. Several model families "
        "rank the features in every fold; the consensus score combines them, and selection "
        "frequency is the share of folds in which a feature made the cut. Features that are "
        "important for one family only, or picked in few folds, are fragile."
    )
    result = inputs.result("feature_selection")
    if result is None:
        return section(
            "selection", "Feature selection", meaning, inputs.missing("feature_selection")
        )
    frames = {
        name: frame for name, frame in tables_of(result).items() if "feature" in frame.columns
    }
    if not frames:
        return section(
            "selection",
            "Feature selection",
            meaning,
            note("feature_selection selected features for no target."),
        )
    stability = meta_of(result).get("stability", {})
    stability = stability if isinstance(stability, dict) else {}
    targets = ordered_targets(inputs, list(frames))
    parts: list[Child] = []
    for target in targets[: inputs.max_targets]:
        parts += _selection_block(inputs, target, frames[target], stability.get(target))
    if len(targets) > inputs.max_targets:
        parts.append(note(f"{len(targets) - inputs.max_targets} more targets not shown."))
    return section("selection", "Feature selection", meaning, *parts)


# -- training ------------------------------------------------------------------
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


def rolling_mean(values: npt.NDArray[np.float64], window: int) -> npt.NDArray[np.float64]:
    """Trailing mean over ``window`` periods ignoring NaN; NaN where fewer than
    half the window's values exist."""
    finite = np.isfinite(values)
    filled = np.where(finite, values, 0.0)
    sums = np.concatenate(([0.0], np.cumsum(filled)))
    counts = np.concatenate(([0], np.cumsum(finite)))
    idx = np.arange(1, values.size + 1)
    lo = np.maximum(idx - window, 0)
    n = counts[idx] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (sums[idx] - sums[lo]) / n
    out[n < max(1, window // 2)] = np.nan
    return np.asarray(out, dtype=np.float64)


def _formatter(dtype: pl.DataType, panel_dtype: str | None) -> Callable[[float], str]:
    def label(value: float) -> str:
        raw = round(value)
        if dtype.is_temporal():
            text = str(pl.Series([raw], dtype=pl.Int64).cast(dtype)[0])
        elif panel_dtype is not None:
            try:
                text = format_timestamp(raw, panel_dtype)
            except ValueError:
                text = str(raw)
        else:
            text = str(raw)
        return text.removesuffix(" 00:00:00")

    return label


def oof_ic_chart(inputs: ReportInputs, target: str, oof: pl.DataFrame) -> Markup:
    """Rolling mean of each family's per-timestamp rank IC on the OOF predictions."""
    needed = {"timestamp", "target"}
    if not needed <= set(oof.columns):
        return note("The out-of-fold table has no timestamp or target column.")
    families = [c for c in oof.columns if c not in _OOF_KEYS and oof[c].dtype.is_numeric()]
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
    step = max(1, math.ceil(len(x_all) / MAX_CHART_POINTS))
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
        x_format=_formatter(ts_dtype, inputs.timestamp_dtype),
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
    oof = _oof_tables(result)
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
