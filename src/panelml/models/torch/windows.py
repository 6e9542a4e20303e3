"""Point-in-time windows over a panel, built lazily from index arrays.

A window of row ``r`` is the rows of ``r``'s symbol at its last ``lookback``
bars up to and including ``r``'s own bar, oldest first: it never reaches past
``r``'s time. Only one integer per row is stored (:func:`previous_rows`, the row
of the symbol's previous bar); the ``(rows, lookback)`` row numbers of a
mini-batch are followed from it on demand (:func:`window_rows`) and the feature
values gathered from the one feature matrix (:func:`gather`), so the panel is
never copied ``lookback`` times.

"Previous bar" is the symbol's previous row in the data: a symbol missing at
some timestamps has its window made of the bars it has.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from panelml.models.base import ModelError, RowIndex

IntpArray = npt.NDArray[np.intp]


def previous_rows(index: RowIndex) -> IntpArray:
    """For each row, the row holding its symbol's previous bar (-1 when none).

    Raises :class:`ModelError` when a symbol has two rows at one time.
    """
    n = index.symbols.shape[0]
    order = np.lexsort((index.times, index.symbols))
    sym, times = index.symbols[order], index.times[order]
    same = sym[1:] == sym[:-1]
    if (same & (times[1:] == times[:-1])).any():
        raise ModelError("the row index holds a symbol twice at one time")
    prev = np.full(n, -1, dtype=np.intp)
    prev[order[1:][same]] = order[:-1][same]
    return prev


def window_rows(prev: IntpArray | None, rows: IntpArray, lookback: int) -> IntpArray:
    """``(len(rows), lookback)`` row numbers of the windows of ``rows``, oldest
    first, the row itself last; -1 where the symbol has no bar that far back."""
    out = np.full((rows.shape[0], lookback), -1, dtype=np.intp)
    out[:, -1] = rows
    if prev is None or lookback == 1:
        return out
    current = rows.astype(np.intp, copy=True)
    for j in range(lookback - 2, -1, -1):
        current = np.where(current >= 0, prev[np.maximum(current, 0)], -1)
        out[:, j] = current
    return out


def history_bars(prev: IntpArray, rows: IntpArray, lookback: int) -> IntpArray:
    """Bars available in each row's window (1 .. ``lookback``)."""
    return np.asarray((window_rows(prev, rows, lookback) >= 0).sum(axis=1), dtype=np.intp)


def gather(
    X: npt.NDArray[np.floating],
    windows: IntpArray,
    mean: npt.NDArray[np.float32],
    scale: npt.NDArray[np.float32],
) -> npt.NDArray[np.float32]:
    """Standardised feature windows ``(len(windows), lookback, n_features)``:
    ``(x - mean) / scale``; NaN and bars before the symbol's first (-1) are 0,
    the fit rows' mean."""
    values = np.asarray(X[np.maximum(windows, 0)], dtype=np.float32)
    values = (values - mean) / scale
    values[windows < 0] = 0.0
    np.nan_to_num(values, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return values
