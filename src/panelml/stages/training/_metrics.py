"""Scoring out-of-fold predictions for the training stage, and the rank-average ensemble.

Every score here is computed on out-of-sample rows only (the stage passes the
test rows of a fold, or all out-of-fold rows for the summary). The per-timestamp
rank IC, ICIR and Newey-West t (``t_stat_nw``, descriptive, lag = horizon - 1)
follow the Qlib SigAnaRecord convention as implemented in
:mod:`panelml.validation.metrics`. ``t_stat`` and ``p_value`` (one-sided, H1:
mean IC > 0) come from :func:`panelml.validation.significance.ic_significance`,
the test target ranking uses: the summary row (fold -1) is tested for the run's
validation scheme, so it reports the same t and p as the ranking for the same
IC series; a fold's row is one test block scored by a model that never saw its
labels (``single_split``). Pooled scores come from
:mod:`panelml.validation.pooled`.

The ensemble is the mean, over model families, of each family's cross-sectional
percentile rank (average rank of ties divided by the number of names at that
timestamp). It is a score, not a prediction in target units, so only
rank-based measures are defined for it: rank IC, ICIR, t, t_stat_nw and (binary)
AUC; ``r2``, ``log_loss`` and ``hit_rate`` are NaN for the ensemble rather than
numbers that would look meaningful and are not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.validation.metrics import ic_series, ic_summary
from panelml.validation.pooled import auc, hit_rate, log_loss, r2
from panelml.validation.significance import Scheme, ic_significance

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

METRIC_COLUMNS: tuple[str, ...] = (
    "ic_mean",
    "icir",
    "t_stat",
    "t_stat_nw",
    "r2",
    "auc",
    "log_loss",
    "hit_rate",
)
"""The score columns of the ``metrics`` table, in contract order."""

SIGNIFICANCE_COLUMNS: tuple[str, ...] = ("p_value",)
"""Columns after the contract columns: the one-sided p-value of ``t_stat``."""


def score(
    pred: FloatArray,
    y: FloatArray,
    timestamps: npt.ArrayLike,
    *,
    kind: str,
    horizon: int,
    min_names: int,
    scheme: Scheme,
    families: Sequence[str],
    is_ensemble: bool = False,
) -> dict[str, float]:
    """Out-of-sample scores of ``pred`` against ``y`` (rows aligned, NaN pairs dropped).

    Regression: ``r2``; binary: ``auc`` and ``log_loss`` (predictions are
    probabilities). ``hit_rate`` is the share of rows whose predicted direction
    matches the outcome: sign(pred) vs sign(y) for regression (zeros ignored),
    (p > 0.5) vs (y = 1) for binary. See the module docstring for the ensemble
    and for ``scheme`` (the validation scheme for the summary over all folds,
    ``single_split`` for one fold's test rows); ``families`` are the families
    behind ``pred`` (one, or all of them for the ensemble).
    """
    keep = np.isfinite(pred) & np.isfinite(y)
    p, t = pred[keep], y[keep]
    ts = np.asarray(timestamps)[keep]
    out = dict.fromkeys((*METRIC_COLUMNS, *SIGNIFICANCE_COLUMNS), math.nan)
    if p.size == 0:
        return out
    series = ic_series(p, t, ts, method="rank", min_names=min_names)
    summary = ic_summary(series, horizon)
    test = ic_significance(series.values, horizon, scheme=scheme, families=families)
    out.update(
        ic_mean=summary.mean,
        icir=summary.icir,
        t_stat=test.t_stat,
        t_stat_nw=summary.t_stat_nw,
        p_value=test.p_value,
    )
    if kind == "binary":
        out["auc"] = auc(t, p)
        if not is_ensemble:
            out["log_loss"] = log_loss(t, p)
            out["hit_rate"] = hit_rate(2.0 * t - 1.0, p - 0.5)
    elif not is_ensemble:
        out["r2"] = r2(t, p)
        out["hit_rate"] = hit_rate(t, p)
    return out


def median_iteration(values: Sequence[int | None]) -> int | None:
    """The median (rounded half up, at least 1) of the known best iterations, or None."""
    known = [int(v) for v in values if v is not None]
    if not known:
        return None
    return max(1, math.floor(float(np.median(known)) + 0.5))


def summary_row(row: Mapping[str, Any]) -> list[Any]:
    """A terminal-table row: target, family, IC, ICIR, t, R2/AUC, hit rate, best iter."""
    fit = row["auc"] if row["auc"] is not None and not _nan(row["auc"]) else row["r2"]
    best = row["best_iteration"]
    return [
        row["target"],
        row["family"],
        row["ic_mean"],
        row["icir"],
        row["t_stat"],
        fit,
        row["hit_rate"],
        "-" if best is None else int(best),
    ]


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
