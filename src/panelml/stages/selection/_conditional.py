"""Conditional relevance for feature selection: a forward step after the shadow vote.

Why: the shadow vote (:mod:`panelml.stages.selection._consensus`) asks whether a
feature's share of the importance beats the shadows'. A feature whose own
information is mostly shared with stronger selected features - a 1-bar trailing
volatility next to the 5-, 20- and 60-bar ones - gets a small share in every
kind, although what it adds *given* them is real. Asking "is it marginally
related to the target, and does it still predict the part of the target the
selected features leave unexplained, out of fold?" finds it, and asking both
keeps pure-noise targets empty.

Method, for one target, after the vote has chosen the set ``S``
(all on the target's :class:`~panelml.stages.selection._rank_block.RankBlock`:
cross-sectional standardised ranks z of the target and of every column, and
z**2 - 1; shadows are the vote's own shadow columns, one per allowed feature,
each keeping its source's persistence):

1. **Marginal relevance.** For every column the per-timestamp rank IC series
   of z and of z**2 - 1 with the target's ranks is tested with
   :func:`panelml.validation.significance.ic_significance` (the project's one
   IC test: overlapping labels through the horizon; no fold factor, nothing is
   fitted: ``single_split``), two-sided, the smaller p doubled (Bonferroni
   over the two shapes). A candidate (an allowed feature the vote did not make
   eligible, not redundant with a chosen one) passes when it is rejected by
   Benjamini-Hochberg at ``fdr`` over the candidates *and* its |t| is above
   every shadow's. The second condition is the measured calibration: the
   test assumes the IC series forgets within h bars, which fails when both the
   feature and the target are persistent (a spurious, slowly moving
   cross-sectional correlation); measured on the hard panel, 2-3.5% of the
   shadows had p < 0.001. Shadows carry the same persistence, so their best
   |t| is the bar such a feature must clear.
2. **Conditional relevance, out of fold.** In every fold, on its training
   rows, the target's ranks and each column's (z, z**2 - 1) are regressed on
   the conditioning design of ``S`` - each chosen feature's z, z**2 - 1 and
   z**3 - 3z, and the pairwise products of the first ten - so what ``S``
   explains, smooth nonlinear and product effects included, is taken out of
   both (Frisch-Waugh); without the richer design a noise feature correlated
   with a chosen square or product term would be credited with the part of
   it a linear-plus-square fit leaves over. The residual target on the
   column's two residuals gives the column's partial coefficients. On the
   fold's test rows that fitted partial contribution is correlated, timestamp
   by timestamp, with the residual target (the out-of-fold partial IC).
   Every column's out-of-fold series is tested with ``ic_significance`` under
   the run's validation scheme (one-sided: the sign was fitted on other rows;
   K-fold factor 2, exact for linear learners), and each fold's mean is
   standardised by the column's own long-run spread, so persistent and
   non-persistent columns are on one scale. A candidate *hits* a fold when its
   standardised fold mean beats every shadow's.
3. **Forward step.** Candidates that passed step 1, hit at least
   ``min_hit_rate`` of the folds (default 0.8: 4 of 5) and whose conditional
   p passes Benjamini-Hochberg at ``fdr`` are eligible; the one with the most
   hits (then the largest t) joins ``S`` and step 2 is repeated for the rest,
   until none is eligible or ``top_n`` is reached.

Why both tests: on a pure-noise target nothing is marginally related, so step
1 keeps it empty whatever step 2 does (an earlier rule that let a partial
rank IC vote alone selected persistent noise features on noise targets).
Step 2 keeps out features that only borrow a chosen feature's marginal IC
through a shared factor: given that feature, they add nothing.

Null calibration. Under exchangeability with the S shadows a null candidate
hits a fold with probability at most 1/(S+1); the test blocks are disjoint,
so 4 of 5 folds has probability about C(5,4)/(S+1)^4 + 1/(S+1)^5 (3e-5 for
S = 20), the same bound as the solo vote's
(:mod:`panelml.stages.selection._consensus`), which this step's fold count
follows: it is a third way in, so it must not loosen the per-feature null
rate of the vote. Chance correlations that persist through the whole sample
are not removed by the out-of-fold scoring (a lucky noise feature can hit 3
of 5 folds; measured on one hard-panel seed), which is why the count is 4,
not the vote's 3. Measured false-addition rates on null features, over
seeds and two generator designs, are in ``bench/README.md``
(``bench/conditional_null.py``, ``bench/selection_recall.py``).

Computation. The sums behind steps 1 and 2 - every one a sum over the rows of
one timestamp, read in place segment by segment - are
:mod:`panelml.stages.selection._conditional_sums`: one pass per target for
what does not depend on ``S`` (the marginal ICs among it), two per forward step
for the out-of-fold partial IC series, about rows x (design width) x 3 x
(scored columns) multiply-adds. This module tests those series and decides:
every column's tests run in one vectorised
:func:`~panelml.validation.significance.ic_significance_many` call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.stages.fitting import Fold
from panelml.stages.selection._conditional_sums import (
    Segments,
    StoredDesign,
    partial_series,
    segments,
)
from panelml.stages.selection._rank_block import RankBlock
from panelml.validation.multiple_testing import reject
from panelml.validation.significance import Scheme, ic_significance_many

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
RankArray = npt.NDArray[np.floating[Any]]  # the block's Z: float64 or float32


@dataclass(frozen=True)
class Addition:
    """A feature added by the conditional step, with its evidence."""

    column: int  # index among the allowed features
    marginal_p: float  # two-sided marginal p (two shapes, Bonferroni), BH-tested
    partial_ic: float  # mean out-of-fold partial IC given the features chosen before it
    partial_p: float  # its one-sided p (ic_significance under the run's scheme)
    hits: int  # folds in which its standardised partial IC beat every shadow's
    n_folds: int


def conditional_additions(
    block: RankBlock,
    timestamps: IntArray,
    folds: Sequence[Fold],
    n_real: int,
    chosen: Sequence[int],
    candidates: BoolArray,
    *,
    horizon: int,
    scheme: Scheme,
    fdr: float,
    min_hit_rate: float,
    min_names: int,
    max_additions: int,
) -> list[Addition]:
    """The features the forward step adds to ``chosen`` (module docstring).

    ``block`` holds the ``n_real`` allowed features then their shadows (its
    ``z`` float64 or float32; it is read, never copied whole);
    ``timestamps`` are the timestamp codes of ``block.rows``; ``candidates``
    (length ``n_real``) marks the features that may be added.
    """
    n_cols = block.n_columns
    if n_real == 0 or max_additions <= 0 or not candidates.any() or not folds:
        return []
    if block.target.size == 0:
        return []
    fold_masks = [
        (np.isin(block.rows, f.train, assume_unique=True),
         np.isin(block.rows, f.test, assume_unique=True))
        for f in folds
    ]  # fmt: skip
    seg = segments(block, block.target, timestamps, fold_masks)
    per_t_sums = np.add.reduceat(seg.sum_dy, seg.ts_first, axis=0)
    marginal, marginal_t = _marginal(per_t_sums, seg.ts_count, n_cols, horizon, min_names)
    idx = np.flatnonzero(candidates[:n_real])
    shadow_bar = float(marginal_t[n_real:].max()) if n_cols > n_real else np.inf
    passed = reject(marginal[idx], fdr, method="bh") & (marginal_t[idx] > shadow_bar)
    remaining = [int(c) for c in idx[passed]]
    if not remaining:
        return []
    need = int(np.ceil(min_hit_rate * len(folds) - 1e-9))
    shadows = list(range(n_real, n_cols))
    selected = list(chosen)
    out: list[Addition] = []
    while remaining and len(out) < max_additions:
        scored = np.array(remaining + shadows, dtype=np.int64)
        fit = _partial(seg, selected, scored, horizon, scheme, min_names)
        k = len(remaining)
        hits = fit.hits(k)
        ok = (hits >= need) & reject(fit.p[:k], fdr, method="bh")
        if not ok.any():
            break
        best = max(np.flatnonzero(ok), key=lambda j: (hits[j], fit.t[j]))
        column = remaining.pop(int(best))
        out.append(
            Addition(column, float(marginal[column]), float(fit.mean[best]),
                     float(fit.p[best]), int(hits[best]), len(folds))
        )  # fmt: skip
        selected.append(column)
    return out


def marginal_p(
    Z: RankArray,
    y: FloatArray,
    starts: IntArray,
    counts: IntArray,
    n_cols: int,
    horizon: int,
    min_names: int,
) -> tuple[FloatArray, FloatArray]:
    """(p, |t|) of every column's marginal test (rows sorted by timestamp): the
    two-sided p of the smaller of its z and z**2 - 1 rank IC tests, doubled,
    and the larger |t|. The per-timestamp mean of z_c * z_y is the Spearman IC
    when nothing is missing (both standardised with ddof 0)."""
    ends = np.r_[starts[1:], y.size]
    sums = np.array(
        [y[a:b] @ np.asarray(Z[a:b], dtype=np.float64) for a, b in zip(starts, ends, strict=True)]
    ).reshape(starts.size, Z.shape[1])
    return _marginal(sums, counts, n_cols, horizon, min_names)


def _marginal(
    sums: FloatArray, counts: IntArray | FloatArray, n_cols: int, horizon: int, min_names: int
) -> tuple[FloatArray, FloatArray]:
    """:func:`marginal_p` from the per-timestamp sums of z * z_y (timestamps x 2 n_cols):
    every column's two tests in one vectorised ``ic_significance_many`` call."""
    keep = np.asarray(counts) >= min_names
    per_t = sums[keep] / np.asarray(counts, dtype=np.float64)[keep, None]
    tests = ic_significance_many(per_t, horizon, scheme="single_split")
    t, p = tests.t_stat, tests.p_value
    finite = np.isfinite(t)
    t_abs = np.where(finite, np.abs(np.where(finite, t, 0.0)), 0.0)
    p_ok = np.isfinite(p)
    p_safe = np.where(p_ok, p, 0.5)
    two_sided = np.where(p_ok, np.minimum(1.0, 2.0 * np.minimum(p_safe, 1.0 - p_safe)), 1.0)
    p_out = np.minimum(1.0, 2.0 * np.minimum(two_sided[:n_cols], two_sided[n_cols:]))
    t_out = np.maximum(t_abs[:n_cols], t_abs[n_cols:])
    return p_out, t_out


