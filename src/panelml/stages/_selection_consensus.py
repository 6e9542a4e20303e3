"""From raw importances to a selection: normalisation, shadow hits, consensus,
redundancy pruning, per-fold selections and their stability.

Rules (documented for users in :mod:`panelml.stages.feature_selection`):

* Normalisation: each (kind, fold) vector over the allowed features has its
  negatives clipped to 0 (a negative permutation importance is no evidence)
  and is divided by its sum, so it sums to 1 (all zeros stay zeros). Sum
  normalisation keeps magnitudes: a feature with 60% of the gain counts more
  than the top of a flat profile, and the many near-zero noise features stay
  near zero. Rank normalisation would spread noise features evenly over the
  scale and dilute the consensus.
* Consensus score: weighted mean over (kind, fold) of the normalised values,
  weights from the config.
* Hit (Boruta): in a (kind, fold) a feature scores a hit when its raw
  importance is strictly above the ``shadow_quantile`` quantile (default 1.0 =
  the maximum) of the shadow importances of that same (kind, fold).
* Eligibility: the weighted hit rate ``sum w_k hit_kf / (F sum w_k)`` is at
  least ``min_hit_rate``. Under the null a feature is exchangeable with its S
  shadows, so it beats their maximum with probability about 1/(S+1), far below
  any sensible threshold. A rate rather than Boruta's binomial test against
  p = 0.5: a feature that only trees can use (a square or an interaction term)
  misses every linear and univariate judgement, so with a few folds no
  binomial test over all judgements can pass it, while the weighted rate passes
  it when every tree judgement sees it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from panelml.stability import nogueira_stability, selection_matrix

FloatArray = npt.NDArray[np.float64]


def normalise(values: FloatArray) -> FloatArray:
    """Negatives clipped to 0, then divided by the sum along the last axis."""
    clipped = np.clip(np.nan_to_num(values, nan=0.0), 0.0, None)
    total = clipped.sum(axis=-1, keepdims=True)
    safe = np.where(total > 0, total, 1.0)
    out: FloatArray = np.where(total > 0, clipped / safe, 0.0)
    return out


@dataclass(frozen=True)
class Consensus:
    """Per-feature scores over allowed features (arrays of length A)."""

    score: FloatArray  # consensus over (kind, fold)
    fold_score: FloatArray  # (F, A)
    hits: FloatArray  # unweighted hit count over (kind, fold)
    hit_rate: FloatArray  # weighted
    fold_hit_rate: FloatArray  # (F, A) weighted over kinds
    per_kind: dict[str, FloatArray]  # kind label -> fold-mean normalised importance
    n_trials: int


def consensus(
    raw: Mapping[str, FloatArray],
    weights: Mapping[str, float],
    n_real: int,
    shadow_quantile: float,
) -> Consensus:
    """Combine raw (F, 2A) importances per kind label into a :class:`Consensus`."""
    labels = list(raw)
    n_folds = next(iter(raw.values())).shape[0]
    total_w = sum(weights[k] for k in labels) or 1.0
    fold_score = np.zeros((n_folds, n_real))
    fold_hits = np.zeros((n_folds, n_real))
    hits = np.zeros(n_real)
    per_kind: dict[str, FloatArray] = {}
    for label in labels:
        values = np.nan_to_num(raw[label], nan=0.0)
        real, shadow = values[:, :n_real], values[:, n_real:]
        norm = normalise(real)
        per_kind[label] = norm.mean(axis=0)
        fold_score += weights[label] * norm
        has_shadows = shadow.shape[1] > 0
        bar = np.quantile(shadow, shadow_quantile, axis=1) if has_shadows else np.zeros(n_folds)
        hit = real > bar[:, None]
        hits += hit.sum(axis=0)
        fold_hits += weights[label] * hit
    fold_score /= total_w
    fold_hit_rate = fold_hits / total_w
    return Consensus(
        score=fold_score.mean(axis=0),
        fold_score=fold_score,
        hits=hits,
        hit_rate=fold_hit_rate.mean(axis=0),
        fold_hit_rate=fold_hit_rate,
        per_kind=per_kind,
        n_trials=len(labels) * n_folds,
    )


def rank_correlation(X: npt.NDArray[np.float32]) -> FloatArray:
    """Pooled Spearman correlation matrix of the columns of ``X`` (NaN imputed with
    the mean rank; constant columns correlate 0 with everything)."""
    n, d = X.shape
    if d == 0:
        return np.zeros((0, 0))
    R = np.empty((n, d))
    for j in range(d):
        col = X[:, j].astype(np.float64)
        ok = np.isfinite(col)
        r = np.full(n, np.nan)
        r[ok] = stats.rankdata(col[ok])
        r[~ok] = np.nanmean(r) if ok.any() else 0.0
        R[:, j] = r
    R -= R.mean(axis=0)
    norms = np.sqrt((R * R).sum(axis=0))
    norms[norms == 0] = np.inf
    R /= norms
    corr: FloatArray = R.T @ R
    return corr


def choose(
    names: Sequence[str],
    score: FloatArray,
    eligible: npt.NDArray[np.bool_],
    top_n: int,
    corr: FloatArray | None,
    threshold: float | None,
) -> tuple[list[int], dict[int, str]]:
    """Greedy selection in (score desc, name) order: eligible, not redundant with
    an already kept feature, at most ``top_n``. Returns (kept, reasons of others)."""
    order = sorted(range(len(names)), key=lambda i: (-score[i], names[i]))
    kept: list[int] = []
    reasons: dict[int, str] = {}
    for i in order:
        if not eligible[i]:
            continue
        if len(kept) >= top_n:
            reasons[i] = "below_top_n"
            continue
        if corr is not None and threshold is not None and kept:
            row = np.abs(corr[i, kept])
            worst = int(np.argmax(row))
            if row[worst] > threshold:
                reasons[i] = f"redundant with {names[kept[worst]]}"
                continue
        kept.append(i)
    return kept, reasons


def stability_record(
    selections: Sequence[Sequence[str]], universe: Sequence[str]
) -> dict[str, Any]:
    """Nogueira et al. (2018) stability of fold-wise selections as a JSON-ready dict:
    phi, variance, ci_low, ci_high, n_selections, n_features, mean_size, reason."""
    Z, _ = selection_matrix(selections, universe)
    est = nogueira_stability(Z)
    return {
        "phi": est.phi,
        "variance": est.variance,
        "ci_low": est.ci_low,
        "ci_high": est.ci_high,
        "n_selections": est.n_selections,
        "n_features": est.n_features,
        "mean_size": est.mean_size,
        "reason": est.reason,
    }
