"""A float32 feature matrix that is either held whole or read by parts.

What: :class:`MatrixParts` is the read interface of a matrix that is never held
whole (rows gathered or columns gathered on request), and :func:`rows_of`,
:func:`columns_of` and :func:`whole` read either kind. Why: feature selection
reads ``[features | shadows]``, twice the float32 panel if stored; its shadows
are the panel's own columns seen through per-column symbol permutations, so
they can be gathered when a consumer reads them instead (see
``panelml.stages.selection._augmented``). Model families that bin the matrix
once and then read only rows (LightGBM) and the rank statistics read it by
parts; anything else calls :func:`whole` and gets the same values as one array.
It lives in ``panelml.data`` because both the models and the validation
statistics read such matrices and neither may import the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["FeatureMatrix", "MatrixParts", "columns_of", "nan_free", "part_of", "rows_of", "whole"]

Columns: TypeAlias = Sequence[int] | npt.NDArray[np.integer[Any]] | range


@runtime_checkable
class MatrixParts(Protocol):
    """A (rows x columns) float32 matrix read a part at a time.

    Every part holds exactly the values the whole matrix would hold there, so a
    consumer's results do not depend on which kind it was given."""

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        ...

    def take(
        self, rows: npt.NDArray[np.integer[Any]] | None, columns: Columns | None
    ) -> npt.NDArray[np.float32]:
        """Rows ``rows`` of columns ``columns``, each in the order given (all when
        ``None``), as a new C-ordered array."""
        ...

    def nan_free(self) -> npt.NDArray[np.bool_]:
        """Per column: it holds no NaN in any row (a consumer that looks for NaN
        on some rows need not read these columns)."""
        ...


FeatureMatrix: TypeAlias = npt.NDArray[np.float32] | MatrixParts
"""A feature matrix held whole (an array) or read by parts."""


def rows_of(
    X: FeatureMatrix,
    rows: npt.NDArray[np.integer[Any]],
    stop: int | None = None,
) -> npt.NDArray[np.float32]:
    """``X[rows, :stop]`` (all columns when ``stop`` is ``None``) as an array."""
    if isinstance(X, np.ndarray):
        taken: npt.NDArray[np.float32] = X[rows] if stop is None else X[:, :stop][rows]
        return taken
    return X.take(rows, None if stop is None else range(min(stop, X.shape[1])))


def columns_of(X: FeatureMatrix, columns: Columns | slice) -> npt.NDArray[np.float32]:
    """``X[:, columns]``: NumPy's view or copy for an array, a new array for parts."""
    if isinstance(X, np.ndarray):
        key: Any = columns if isinstance(columns, slice) else np.asarray(columns, dtype=np.intp)
        taken: npt.NDArray[np.float32] = X[:, key]
        return taken
    if isinstance(columns, slice):
        columns = range(*columns.indices(X.shape[1]))
    return X.take(None, columns)


def part_of(
    X: FeatureMatrix, rows: npt.NDArray[np.integer[Any]], columns: Columns
) -> npt.NDArray[np.float32]:
    """``X[rows][:, columns]`` as an array."""
    if isinstance(X, np.ndarray):
        taken: npt.NDArray[np.float32] = X[np.ix_(rows, np.asarray(columns, dtype=np.intp))]
        return taken
    return X.take(rows, columns)


def whole(X: FeatureMatrix) -> npt.NDArray[np.float32]:
    """The whole matrix as one array (``X`` itself when it is one)."""
    if isinstance(X, np.ndarray):
        return X
    return X.take(None, None)


def nan_free(X: FeatureMatrix) -> npt.NDArray[np.bool_] | None:
    """Columns known to hold no NaN (``None`` for an array: not known without
    reading it)."""
    return None if isinstance(X, np.ndarray) else X.nan_free()
