"""Stability of selections over an experiment's history of runs.

:func:`history_stability` measures, per target and method, how stable the
selections and importance rankings in the snapshot store are across runs
(Nogueira's Phi with its 95% interval over the runs' selected sets, Jaccard of
the top-k between this run and the previous one and over all pairs, Kendall's
tau of the importances), plus each feature's selection frequency. Measures come
from :mod:`panelml.stability.measures`; printing is done by
``panelml.commands.stability`` and the ``stability`` stage.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from panelml.pipeline.runstate import MANIFEST, run_state
from panelml.stability.measures import (
    StabilityThresholds,
    jaccard_topk,
    kendall_tau_union,
    mean_pairwise_jaccard,
    nogueira_stability,
    selection_matrix,
    stability_warnings,
)
from panelml.stability.snapshots import CONSENSUS

__all__ = ["FREQUENCY_SCHEMA", "REPORT_SCHEMA", "finished_runs_only", "history_stability"]

NAN = float("nan")

REPORT_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(),
    "method": pl.String(),
    "n_runs": pl.Int64(),
    "nogueira": pl.Float64(),
    "nogueira_ci_low": pl.Float64(),
    "nogueira_ci_high": pl.Float64(),
    "jaccard_prev": pl.Float64(),
    "jaccard_mean": pl.Float64(),
    "kendall_prev": pl.Float64(),
    "kendall_mean": pl.Float64(),
    "fold_phi": pl.Float64(),
    "fold_phi_ci_low": pl.Float64(),
    "fold_phi_ci_high": pl.Float64(),
    "most_stable": pl.String(),
    "least_stable": pl.String(),
    "status": pl.String(),
    "message": pl.String(),
}
"""Columns of the stability report (the contract columns plus ``kendall_mean``,
``most_stable`` and ``least_stable``)."""

FREQUENCY_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(),
    "method": pl.String(),
    "feature": pl.String(),
    "selection_frequency": pl.Float64(),
    "n_runs": pl.Int64(),
}


# == which runs count ==============================================================
def finished_runs_only(
    snapshots: pl.DataFrame, experiment_dir: Path, *, keep: str | None = None
) -> tuple[pl.DataFrame, list[str]]:
    """The snapshot rows of runs that finished, and the run ids left out.

    A run whose folder ``<experiment_dir>/<run_id>`` has a manifest whose state
    (:func:`~panelml.pipeline.runstate.run_state`) is not ``finished`` (a run
    killed, interrupted, failed or still going) is left out: its snapshots are
    of results no finished run confirmed. Runs whose folder is gone are kept
    (nothing says they did not finish), and so is ``keep`` (the current run).
    """
    if snapshots.height == 0:
        return snapshots, []
    dropped = sorted(
        str(run_id)
        for run_id in snapshots["run_id"].unique().to_list()
        if run_id != keep
        and (Path(experiment_dir) / str(run_id) / MANIFEST).is_file()
        and run_state(Path(experiment_dir) / str(run_id)) != "finished"
    )
    if not dropped:
        return snapshots, []
    return snapshots.filter(~pl.col("run_id").is_in(dropped)), dropped


# == stability across runs ========================================================
@dataclass(frozen=True)
class _RunView:
    """One run's snapshot of one (target, method)."""

    run_id: str
    ranking: list[str]
    selected: frozenset[str]
    importance: dict[str, float]


def _views(group: pl.DataFrame, order: list[str]) -> list[_RunView]:
    views: list[_RunView] = []
    by_run = {str(key[0]): part for key, part in group.group_by(["run_id"], maintain_order=True)}
    for run_id in order:
        part = by_run.get(run_id)
        if part is None:
            continue
        part = part.sort(["rank", "feature"], nulls_last=True)
        features = [str(f) for f in part["feature"].to_list()]
        importance = {
            f: float(v)
            for f, v in zip(features, part["importance"].to_list(), strict=True)
            if v is not None and math.isfinite(float(v))
        }
        chosen = frozenset(
            f for f, s in zip(features, part["selected"].to_list(), strict=True) if s
        )
        views.append(_RunView(run_id, features, chosen, importance))
    return views


def _run_order(snapshots: pl.DataFrame, current_run: str | None) -> list[str]:
    """Run ids oldest first (earliest snapshot, then id); the current run last."""
    if snapshots.height == 0:
        return []
    first = snapshots.group_by("run_id").agg(pl.col("created").min()).sort(["created", "run_id"])
    order = [str(r) for r in first["run_id"].to_list() if r != current_run]
    if current_run is not None and current_run in set(first["run_id"].to_list()):
        order.append(current_run)
    return order


def _kendall_mean(views: list[_RunView]) -> float:
    values = [
        kendall_tau_union(a.importance, b.importance)
        for a, b in itertools.pairwise(views)
        if a.importance and b.importance
    ]
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else NAN


def _stable_extremes(views: list[_RunView], universe: list[str]) -> tuple[str, str]:
    """Most stable: selected most often (ties: name); least stable: selection
    frequency closest to 1/2 among features selected at least once (they flip
    the most between runs; ties: name). Up to three names each, comma-joined."""
    n = len(views)
    counts = {f: sum(f in v.selected for v in views) for f in universe}
    ever = [f for f in universe if counts[f] > 0]
    most = sorted(ever, key=lambda f: (-counts[f], f))[:3]
    flipping = [f for f in ever if counts[f] < n]
    least = sorted(flipping, key=lambda f: (abs(counts[f] / n - 0.5), f))[:3]
    return ", ".join(most), ", ".join(least)


