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
features at a time, their temporaries bounded by :data:`CHUNK_VALUES` and
:data:`RANK_CHUNK_VALUES`; the products are exact or added in a fixed order, so
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

from collections.abc import Callable, Sequence
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

CHUNK_VALUES = 250_000
"""Most grid values gathered or expanded to float64 at once (2 MB per temporary)."""

RANK_CHUNK_VALUES = 65_536
"""Most grid values ranked at once: a sort keeps about eight temporaries of this
size alive (4 MB in all)."""

FLOAT32_WIDTH = 256
"""Widest cross-section whose rank products run in float32: every partial sum of
``2 cx * 2 cy`` is an integer of magnitude at most ``n**3 / 3`` (Cauchy-Schwarz),
below 2**24 up to n = 368, so float32 adds them exactly."""


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


def _label_ranks(grid: F64) -> tuple[F64, I64]:
    """``average_ranks(grid)`` of a (timestamp, slot) label grid, a few timestamps at a time.

    Rows are ranked independently, so the chunks give the same numbers while
    the sort's temporaries stay bounded by :data:`RANK_CHUNK_VALUES`.
    """
    ranks = np.empty(grid.shape)
    counts = np.empty(grid.shape[0], dtype=np.int64)
    for part in _steps(grid.shape[0], grid.shape[1], RANK_CHUNK_VALUES):
        ranks[part], counts[part] = average_ranks(grid[part])
    return ranks, counts


