"""Scores of the ``target_ranking`` stage, computed from out-of-fold predictions.

Kept apart from the stage so the statistics can be read (and tested) alone:

- :func:`cross_sectional_ranks`: each prediction turned into its percentile
  rank within its timestamp, the common scale on which families are averaged;
- :func:`score_target`: per-family and consensus rank IC statistics, pooled
  R2 / AUC and the per-symbol breakdown of one target;
- :func:`gain_shares`: how much of a tree family's split gain the top feature
  takes, averaged over folds (the feature-dominance leak signal).

Formulas: per-timestamp rank IC as in :mod:`panelml.validation.metrics` (Qlib
SigAnaRecord convention); its mean, s.e., t and one-sided p-value from
:func:`panelml.validation.significance.ic_significance`, the one IC test of
the project (overlapping labels and the validation scheme's cross-fold
correlation accounted for); see ``REFERENCES.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from panelml.stages.fitting import FoldFit
from panelml.validation.metrics import ic_series, per_symbol_ic
from panelml.validation.pooled import auc, r2
from panelml.validation.ranks import cross_sectional_ranks
from panelml.validation.significance import Scheme, ic_significance

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

Z_95 = 1.959963984540054
"""Two-sided 95% normal quantile used for the score's confidence interval."""


@dataclass(frozen=True)
class FamilyScore:
    """One family's rank-IC statistics on a target's OOF predictions."""

    ic: float
    icir: float
    t_stat: float
    auc: float


@dataclass
class TargetScore:
    """Everything the ranking table reports about one scored target."""

    score: float
    ci_low: float
    ci_high: float
    icir: float
    t_stat: float
    p_value: float
    r2: float
    auc: float
    n_periods: int
    positive_symbol_share: float
    families: dict[str, FamilyScore] = field(default_factory=dict)
    ic_timestamps: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ic_values: FloatArray = field(default_factory=lambda: np.zeros(0))
    symbol_codes: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    symbol_ic: FloatArray = field(default_factory=lambda: np.zeros(0))
    symbol_n_obs: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def score_target(
    *,
    predictions: Mapping[str, FloatArray],
    y: FloatArray,
    timestamps: IntArray,
    symbol_codes: npt.NDArray[np.int32],
    horizon: int,
    binary: bool,
    min_names: int,
    min_symbol_obs: int,
    scheme: Scheme = "purged_kfold",
) -> TargetScore:
    """Score one target from its families' OOF predictions on the same rows.

    The consensus prediction is the mean over families of their per-timestamp
    percentile ranks (:func:`cross_sectional_ranks`); the score is the mean
    per-timestamp rank IC of the consensus, its CI is score +- 1.96 s.e. and its
    t and p-value come from :func:`~panelml.validation.significance.ic_significance`
    for the validation ``scheme`` that made the OOF predictions (each family's
    t too, so they are comparable with the consensus').
    ``r2`` (regression) and ``auc`` (binary) are pooled over all rows on the
    mean of the families' raw predictions (same units: target values or
    probabilities). Rows where any family has no prediction are left out.
    """
    names = list(predictions)
    stacked = np.vstack([predictions[n] for n in names])
    keep = np.isfinite(stacked).all(axis=0) & np.isfinite(y)
    stacked, y, timestamps = stacked[:, keep], y[keep], timestamps[keep]
    symbol_codes = symbol_codes[keep]
    families: dict[str, FamilyScore] = {}
    ranks = np.empty_like(stacked)
    for i, name in enumerate(names):
        series = ic_series(stacked[i], y, timestamps, method="rank", min_names=min_names)
        test = ic_significance(series.values, horizon, scheme=scheme, families=[name])
        family_auc = auc(y, stacked[i]) if binary else math.nan
        families[name] = FamilyScore(test.mean, test.icir, test.t_stat, family_auc)
        ranks[i] = cross_sectional_ranks(stacked[i], timestamps)
    consensus = ranks.mean(axis=0)
    series = ic_series(consensus, y, timestamps, method="rank", min_names=min_names)
    test = ic_significance(series.values, horizon, scheme=scheme, families=names)
    mean_prediction = stacked.mean(axis=0)
    codes, values = per_symbol_ic(
        consensus, y, symbol_codes, method="rank", min_obs=max(min_symbol_obs, 2)
    )
    codes = np.asarray(codes, dtype=np.int64)
    n_obs = np.bincount(symbol_codes.astype(np.int64), minlength=int(codes.max(initial=-1)) + 1)
    positive = float(np.mean(values > 0)) if values.size else math.nan
    return TargetScore(
        score=test.mean,
        ci_low=test.mean - Z_95 * test.se,
        ci_high=test.mean + Z_95 * test.se,
        icir=test.icir,
        t_stat=test.t_stat,
        p_value=test.p_value,
        r2=math.nan if binary else r2(y, mean_prediction),
        auc=auc(y, mean_prediction) if binary else math.nan,
        n_periods=test.n_periods,
        positive_symbol_share=positive,
        families=families,
        ic_timestamps=np.asarray(series.timestamps, dtype=np.int64),
        ic_values=np.asarray(series.values, dtype=np.float64),
        symbol_codes=codes,
        symbol_ic=np.asarray(values, dtype=np.float64),
        symbol_n_obs=n_obs[codes].astype(np.int64),
    )


def gain_shares(fits: Sequence[FoldFit], n_features: int) -> FloatArray | None:
    """Mean over folds of each feature's share of the fold model's total gain.

    Folds whose model made no split (zero total gain) are left out; ``None``
    when no fold has any gain or the family has no ``gain`` importance.
    """
    shares: list[FloatArray] = []
    for fit in fits:
        if "gain" not in type(fit.model).importance_kinds:
            return None
        gain = np.asarray(fit.model.importance("gain"), dtype=np.float64)
        total = float(gain.sum())
        if gain.shape == (n_features,) and total > 0.0:
            shares.append(gain / total)
    if not shares:
        return None
    mean: FloatArray = np.vstack(shares).mean(axis=0)
    return mean
