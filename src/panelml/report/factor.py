"""The diagnostics section: what a factor researcher reads first, per trained target.

For each target with out-of-fold (OOF) predictions, in the report's target
order: summary cards, then the mean forward target by prediction quantile with
the top-minus-bottom spread and its t, the cumulative IC with fold boundaries,
the distribution of per-timestamp IC, the IC per month, prediction turnover,
per-symbol IC and, for binary targets, a calibration plot
(:mod:`~panelml.report.factor_charts`). :func:`trained_targets` reads the OOF
tables once for this section and the folds section.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from panelml.report import factor_charts as fc
from panelml.report.html import Child, Markup, fmt, note, tag
from panelml.report.inputs import ReportInputs, meta_of
from panelml.report.oof import TargetOOF, fold_starts, oof_tables, target_oof
from panelml.report.sections import section
from panelml.report.svg import Marker
from panelml.report.targets import ordered_targets

MEANING = (
    "Factor diagnostics of the out-of-fold predictions (the ensemble's, or the only "
    "family's), the views alphalens popularised: does a higher prediction mean a higher "
    "outcome across the whole range, is the edge steady over time and across symbols, and "
    "how fast does the ranking change. Every number comes from predictions on folds the "
    "model never saw."
)


def trained_targets(inputs: ReportInputs) -> list[TargetOOF]:
    """The OOF arrays of every trained target, in report order, at most ``max_targets``."""
    tables = oof_tables(inputs.result("training"))
    out = []
    for target in ordered_targets(inputs, sorted(tables))[: inputs.max_targets]:
        data = target_oof(target, tables[target])
        if data is not None:
            out.append(data)
    return out


def _facts(inputs: ReportInputs, data: TargetOOF) -> fc.Facts:
    validation = (inputs.config or {}).get("validation")
    validation = validation if isinstance(validation, dict) else {}
    families = meta_of(inputs.result("training")).get("families")
    behind = (
        [str(f) for f in families]
        if data.pred_name == "ensemble" and isinstance(families, list)
        else [data.pred_name]
    )
    kind = inputs.target_kinds.get(data.target)
    if kind is None:
        known = data.y[np.isfinite(data.y)]
        kind = "binary" if known.size and bool(np.isin(known, (0.0, 1.0)).all()) else "regression"
    min_names = validation.get("min_names", 5)
    return fc.Facts(
        horizon=int(inputs.horizons.get(data.target, 1)),
        scheme=str(validation.get("scheme", "purged_kfold")),
        families=behind,
        min_names=min_names if isinstance(min_names, int) and min_names >= 2 else 5,
        panel_dtype=inputs.timestamp_dtype,
        window=inputs.ic_window,
        binary=kind == "binary",
    )


def _cards(items: list[tuple[str, str]]) -> Markup:
    return tag(
        "div",
        [tag("div", tag("b", value), tag("span", label), class_="card") for label, value in items],
        class_="cards",
    )


def _markers(data: TargetOOF) -> list[Marker]:
    return [Marker(float(ts), f"fold {k}") for ts, k in fold_starts(data)]


def target_block(inputs: ReportInputs, data: TargetOOF) -> list[Child]:
    """Heading, cards and figures of one target."""
    facts = _facts(inputs, data)
    series = {name: fc.ic_of(data, name, facts) for name in data.columns}
    ic = series[data.pred_name]
    if ic.values.size < 2:
        return [
            tag("h3", data.target),
            note("Too few timestamps with enough names to compute an IC series."),
        ]
    quantile_fig, spread, t = fc.quantiles(data, facts)
    turnover_fig, turnover = fc.turnover(data, facts)
    symbol_fig, share = fc.per_symbol(data, facts)
    figures: list[Child] = [
        quantile_fig,
        fc.cumulative_ic(data, facts, series, _markers(data)),
        fc.ic_distribution(data, ic),
        fc.ic_heatmap(data, ic),
        turnover_fig,
        symbol_fig,
    ]
    if facts.binary:
        figures.append(fc.calibration(data))
    kind = "binary" if facts.binary else "regression"
    horizon = "unknown (1 assumed)" if data.target not in inputs.horizons else str(facts.horizon)
    mean_ic = float(np.mean(ic.values))
    return [
        tag("h3", data.target),
        tag(
            "p",
            f"{kind} target, horizon {horizon} bars; predictions: {data.pred_name}; "
            f"{ic.values.size} timestamps with an IC.",
        ),
        _cards(
            [
                ("mean rank IC", fmt(mean_ic)),
                ("top − bottom per period", fmt(spread, 4)),
                ("t of the spread", fmt(t, 2) if math.isfinite(t) else "–"),
                ("rank autocorrelation", fmt(turnover)),
                ("symbols with IC > 0", f"{fmt(100 * share, 0)}%" if math.isfinite(share) else "–"),
            ]
        ),
        tag("div", figures, class_="figures"),
    ]


def diagnostics_section(inputs: ReportInputs, targets: list[TargetOOF]) -> Markup:
    """One block per trained target, or a note when training did not run."""
    result: Any = inputs.result("training")
    if result is None:
        return section("diagnostics", "Diagnostics", MEANING, inputs.missing("training"))
    if not targets:
        return section(
            "diagnostics",
            "Diagnostics",
            MEANING,
            note("No out-of-fold predictions were saved, so there is nothing to diagnose."),
        )
    parts: list[Child] = []
    for data in targets:
        parts += target_block(inputs, data)
    return section("diagnostics", "Diagnostics", MEANING, *parts)
