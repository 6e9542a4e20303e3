"""The leakage screen's rank store: one (timestamp, slot) grid of every feature's
centred ranks per block of similar-size timestamps.

What and why: :class:`~panelml.stages.leakage._ranks.CrossSections` groups a
panel's rows by timestamp and keeps one :class:`RankGrid` per block of
timestamps; each grid ranks every feature once and stores its doubled centred
ranks as integers (int16; half the float32 panel), and computes from them the
exact rank products and the prefilter's percentile-rank products, a few
timestamps or features at a time (module docstring of ``_ranks`` for the
arithmetic and why it is exact). Kept apart from the cross-sections' IC logic
so that each module has one job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.validation.ranks import average_ranks

__all__ = [
    "Norms",
    "RankGrid",
    "centred_percentiles",
    "centred_ranks",
    "label_ranks",
    "on_grid",
    "steps",
]

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


def centred_ranks(ranks: F64, counts: I64) -> F64:
    """``r - (n + 1) / 2`` (exact), 0 where there is no rank."""
    mid = (counts[..., None] + 1) / 2.0
    return np.where(np.isnan(ranks), 0.0, ranks - mid)


def on_grid(values: F64, pos: I64) -> F64:
    """Per-row ``values`` on the grid ``pos``; NaN in padding and where not finite."""
    out = values[np.maximum(pos, 0)]
    pad = (pos < 0).reshape(pos.shape + (1,) * (out.ndim - pos.ndim))
    out[pad | ~np.isfinite(out)] = np.nan
    return out


def label_ranks(grid: F64) -> tuple[F64, I64]:
    """``average_ranks(grid)`` of a (timestamp, slot) label grid, a few timestamps at a time.

    Rows are ranked independently, so the chunks give the same numbers while
    the sort's temporaries stay bounded by :data:`RANK_CHUNK_VALUES`.
    """
    ranks = np.empty(grid.shape)
    counts = np.empty(grid.shape[0], dtype=np.int64)
    for part in steps(grid.shape[0], grid.shape[1], RANK_CHUNK_VALUES):
        ranks[part], counts[part] = average_ranks(grid[part])
    return ranks, counts


def steps(total: int, per_item: int, budget: int | None = None) -> list[slice]:
    """``range(total)`` in slices of ``budget // per_item`` items (at least one).

    ``budget`` defaults to :data:`CHUNK_VALUES`.
    """
    budget = CHUNK_VALUES if budget is None else budget
    step = max(1, budget // max(per_item, 1))
    return [slice(lo, min(lo + step, total)) for lo in range(0, total, step)]


@dataclass(frozen=True)
class Norms:
    """A block's per-feature ``sum px^2`` and its zero ranks (``None``: too many)."""

    sum_sq: F64
    zeros: Any


class RankGrid:
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
        for part in steps(n_features, X.shape[0]):
            vals = np.asarray(X[:, part], dtype=np.float64)
            n_part = part.stop - part.start
            for rows in steps(n_groups, n_part * width, RANK_CHUNK_VALUES):
                grid = on_grid(vals, pos[rows])  # (groups, slots, features)
                ranks, counts = average_ranks(np.ascontiguousarray(np.transpose(grid, (0, 2, 1))))
                centred = centred_ranks(ranks, counts)
                self.sxx[rows, part] = np.einsum("gfw,gfw->gf", centred, centred)  # exact
                self.doubled[rows, part] = 2.0 * centred  # exact: integers
                self.n_finite[rows, part] = counts
        self.complete = self.n_finite == self.sizes[:, None]
        self.norms: Norms | None = None

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
        for part in steps(n_groups, cols.size * width):
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
        for part in steps(n_groups, n_features * width):
            sums = np.matmul(cells(part).astype(np.float64), labels[part])
            if scale is not None:
                sums *= scale[part, :, None]
            # (out + sums[0]) + sums[1] + ...: NumPy adds along the outer axis in order
            out = np.add.reduce(np.concatenate((out[None], sums)), axis=0)
        return out


def centred_percentiles(ranks: F64, counts: I64) -> F64:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ranks - 0.5) / counts[..., None] - 0.5
    return np.where(np.isfinite(r), r, 0.0)


def _into_percentiles(out: F64, doubled: npt.NDArray[Any], counts: npt.NDArray[np.int64]) -> None:
    """``out[...] = centred_percentiles(doubled / 2 + (counts + 1) / 2, counts)``, bit for bit.

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
