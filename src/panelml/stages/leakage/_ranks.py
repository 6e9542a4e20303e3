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
the same ranks: its centred percentile ranks ``px = (r - 0.5) / n - 0.5`` follow
from them without a second sort. Its products ``sum px py`` with a batch of
shifted labels use ``px``'s exact value ``c / n`` (one batched product per few
timestamps, then scaled), so they differ from products of the rounded ``px`` in
rounding only (of the order of 1e-16 times the norms; at most 7e-13 relative to
the estimates on two 200 x 400 leak panels); the norms are the rounded ``px``'s
own. The estimate only chooses which lags are checked exactly (the same lags
there, and the same reports).

**Layout.** Timestamps whose sizes differ a lot would pad a single grid to the
largest cross-section; when padding would more than double the data, the
timestamps are split into blocks of similar size (within a factor 2), each with
its own grid. Memory: the centred ranks are kept doubled, ``2 r - (n + 1)``, an
integer: two bytes per (row, feature) plus padding (int16; int32 from 2**15
names), half the float32 panel. Nothing of the size of the matrix in float64
is ever built: ranking, rank products and ``px`` run a few timestamps or
features at a time, their temporaries bounded by ``_rank_grid.CHUNK_VALUES`` and
``RANK_CHUNK_VALUES``; the products are exact or added in a fixed order, so
the chunking does not change a bit. At 200 names x 1,000 timestamps x 100
features (float32 panel 76 MiB) the stage's peak RSS above what it starts with
fell from 3.7x to 0.8x the panel (live allocations: 5.2x to 0.9x), with the
same report and about 4% less CPU time.

Measured once (1 thread, busy 2-core machine, default params, the 12 targets of
``bench/pipeline.py``, 100 features, identical reports): the whole screen took
2.1 s instead of 33.7 s with one batched ``ic_series`` call per label and a
row-wise prefilter at 200 symbols x 400 timestamps (medians of 3), and 4.7 s
instead of 61.9 s at 200 x 1,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from panelml.stages.leakage import _rank_grid as grids
from panelml.stages.leakage._rank_grid import (
    Norms,
    RankGrid,
    centred_percentiles,
    centred_ranks,
    label_ranks,
    on_grid,
    steps,
)
from panelml.validation.metrics import ICSeries
from panelml.validation.ranks import average_ranks
from panelml.validation.timestamps import timestamp_index

