"""False discovery rate control: Benjamini-Hochberg (1995) and Benjamini-Yekutieli (2001).

Target ranking tests many targets (and feature selection many features) at
once; step-up FDR control keeps the expected share of false discoveries at q.
BY divides q by c(m) = sum_{i<=m} 1/i and stays valid under any dependence
between the tests, which is the default because targets and features built
from the same panel are correlated.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["adjust_pvalues", "bh_adjust", "by_adjust", "reject"]

Method = Literal["bh", "by"]
FloatArray = npt.NDArray[np.float64]


def _prepare(p: npt.ArrayLike, method: Method) -> tuple[FloatArray, npt.NDArray[np.bool_], float]:
    """(p as float array, non-NaN mask, c(m)) after checking method and range."""
    if method not in ("bh", "by"):
        raise ValueError(f"method must be 'bh' or 'by', got {method!r}")
    arr = np.asarray(p, dtype=np.float64)
    finite = ~np.isnan(arr)
    values = arr[finite]
    if values.size and (values.min() < 0.0 or values.max() > 1.0):
        raise ValueError("p-values must lie in [0, 1]")
    m = values.size
    c = float(np.sum(1.0 / np.arange(1, m + 1))) if method == "by" and m else 1.0
    return arr, finite, c


def _adjust(p: npt.ArrayLike, method: Method) -> FloatArray:
    """Step-up adjusted p-values p~_(k) = min_{j>=k} min(1, m c p_(j) / j).

    NaN p-values stay NaN and do not count in m.
    """
    arr, finite, c = _prepare(p, method)
    out = np.full(arr.shape, np.nan)
    values = arr[finite]
    m = values.size
    if m == 0:
        return out
    order = np.argsort(values, kind="stable")
    ranked = m * c * values[order] / np.arange(1, m + 1)
    # minimum over j >= k: a reversed running minimum
    stepped = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    out[finite] = adjusted
    return out


def bh_adjust(p: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg (1995) adjusted p-values (independent or PRDS tests)."""
    return _adjust(p, "bh")


def by_adjust(p: npt.ArrayLike) -> FloatArray:
    """Benjamini-Yekutieli (2001) adjusted p-values (valid under any dependence)."""
    return _adjust(p, "by")


def adjust_pvalues(p: npt.ArrayLike, method: Method = "by") -> FloatArray:
    """Adjusted p-values (q-values) by ``method``: ``'by'`` (default) or ``'bh'``."""
    return _adjust(p, method)


def reject(p: npt.ArrayLike, q: float = 0.05, method: Method = "by") -> npt.NDArray[np.bool_]:
    """Which hypotheses the step-up procedure rejects at FDR level ``q``.

    Equivalent to rejecting the k* smallest p-values with
    k* = max{k : p_(k) <= k q / (m c)}: step-up, so a failure at a small k does not
    stop later rejections. NaN p-values are never rejected.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    arr, finite, c = _prepare(p, method)
    values = np.sort(arr[finite])
    m = values.size
    out = np.zeros(arr.shape, dtype=bool)
    # the definition itself, not adjusted <= q, so k q / (m c) is not lost to rounding
    passing = np.flatnonzero(values <= np.arange(1, m + 1) * q / (m * c))
    if passing.size:
        out[finite] = arr[finite] <= values[passing[-1]]
    return out
