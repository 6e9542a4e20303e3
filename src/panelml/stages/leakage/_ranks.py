"""Cross-sectional ranks of every feature, computed once per panel and reused by every IC.

The screen needs the per-timestamp Spearman rank IC of every feature with many
labels: each target, the windows just before and after it, and the target
shifted by a few bars. The ranks of a feature within a timestamp do not depend
on the label, so :class:`CrossSections` ranks every feature once and keeps its
*centred* average ranks ``c = r - (n + 1) / 2`` laid out on a NaN-padded
(timestamp, slot) grid. Then, for one label:

* where the feature and the label are both finite on every row of a timestamp
  (a *complete* cross-section, the usual case), the rank IC is
  ``sum(cx * cy) / sqrt(sum(cx**2) * sum(cy**2))``: one batched matrix product
  scores every feature at every such timestamp;
* elsewhere the Spearman ranks must be taken over the rows where both sides are
  finite, so those (feature, timestamp) pairs alone are ranked again, in one
  vectorised pass over all of them.

A timestamp has an IC when it has at least ``max(min_names, 2)`` such pairs and
both sides vary (the rule of :func:`panelml.validation.ic_series`).

**Exactness.** Average ranks are multiples of 1/2 and the mean of ``n`` of them
is exactly ``(n + 1) / 2``, so every centred rank, product and sum above is a
multiple of 1/4 far below 2**53 (for cross-sections of up to ~10^5 names) and
is computed without rounding, in any order and by any kernel. The only rounded
step, ``sxy / sqrt(sxx * syy)`` clipped to [-1, 1], is the one
:func:`~panelml.validation.ic_series` takes, so the series are bitwise the ones
of one ``ic_series(x, y, timestamps, method="rank")`` call per pair (a test
checks it).

The shifted-copy prefilter (:meth:`CrossSections.pooled_rank_corr`) reuses
the same ranks: its centred percentile ranks ``(r - 0.5) / n - 0.5`` follow from
them without a second sort, and all features meet a batch of shifted labels in
three matrix products.

**Layout.** Timestamps whose sizes differ a lot would pad a single grid to the
largest cross-section; when padding would more than double the data, the
timestamps are split into blocks of similar size (within a factor 2), each with
its own grid. Memory: per (row, feature) one float64 centred rank and one byte
(finite or not), plus one float64 percentile rank once the prefilter has run,
plus the padding; temporaries are bounded by :data:`CHUNK_VALUES`.

Measured once (1 thread, busy 2-core machine, default params, the 12 targets of
``bench/pipeline.py``, 100 features, identical reports): the whole screen took
2.1 s instead of 33.7 s with one batched ``ic_series`` call per label and a
row-wise prefilter at 200 symbols x 400 timestamps (medians of 3), and 4.7 s
instead of 61.9 s at 200 x 1,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from panelml.validation.metrics import ICSeries
from panelml.validation.ranks import average_ranks
from panelml.validation.timestamps import timestamp_index

__all__ = ["CrossSections"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

CHUNK_VALUES = 1_000_000
"""Most grid values ranked or gathered at once (bounds the temporaries to tens of MB)."""


def _centred(ranks: F64, counts: I64) -> F64:
    """``r - (n + 1) / 2`` (exact), 0 where there is no rank."""
    mid = (counts[..., None] + 1) / 2.0
    return np.where(np.isnan(ranks), 0.0, ranks - mid)


def _on_grid(values: F64, pos: I64) -> F64:
    """Per-row ``values`` on the grid ``pos``; NaN in padding and where not finite."""
    out = values[np.maximum(pos, 0)]
    pad = (pos < 0).reshape(pos.shape + (1,) * (out.ndim - pos.ndim))
    out[pad | ~np.isfinite(out)] = np.nan
    return out


@dataclass(frozen=True)
class _Norms:
    """A block's per-feature ``sum px^2`` and its zero ranks (``None``: too many)."""

    sum_sq: F64
    zeros: Any


