"""From raw importances to a selection: normalisation, shadow hits, consensus,
redundancy pruning, per-fold selections and their stability.

Rules (documented for users in :mod:`panelml.stages.selection`):

* Normalisation: each (kind, fold) vector over the allowed features has its
  negatives clipped to 0 (a negative permutation importance is no evidence)
  and is divided by its sum, so it sums to 1 (all zeros stay zeros). Sum
  normalisation keeps magnitudes: a feature with 60% of the gain counts more
  than the top of a flat profile, and the many near-zero noise features stay
  near zero. Rank normalisation would spread noise features evenly over the
  scale and dilute the consensus.
* Consensus score: weighted mean over (kind, fold) of the normalised values,
  weights from the config.
* Consensus hit (Boruta on the consensus): the shadows are scored on the same
  scale as the real features. For each (kind, fold) the raw vector over *all*
  columns (real and shadow) is clipped and sum-normalised, and the voting
  kinds are averaged with their weights into a per-fold vote score for every
  real and every shadow column. A feature scores a hit in fold f when its vote
  score is strictly above the ``shadow_quantile`` quantile (default 1.0 = the
  maximum) of the shadows' vote scores in fold f.
* Voting kinds: every configured kind except those in ``vote_exclude``
  (default ``univariate_rank_ic``). The marginal rank IC is confounded by
  correlated features: a noise feature that shares a factor with a signal
  feature borrows part of its IC (about ``rho`` times it) and beats the
  shadows in every fold, so it must not make a feature eligible on its own; it
  still enters the ranking consensus. The multivariate kinds (tree gain and
  permutation, ridge, partial rank IC) credit the signal feature, not its
  neighbour.
* Eligibility: the consensus hit rate ``hits / F`` (F folds) is at least
  ``min_hit_rate`` (default 0.6, three of five folds). Null calibration: a
  feature with no information is exchangeable with the S shadows (each a copy
  of a real feature with its link to the target broken by a within-timestamp
  shuffle that keeps its persistence), so its vote score exceeds the maximum
  of the S shadow vote scores in a fold with probability at most about
  1/(S+1); with independent folds P(>= 3 of 5) <= C(5,3)/(S+1)^3 (about
  1e-3 for S = 20), a Boruta-style binomial tail. Folds share most of their
  training rows, so hits are positively correlated and the true tail is
  larger; the rule was checked empirically on planted panels (the stage's
  tests). Voting on the consensus rather than on each kind separately lets
  a feature that only some kinds can see (a square or interaction term seen
  by trees only, a linear term blurred in trees) win with a large share in
  those kinds, while shadows get a small share in every kind.
* Solo vote (``solo``, default the interaction kind ``univariate_pairwise_rank_ic``):
  a kind that sees effects no other kind can (a pure product x_i * x_j has
  no marginal rank IC, no additive partial rank IC and almost no greedy split
  gain) is outvoted in the average even when it is sure, because every other
  kind gives its factors about the shadows' share. Such a kind is left out of
  the averaged vote (``vote_exclude``) and may make a feature eligible on its
  own: when its raw score beats that kind's best shadow in a share of the
  folds of at least ``solo_min_hit_rate`` (default 0.8: 4 of 5). Multiplicity: a feature now has
  two ways in. Under the same exchangeability argument the solo route adds
  at most C(5,4)/(S+1)^4 + 1/(S+1)^5 per solo kind (about 3e-5 for S = 20),
  so the stricter count (4 of 5 instead of 3 of 5) keeps the combined
  per-feature null rate at the level of the consensus rule alone; with
  several solo kinds the union of their fold hits is counted, so add one
  such term per kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.data.matrix import FeatureMatrix, rows_of
from panelml.stability import nogueira_stability, selection_matrix
from panelml.validation.ranks import average_ranks

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
    hits: FloatArray  # folds in which the vote score beat the shadow bar
    hit_rate: FloatArray  # hits / F
    fold_hit_rate: FloatArray  # (F, A) 0/1: hit in that fold
    per_kind: dict[str, FloatArray]  # kind label -> fold-mean normalised importance
    kind_hit_rate: dict[str, FloatArray]  # kind label -> share of folds beating that kind's bar
    n_trials: int  # F
    solo_fold_hit: FloatArray | None = None  # (F, A) 0/1: some solo kind beat its bar
    solo_hits: FloatArray | None = None  # folds in which the solo kind(s) hit

    def eligible(self, min_hit_rate: float, solo_min_hit_rate: float) -> npt.NDArray[np.bool_]:
        """Consensus hit rate >= ``min_hit_rate``, or a solo kind's hit rate >=
        ``solo_min_hit_rate`` (see the module docstring)."""
        out: npt.NDArray[np.bool_] = self.hit_rate >= min_hit_rate - 1e-12
        if self.solo_hits is not None:
            rate = self.solo_hits / max(1, self.n_trials)
            out = out | (rate >= solo_min_hit_rate - 1e-12)
        return out

    def fold_eligible(self, fold: int, min_hit_rate: float) -> npt.NDArray[np.bool_]:
        """Eligibility with fold ``fold``'s own hits only (for the stability record)."""
        out: npt.NDArray[np.bool_] = self.fold_hit_rate[fold] >= min_hit_rate - 1e-12
        if self.solo_fold_hit is not None:
            out = out | (self.solo_fold_hit[fold] > 0)
        return out


