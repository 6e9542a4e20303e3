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

Computation. Every quantity above is a sum over rows of one timestamp, and folds
split whole timestamps, so the block is cut into segments - runs of one
timestamp and one membership in every fold (one segment per timestamp for every
splitter here; finer when a fold splits a timestamp, which stays exact, only
slower) - and read in place, neither sorted nor copied (``Z`` may be float32;
every product is taken in float64). One pass per target sums what does not
depend on ``S``: each column's squares, z * (z**2 - 1) and products with the
target (the marginal ICs are these last sums over each timestamp's count).
Each forward step then makes two passes over the segments. The first adds up
the conditioning design's cross products with itself, the target and the
scored columns on each fold's training rows; the residualised (Frisch-Waugh)
cross products of every column, and so its 2 x 2 fit, follow from these
without forming a residual (the ridge keeps those fits well conditioned). The
second forms each test segment's fitted contribution and residual target and
adds up the sums of their per-timestamp Pearson correlation. Where a column
and every chosen feature are each one value in a whole timestamp (all missing
there), its contribution is constant and the timestamp has no correlation:
NaN, rather than whatever rounding left of 0 / 0. The significance tests run
vectorised over the columns with ``ic_significance``'s formulas and reference
moments. Per step: about rows x (design width) x 3 x (scored columns)
multiply-adds, memory O(folds x timestamps x scored columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from panelml.stages.fitting import Fold
from panelml.stages.selection._importance import RankBlock
from panelml.validation.multiple_testing import reject
from panelml.validation.significance import (
    Scheme,
    _reference_moments,
    _weights,
    fold_variance_factor,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
RankArray = npt.NDArray[np.floating[Any]]  # the block's Z: float64 or float32
Rows = slice | IntArray


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
    ``Z`` float64 or float32; it is read, never copied whole);
    ``timestamps`` are the timestamp codes of ``block.rows``; ``candidates``
    (length ``n_real``) marks the features that may be added.
    """
    n_cols = block.Z.shape[1] // 2
    if n_real == 0 or max_additions <= 0 or not candidates.any() or not folds:
        return []
    if block.target.size == 0:
        return []
    fold_masks = [
        (np.isin(block.rows, f.train, assume_unique=True),
         np.isin(block.rows, f.test, assume_unique=True))
        for f in folds
    ]  # fmt: skip
    seg = _segments(block.Z, block.target, timestamps, fold_masks)
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
    every column's two tests in one vectorised :func:`_ic_tests` call."""
    keep = np.asarray(counts) >= min_names
    per_t = sums[keep] / np.asarray(counts, dtype=np.float64)[keep, None]
    _, t, p, _ = _ic_tests(per_t, horizon, "single_split")
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
    seg = _segments(Z, y, timestamps, fold_masks)
    return _partial(seg, selected, scored, horizon, scheme, min_names, ridge)


@dataclass(frozen=True)
class _Segments:
    """The block's rows in timestamp order, cut into segments: maximal runs of
    one timestamp and one membership in every fold's training and test rows
    (one segment per timestamp when folds split whole timestamps, as every
    splitter does), with the sums that do not depend on the chosen features."""

    Z: RankArray  # the block's columns (z, then z**2 - 1), in the block's row order
    y: FloatArray  # the target's ranks, same order
    n_cols: int
    rows: list[Rows]  # rows of Z of each segment
    seg_ts: IntArray  # timestamp position (0 .. n_ts - 1) of each segment
    ts_first: IntArray  # first segment of each timestamp
    ts_count: FloatArray  # rows of each timestamp
    count: FloatArray  # rows of each segment
    train: BoolArray  # (folds, segments): the segment is in the fold's training rows
    test: BoolArray  # (folds, segments): ... in its test rows
    sum_dy: FloatArray  # (segments, 2 n_cols): sums of column * target
    sum_d2: FloatArray  # (segments, 2 n_cols): sums of squares
    sum_ab: FloatArray  # (segments, n_cols): sums of z * (z**2 - 1)
    z_const: BoolArray  # (timestamps, n_cols): z is one value in the whole timestamp
    y_const: BoolArray  # (timestamps,): so is the target


def _take(Z: RankArray, rows: Rows, cols: IntArray) -> FloatArray:
    """``Z[rows][:, cols]`` in float64, with one gather."""
    part = Z[rows][:, cols] if isinstance(rows, slice) else Z[np.ix_(rows, cols)]
    return np.asarray(part, dtype=np.float64)


def _segments(
    Z: RankArray,
    y: FloatArray,
    timestamps: IntArray,
    fold_masks: Sequence[tuple[BoolArray, BoolArray]],
) -> _Segments:
    """Segments of the block (:class:`_Segments`): one stable sort of the
    timestamps (no copy of ``Z``: segments index it) and one pass over the rows."""
    n, n_cols = y.size, Z.shape[1] // 2
    order = np.argsort(timestamps, kind="stable")
    ts = np.asarray(timestamps)[order]
    new_ts = np.r_[True, ts[1:] != ts[:-1]]
    change = new_ts.copy()
    masks = [(np.asarray(tr)[order], np.asarray(te)[order]) for tr, te in fold_masks]
    for tr, te in masks:
        change[1:] |= (tr[1:] != tr[:-1]) | (te[1:] != te[:-1])
    starts = np.flatnonzero(change)
    ends = np.r_[starts[1:], n]
    identity = bool(np.array_equal(order, np.arange(n)))
    rows: list[Rows] = [
        slice(int(a), int(b)) if identity else order[a:b] for a, b in zip(starts, ends, strict=True)
    ]
    first = new_ts[starts]
    seg_ts = (np.cumsum(first) - 1).astype(np.int64)
    ts_first = np.flatnonzero(first).astype(np.int64)
    count = (ends - starts).astype(np.float64)
    n_seg = starts.size
    sum_dy, sum_d2 = np.empty((n_seg, 2 * n_cols)), np.empty((n_seg, 2 * n_cols))
    sum_ab = np.empty((n_seg, n_cols))
    z_hi, z_lo = np.empty((n_seg, n_cols)), np.empty((n_seg, n_cols))
    y_hi, y_lo = np.empty(n_seg), np.empty(n_seg)
    for s, sel in enumerate(rows):
        D = np.asarray(Z[sel], dtype=np.float64)
        ys = y[sel]
        sum_dy[s] = ys @ D
        sum_d2[s] = np.einsum("ij,ij->j", D, D)
        sum_ab[s] = np.einsum("ij,ij->j", D[:, :n_cols], D[:, n_cols:])
        z_hi[s], z_lo[s] = D[:, :n_cols].max(axis=0), D[:, :n_cols].min(axis=0)
        y_hi[s], y_lo[s] = ys.max(), ys.min()
    z_const = np.maximum.reduceat(z_hi, ts_first) == np.minimum.reduceat(z_lo, ts_first)
    y_const = np.maximum.reduceat(y_hi, ts_first) == np.minimum.reduceat(y_lo, ts_first)
    empty = np.zeros((0, n_seg), dtype=bool)
    return _Segments(
        Z=Z,
        y=np.asarray(y, dtype=np.float64),
        n_cols=n_cols,
        rows=rows,
        seg_ts=seg_ts,
        ts_first=ts_first,
        ts_count=np.add.reduceat(count, ts_first),
        count=count,
        train=np.array([tr[starts] for tr, _ in masks]).reshape(-1, n_seg) if masks else empty,
        test=np.array([te[starts] for _, te in masks]).reshape(-1, n_seg) if masks else empty,
        sum_dy=sum_dy,
        sum_d2=sum_d2,
        sum_ab=sum_ab,
        z_const=z_const,
        y_const=y_const,
    )


def _partial(
    seg: _Segments,
    selected: Sequence[int],
    scored: IntArray,
    horizon: int,
    scheme: Scheme,
    min_names: int,
    ridge: float = 1e-3,
) -> PartialFit:
    """:func:`partial_oof` on prepared segments (module docstring, "Computation")."""
    n_cols, k = seg.n_cols, scored.size
    n_folds, n_ts = seg.train.shape[0], seg.ts_first.size
    cols = np.concatenate([scored, n_cols + scored])
    chosen = np.asarray(selected, dtype=np.int64)
    chosen_cols = np.concatenate([chosen, n_cols + chosen])
    width = _design_width(chosen.size)
    train_w, test_w = seg.train.astype(np.float64), seg.test.astype(np.float64)
    n_tr, n_te = train_w @ seg.count, test_w @ seg.count
    active = (n_tr > 0) & (n_te > 0)

    head = min(chosen.size, MAX_PRODUCT_FEATURES)
    pair_i, pair_j = np.triu_indices(head, k=1)

    def design(rows: Rows) -> FloatArray:
        """:func:`_given` of the segment's rows, written into one array."""
        zz = _take(seg.Z, rows, chosen_cols)
        c = chosen.size
        z = zz[:, :c]
        S = np.empty((zz.shape[0], width))
        S[:, : 2 * c] = zz
        S[:, 2 * c : 3 * c] = z**3 - 3.0 * z
        np.multiply(z[:, pair_i], z[:, pair_j], out=S[:, 3 * c :])
        return S

    # pass 1: the conditioning design's cross products on every fold's training rows
    gram = np.zeros((n_folds, width, width))
    s_y = np.zeros((n_folds, width))
    s_d = np.zeros((n_folds, width, 2 * k))
    if width:
        for s, rows in enumerate(seg.rows):
            member = seg.train[:, s] & active
            if not member.any():
                continue
            S = design(rows)
            gram[member] += S.T @ S
            s_y[member] += S.T @ seg.y[rows]
            s_d[member] += S.T @ _take(seg.Z, rows, cols)
    d2 = train_w @ seg.sum_d2[:, cols]
    ab = train_w @ seg.sum_ab[:, scored]
    dy = train_w @ seg.sum_dy[:, cols]

    # per fold: residualise on the design (Frisch-Waugh), then the 2 x 2 fits
    wa, wb = np.zeros((n_folds, k)), np.zeros((n_folds, k))
    c_y, U = np.zeros((n_folds, width)), np.zeros((n_folds, width, k))
    for f in np.flatnonzero(active):
        rr, r_ab, r_y = d2[f].copy(), ab[f].copy(), dy[f].copy()
        if width:
            regularised = gram[f] + ridge * n_tr[f] * np.eye(width)
            coef = np.linalg.solve(regularised, np.column_stack([s_y[f], s_d[f]]))
            cy, C = coef[:, 0], coef[:, 1:]
            GC = gram[f] @ C
            P = s_d[f]
            rr += (C * (GC - 2.0 * P)).sum(axis=0)
            r_ab += (C[:, :k] * (GC[:, k:] - P[:, k:]) - C[:, k:] * P[:, :k]).sum(axis=0)
            r_y += cy @ (GC - P) - s_y[f] @ C
            c_y[f] = cy
        aa, bb = rr[:k] + ridge * n_tr[f], rr[k:] + ridge * n_tr[f]
        ay, by = r_y[:k], r_y[k:]
        det = aa * bb - r_ab * r_ab
        det = np.where(det > 0, det, np.inf)
        wa[f], wb[f] = (bb * ay - r_ab * by) / det, (aa * by - r_ab * ay) / det
        if width:
            U[f] = -(C[:, :k] * wa[f] + C[:, k:] * wb[f])

    # pass 2: per-timestamp sums of the test rows' fitted contribution and residual target
    sx, sxx, sxr = (np.zeros((n_folds, n_ts, k)) for _ in range(3))
    sr, srr, cnt = (np.zeros((n_folds, n_ts)) for _ in range(3))
    for s, rows in enumerate(seg.rows):
        testing = np.flatnonzero(seg.test[:, s] & active)
        if not testing.size:
            continue
        D = _take(seg.Z, rows, cols)
        ys = seg.y[rows]
        S_te = design(rows) if width else None
        t = seg.seg_ts[s]
        for f in testing:
            x = D[:, :k] * wa[f] + D[:, k:] * wb[f]
            r = ys
            if S_te is not None:
                x += S_te @ U[f]
                r = ys - S_te @ c_y[f]
            sx[f, t] += x.sum(axis=0)
            sxx[f, t] += np.einsum("ij,ij->j", x, x)
            sxr[f, t] += r @ x
            sr[f, t] += r.sum()
            srr[f, t] += r @ r
            cnt[f, t] += r.size
    safe = np.where(cnt > 0, cnt, 1.0)
    mx, mr = sx / safe[..., None], sr / safe
    vxx = sxx / safe[..., None] - mx * mx
    vrr = srr / safe - mr * mr
    vxr = sxr / safe[..., None] - mx * mr[..., None]
    den = np.sqrt(np.clip(vxx, 0.0, None) * np.clip(vrr, 0.0, None)[..., None])
    # a side that is one value in the whole timestamp (its feature and every chosen one
    # missing there) has no correlation; rounding must not make one up
    design_const = np.asarray(seg.z_const[:, chosen].all(axis=1), dtype=np.bool_)
    flat = (seg.z_const[:, scored] | seg.y_const[:, None]) & design_const[:, None]
    ok = (cnt >= min_names)[..., None] & (den > 1e-12) & ~flat[None]
    series = np.where(ok, vxr / np.where(ok, den, 1.0), np.nan)

    pooled = np.full((n_ts, k), np.nan)
    for f in np.flatnonzero(active):
        # a timestamp tested by several folds (cpcv) enters the pooled series once
        pooled = np.where(np.isnan(pooled), series[f], pooled)
    mean, t_stat, p, spread = _ic_tests(pooled, horizon, scheme)
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


def _ic_tests(
    values: FloatArray, horizon: int, scheme: Scheme
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(mean, t, p, T * V) of every column of ``values`` (timestamps x series, NaN
    dropped per series): :func:`~panelml.validation.significance.ic_significance`
    and :func:`~panelml.validation.significance.long_run_variance` for many series
    at once, with the same formulas and reference moments (series with the same
    missing timestamps share one vectorised pass). t and p are NaN where the test
    is undefined (fewer than two values, a constant series)."""
    m = values.shape[1]
    mean, t_stat = np.full(m, np.nan), np.full(m, np.nan)
    p, spread = np.full(m, np.nan), np.full(m, np.nan)
    if m == 0 or values.shape[0] == 0:
        return mean, t_stat, p, spread
    factor = fold_variance_factor(scheme)
    finite = np.isfinite(values)
    patterns, inverse = np.unique(finite.T, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for g, pattern in enumerate(patterns):
        members = np.flatnonzero(inverse == g)
        x = values[np.ix_(np.flatnonzero(pattern), members)]
        n = x.shape[0]
        if n == 0:
            continue
        mu = x.mean(axis=0)
        mean[members] = mu
        if n < 2:
            continue
        lag = min(horizon, n) - 1
        d = x - mu
        gammas = np.array([np.einsum("ij,ij->j", d[j:], d[: n - j]) for j in range(lag + 1)])
        variance, df = np.zeros(members.size), np.full(members.size, np.nan)
        done = np.zeros(members.size, dtype=bool)
        for kernel in ("uniform", "bartlett"):
            weights = _weights(kernel, lag)
            quad = gammas[0] + 2.0 * (weights[1:] @ gammas[1:])
            scale, dof = _reference_moments(n, lag, kernel)
            use = ~done & (quad > 0.0)
            variance[use], df[use] = quad[use] * scale, dof
            done |= use
        spread[members] = variance * n
        positive = variance > 0.0
        se = np.sqrt(factor * np.where(positive, variance, 1.0))
        t = np.where(positive & (np.ptp(x, axis=0) != 0.0), mu / se, np.nan)
        defined = np.isfinite(t)
        with np.errstate(invalid="ignore"):
            sf = stats.t.sf(np.where(defined, t, 0.0), np.where(defined, df, 1.0))
        t_stat[members] = t
        p[members] = np.where(defined, sf, np.nan)
    return mean, t_stat, p, spread


MAX_PRODUCT_FEATURES = 10
"""Pairwise products of at most this many chosen features enter the conditioning."""


def _design_width(n_chosen: int) -> int:
    """Columns of :func:`_given` for ``n_chosen`` features."""
    head = min(n_chosen, MAX_PRODUCT_FEATURES)
    return 3 * n_chosen + head * (head - 1) // 2


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
