"""Per-symbol time shifts of a panel's rows: "the same symbol k bars later".

A panel's rows are sorted by (timestamp, symbol), so the row of symbol s at the
next bar is not simply the next row. These helpers lay the rows out on a dense
(T, n_symbols) grid of row indices (-1 where a symbol has no row at a
timestamp) and shift along its time axis, fully vectorised. Bars are counted on
the panel's unique timestamps (DESIGN.md, Time), so a shift of k means k bars of
the panel, whatever the spacing of the raw timestamps; a symbol missing at the
shifted bar gives "missing" (-1 / NaN), never a row of another bar.

Uses: the leakage screen compares a feature with a target shifted by its
horizon (the window before and after the label's own), and shadow features
are built by taking another symbol's value at the same timestamp.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.data.panel import Panel

__all__ = ["row_grid", "shift_values", "shifted_rows"]

IntArray = npt.NDArray[np.int64]


def row_grid(panel: Panel) -> IntArray:
    """A (T, n_symbols) int64 grid: the row index of (timestamp t, symbol s), -1 if absent."""
    grid = np.full((panel.n_timestamps, panel.n_symbols), -1, dtype=np.int64)
    grid[panel.timestamp_index, panel.symbol_codes.astype(np.int64)] = np.arange(
        panel.n_rows, dtype=np.int64
    )
    return grid


def shifted_rows(panel: Panel, k: int, grid: IntArray | None = None) -> IntArray:
    """For every row, the row index of the same symbol ``k`` bars later (k < 0: earlier).

    -1 where that bar lies outside the panel or the symbol has no row there.
    ``grid`` may pass a precomputed :func:`row_grid` to save its construction.
    """
    k = int(k)
    g = row_grid(panel) if grid is None else grid
    n_t = g.shape[0]
    shifted = np.full_like(g, -1)
    if abs(k) < n_t:
        if k >= 0:
            shifted[: n_t - k] = g[k:]
        else:
            shifted[-k:] = g[: n_t + k]
    out: IntArray = shifted[panel.timestamp_index, panel.symbol_codes.astype(np.int64)]
    return out


def shift_values(
    panel: Panel, values: npt.ArrayLike, k: int, grid: IntArray | None = None
) -> npt.NDArray[np.float64]:
    """``values`` (one per row) of the same symbol ``k`` bars later, as float64; NaN where
    missing. ``shift_values(panel, y, -h)`` is the target of the window ending at t."""
    vals: npt.NDArray[Any] = np.asarray(values, dtype=np.float64)
    if vals.shape != (panel.n_rows,):
        raise ValueError(f"values must have one entry per row ({panel.n_rows}), got {vals.shape}")
    rows = shifted_rows(panel, k, grid)
    out = np.full(panel.n_rows, np.nan)
    found = rows >= 0
    out[found] = vals[rows[found]]
    return out
