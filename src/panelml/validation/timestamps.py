"""Timestamp helpers shared by splitters, metrics and permutation tests.

Everything in ``validation/`` works on the index of the *unique* timestamps
(0..T-1), not on the raw values: a horizon or an embargo of ``h`` means ``h``
bars, whatever the spacing of the raw timestamps (DESIGN.md, Time section).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Int64Array = npt.NDArray[np.int64]

__all__ = ["Int64Array", "subsample_rows", "timestamp_index"]


def timestamp_index(timestamps: npt.ArrayLike) -> tuple[Int64Array, npt.NDArray[Any]]:
    """Map per-row timestamps to codes 0..T-1 of their sorted unique values.

    Returns ``(codes, unique)`` with ``unique[codes] == timestamps``. Rows need not
    be sorted; when they are (the ``Panel`` layout) a linear-time path is used
    instead of a sort, which matters on 500k-row panels.
    """
    ts = np.asarray(timestamps)
    if ts.ndim != 1:
        raise ValueError(f"timestamps must be one-dimensional, got shape {ts.shape}")
    if ts.size == 0:
        return np.zeros(0, dtype=np.int64), ts.copy()
    if ts.dtype.kind == "f" and bool(np.isnan(ts).any()):
        raise ValueError("timestamps contain NaN; every row needs a timestamp")
    if ts.size == 1 or bool(np.all(ts[1:] >= ts[:-1])):
        new = np.empty(ts.size, dtype=bool)
        new[0] = True
        np.not_equal(ts[1:], ts[:-1], out=new[1:])
        codes = np.cumsum(new, dtype=np.int64) - 1
        return codes, ts[new]
    unique, inverse = np.unique(ts, return_inverse=True)
    return inverse.astype(np.int64, copy=False).reshape(-1), unique


def stable_group_order(codes: Int64Array, n_groups: int) -> npt.NDArray[np.intp]:
    """Row order that groups rows by code, keeping row order within a group.

    Codes are cast to the narrowest integer type first: numpy's stable sort is a
    radix sort for 16-bit integers, several times faster than on int64.
    """
    small: npt.NDArray[Any]
    if n_groups <= np.iinfo(np.int16).max:
        small = codes.astype(np.int16)
    elif n_groups <= np.iinfo(np.int32).max:
        small = codes.astype(np.int32)
    else:
        small = codes
    return np.argsort(small, kind="stable")


def subsample_rows(
    timestamps: npt.ArrayLike,
    max_rows_per_timestamp: int | None = None,
    timestamp_stride: int = 1,
    seed: int = 0,
) -> Int64Array:
    """Row indices of a smaller panel with whole, evenly thinned cross-sections.

    Keeps every ``timestamp_stride``-th unique timestamp (the first one included),
    and within each kept timestamp at most ``max_rows_per_timestamp`` rows drawn
    at random. The draw is seeded: one uniform key per row from
    ``numpy.random.default_rng(seed)``, the rows with the smallest keys win, so the
    same seed and panel give the same rows. Used for expensive diagnostics
    (permutation importance, screening) on large panels, where thinning time keeps
    the temporal spread and capping names keeps each cross-section balanced.
    Returns sorted int64 row indices.
    """
    if timestamp_stride < 1:
        raise ValueError(f"timestamp_stride must be >= 1, got {timestamp_stride}")
    if max_rows_per_timestamp is not None and max_rows_per_timestamp < 1:
        raise ValueError(
            f"max_rows_per_timestamp must be >= 1 or None, got {max_rows_per_timestamp}"
        )
    codes, unique = timestamp_index(timestamps)
    keep = codes % timestamp_stride == 0
    if max_rows_per_timestamp is None:
        return np.flatnonzero(keep).astype(np.int64)
    n = codes.size
    key = np.random.default_rng(seed).random(n)
    order = np.lexsort((key, codes))  # grouped by timestamp, random within
    sorted_codes = codes[order]
    counts = np.bincount(codes, minlength=unique.size)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    position = np.arange(n) - starts[sorted_codes]
    chosen = order[(position < max_rows_per_timestamp) & keep[order]]
    return np.sort(chosen).astype(np.int64)