def _fold_values(fold: Mapping[str, Any] | None) -> tuple[float, float, float]:
    if not isinstance(fold, Mapping):
        return NAN, NAN, NAN

    def num(key: str) -> float:
        value = fold.get(key)
        return float(value) if isinstance(value, int | float) else NAN

    return num("phi"), num("ci_low"), num("ci_high")


def history_stability(
    snapshots: pl.DataFrame,
    *,
    current_run: str | None = None,
    k: int = 10,
    thresholds: StabilityThresholds | None = None,
    fold_stability: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stability of each (target, method) over the runs in ``snapshots``.

    Args:
        snapshots: snapshot rows (:data:`~panelml.stability.snapshots.SNAPSHOT_SCHEMA`)
            of one experiment, this run's included.
        current_run: the run being reported on. It is ordered last, "previous" is
            the most recent other run, and only (target, method) pairs present in
            it are reported. ``None`` (``panelml stability``): every pair, and the
            latest run plays the current one.
        k: size of the top-k sets compared by Jaccard.
        thresholds: warning levels (defaults of :class:`StabilityThresholds`).
        fold_stability: per target, the within-run fold stability of the
            selection (``phi``, ``ci_low``, ``ci_high``), reported on the
            consensus rows.

    Returns ``(report, frequency)``: :data:`REPORT_SCHEMA` rows, one per
    (target, method), and :data:`FREQUENCY_SCHEMA` rows, one per (target, method,
    feature). The feature universe of a target (the d of Nogueira's Phi) is every
    feature that appears in any of its snapshots, of any method and run.
    ``status`` is ``warn`` when a measure is below its threshold
    (:func:`~panelml.stability.measures.stability_warnings`: Phi over runs,
    Jaccard and Kendall between this run and the previous one, Phi over folds)
    and ``message`` says which; otherwise ``ok``.
    """
    th = thresholds or StabilityThresholds()
    folds = fold_stability or {}
    order = _run_order(snapshots, current_run)
    report: list[dict[str, Any]] = []
    frequency: list[dict[str, Any]] = []
    if snapshots.height == 0:
        return pl.DataFrame(schema=REPORT_SCHEMA), pl.DataFrame(schema=FREQUENCY_SCHEMA)
    for (target_key,), per_target in snapshots.group_by(["target"], maintain_order=False):
        target = str(target_key)
        universe = sorted({str(f) for f in per_target["feature"].to_list()})
        for (method_key,), group in per_target.group_by(["method"], maintain_order=False):
            method = str(method_key)
            views = _views(group, order)
            if not views or (current_run is not None and views[-1].run_id != current_run):
                continue
            current = views[-1]
            previous = views[-2] if len(views) > 1 else None
            Z, _ = selection_matrix([v.selected for v in views], universe)
            estimate = nogueira_stability(Z)
            jaccard_prev = jaccard_topk(current.ranking, previous.ranking, k) if previous else NAN
            kendall_prev = (
                kendall_tau_union(current.importance, previous.importance)
                if previous and current.importance and previous.importance
                else NAN
            )
            fold_phi, fold_low, fold_high = (
                _fold_values(folds.get(target)) if method == CONSENSUS else (NAN, NAN, NAN)
            )
            context = f"target {target} ({method})"
            messages = stability_warnings(
                nogueira=estimate if len(views) >= 2 else None,
                jaccard=jaccard_prev,
                kendall=kendall_prev,
                thresholds=th,
                context=context + f" over {len(views)} runs",
            )
            if not math.isnan(fold_phi) and fold_phi < th.nogueira_warn:
                messages.append(
                    f"{context}: feature selection is unstable across folds: Nogueira Phi = "
                    f"{fold_phi:.3f} (95% CI {fold_low:.3f} to {fold_high:.3f}), below "
                    f"{th.nogueira_warn:g}"
                )
            most, least = _stable_extremes(views, universe)
            report.append(
                {
                    "target": target,
                    "method": method,
                    "n_runs": len(views),
                    "nogueira": estimate.phi,
                    "nogueira_ci_low": estimate.ci_low,
                    "nogueira_ci_high": estimate.ci_high,
                    "jaccard_prev": jaccard_prev,
                    "jaccard_mean": mean_pairwise_jaccard([v.ranking for v in views], k),
                    "kendall_prev": kendall_prev,
                    "kendall_mean": _kendall_mean(views),
                    "fold_phi": fold_phi,
                    "fold_phi_ci_low": fold_low,
                    "fold_phi_ci_high": fold_high,
                    "most_stable": most,
                    "least_stable": least,
                    "status": "warn" if messages else "ok",
                    "message": "; ".join(messages),
                }
            )
            seen = sorted({f for v in views for f in v.ranking})
            for feature in seen:
                count = sum(feature in v.selected for v in views)
                frequency.append(
                    {
                        "target": target,
                        "method": method,
                        "feature": feature,
                        "selection_frequency": count / len(views),
                        "n_runs": len(views),
                    }
                )
    report_frame = pl.DataFrame(report, schema=REPORT_SCHEMA).sort(["target", "method"])
    frequency_frame = pl.DataFrame(frequency, schema=FREQUENCY_SCHEMA).sort(
        ["target", "method", "selection_frequency", "feature"],
        descending=[False, False, True, False],
    )
    return report_frame, frequency_frame