def consensus(
    raw: Mapping[str, FloatArray],
    weights: Mapping[str, float],
    n_real: int,
    shadow_quantile: float,
    vote_exclude: Sequence[str] = (),
    solo: Sequence[str] = (),
) -> Consensus:
    """Combine raw (F, n_real + S) importances per kind label into a :class:`Consensus`
    (the module docstring states the rules)."""
    labels = list(raw)
    n_folds = next(iter(raw.values())).shape[0]
    total_w = sum(weights[k] for k in labels) or 1.0
    voters = [k for k in labels if k not in set(vote_exclude) and weights[k] > 0] or labels
    vote_w = sum(weights[k] for k in voters) or 1.0
    fold_score = np.zeros((n_folds, n_real))
    vote: FloatArray | None = None
    per_kind: dict[str, FloatArray] = {}
    kind_hit_rate: dict[str, FloatArray] = {}
    solo_hit: npt.NDArray[np.bool_] | None = None
    for label in labels:
        values = np.nan_to_num(raw[label], nan=0.0)
        real, shadow = values[:, :n_real], values[:, n_real:]
        norm = normalise(real)
        per_kind[label] = norm.mean(axis=0)
        fold_score += weights[label] * norm
        kind_hit = real > _bar(shadow, shadow_quantile)[:, None]
        kind_hit_rate[label] = kind_hit.mean(axis=0)
        if label in solo:
            solo_hit = kind_hit if solo_hit is None else solo_hit | kind_hit
        if label in voters:
            part = weights[label] * normalise(values)
            vote = part if vote is None else vote + part
    fold_score /= total_w
    assert vote is not None
    vote /= vote_w
    hit = vote[:, :n_real] > _bar(vote[:, n_real:], shadow_quantile)[:, None]
    hits = hit.sum(axis=0).astype(np.float64)
    return Consensus(
        score=fold_score.mean(axis=0),
        fold_score=fold_score,
        hits=hits,
        hit_rate=hits / max(1, n_folds),
        fold_hit_rate=hit.astype(np.float64),
        per_kind=per_kind,
        kind_hit_rate=kind_hit_rate,
        n_trials=n_folds,
        solo_fold_hit=None if solo_hit is None else solo_hit.astype(np.float64),
        solo_hits=None if solo_hit is None else solo_hit.sum(axis=0).astype(np.float64),
    )


def _bar(shadow: FloatArray, quantile: float) -> FloatArray:
    """Per-fold ``quantile`` of the shadow columns (0 without shadows)."""
    if shadow.shape[1] == 0:
        return np.zeros(shadow.shape[0])
    out: FloatArray = np.quantile(shadow, quantile, axis=1)
    return out


_RANK_GROUP_CELLS = 250_000
"""Cells of the columns :func:`rank_correlation` ranks per call (2 MB in float64)."""


def rank_correlation(X: npt.NDArray[np.float32]) -> FloatArray:
    """Pooled Spearman correlation matrix of the columns of ``X`` (NaN imputed with
    the mean rank; constant columns correlate 0 with everything)."""
    d = X.shape[1]
    if d == 0:
        return np.zeros((0, 0))
    # a group of columns ranked per call (scipy's average ranks, exactly; groups
    # keep the sort's temporaries small), a column's missing values then take
    # its mean rank
    n = X.shape[0]
    R = np.empty((n, d))
    step = max(1, _RANK_GROUP_CELLS // max(1, n))
    for lo in range(0, d, step):
        columns = np.asarray(X[:, lo : lo + step], dtype=np.float64).T
        ranks, counts = average_ranks(np.where(np.isfinite(columns), columns, np.nan))
        fill = np.nanmean(np.where(counts[:, None] > 0, ranks, 0.0), axis=1)
        R[:, lo : lo + step] = np.where(np.isnan(ranks), fill[:, None], ranks).T
    R -= R.mean(axis=0)
    norms = np.sqrt((R * R).sum(axis=0))
    norms[norms == 0] = np.inf
    R /= norms
    corr: FloatArray = R.T @ R
    return corr


def sampled_rank_correlation(
    X: FeatureMatrix,
    n_columns: int,
    rows: npt.NDArray[np.int64],
    max_rows: int,
    rng: np.random.Generator,
) -> FloatArray:
    """:func:`rank_correlation` of ``X``'s first ``n_columns`` columns over
    ``rows``, or over ``max_rows`` of them drawn without replacement by ``rng``
    (in row order) when there are more."""
    sample = rows
    if rows.size > max_rows:
        sample = np.sort(rng.choice(rows, size=max_rows, replace=False))
    return rank_correlation(rows_of(X, sample, n_columns))


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
