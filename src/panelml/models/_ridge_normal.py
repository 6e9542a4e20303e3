"""Ridge regression from normal equations summed over row chunks.

What: :func:`ridge_normal_equations` fits scikit-learn's ``Ridge`` (Cholesky,
with an intercept) on the standardised rows of a matrix without building the
standardised float64 copy of them, and :func:`cholesky_alpha` says when a
params mapping is that estimator. Why by hand: scikit-learn's ``Ridge`` needs
the whole design in memory (1.5-3x a float32 panel for a fold's rows: target
ranking's memory peak); its Cholesky solve only needs the features x features
products, which add up over row chunks. :mod:`panelml.models.linear` uses it
for ridge regression and falls back to scikit-learn for anything else.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.models._sklearn import add_rows, column_means, imputed_chunks
from panelml.models.base import FloatArray

__all__ = ["RIDGE_NORMAL_PARAMS", "cholesky_alpha", "ridge_normal_equations", "standardised"]

RIDGE_NORMAL_PARAMS = frozenset(
    {"alpha", "solver", "copy_X", "tol", "max_iter", "random_state", "fit_intercept", "positive"}
)
"""The ``Ridge`` params under which the normal-equation solve is scikit-learn's
fit (``tol``, ``max_iter``, ``random_state`` and ``copy_X`` do not change a
Cholesky solve); see :meth:`RidgeFamily._normal_alpha` for their values."""


def ridge_normal_equations(
    X: FloatArray, rows: npt.NDArray[np.intp] | None, Ys: npt.NDArray[np.float64], alpha: float
) -> (
    tuple[
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
    ]
    | None
):
    """(means, scales, coef, intercept) of ``Ridge(alpha)`` (Cholesky, with an
    intercept) on the standardised ``X[rows]`` and the (standardised) targets
    ``Ys`` (rows, targets): ``coef`` is (features, targets), ``intercept`` one
    per target, in the units of ``Ys``. ``None`` when the factorisation fails
    or something is not finite (the caller then fits with scikit-learn, which
    raises or switches solver as it always did).

    The standardised matrix is never built: passes over row chunks of
    ``X[rows]`` (``imputed_chunks``) sum what the solve needs. Held at once: the
    features x features Gram matrix, features x targets products, ``Ys`` and one
    row chunk with its temporaries (a few times ``COLUMN_SUM_CELLS`` float64).

    - ``means``: :func:`column_means`, as :func:`~panelml.models._standardise.fit_standardise`.
    - ``scales``: :func:`column_stds` of the imputed, centred matrix, bit for
      bit: its two sums (the column sums, then the sums of squared deviations
      from their mean) are carried chunk to chunk with ``add_rows`` over the
      chunks ``column_sums`` reads.
    - The second pass also sums ``D^T D`` and ``D^T Ys`` for ``D``, the chunk's
      deviations from its column means (the centred matrix scikit-learn builds,
      before scaling), and the scales divide them afterwards: scikit-learn's
      ``Xc^T Xc`` and ``Xc^T yc`` up to rounding. Then ``(Xc^T Xc + alpha I) w =
      Xc^T yc`` by Cholesky and ``intercept = mean(Ys) - mean(Z) . w``, as
      ``Ridge`` does.
    """
    from scipy import linalg

    if X.ndim != 2 or X.shape[1] == 0:
        return None
    n_rows = X.shape[0] if rows is None else rows.size
    n_cols = int(X.shape[1])
    means = column_means(X, rows)
    sums: npt.NDArray[np.float64] | None = None
    for _, part in imputed_chunks(X, means, rows):
        part -= means
        sums = add_rows(sums, part)
    assert sums is not None
    centre = sums / n_rows
    squares: npt.NDArray[np.float64] | None = None
    gram = np.zeros((n_cols, n_cols), dtype=np.float64)
    cross = np.zeros((n_cols, Ys.shape[1]), dtype=np.float64)
    for lo, part in imputed_chunks(X, means, rows):
        part -= means
        part -= centre
        squares = add_rows(squares, np.square(part))
        gram += part.T @ part
        cross += part.T @ Ys[lo : lo + part.shape[0]]
    assert squares is not None
    scales = np.sqrt(squares / n_rows)
    scales[~(scales > 0)] = 1.0
    gram /= np.outer(scales, scales)
    gram.flat[:: n_cols + 1] += alpha
    cross /= scales[:, None]
    if not (np.isfinite(gram).all() and np.isfinite(cross).all()):
        return None
    try:
        factor = linalg.cho_factor(gram, overwrite_a=True, check_finite=False)
    except linalg.LinAlgError:
        return None
    coef = np.asarray(linalg.cho_solve(factor, cross, check_finite=False), dtype=np.float64)
    intercept = Ys.mean(axis=0) - (centre / scales) @ coef
    if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        return None
    return means, scales, coef, intercept


def cholesky_alpha(params: Mapping[str, Any]) -> float | None:
    """``alpha`` when ``Ridge(**params)`` fits by Cholesky with an intercept, so
    :func:`ridge_normal_equations` is its fit: params among
    :data:`RIDGE_NORMAL_PARAMS`, ``solver`` auto or cholesky, ``fit_intercept``
    true, ``positive`` false and ``alpha`` a finite number > 0. ``None``
    otherwise (whether scikit-learn accepts every value is checked apart)."""
    if not set(params) <= RIDGE_NORMAL_PARAMS:
        return None
    alpha = params.get("alpha", 1.0)
    solver = params.get("solver", "auto")
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, numbers.Real)
        or not (math.isfinite(float(alpha)) and float(alpha) > 0)
        or not (isinstance(solver, str) and solver in ("auto", "cholesky"))
        or params.get("fit_intercept", True) is not True
        or params.get("positive", False) is not False
    ):
        return None
    return float(alpha)


def standardised(
    Y: FloatArray,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(standardised ``Y``, column means, column scales) of a (rows, targets)
    matrix; a constant column keeps scale 1. A regression target is fitted in
    these units so ``alpha`` means the same whatever the target's scale."""
    Y64 = np.asarray(Y, dtype=np.float64)
    mean = Y64.mean(axis=0)
    scale = Y64.std(axis=0)
    scale[~(scale > 0)] = 1.0
    return (Y64 - mean) / scale, mean, scale
