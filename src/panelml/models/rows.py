"""The row containers and checks every model family shares.

:class:`PreparedData` (a matrix prepared once for many fits), :class:`RowIndex`
(each row's symbol and bar, for sequence families), the array aliases, and the
small row checks. They live apart from :mod:`panelml.models.base` so the family
interface reads on its own; ``base`` re-exports every name here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from panelml.data.matrix import FeatureMatrix, rows_of
from panelml.models.errors import ModelError

__all__ = [
    "FloatArray",
    "IndexArray",
    "PreparedData",
    "RowIndex",
    "Task",
    "as_float64",
    "check_rows",
    "thread_count",
]

Task = Literal["regression", "binary"]
FloatArray = npt.NDArray[np.floating[Any]]
IndexArray = npt.NDArray[np.intp] | npt.NDArray[np.int64]


class PreparedData:
    """A feature matrix prepared once for many fits (default: the raw matrix).

    Families that bin (LightGBM, XGBoost) subclass this to hold their binned
    structure; the default keeps a reference to ``X`` only. A prepared object
    is reused by successive fits and is not safe to share between threads.

    ``X`` may be a :class:`~panelml.data.matrix.MatrixParts` (read by parts,
    never held whole) for families whose ``prepare_matrix`` accepts one
    (:meth:`~panelml.models.base.ModelFamily.prepare_matrix`): they read rows
    through :meth:`rows` only, and :attr:`X` refuses.
    """

    def __init__(self, X: FeatureMatrix) -> None:
        if len(X.shape) != 2:
            raise ModelError(f"X must be a 2-D matrix, got shape {X.shape}")
        self._matrix = X

    @property
    def X(self) -> npt.NDArray[np.float32]:  # noqa: N802 (the matrix, as in scikit-learn)
        """The whole matrix (only when it was prepared from one array)."""
        if not isinstance(self._matrix, np.ndarray):
            raise ModelError(
                f"{type(self).__name__} was prepared from a matrix read by parts; "
                "read its rows with rows()"
            )
        return self._matrix

    def rows(self, rows: IndexArray) -> npt.NDArray[np.float32]:
        """``X[rows]`` (in the order given), from either kind of matrix."""
        return rows_of(self._matrix, np.asarray(rows, dtype=np.intp))

    @property
    def n_rows(self) -> int:
        return int(self._matrix.shape[0])

    @property
    def n_features(self) -> int:
        return int(self._matrix.shape[1])


@dataclass(frozen=True)
class RowIndex:
    """Each row's symbol and bar, for families that declare ``needs_row_index``.

    ``symbols`` holds a symbol code per row; ``times`` the row's bar as an integer
    that increases with time (the panel's timestamp code), the same scale for
    every symbol. Rows may come in any order. ``names`` (optional) are the
    symbols' names by code, for messages.
    """

    symbols: npt.NDArray[np.int64]
    times: npt.NDArray[np.int64]
    names: tuple[str, ...] = ()

    def name(self, code: int) -> str:
        """The symbol's name for messages (its code when no names were given)."""
        return self.names[code] if 0 <= code < len(self.names) else f"code {code}"

    def __post_init__(self) -> None:
        if self.symbols.shape != self.times.shape or self.symbols.ndim != 1:
            raise ModelError(
                f"RowIndex needs two 1-D arrays of one length, got {self.symbols.shape} "
                f"and {self.times.shape}"
            )

    def take(self, rows: npt.NDArray[np.intp]) -> RowIndex:
        """The index of ``rows`` only."""
        return RowIndex(self.symbols[rows], self.times[rows], self.names)


def thread_count(n_jobs: int) -> int:
    """Threads for ``runtime.n_jobs``: itself when >= 1, else every core."""
    return n_jobs if n_jobs >= 1 else (os.cpu_count() or 1)


def check_rows(rows: IndexArray, n_rows: int, what: str) -> npt.NDArray[np.intp]:
    """``rows`` sorted ascending as intp, checked to be unique and in range."""
    out = np.sort(np.asarray(rows).astype(np.intp, copy=False))
    if out.ndim != 1 or out.size == 0:
        raise ModelError(f"{what} must be a non-empty 1-D array of row indices")
    if out[0] < 0 or out[-1] >= n_rows:
        raise ModelError(f"{what} must lie in [0, {n_rows}); got {out[0]}..{out[-1]}")
    if out.size > 1 and not (np.diff(out) > 0).all():
        raise ModelError(f"{what} holds duplicate row indices")
    return out


def as_float64(a: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """A contiguous float64 copy-or-view (predictions are always float64)."""
    return np.ascontiguousarray(a, dtype=np.float64)
