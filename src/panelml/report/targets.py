"""The feature selection section, and the order in which per-target sections walk targets.

Every per-target section (selection, training, diagnostics) walks the same
order: the ranking's selected targets in rank order, then any other target that
has results (sorted), capped at ``max_targets``.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from panelml import contracts
from panelml.report.html import Child, Markup, fmt, note, table, tag
from panelml.report.inputs import ReportInputs, as_float, column, meta_of, tables_of
from panelml.report.sections import section
from panelml.report.style import CONSENSUS_COLOUR, palette
from panelml.report.svg import BarSeries, grouped_bar_chart


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
