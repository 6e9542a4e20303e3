"""A target's rank block and a feature set's panel ranks: the standardised
cross-sectional ranks the model-free selection kinds read.

What: :class:`PanelRanks` ranks every column of a feature set's augmented
matrix once within each timestamp; :func:`rank_block` gives one target's
:class:`RankBlock` (its labelled rows, their ranks and the target's) from them,
reranking only the timestamps its rows do not fill. Why a module of its own:
the partial and pairwise rank IC, the univariate rank IC and the conditional
step all read blocks, and how a block is stored (ranks only, squares formed on
demand, a view of the panel ranks where it can be) is a memory decision apart
from what they compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.data.matrix import FeatureMatrix, columns_of, rows_of
from panelml.validation.ranks import standardised_ranks
from panelml.validation.timestamps import timestamp_index

__all__ = ["PanelRanks", "RankBlock", "panel_ranks", "rank_block", "with_squares"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_COPY_CHUNK_CELLS = 4_000_000
"""Panel-rank cells copied into a block at once (16 MB in float32)."""

_ALL_ROWS = slice(None)


@dataclass(frozen=True)
class RankBlock:
    """Rows of one target with the target and every column replaced by their
    cross-sectional ranks, standardised within each timestamp (missing -> 0).

    The additive rank model's design is ``[z, z**2 - 1]``; only ``z`` is stored
    and :meth:`design` forms the squares for the rows a consumer reads (a row
    chunk at a time), in ``z``'s dtype: the same values as a stored design at
    half the memory (160 MB instead of 320 MB at 200k rows x 200 float32
    columns). ``z`` may be a read-only view of the feature set's
    :class:`PanelRanks` (see :func:`rank_block`)."""

    rows: IntArray  # panel row ids, ascending
    z: npt.NDArray[np.floating[Any]]  # (len(rows), n_columns), float32 in the stage
    target: FloatArray  # (len(rows),)

    @property
    def n_columns(self) -> int:
        """Columns of ``z`` (the design has twice as many)."""
        return int(self.z.shape[1])

    def design(self, rows: slice | IntArray = _ALL_ROWS) -> npt.NDArray[np.floating[Any]]:
        """``[z, z**2 - 1]`` of the block rows ``rows`` (positions), a new array in
        ``z``'s dtype."""
        return with_squares(self.z[rows])

    def design_columns(self, rows: slice | IntArray, cols: IntArray) -> FloatArray:
        """Design columns ``cols`` (0..2 n_columns - 1) of the block rows ``rows``, in
        float64, with one gather of ``z``."""
        n = self.n_columns
        base = np.where(cols >= n, cols - n, cols)
        part = self.z[rows][:, base] if isinstance(rows, slice) else self.z[np.ix_(rows, base)]
        square = cols >= n
        if square.any():
            sq = part[:, square]
            part[:, square] = sq * sq - 1.0  # in z's dtype, as :func:`with_squares`
        return np.asarray(part, dtype=np.float64)


def with_squares(z: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """``[z, z**2 - 1]`` (rows x 2 columns) in ``z``'s dtype."""
    n = z.shape[1]
    out = np.empty((z.shape[0], 2 * n), dtype=z.dtype)
    out[:, :n] = z
    np.multiply(z, z, out=out[:, n:])
    out[:, n:] -= 1.0
    return out


@dataclass(frozen=True)
class PanelRanks:
    """Standardised ranks (:func:`~panelml.validation.ranks.standardised_ranks`) of
    every column of an augmented matrix within each timestamp over *all* of the
    panel's rows there: computed once per feature set and shared by every target
    whose labelled rows fill a timestamp (:func:`rank_block` reranks only the
    timestamps where a target's rows are fewer)."""

    z: npt.NDArray[np.float32]  # (panel rows, n_columns)
    codes: IntArray  # each panel row's timestamp code
    counts: IntArray  # panel rows per timestamp code


def panel_ranks(X_aug: FeatureMatrix, codes: IntArray) -> PanelRanks:
    """The :class:`PanelRanks` of ``X_aug`` (rows sorted by timestamp, ``codes`` their
    timestamp codes 0..T-1), ranked a group of columns at a time (each column's
    ranks depend on that column alone), so a matrix read by parts is never
    gathered whole."""
    counts = np.bincount(codes).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)[counts > 0]
    n_rows, n_cols = X_aug.shape
    z = np.empty((n_rows, n_cols), dtype=np.float32)
    step = max(1, _COPY_CHUNK_CELLS // max(1, n_rows))
    for lo in range(0, n_cols, step):
        cols = slice(lo, min(n_cols, lo + step))
        z[:, cols] = standardised_ranks(columns_of(X_aug, cols), starts)
    return PanelRanks(z, codes, counts)


def rank_block(
    X_aug: FeatureMatrix,
    y: FloatArray,
    timestamps: IntArray,
    rows: IntArray,
    min_names: int,
    ranks: PanelRanks | None = None,
) -> RankBlock:
    """The :class:`RankBlock` of ``rows`` (labelled rows only; timestamps with fewer
    than ``min_names`` of them are dropped). Folds split whole timestamps, so the
    ranks of a fold's training rows are the rows of this block in that fold.

    With ``ranks`` (of the same ``X_aug``), timestamps where the target's rows are
    all of the panel's rows take their ranks from it; only the others are ranked
    here. The values are the same either way (float32 ranks). When every kept
    row is such a row and the rows are one run of consecutive panel rows (a
    target labelled everywhere but its last ``horizon`` timestamps), the
    block's ``z`` is a read-only view of ``ranks.z``: no copy at all.
    """
    keep = np.sort(rows[np.isfinite(y[rows])])
    codes, _ = timestamp_index(np.asarray(timestamps)[keep])
    enough = np.bincount(codes) >= min_names
    keep = keep[enough[codes]]
    codes, _ = timestamp_index(np.asarray(timestamps)[keep])
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if keep.size else codes
    n_cols = X_aug.shape[1]
    target = standardised_ranks(y[keep], starts)[:, 0].astype(np.float64)
    fresh = np.ones(keep.size, dtype=bool)
    if ranks is not None and keep.size:
        panel_codes = ranks.codes[keep]
        full = np.bincount(panel_codes, minlength=ranks.counts.size) == ranks.counts
        fresh = ~full[panel_codes]
        if not fresh.any() and int(keep[-1]) - int(keep[0]) + 1 == keep.size:
            view = ranks.z[int(keep[0]) : int(keep[-1]) + 1]
            view.flags.writeable = False
            return RankBlock(rows=keep.astype(np.int64), z=view, target=target)
    z = np.empty((keep.size, n_cols), dtype=np.float32)
    if ranks is not None and keep.size:
        cached = np.flatnonzero(~fresh)
        step = max(1, _COPY_CHUNK_CELLS // max(1, n_cols))
        for lo in range(0, cached.size, step):  # in chunks: no full-size temporary
            part = cached[lo : lo + step]
            z[part] = ranks.z[keep[part]]
    if fresh.any():
        sub = codes[fresh]
        sub_starts = np.flatnonzero(np.r_[True, sub[1:] != sub[:-1]])
        z[fresh] = standardised_ranks(rows_of(X_aug, keep[fresh]), sub_starts)
    return RankBlock(rows=keep.astype(np.int64), z=z, target=target)