def _steps(total: int, per_item: int, budget: int | None = None) -> list[slice]:
    """``range(total)`` in slices of ``budget // per_item`` items (at least one).

    ``budget`` defaults to :data:`CHUNK_VALUES`.
    """
    budget = CHUNK_VALUES if budget is None else budget
    step = max(1, budget // max(per_item, 1))
    return [slice(lo, min(lo + step, total)) for lo in range(0, total, step)]


@dataclass(frozen=True)
class _Norms:
    """A block's per-feature ``sum px^2`` and its zero ranks (``None``: too many)."""

    sum_sq: F64
    zeros: Any


class _Block:
    """Timestamps ``groups`` of similar size on one (timestamp, slot) grid of row indices.

    ``doubled[g, f, s]`` is twice the centred rank ``2 r - (n + 1)`` of feature
    ``f`` in slot ``s`` of timestamp ``g`` - an integer, stored as int16 (int32
    for cross-sections of 2**15 names or more) - and 0 where the value is
    missing or the slot is padding (where the centred rank is 0 too).
    """

    def __init__(self, X: npt.NDArray[Any], groups: I64, pos: I64) -> None:
        self.groups = groups
        self.pos = pos
        self.sizes = (pos >= 0).sum(axis=1).astype(np.int64)
        n_groups, width = pos.shape
        n_features = X.shape[1]
        dtype = np.int16 if width < 2**15 else np.int32
        self.doubled = np.zeros((n_groups, n_features, width), dtype=dtype)
        self.n_finite = np.zeros((n_groups, n_features), dtype=np.int64)
        self.sxx = np.zeros((n_groups, n_features))
        for part in _steps(n_features, X.shape[0]):
            vals = np.asarray(X[:, part], dtype=np.float64)
            n_part = part.stop - part.start
            for rows in _steps(n_groups, n_part * width, RANK_CHUNK_VALUES):
                grid = _on_grid(vals, pos[rows])  # (groups, slots, features)
                ranks, counts = average_ranks(np.ascontiguousarray(np.transpose(grid, (0, 2, 1))))
                centred = _centred(ranks, counts)
                self.sxx[rows, part] = np.einsum("gfw,gfw->gf", centred, centred)  # exact
                self.doubled[rows, part] = 2.0 * centred  # exact: integers
                self.n_finite[rows, part] = counts
        self.complete = self.n_finite == self.sizes[:, None]
        self.norms: _Norms | None = None

    def rank_products(self, cols: I64, cy: F64) -> F64:
        """``sum_s cx * cy`` per (timestamp, column): exact, ``cy`` the label's centred ranks.

        Expanded from ``doubled`` a few timestamps at a time; in float32 (doubled
        label ranks) for cross-sections up to :data:`FLOAT32_WIDTH` names, else
        float64. Every term and partial sum is exact either way, so the result
        is the same bits whatever the chunking, kernel or precision.
        """
        n_groups, n_features, width = self.doubled.shape
        whole = n_features == cols.size and bool(np.all(cols == np.arange(cols.size)))
        small = width <= FLOAT32_WIDTH
        label = (2.0 * cy).astype(np.float32) if small else cy
        dtype = np.float32 if small else np.float64
        out = np.empty((n_groups, cols.size))
        for part in _steps(n_groups, cols.size * width):
            block = self.doubled[part] if whole else self.doubled[part][:, cols]
            out[part] = np.matmul(block.astype(dtype), label[part, :, None])[..., 0]
        out *= 0.25 if small else 0.5  # a power of two: exact
        return out

    def percentiles(self, part: slice, keep: npt.NDArray[np.bool_] | None) -> F64:
        """The features ``part``'s ``px`` (module docstring), (features, groups * slots).

        Computed in place in the feature-major layout the pooled products read.
        """
        n_groups, _, width = self.doubled.shape
        out = np.empty((part.stop - part.start, n_groups, width))
        px = np.transpose(out, (1, 0, 2))  # (groups, features, slots) view
        _into_percentiles(px, self.doubled[:, part], self.n_finite[:, part, None])
        if keep is not None:
            px[~np.broadcast_to(keep[:, None, :], px.shape)] = 0.0
        return out.reshape(-1, n_groups * width)

    def percentiles_at(self, slots: I64, keep: npt.NDArray[np.bool_] | None, part: slice) -> F64:
        """The features ``part``'s ``px`` at the flat grid ``slots``, (features, slots)."""
        width = self.doubled.shape[2]
        g, s = np.divmod(slots, width)
        out = np.empty((part.stop - part.start, slots.size))
        px = out.T  # (slots, features) view
        _into_percentiles(px, self.doubled[g, part, s], self.n_finite[g, part])
        if keep is not None:
            px[~keep[g, s]] = 0.0
        return out

    def pooled_products(self, py: F64, keep: npt.NDArray[np.bool_] | None) -> F64:
        """(features x labels) ``sum px py`` from ``px = c / n = doubled / (2 n)``.

        ``py`` is (groups * slots, labels). Per timestamp ``sum_s doubled * py``
        is one batched product, then scaled by ``1 / (2 n)``; ``px = c / n`` is
        the percentile formula's exact value (``(c + n / 2) / n - 1/2``), so this
        differs from the product of the rounded ``px`` only in rounding.
        """
        scale = np.zeros(self.n_finite.shape)
        np.divide(0.5, self.n_finite, out=scale, where=self.n_finite > 0)
        return self._per_timestamp(py, keep, lambda part: self.doubled[part], scale)

    def present_products(self, py2: F64, keep: npt.NDArray[np.bool_] | None) -> F64:
        """(features x labels) ``sum py2`` over the cells where ``px != 0``.

        ``px`` is 0 exactly where ``doubled`` is (a missing value, the middle
        rank of an odd cross-section, padding) and outside ``keep``.
        """
        return self._per_timestamp(py2, keep, lambda part: self.doubled[part] != 0, None)

    def _per_timestamp(
        self,
        py: F64,
        keep: npt.NDArray[np.bool_] | None,
        cells: Callable[[slice], npt.NDArray[Any]],
        scale: F64 | None,
    ) -> F64:
        """``sum_g scale[g] * cells(g) @ py[g]``, (features x labels), over a few
        timestamps at a time and added timestamp after timestamp, so the sums
        are the same whatever the chunks."""
        n_groups, n_features, width = self.doubled.shape
        labels = py.reshape(n_groups, width, -1)
        if keep is not None:
            labels = labels * keep[..., None]
        out = np.zeros((n_features, labels.shape[2]))
        for part in _steps(n_groups, n_features * width):
            sums = np.matmul(cells(part).astype(np.float64), labels[part])
            if scale is not None:
                sums *= scale[part, :, None]
            # (out + sums[0]) + sums[1] + ...: NumPy adds along the outer axis in order
            out = np.add.reduce(np.concatenate((out[None], sums)), axis=0)
        return out


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
        y_ranks, n_y = _label_ranks(y_grid)
        cy = _centred(y_ranks, n_y)
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
        step = max(1, RANK_CHUNK_VALUES // max(block.pos.shape[1], 1))
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
        py`` from the stored ranks (:meth:`_Block.pooled_products`, equal to
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
                grid = _on_grid(np.asarray(v, dtype=np.float64), block.pos)
                py[:, k] = _percentiles(*_label_ranks(grid)).reshape(-1)
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
            for part in _steps(n_features, union.size):
                at = block.percentiles_at(union, keep, part)
                for k, idx in where.items():
                    left_out = np.ascontiguousarray(at[:, idx])  # rows summed alike
                    den_x[part, k] += pooled.sum_sq[part] - np.einsum(
                        "fi,fi->f", left_out, left_out
                    )
            for k in np.flatnonzero(~few).tolist():
                kept = np.flatnonzero(known[:, k])
                for part in _steps(n_features, n_slots):
                    px = np.ascontiguousarray(block.percentiles(part, keep)[:, kept])
                    den_x[part, k] += np.einsum("fi,fi->f", px, px)
        with np.errstate(invalid="ignore", divide="ignore"):
            approx: F64 = np.abs(num) / (np.sqrt(den_x) * np.sqrt(den_y))
        return approx

    def _keep(self, block: _Block) -> npt.NDArray[np.bool_] | None:
        """The (group, slot) cells of ``block`` inside ``pooled_keep`` (``None``: all)."""
        if self.pooled_keep is None:
            return None
        return self.pooled_keep[np.maximum(block.pos, 0)] & (block.pos >= 0)

    def _pooled_norms(self, block: _Block, keep: npt.NDArray[np.bool_] | None) -> _Norms:
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
            for part in _steps(n_features, slots.size):
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
            block.norms = _Norms(sum_sq, zeros)
        return block.norms


def _percentiles(ranks: F64, counts: I64) -> F64:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ranks - 0.5) / counts[..., None] - 0.5
    return np.where(np.isfinite(r), r, 0.0)


def _into_percentiles(out: F64, doubled: npt.NDArray[Any], counts: npt.NDArray[np.int64]) -> None:
    """``out[...] = _percentiles(doubled / 2 + (counts + 1) / 2, counts)``, bit for bit.

    ``counts`` broadcasts against ``doubled`` (one count per cross-section). The
    same operations in the same order, in place: the centred rank ``doubled /
    2`` plus ``(n + 1) / 2`` is the average rank ``r`` (exact), then ``(r -
    0.5) / n - 0.5``. Where a value is missing (``doubled`` 0, ``n >= 1``) that
    is ``(n / 2) / n - 0.5 = 0`` exactly, the 0 its NaN rank gave; a
    cross-section with no value (``n = 0``) gives NaN, set to 0 as there.
    """
    np.multiply(doubled, 0.5, out=out)
    out += (counts + 1) / 2.0
    out -= 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= counts
    out -= 0.5
    out[~np.isfinite(out)] = 0.0