@dataclass(frozen=True)
class PartialFit:
    """Out-of-fold partial ICs of the scored columns (real candidates first)."""

    mean: FloatArray  # (k,) mean of the out-of-fold series
    t: FloatArray  # (k,) ic_significance t under the run's scheme
    p: FloatArray  # (k,) its one-sided p
    fold_z: FloatArray  # (folds, k) fold mean / its standard error

    def hits(self, n_candidates: int) -> IntArray:
        """Folds in which each candidate's ``fold_z`` beats every shadow's."""
        z = np.nan_to_num(self.fold_z, nan=-np.inf)
        if z.shape[1] == n_candidates:  # no shadows: no bar to beat, no evidence
            return np.zeros(n_candidates, dtype=np.int64)
        bar = z[:, n_candidates:].max(axis=1, keepdims=True)
        out: IntArray = (z[:, :n_candidates] > bar).sum(axis=0).astype(np.int64)
        return out


def partial_oof(
    Z: RankArray,
    y: FloatArray,
    starts: IntArray,
    counts: IntArray,
    fold_masks: Sequence[tuple[BoolArray, BoolArray]],
    selected: Sequence[int],
    scored: IntArray,
    horizon: int,
    scheme: Scheme,
    min_names: int,
    ridge: float = 1e-3,
) -> PartialFit:
    """The out-of-fold partial IC of every column in ``scored`` given the
    features ``selected`` (module docstring, step 2; rows sorted by timestamp).
    :func:`conditional_additions` builds the segment sums once and reuses them
    for every forward step; this entry point builds them for one call."""
    timestamps = np.repeat(np.arange(starts.size, dtype=np.int64), counts)
    seg = segments(StoredDesign(Z), y, timestamps, fold_masks)
    return _partial(seg, selected, scored, horizon, scheme, min_names, ridge)