__all__ = ["CrossSections"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


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
        self.blocks: list[RankGrid] = []
        for cls in np.unique(classes):
            groups = np.flatnonzero(classes == cls).astype(np.int64)
            local = np.full(n_groups, -1, dtype=np.int64)
            local[groups] = np.arange(groups.size)
            mine = local[codes] >= 0
            pos = np.full((groups.size, int(sizes[groups].max())), -1, dtype=np.int64)
            pos[local[codes[mine]], slot[mine]] = rows[mine]
            self.blocks.append(RankGrid(X, groups, pos))

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

    def _block_ic(
        self, block: RankGrid, cols: I64, y: F64
    ) -> tuple[F64, I64, npt.NDArray[np.bool_]]:
        m = self.min_count
        y_grid = on_grid(y, block.pos)
        y_ranks, n_y = label_ranks(y_grid)
        cy = centred_ranks(y_ranks, n_y)
        syy = np.einsum("gw,gw->g", cy, cy)
        sxx = block.sxx[:, cols]
        sxy = block.rank_products(cols, cy)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.clip(sxy / np.sqrt(sxx * syy[:, None]), -1.0, 1.0)
        fast = block.complete[:, cols] & (n_y == block.sizes)[:, None]
        defined = fast & (sxx > 0) & (syy > 0)[:, None] & (block.sizes >= m)[:, None]
        count = np.broadcast_to(block.sizes[:, None], corr.shape).copy()
        slow = ~fast & (block.n_finite[:, cols] >= m) & (n_y >= m)[:, None]
        gi, ki = np.nonzero(slow)
        step = max(1, grids.RANK_CHUNK_VALUES // max(block.pos.shape[1], 1))
        for lo in range(0, gi.size, step):
            g, k = gi[lo : lo + step], ki[lo : lo + step]
            c, n, ok = self._exact(block, g, cols[k], y_grid)
            corr[g, k], count[g, k], defined[g, k] = c, n, ok
        return corr, count, defined

    def _exact(
        self, block: RankGrid, g: I64, j: I64, y_grid: F64
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
        cx, cy = centred_ranks(rx, n), centred_ranks(ry, n)
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
            rows = block.pos[present]
            finite = np.isfinite(np.asarray(self.X[rows, j], dtype=np.float64))
            n = np.broadcast_to(block.n_finite[:, j][:, None], present.shape)[present][finite]
            r = block.doubled[:, j][present][finite] * 0.5 + (n + 1) / 2.0
            out[rows[finite]] = (r - 0.5) / n
        return out

    def pooled_rank_corr(self, labels: Sequence[F64]) -> F64:
        """(features x labels) pooled correlation of centred percentile ranks.

        The fast estimate of the mean per-timestamp rank IC that the shifted-copy
        prefilter uses: with ``p = (r - 0.5) / n - 0.5`` the cross-sectional
        percentile rank centred (0 where missing; the feature's zeroed on rows
        outside ``pooled_keep``), ``|sum px py| / sqrt(sum px^2 * sum py^2)``
        where the first sums run over the rows where the label is finite and the
        last over the rows where ``px != 0``.

        Per block, one batched product per few timestamps gives every ``sum px
        py`` from the stored ranks (:meth:`RankGrid.pooled_products`, equal to
        the product of the rounded ``px`` up to rounding, ~1e-15 relative); the
        two norms are the full sums (computed on the first call, kept per
        feature) minus the few rows left out: the label's missing rows, and the
        features' zero ranks as a sparse matrix (a dense product when they are
        many, as when ``pooled_keep`` drops most rows). ``px`` is expanded to
        float64 a few features at a time, never whole.
        """
        n_features = int(self.X.shape[1])
        num = np.zeros((n_features, len(labels)))
        den_x = np.zeros((n_features, len(labels)))
        den_y = np.zeros((n_features, len(labels)))
        for block in self.blocks:
            keep = self._keep(block)
            n_slots = block.pos.size
            py = np.empty((n_slots, len(labels)))
            known = np.empty((n_slots, len(labels)), dtype=bool)
            for k, v in enumerate(labels):
                grid = on_grid(np.asarray(v, dtype=np.float64), block.pos)
                py[:, k] = centred_percentiles(*label_ranks(grid)).reshape(-1)
                known[:, k] = np.isfinite(grid).reshape(-1)
                del grid
            pooled = self._pooled_norms(block, keep)
            num += block.pooled_products(py, keep)
            py2 = np.multiply(py, py, out=py)  # py is not needed any more
            if pooled.zeros is not None:
                den_y += py2.sum(axis=0)[None, :] - np.asarray(pooled.zeros @ py2)
            else:
                den_y += block.present_products(py2, keep)
            del py, py2  # gone before the features' px is expanded below
            slots = block.pos.reshape(-1) >= 0
            half = int(slots.sum()) // 2
            missing = slots[:, None] & ~known
            few = missing.sum(axis=0) <= half
            # left out of the full sums: the features' px on the label's missing
            # slots, expanded a few features at a time over all the slots any of
            # these labels misses
            union = np.flatnonzero(missing[:, few].any(axis=1))
            where = {
                k: np.searchsorted(union, np.flatnonzero(missing[:, k]))
                for k in np.flatnonzero(few).tolist()
            }
            for part in steps(n_features, union.size):
                at = block.percentiles_at(union, keep, part)
                for k, idx in where.items():
                    left_out = np.ascontiguousarray(at[:, idx])  # rows summed alike
                    den_x[part, k] += pooled.sum_sq[part] - np.einsum(
                        "fi,fi->f", left_out, left_out
                    )
            for k in np.flatnonzero(~few).tolist():
                kept = np.flatnonzero(known[:, k])
                for part in steps(n_features, n_slots):
                    px = np.ascontiguousarray(block.percentiles(part, keep)[:, kept])
                    den_x[part, k] += np.einsum("fi,fi->f", px, px)
        with np.errstate(invalid="ignore", divide="ignore"):
            approx: F64 = np.abs(num) / (np.sqrt(den_x) * np.sqrt(den_y))
        return approx

    def _keep(self, block: RankGrid) -> npt.NDArray[np.bool_] | None:
        """The (group, slot) cells of ``block`` inside ``pooled_keep`` (``None``: all)."""
        if self.pooled_keep is None:
            return None
        return self.pooled_keep[np.maximum(block.pos, 0)] & (block.pos >= 0)

    def _pooled_norms(self, block: RankGrid, keep: npt.NDArray[np.bool_] | None) -> Norms:
        """Per feature ``sum px^2`` over ``block`` and its zero ranks (sparse), cached.

        Built a few features at a time; the zero ranks are kept only while they
        stay under an eighth of the cells (``zeros`` is ``None`` past that).
        """
        if block.norms is None:
            n_features = block.doubled.shape[1]
            slots = block.pos.reshape(-1) >= 0
            sum_sq = np.zeros(n_features)
            rows: list[I64] = []
            cols: list[I64] = []
            n_zero, limit = 0, (n_features * slots.size) // 8
            for part in steps(n_features, slots.size):
                px = block.percentiles(part, keep)
                sum_sq[part] = np.einsum("fi,fi->f", px, px)
                if n_zero <= limit:
                    r, c = np.nonzero((px == 0.0) & slots[None, :])
                    n_zero += r.size
                    rows.append(r + part.start)
                    cols.append(c)
            zeros = None
            if n_zero <= limit:
                indptr = np.zeros(n_features + 1, dtype=np.int64)
                np.cumsum(np.bincount(np.concatenate(rows), minlength=n_features), out=indptr[1:])
                index = np.concatenate(cols)
                zeros = sparse.csr_matrix(
                    (np.ones(index.size), index, indptr), shape=(n_features, slots.size)
                )
            block.norms = Norms(sum_sq, zeros)
        return block.norms
