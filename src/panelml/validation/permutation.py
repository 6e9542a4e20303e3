"""Shuffles that keep each timestamp's cross-section intact (for MDA on panels)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.validation.timestamps import stable_group_order, timestamp_index

__all__ = ["permute_each_within_timestamps", "permute_within_timestamps"]


def permute_within_timestamps(
    values: npt.ArrayLike, timestamps: npt.ArrayLike, rng: np.random.Generator
) -> npt.NDArray[Any]:
    """Shuffle ``values`` (rows first; 1-D or 2-D) only among rows of the same timestamp.

    Permutation importance on a panel must break a feature's link to the label
    while keeping its cross-sectional distribution at every timestamp; a global
    shuffle would also leak information across time (REFERENCES.md, MDA; AFML
    ch. 8). One sort does it: rows ordered by (timestamp, random key) are the
    same timestamps in the same group sizes as rows ordered by timestamp alone,
    so writing the first order's values into the second order's slots permutes
    within each timestamp. Returns a new array; the input is left untouched.
    """
    vals = np.asarray(values)
    codes, unique = timestamp_index(timestamps)
    if vals.shape[0] != codes.size:
        raise ValueError(f"values has {vals.shape[0]} rows but timestamps has {codes.size}")
    keys = rng.random(codes.size)
    sizes = np.bincount(codes, minlength=unique.size)
    if codes.size and bool(np.all(codes[1:] >= codes[:-1])) and bool(np.all(sizes == sizes[0])):
        # rows already grouped, equal group sizes (a complete panel): the same
        # order as the sort below, from one small sort per timestamp. The keys
        # are distinct uniform doubles (a tie has probability ~n**2 / 2**53), so
        # the default sort gives the stable sort's order, 4x faster.
        n = int(sizes[0])
        within = np.argsort(keys.reshape(unique.size, n), axis=1)
        out: npt.NDArray[Any] = vals[(within + np.arange(0, codes.size, n)[:, None]).ravel()]
        return out
    shuffled_order = np.lexsort((keys, codes))
    grouped_order = stable_group_order(codes, unique.size)
    out = np.empty_like(vals)
    out[grouped_order] = vals[shuffled_order]
    return out


def permute_each_within_timestamps(
    series: npt.ArrayLike, timestamps: npt.ArrayLike, rng: np.random.Generator
) -> npt.NDArray[Any]:
    """Shuffle each row of ``series`` (k x rows: k series over the same rows) on
    its own, only among rows of the same timestamp: exactly
    ``[permute_within_timestamps(s, timestamps, rng) for s in series]``, the
    same draws in the same order, in one pass.

    Permutation importance shuffles dozens of columns of the same test rows;
    drawing all their keys at once (a Generator's ``random((k, n))`` is the
    stream of k calls of ``random(n)``) and sorting them in one call saves a
    timestamp index and a sort call per column."""
    vals = np.asarray(series)
    if vals.ndim != 2:
        raise ValueError(f"series must be (k, rows), got shape {vals.shape}")
    codes, unique = timestamp_index(timestamps)
    k, n = vals.shape
    if n != codes.size:
        raise ValueError(f"series has {n} rows but timestamps has {codes.size}")
    keys = rng.random((k, n))
    sizes = np.bincount(codes, minlength=unique.size)
    if n and bool(np.all(codes[1:] >= codes[:-1])) and bool(np.all(sizes == sizes[0])):
        # grouped rows, equal groups: as in permute_within_timestamps, one
        # small sort per (series, timestamp)
        width = int(sizes[0])
        flat = np.argsort(keys.reshape(k, unique.size, width), axis=2)
        # each value's position in the flat series: its timestamp's first row, its series' offset
        flat += np.arange(0, n, width)[None, :, None] + np.arange(0, k * n, n)[:, None, None]
        shuffled: npt.NDArray[Any] = np.ascontiguousarray(vals).ravel()[flat.reshape(k, n)]
        return shuffled
    grouped_order = stable_group_order(codes, unique.size)
    out: npt.NDArray[Any] = np.empty_like(vals)
    for j in range(k):
        out[j, grouped_order] = vals[j, np.lexsort((keys[j], codes))]
    return out
