"""Segment-wise sums for the conditional step: the out-of-fold partial IC series.

What: for one target's rank block, the per-timestamp out-of-fold partial IC of
every scored column given the chosen features, fold by fold (step 2 of
:mod:`panelml.stages.selection._conditional`, which tests these series and
makes the forward step's decisions). Why a module of its own: these are the
step's sums, kept apart from its statistics and decisions, and they are where
its cost lies (one pass over the rows per target, two per forward step).

How. Every quantity of step 2 is a sum over rows of one timestamp, and folds
split whole timestamps, so the block is cut into segments - runs of one
timestamp and one membership in every fold (one segment per timestamp for
every splitter here; finer when a fold splits a timestamp, which stays exact,
only slower) - and read in place, neither sorted nor copied (the design
comes from a :class:`DesignSource`: a rank block that forms z**2 - 1 for the
rows it is asked for, or a stored design matrix; it may be float32; every
product is taken in float64). :func:`segments` sums, once per
target, what does not depend on the chosen features: each column's squares,
z * (z**2 - 1) and products with the target (the marginal ICs are these last
sums over each timestamp's count). :func:`partial_series` then makes two
passes over the segments. The first adds up the conditioning design's cross
products with itself, the target and the scored columns on each fold's
training rows; the residualised (Frisch-Waugh) cross products of every column,
and so its 2 x 2 fit, follow from these without forming a residual (the ridge
keeps those fits well conditioned). The second forms each test segment's
fitted contribution and residual target and adds up the sums of their
per-timestamp Pearson correlation. Where a column and every chosen feature are
each one value in a whole timestamp (all missing there), its contribution is
constant and the timestamp has no correlation: NaN, rather than whatever
rounding left of 0 / 0. Per forward step: about rows x (design width) x 3 x
(scored columns) multiply-adds, memory O(folds x timestamps x scored columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_PRODUCT_FEATURES",
    "DesignSource",
    "Segments",
    "StoredDesign",
    "partial_series",
    "segments",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
RankArray = npt.NDArray[np.floating[Any]]  # the block's Z: float64 or float32
Rows = slice | IntArray

MAX_PRODUCT_FEATURES = 10
"""Pairwise products of at most this many chosen features enter the conditioning."""


class DesignSource(Protocol):
    """Rows of a rank design ``[z, z**2 - 1]`` (``2 n_columns`` columns), read on
    demand: :class:`~panelml.stages.selection._rank_block.RankBlock` forms the
    squares of the rows asked for, :class:`StoredDesign` holds the matrix."""

    @property
    def n_columns(self) -> int: ...

    def design(self, rows: Rows) -> RankArray: ...

    def design_columns(self, rows: Rows, cols: IntArray) -> FloatArray: ...


@dataclass(frozen=True)
class StoredDesign:
    """A whole design matrix ``Z = [z, z**2 - 1]`` as a :class:`DesignSource`."""

    Z: RankArray

    @property
    def n_columns(self) -> int:
        return int(self.Z.shape[1]) // 2

    def design(self, rows: Rows) -> RankArray:
        return self.Z[rows]

    def design_columns(self, rows: Rows, cols: IntArray) -> FloatArray:
        """``Z[rows][:, cols]`` in float64, with one gather."""
        part = self.Z[rows][:, cols] if isinstance(rows, slice) else self.Z[np.ix_(rows, cols)]
        return np.asarray(part, dtype=np.float64)


@dataclass(frozen=True)
class Segments:
    """The block's rows in timestamp order, cut into segments: maximal runs of
    one timestamp and one membership in every fold's training and test rows
    (one segment per timestamp when folds split whole timestamps, as every
    splitter does), with the sums that do not depend on the chosen features."""

    source: DesignSource  # the block's design (z, then z**2 - 1), in the block's row order
    y: FloatArray  # the target's ranks, same order
    n_cols: int
    rows: list[Rows]  # rows of the design of each segment
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


def segments(
    source: DesignSource,
    y: FloatArray,
    timestamps: IntArray,
    fold_masks: Sequence[tuple[BoolArray, BoolArray]],
) -> Segments:
    """Segments of the block (:class:`Segments`): one stable sort of the
    timestamps (no copy of the design: segments index it) and one pass over the rows."""
    n, n_cols = y.size, source.n_columns
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
        D = np.asarray(source.design(sel), dtype=np.float64)
        ys = y[sel]
        sum_dy[s] = ys @ D
        sum_d2[s] = np.einsum("ij,ij->j", D, D)
        sum_ab[s] = np.einsum("ij,ij->j", D[:, :n_cols], D[:, n_cols:])
        z_hi[s], z_lo[s] = D[:, :n_cols].max(axis=0), D[:, :n_cols].min(axis=0)
        y_hi[s], y_lo[s] = ys.max(), ys.min()
    z_const = np.maximum.reduceat(z_hi, ts_first) == np.minimum.reduceat(z_lo, ts_first)
    y_const = np.maximum.reduceat(y_hi, ts_first) == np.minimum.reduceat(y_lo, ts_first)
    empty = np.zeros((0, n_seg), dtype=bool)
    return Segments(
        source=source,
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


class _Design:
    """The conditioning design of the chosen features: for each, its ranks z,
    z**2 - 1 and the third Hermite polynomial z**3 - 3z (so a smooth nonlinear
    effect of a chosen feature is not left to its correlated neighbours), and the
    pairwise products z_i * z_j of the first :data:`MAX_PRODUCT_FEATURES` (so a
    chosen product is not either)."""

    def __init__(self, selected: Sequence[int], n_cols: int) -> None:
        self.chosen = np.asarray(selected, dtype=np.int64)
        self.cols = np.concatenate([self.chosen, n_cols + self.chosen])
        head = min(self.chosen.size, MAX_PRODUCT_FEATURES)
        self.pair_i, self.pair_j = np.triu_indices(head, k=1)
        self.width = 3 * self.chosen.size + head * (head - 1) // 2

    def of(self, source: DesignSource, rows: Rows) -> FloatArray:
        """The design on ``rows`` of ``source``, written into one float64 array."""
        zz = source.design_columns(rows, self.cols)
        c = self.chosen.size
        z = zz[:, :c]
        S = np.empty((zz.shape[0], self.width))
        S[:, : 2 * c] = zz
        S[:, 2 * c : 3 * c] = z**3 - 3.0 * z
        np.multiply(z[:, self.pair_i], z[:, self.pair_j], out=S[:, 3 * c :])
        return S


def partial_series(
    seg: Segments,
    selected: Sequence[int],
    scored: IntArray,
    min_names: int,
    ridge: float = 1e-3,
) -> tuple[FloatArray, BoolArray]:
    """(series, active): the out-of-fold partial IC of every column in ``scored``
    given the features ``selected``, per fold and timestamp (folds x timestamps x
    scored; NaN where a fold does not test the timestamp, it has fewer than
    ``min_names`` rows or no correlation), and the folds with both training and
    test rows (module docstring)."""
    n_cols, k = seg.n_cols, scored.size
    n_folds, n_ts = seg.train.shape[0], seg.ts_first.size
    cols = np.concatenate([scored, n_cols + scored])
    design = _Design(selected, n_cols)
    width = design.width
    train_w, test_w = seg.train.astype(np.float64), seg.test.astype(np.float64)
    n_tr, n_te = train_w @ seg.count, test_w @ seg.count
    active = (n_tr > 0) & (n_te > 0)

    # pass 1: the conditioning design's cross products on every fold's training rows
    gram = np.zeros((n_folds, width, width))
    s_y = np.zeros((n_folds, width))
    s_d = np.zeros((n_folds, width, 2 * k))
    if width:
        for s, rows in enumerate(seg.rows):
            member = seg.train[:, s] & active
            if not member.any():
                continue
            S = design.of(seg.source, rows)
            gram[member] += S.T @ S
            s_y[member] += S.T @ seg.y[rows]
            s_d[member] += S.T @ seg.source.design_columns(rows, cols)
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
        D = seg.source.design_columns(rows, cols)
        ys = seg.y[rows]
        S_te = design.of(seg.source, rows) if width else None
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
    design_const = np.asarray(seg.z_const[:, design.chosen].all(axis=1), dtype=np.bool_)
    flat = (seg.z_const[:, scored] | seg.y_const[:, None]) & design_const[:, None]
    ok = (cnt >= min_names)[..., None] & (den > 1e-12) & ~flat[None]
    series: FloatArray = np.where(ok, vxr / np.where(ok, den, 1.0), np.nan)
    return series, active