class _Block:
    """Timestamps ``groups`` of similar size on one (timestamp, slot) grid of row indices."""

    def __init__(self, X: npt.NDArray[Any], groups: I64, pos: I64) -> None:
        self.groups = groups
        self.pos = pos
        self.sizes = (pos >= 0).sum(axis=1).astype(np.int64)
        n_groups, width = pos.shape
        n_features = X.shape[1]
        self.centred = np.zeros((n_groups, n_features, width))
        self.n_finite = np.zeros((n_groups, n_features), dtype=np.int64)
        self.finite = np.zeros((n_groups, n_features, width), dtype=bool)
        step = max(1, CHUNK_VALUES // max(n_groups * width, 1))
        for lo in range(0, n_features, step):
            hi = min(lo + step, n_features)
            vals = np.asarray(X[:, lo:hi], dtype=np.float64)
            grid = np.transpose(_on_grid(vals, pos), (0, 2, 1))  # (groups, features, slots)
            ranks, counts = average_ranks(np.ascontiguousarray(grid))
            self.centred[:, lo:hi] = _centred(ranks, counts)
            self.n_finite[:, lo:hi] = counts
            self.finite[:, lo:hi] = ~np.isnan(grid)
        self.sxx = np.einsum("gfw,gfw->gf", self.centred, self.centred)
        self.complete = self.n_finite == self.sizes[:, None]
        self.percentiles: F64 | None = None
        self.norms: _Norms | None = None


class CrossSections:
    """The rows ``take`` of a panel grouped by timestamp, every feature ranked once.

    ``many(columns, y)`` gives the rank-IC series of those feature columns with
    the full-length label ``y`` over the same rows, bitwise equal to one
    :func:`~panelml.validation.ic_series` call per column (module docstring).
    ``X`` is the panel's (rows x features) matrix, ``timestamps`` one per row.
    :meth:`pooled_rank_corr` (the shifted-copy prefilter) zeroes the features
    outside the rows ``pooled_keep`` (default: none zeroed).
    """

    def __init__(
        self,
        X: npt.NDArray[Any],
        timestamps: npt.NDArray[Any],
        min_names: int,
        take: Any,
        pooled_keep: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        self.X = X
        self.pooled_keep = pooled_keep
        self.min_count = max(int(min_names), 2)
        rows = np.arange(X.shape[0], dtype=np.int64)[take]
        codes, self.unique = timestamp_index(np.asarray(timestamps)[take])
        order = np.argsort(codes, kind="stable")
        rows, codes = rows[order], codes[order]
        n_groups = self.unique.size
        sizes = np.bincount(codes, minlength=n_groups).astype(np.int64)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        slot = np.arange(rows.size, dtype=np.int64) - starts[codes]
        width = int(sizes.max()) if n_groups else 0
        if n_groups * width <= 2 * rows.size + 4096:
            classes = np.zeros(n_groups, dtype=np.int64)
        else:  # ragged: blocks of sizes within a factor 2, each padded to its largest
            classes = np.ceil(np.log2(np.maximum(sizes, 1))).astype(np.int64)
        self.blocks: list[_Block] = []
        for cls in np.unique(classes):
            groups = np.flatnonzero(classes == cls).astype(np.int64)
            local = np.full(n_groups, -1, dtype=np.int64)
            local[groups] = np.arange(groups.size)
            mine = local[codes] >= 0
            pos = np.full((groups.size, int(sizes[groups].max())), -1, dtype=np.int64)
            pos[local[codes[mine]], slot[mine]] = rows[mine]
            self.blocks.append(_Block(X, groups, pos))

    def many(self, columns: Sequence[int], y: F64) -> dict[int, ICSeries]:
        """``{j: ic_series(X[take, j], y[take], timestamps[take], method="rank")}``."""
        cols = np.asarray(list(columns), dtype=np.int64)
        if cols.size == 0:
            return {}
        n_groups = self.unique.size
        corr = np.zeros((n_groups, cols.size))
        count = np.zeros((n_groups, cols.size), dtype=np.int64)
        defined = np.zeros((n_groups, cols.size), dtype=bool)
        y64 = np.asarray(y, dtype=np.float64)
        for block in self.blocks:
            c, n, ok = self._block_ic(block, cols, y64)
            corr[block.groups], count[block.groups], defined[block.groups] = c, n, ok
        out: dict[int, ICSeries] = {}
        for k, j in enumerate(cols.tolist()):
            at = np.flatnonzero(defined[:, k])
            out[j] = ICSeries(
                self.unique[at], corr[at, k], count[at, k], n_groups - at.size, "rank"
            )
        return out

    def _block_ic(self, block: _Block, cols: I64, y: F64) -> tuple[F64, I64, npt.NDArray[np.bool_]]:
        m = self.min_count
        y_grid = _on_grid(y, block.pos)
        y_ranks, n_y = average_ranks(y_grid)
        cy = _centred(y_ranks, n_y)
        syy = np.einsum("gw,gw->g", cy, cy)
        whole = block.centred.shape[1] == cols.size and bool(np.all(cols == np.arange(cols.size)))
        cx = block.centred if whole else block.centred[:, cols]
        sxx = block.sxx[:, cols]
        sxy = np.matmul(cx, cy[:, :, None])[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.clip(sxy / np.sqrt(sxx * syy[:, None]), -1.0, 1.0)
        fast = block.complete[:, cols] & (n_y == block.sizes)[:, None]
        defined = fast & (sxx > 0) & (syy > 0)[:, None] & (block.sizes >= m)[:, None]
        count = np.broadcast_to(block.sizes[:, None], corr.shape).copy()
        slow = ~fast & (block.n_finite[:, cols] >= m) & (n_y >= m)[:, None]
        gi, ki = np.nonzero(slow)
        step = max(1, CHUNK_VALUES // max(block.pos.shape[1], 1))
        for lo in range(0, gi.size, step):
            g, k = gi[lo : lo + step], ki[lo : lo + step]
            c, n, ok = self._exact(block, g, cols[k], y_grid)
            corr[g, k], count[g, k], defined[g, k] = c, n, ok
        return corr, count, defined

    def _exact(
        self, block: _Block, g: I64, j: I64, y_grid: F64
    ) -> tuple[F64, I64, npt.NDArray[np.bool_]]:
        """Rank IC of the (timestamp ``g``, feature ``j``) pairs over their jointly finite rows."""
        pos = block.pos[g]
        xv = np.asarray(self.X[np.maximum(pos, 0), j[:, None]], dtype=np.float64)
        yv = y_grid[g]
        valid = (pos >= 0) & np.isfinite(xv) & np.isfinite(yv)
        xv = np.where(valid, xv, np.nan)
        yv = np.where(valid, yv, np.nan)
        rx, n = average_ranks(xv)
        ry, _ = average_ranks(yv)
        cx, cy = _centred(rx, n), _centred(ry, n)
        sxy = np.einsum("pw,pw->p", cx, cy)
        sxx = np.einsum("pw,pw->p", cx, cx)
        syy = np.einsum("pw,pw->p", cy, cy)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
        return corr, n, (sxx > 0) & (syy > 0) & (n >= self.min_count)

    def percentile_ranks(self, j: int) -> F64:
        """Per row, ``cross_sectional_ranks(X[:, j])`` over the rows ``take`` (NaN elsewhere).

        ``(r - 0.5) / n`` from the stored ranks: the same arithmetic, so the same numbers.
        """
        out = np.full(int(self.X.shape[0]), np.nan)
        for block in self.blocks:
            present = block.pos >= 0
            finite = block.finite[:, j][present]
            n = np.broadcast_to(block.n_finite[:, j][:, None], present.shape)[present][finite]
            r = block.centred[:, j][present][finite] + (n + 1) / 2.0
            out[block.pos[present][finite]] = (r - 0.5) / n
        return out

    def pooled_rank_corr(self, labels: Sequence[F64]) -> F64:
        """(features x labels) pooled correlation of centred percentile ranks.

        The fast estimate of the mean per-timestamp rank IC that the shifted-copy
        prefilter uses: with ``p = (r - 0.5) / n - 0.5`` the cross-sectional
        percentile rank centred (0 where missing; the feature's zeroed on rows
        outside ``pooled_keep``), ``|sum px py| / sqrt(sum px^2 * sum py^2)``
        where the first sums run over the rows where the label is finite and the
        last over the rows where ``px != 0``.

        Per block, one matrix product gives every ``sum px py``; the two norms
        are the full sums (kept with the features' ``px``, computed on the first
        call) minus the few rows left out: the label's missing rows, and the
        features' zero ranks as a sparse matrix (a dense product when they are
        many, as when ``pooled_keep`` drops most rows).
        """
        n_features = int(self.X.shape[1])
        num = np.zeros((n_features, len(labels)))
        den_x = np.zeros((n_features, len(labels)))
        den_y = np.zeros((n_features, len(labels)))
        for block in self.blocks:
            y_grids = [_on_grid(np.asarray(v, dtype=np.float64), block.pos) for v in labels]
            py = np.stack([_percentiles(*average_ranks(g)).reshape(-1) for g in y_grids], axis=1)
            known = np.stack([np.isfinite(g).reshape(-1) for g in y_grids], axis=1)
            py2 = py * py
            px = self._feature_percentiles(block)  # (features, groups * slots)
            pooled = self._pooled_norms(block)
            num += px @ py
            slots = block.pos.reshape(-1) >= 0
            half = int(slots.sum()) // 2
            for k in range(len(labels)):
                miss = np.flatnonzero(slots & ~known[:, k])
                if miss.size <= half:
                    left_out = px[:, miss]
                    den_x[:, k] += pooled.sum_sq - np.einsum("fi,fi->f", left_out, left_out)
                else:
                    kept = px[:, np.flatnonzero(known[:, k])]
                    den_x[:, k] += np.einsum("fi,fi->f", kept, kept)
            if pooled.zeros is not None:
                den_y += py2.sum(axis=0)[None, :] - np.asarray(pooled.zeros @ py2)
            else:
                step = max(1, CHUNK_VALUES // max(px.shape[1], 1))
                for lo in range(0, n_features, step):
                    present = (px[lo : lo + step] != 0.0).astype(np.float64)
                    den_y[lo : lo + step] += present @ py2
        with np.errstate(invalid="ignore", divide="ignore"):
            approx: F64 = np.abs(num) / (np.sqrt(den_x) * np.sqrt(den_y))
        return approx

    def _pooled_norms(self, block: _Block) -> _Norms:
        """Per feature ``sum px^2`` over ``block`` and its zero ranks (sparse), cached."""
        if block.norms is None:
            px = self._feature_percentiles(block)
            slots = block.pos.reshape(-1) >= 0
            sum_sq = np.einsum("fi,fi->f", px, px)
            zero = (px == 0.0) & slots[None, :]
            n_zero = int(zero.sum())
            zeros = sparse.csr_matrix(zero, dtype=np.float64) if 8 * n_zero <= zero.size else None
            block.norms = _Norms(sum_sq, zeros)
        return block.norms

    def _feature_percentiles(self, block: _Block) -> F64:
        """The features' ``px`` on ``block``, (features, groups * slots), cached."""
        if block.percentiles is None:
            n_groups, n_features, width = block.centred.shape
            out = np.empty((n_features, n_groups, width))
            keep = None
            if self.pooled_keep is not None:
                keep = self.pooled_keep[np.maximum(block.pos, 0)] & (block.pos >= 0)
            step = max(1, CHUNK_VALUES // max(n_groups * width, 1))
            for lo in range(0, n_features, step):
                part = slice(lo, lo + step)
                c, n = block.centred[:, part], block.n_finite[:, part]
                ranks = np.where(block.finite[:, part], c + (n[..., None] + 1) / 2.0, np.nan)
                px = _percentiles(ranks, n)
                if keep is not None:
                    px[~np.broadcast_to(keep[:, None, :], px.shape)] = 0.0
                out[lo : lo + step] = np.transpose(px, (1, 0, 2))
            block.percentiles = out.reshape(n_features, n_groups * width)
        return block.percentiles


def _percentiles(ranks: F64, counts: I64) -> F64:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ranks - 0.5) / counts[..., None] - 0.5
    return np.where(np.isfinite(r), r, 0.0)
