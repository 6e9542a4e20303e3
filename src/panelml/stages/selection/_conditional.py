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
(all on the target's :class:`~panelml.stages.selection._importance.RankBlock`:
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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from panelml.stages.fitting import Fold
from panelml.stages.selection._importance import RankBlock
from panelml.validation.multiple_testing import reject
from panelml.validation.significance import Scheme, ic_significance, long_run_variance

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


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

    ``block`` holds the ``n_real`` allowed features then their shadows;
    ``timestamps`` are the timestamp codes of ``block.rows``; ``candidates``
    (length ``n_real``) marks the features that may be added.
    """
    n_cols = block.Z.shape[1] // 2
    if n_real == 0 or max_additions <= 0 or not candidates.any() or not folds:
        return []
    order = np.argsort(timestamps, kind="stable")
    ts = timestamps[order]
    Z, y, rows = block.Z[order], block.target[order], block.rows[order]
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    counts = np.diff(np.r_[starts, ts.size])
    marginal, marginal_t = marginal_p(Z, y, starts, counts, n_cols, horizon, min_names)
    idx = np.flatnonzero(candidates[:n_real])
    shadow_bar = float(marginal_t[n_real:].max()) if n_cols > n_real else np.inf
    passed = reject(marginal[idx], fdr, method="bh") & (marginal_t[idx] > shadow_bar)
    remaining = [int(c) for c in idx[passed]]
    if not remaining:
        return []
    fold_masks = [
        (np.isin(rows, f.train, assume_unique=True), np.isin(rows, f.test, assume_unique=True))
        for f in folds
    ]
    need = int(np.ceil(min_hit_rate * len(folds) - 1e-9))
    shadows = list(range(n_real, n_cols))
    selected = list(chosen)
    out: list[Addition] = []
    while remaining and len(out) < max_additions:
        scored = np.array(remaining + shadows, dtype=np.int64)
        fit = partial_oof(Z, y, starts, counts, fold_masks, selected, scored, horizon, scheme,
                          min_names)  # fmt: skip
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
    Z: FloatArray,
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
    per_t = _per_timestamp_mean(Z * y[:, None], starts, counts)[counts >= min_names]
    p_out, t_out = np.ones(n_cols), np.zeros(n_cols)
    for c in range(n_cols):
        tests = [ic_significance(per_t[:, j], horizon, scheme="single_split")
                 for j in (c, n_cols + c)]  # fmt: skip
        ts = [abs(x.t_stat) if np.isfinite(x.t_stat) else 0.0 for x in tests]
        ps = [_two_sided(x.p_value) for x in tests]
        p_out[c], t_out[c] = min(1.0, 2.0 * min(ps)), max(ts)
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
    Z: FloatArray,
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
    features ``selected`` (module docstring, step 2; rows sorted by timestamp)."""
    n_cols = Z.shape[1] // 2
    k = scored.size
    n_folds = len(fold_masks)
    pooled = np.full((starts.size, k), np.nan)
    per_fold: list[FloatArray | None] = []
    for train, test in fold_masks:
        if not train.any() or not test.any():
            per_fold.append(None)
            continue
        S_tr, S_te = _given(Z[train], selected, n_cols), _given(Z[test], selected, n_cols)
        D_tr = np.hstack([Z[train][:, scored], Z[train][:, n_cols + scored]])
        D_te = np.hstack([Z[test][:, scored], Z[test][:, n_cols + scored]])
        y_tr, y_te = y[train], y[test]
        if S_tr.shape[1]:
            gram = S_tr.T @ S_tr
            gram[np.diag_indices_from(gram)] += ridge * S_tr.shape[0]
            coef = np.linalg.solve(gram, S_tr.T @ np.column_stack([y_tr, D_tr]))
            y_tr, D_tr = y_tr - S_tr @ coef[:, 0], D_tr - S_tr @ coef[:, 1:]
            y_te, D_te = y_te - S_te @ coef[:, 0], D_te - S_te @ coef[:, 1:]
        wa, wb = _two_by_two(D_tr[:, :k], D_tr[:, k:], y_tr, ridge)
        pred = np.full((y.size, k), np.nan)
        resid = np.full(y.size, np.nan)
        pred[test] = D_te[:, :k] * wa + D_te[:, k:] * wb
        resid[test] = y_te
        series = _per_timestamp_corr(pred, resid, starts, min_names)
        per_fold.append(series)
        # a timestamp tested by several folds (cpcv) enters the pooled series once
        pooled = np.where(np.isnan(pooled), series, pooled)
    mean, t, p = np.zeros(k), np.zeros(k), np.ones(k)
    fold_z = np.full((n_folds, k), np.nan)
    for j in range(k):
        values = pooled[:, j]
        sig = ic_significance(values, horizon, scheme=scheme)
        if not np.isfinite(sig.t_stat):
            continue
        mean[j], t[j], p[j] = sig.mean, sig.t_stat, sig.p_value
        spread = long_run_variance(values, horizon)  # T * V: per-timestamp variance
        if not spread > 0:
            continue
        for f, fold_series in enumerate(per_fold):
            if fold_series is None:
                continue
            part = fold_series[:, j][np.isfinite(fold_series[:, j])]
            if part.size:
                fold_z[f, j] = part.mean() / np.sqrt(spread / part.size)
    return PartialFit(mean, t, p, fold_z)


MAX_PRODUCT_FEATURES = 10
"""Pairwise products of at most this many chosen features enter the conditioning."""


def _given(Z: FloatArray, selected: Sequence[int], n_cols: int) -> FloatArray:
    """The conditioning design of the chosen features: for each, its ranks z,
    z**2 - 1 and the third Hermite polynomial z**3 - 3z (so a smooth nonlinear
    effect of a chosen feature is not left to its correlated neighbours), and the
    pairwise products z_i * z_j of the first :data:`MAX_PRODUCT_FEATURES` (so a
    chosen product is not either)."""
    if not selected:
        return np.zeros((Z.shape[0], 0))
    cols = np.asarray(selected, dtype=np.int64)
    z = Z[:, cols]
    parts = [z, Z[:, n_cols + cols], z**3 - 3.0 * z]
    head = z[:, :MAX_PRODUCT_FEATURES]
    i, j = np.triu_indices(head.shape[1], k=1)
    if i.size:
        parts.append(head[:, i] * head[:, j])
    return np.hstack(parts)


def _two_by_two(
    a: FloatArray, b: FloatArray, y: FloatArray, ridge: float
) -> tuple[FloatArray, FloatArray]:
    """Per column, the least squares of ``y`` on (a, b) (tiny ridge)."""
    n = a.shape[0]
    aa, bb, ab = (a * a).sum(0) + ridge * n, (b * b).sum(0) + ridge * n, (a * b).sum(0)
    ay, by = a.T @ y, b.T @ y
    det = aa * bb - ab * ab
    det = np.where(det > 0, det, np.inf)
    return (bb * ay - ab * by) / det, (aa * by - ab * ay) / det


def _per_timestamp_mean(values: FloatArray, starts: IntArray, counts: IntArray) -> FloatArray:
    """Mean of ``values`` (rows sorted by timestamp) within each timestamp."""
    sums: FloatArray = np.add.reduceat(values, starts, axis=0)
    out: FloatArray = sums / counts.reshape(-1, *([1] * (values.ndim - 1)))
    return out


def _two_sided(p: float) -> float:
    """Two-sided p from a one-sided one (1 when undefined)."""
    if not np.isfinite(p):
        return 1.0
    return float(min(1.0, 2.0 * min(p, 1.0 - p)))


def _per_timestamp_corr(
    pred: FloatArray, resid: FloatArray, starts: IntArray, min_names: int
) -> FloatArray:
    """(timestamps x columns) Pearson correlation of each column of ``pred`` with
    ``resid`` within each timestamp (NaN where fewer than ``min_names`` rows are
    known or a side is constant; rows sorted by timestamp)."""
    known = np.isfinite(resid)
    w = known.astype(np.float64)
    x = np.where(known[:, None], np.nan_to_num(pred), 0.0)
    r = np.where(known, resid, 0.0)
    n = np.add.reduceat(w, starts)
    safe = np.where(n > 0, n, 1.0)
    mx = np.add.reduceat(x, starts, axis=0) / safe[:, None]
    mr = np.add.reduceat(r, starts) / safe
    sxx = np.add.reduceat(x * x, starts, axis=0) / safe[:, None] - mx * mx
    srr = np.add.reduceat(r * r, starts) / safe - mr * mr
    sxr = np.add.reduceat(x * r[:, None], starts, axis=0) / safe[:, None] - mx * mr[:, None]
    den = np.sqrt(np.clip(sxx, 0.0, None) * np.clip(srr, 0.0, None)[:, None])
    ok = (n >= min_names)[:, None] & (den > 1e-12)
    out: FloatArray = np.where(ok, sxr / np.where(ok, den, 1.0), np.nan)
    return out
