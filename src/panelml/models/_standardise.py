"""The standardised design of a linear fit.

What: :func:`fit_standardise` learns the column means and scales of a fit's
rows and returns them standardised (NaN imputed with the means), and
:func:`standardise` applies learnt ones to new rows. Why a module of its own:
:mod:`panelml.models.linear` fits and persists the families, while how the
design is built (rows read straight into float64, statistics by row chunks:
:mod:`panelml.models._sklearn`) is a memory decision apart from that.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from panelml.models._sklearn import column_means, column_stds, impute
from panelml.models.base import FloatArray

__all__ = ["fit_standardise", "shape_of", "standardise"]


def standardise(
    X: FloatArray, means: npt.NDArray[np.float64], scales: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``X`` standardised with learnt ``means`` and ``scales`` (NaN imputed with
    the means): what a fitted linear model predicts from."""
    Z = impute(X, means)
    Z -= means
    Z /= scales
    return Z


def fit_standardise(
    X: FloatArray, rows: npt.NDArray[np.intp] | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(standardised X[rows], means, scales) learnt from ``X[rows]`` (all rows when
    ``None``; the rows are read straight into the float64 matrix, with no float32
    copy of them); constant columns keep scale 1."""
    means = column_means(X, rows)
    Z = impute(X, means, rows)
    Z -= means
    scales = column_stds(Z)
    scales[~(scales > 0)] = 1.0
    Z /= scales
    return Z, means, scales


def shape_of(X: FloatArray, rows: npt.NDArray[np.intp] | None) -> FloatArray:
    """An array shaped like ``X[rows]`` that holds no data (a broadcast zero): what
    the fit checks read, without gathering the rows."""
    if rows is None:
        return X
    return np.broadcast_to(np.float32(0.0), (rows.size, *X.shape[1:]))
