"""Feature selection's augmented matrix ``[X_allowed | shadows]``, read by parts.

What: :class:`AugmentedMatrix` is the matrix every model and rank statistic of
a feature set reads (:mod:`~panelml.stages.selection._importance` says what the
shadows are), implementing :class:`~panelml.data.matrix.MatrixParts`. Why not
one array: stored, it is twice the float32 panel (200k rows x 200 columns:
160 MB), held through the whole stage. Its real columns are the panel's own,
and a symbol-shuffled shadow is its source column read through one permutation
of the symbols (the value of (t, s) is the source's value of symbol pi(s) at
t), so both are gathered from the panel when a part is read: the columns of a
LightGBM bin group, a fold's test rows, a chunk of a target's rows. Each part
holds exactly the values :func:`~panelml.stages.selection._importance.shadow_matrix`
writes, from the same seeded draws (a test compares them), so no result
depends on it. Row-shuffled shadows (a fresh shuffle at every timestamp) have
no such compact form and are stored.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from panelml.data.matrix import Columns
from panelml.data.panel import Panel
from panelml.data.shift import row_grid
from panelml.stages.selection._importance import shadow_matrix

__all__ = ["AugmentedMatrix"]

IntArray = npt.NDArray[np.int64]

_GATHER_CELLS = 1_000_000
"""Cells of a row part gathered at once (8 MB of int64 source-row ids)."""


class AugmentedMatrix:
    """``[X[:, columns] | shadows of them]`` of ``panel`` (float32, rows x 2 len(columns))."""

    def __init__(
        self,
        panel: Panel,
        columns: IntArray,
        rng: np.random.Generator,
        shuffle: Literal["symbol", "row"] = "symbol",
    ) -> None:
        # the panel itself, not its arrays: pickled for workers with the panel the
        # runner ships (one object), where an array reference would be written again
        self._panel = panel
        self.columns = np.asarray(columns, dtype=np.int64)
        n = int(self.columns.size)
        self.shape: tuple[int, int] = (panel.n_rows, 2 * n)
        self._stored: npt.NDArray[np.float32] | None = None
        self._nan_free: npt.NDArray[np.bool_] | None = None
        if shuffle == "row":
            self._stored = shadow_matrix(panel, self.columns, rng, "row")
            return
        # the draws of shadow_matrix, in its order: one permutation per column,
        # kept as (symbol, shadow): the partner symbol of each shadow column
        perms = np.empty((n, panel.n_symbols), dtype=np.int64)
        for j in range(n):
            perms[j] = rng.permutation(panel.n_symbols)
        self._partner = np.ascontiguousarray(perms.T)
        grid = row_grid(panel).reshape(-1)
        self._complete = bool((grid >= 0).all())
        self._grid = grid
        # each row's offset of its timestamp in the flat grid, and its symbol
        self._base = panel.timestamp_index * panel.n_symbols
        self._symbol = panel.symbol_codes.astype(np.int64)
        # a complete panel whose rows are its grid's cells in order: the row of
        # (t, s') is the row of (t, s) - s + s', so a shadow's flat position in
        # the C-ordered features is a per-row offset plus a per-(symbol, shadow)
        # one, without the grid
        self._offsets: tuple[IntArray, IntArray] | None = None
        X = panel.X
        if X.flags.c_contiguous and np.array_equal(grid, np.arange(panel.n_rows)):
            width = int(X.shape[1])
            row_offset = (np.arange(panel.n_rows, dtype=np.int64) - self._symbol) * width
            partner_offset = self._partner * width + self.columns[None, :]
            self._offsets = (row_offset, partner_offset)

    @property
    def _features(self) -> npt.NDArray[np.float32]:
        """The panel's feature matrix (all columns)."""
        return self._panel.X

    @property
    def n_real(self) -> int:
        """Real (allowed) columns: the first half."""
        return int(self.columns.size)

    # -- MatrixParts ---------------------------------------------------------------
    def take(
        self, rows: npt.NDArray[np.integer[Any]] | None, columns: Columns | None
    ) -> npt.NDArray[np.float32]:
        """Rows ``rows`` of columns ``columns`` (all when ``None``), a new C-ordered
        array, gathered a chunk of rows at a time."""
        n_rows, n_cols = self.shape
        picked = None if rows is None else np.asarray(rows, dtype=np.intp)
        wanted = np.arange(n_cols) if columns is None else np.asarray(columns, dtype=np.intp)
        if wanted.size and (wanted.min() < 0 or wanted.max() >= n_cols):
            raise IndexError(f"columns outside the augmented matrix's {n_cols}")
        size = n_rows if picked is None else picked.size
        out = np.empty((size, wanted.size), dtype=np.float32)
        real = _positions(np.flatnonzero(wanted < self.n_real))
        shadow = _positions(np.flatnonzero(wanted >= self.n_real))
        step = max(1, _GATHER_CELLS // max(1, wanted.size))
        # a run of consecutive rows of a complete panel in grid order (a fold's
        # test block, a whole column group) reads its shadows a timestamp at a time
        first = 0 if picked is None else _run_start(picked)
        by_timestamp = None
        if shadow is not None and first is not None:
            by_timestamp = self._timestamp_positions(wanted[shadow] - self.n_real)
        for lo in range(0, size, step):
            part = np.arange(lo, min(size, lo + step)) if picked is None else picked[lo : lo + step]
            into = out[lo : lo + part.size]
            if real is not None:
                into[:, real] = self._real(part, self.columns[wanted[real]])
            if shadow is not None and by_timestamp is not None and first is not None:
                into[:, shadow] = self._shadow_run(first + lo, first + lo + part.size, by_timestamp)
            elif shadow is not None:
                into[:, shadow] = self._shadows(part, wanted[shadow] - self.n_real)
        return out

    def nan_free(self) -> npt.NDArray[np.bool_]:
        """Per column: no NaN in any row. A real column is read once to know; a
        symbol shadow holds its source's values at every row when every symbol
        has a row at every timestamp, else it may hold NaN where the partner
        symbol has none (``False``: not known free)."""
        if self._nan_free is None:
            X = self._features
            real = np.array([not np.isnan(X[:, c]).any() for c in self.columns], dtype=bool)
            if self._stored is not None:
                shadow = ~np.isnan(self._stored).any(axis=0)
            else:
                shadow = real & self._complete
            self._nan_free = np.concatenate([real, shadow])
        return self._nan_free

    # -- gathering -----------------------------------------------------------------
    def _real(self, rows: npt.NDArray[np.intp], columns: IntArray) -> npt.NDArray[np.float32]:
        """``rows`` x panel ``columns`` (whole rows when they are every column in order)."""
        X = self._features
        if columns.size == X.shape[1] and np.array_equal(columns, np.arange(columns.size)):
            whole_rows: npt.NDArray[np.float32] = X[rows]
            return whole_rows
        part: npt.NDArray[np.float32] = X[np.ix_(rows, columns)]
        return part

    def _timestamp_positions(self, j: IntArray) -> npt.NDArray[np.intp] | None:
        """Where shadows ``j`` of every symbol lie in one timestamp's C-ordered
        features (symbols x len(j), flat), or ``None`` unless the panel is complete
        and in grid order (then every timestamp holds every symbol at the same
        offsets: the row of (t, s) is t * n_symbols + s; stored shadows are read
        as stored)."""
        if self._stored is not None or self._offsets is None:
            return None
        if not self._features.flags.c_contiguous:
            return None
        width = int(self._features.shape[1])
        positions = self._partner[:, j] * width + self.columns[j][None, :]
        return np.ascontiguousarray(positions.reshape(-1), dtype=np.intp)

    def _shadow_run(
        self, start: int, stop: int, positions: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.float32]:
        """Shadows of the consecutive rows ``start:stop`` through ``positions``
        (:meth:`_timestamp_positions`): the whole timestamps they touch, viewed as
        (timestamps x one timestamp's features), are gathered along their columns
        with one small index, instead of a flat index per cell (6x faster at 40k
        rows x 100 shadows)."""
        n_symbols = self._panel.n_symbols
        first, last = start // n_symbols, -(-stop // n_symbols)
        X = self._features
        cells = X[first * n_symbols : last * n_symbols].reshape(last - first, -1)
        taken = np.take(cells, positions, axis=1).reshape((last - first) * n_symbols, -1)
        part: npt.NDArray[np.float32] = taken[start - first * n_symbols : stop - first * n_symbols]
        return part

    def _shadows(self, rows: npt.NDArray[np.intp], j: IntArray) -> npt.NDArray[np.float32]:
        """``rows`` x shadows ``j``: shadow j of (t, s) is its source column at the
        row of symbol ``partner[s, j]`` at t, NaN where that symbol has no row
        (as :func:`shadow_matrix` writes it)."""
        if self._stored is not None:
            stored: npt.NDArray[np.float32] = self._stored[np.ix_(rows, j)]
            return stored
        X = self._features
        symbols = self._symbol[rows]
        if self._offsets is not None and X.flags.c_contiguous:  # complete, in grid order
            row_offset, partner_offset = self._offsets
            flat = row_offset[rows][:, None] + partner_offset[np.ix_(symbols, j)]
            taken: npt.NDArray[np.float32] = np.take(X.reshape(-1), flat)
            return taken
        # (rows x shadows) source rows through the flat grid
        source = self._grid[self._base[rows][:, None] + self._partner[np.ix_(symbols, j)]]
        missing = source < 0
        source[missing] = 0
        values: npt.NDArray[np.float32]
        if X.flags.c_contiguous:  # one flat take
            source *= int(X.shape[1])
            source += self.columns[j][None, :]
            values = np.take(X.reshape(-1), source)
        else:
            values = X[source, self.columns[j][None, :]]
        values[missing] = np.nan
        return values


def _run_start(rows: npt.NDArray[np.intp]) -> int | None:
    """The first row when ``rows`` are consecutive ascending rows, else ``None``."""
    if rows.size == 0:
        return None
    if int(rows[-1]) - int(rows[0]) + 1 != rows.size or not bool(np.all(np.diff(rows) == 1)):
        return None
    return int(rows[0])


def _positions(index: npt.NDArray[np.intp]) -> slice | npt.NDArray[np.intp] | None:
    """Column positions as a slice when they are one ascending run (a strided copy
    instead of a scatter), ``None`` when there are none."""
    if index.size == 0:
        return None
    if int(index[-1]) - int(index[0]) + 1 == index.size:
        return slice(int(index[0]), int(index[-1]) + 1)
    return index