def _partial(
    seg: Segments,
    selected: Sequence[int],
    scored: IntArray,
    horizon: int,
    scheme: Scheme,
    min_names: int,
    ridge: float = 1e-3,
) -> PartialFit:
    """:func:`partial_oof` on prepared segments: each column's out-of-fold
    series (:func:`~panelml.stages.selection._conditional_sums.partial_series`)
    pooled over the folds and tested under ``scheme``, and each fold's mean
    standardised by the column's long-run spread (module docstring, step 2)."""
    series, active = partial_series(seg, selected, scored, min_names, ridge)
    n_folds, n_ts, k = series.shape
    pooled = np.full((n_ts, k), np.nan)
    for f in np.flatnonzero(active):
        # a timestamp tested by several folds (cpcv) enters the pooled series once
        pooled = np.where(np.isnan(pooled), series[f], pooled)
    tests = ic_significance_many(pooled, horizon, scheme=scheme)
    mean, t_stat, p, spread = tests.mean, tests.t_stat, tests.p_value, tests.long_run_variance
    defined = np.isfinite(t_stat)
    fold_z = np.full((n_folds, k), np.nan)
    usable = defined & (spread > 0)
    known = np.isfinite(series)
    n_known = known.sum(axis=1)
    fold_mean = np.where(known, series, 0.0).sum(axis=1) / np.where(n_known > 0, n_known, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = fold_mean / np.sqrt(spread[None, :] / n_known)
    take = active[:, None] & usable[None, :] & (n_known > 0)
    fold_z[take] = z[take]
    return PartialFit(
        np.where(defined, mean, 0.0),
        np.where(defined, t_stat, 0.0),
        np.where(defined, p, 1.0),
        fold_z,
    )
