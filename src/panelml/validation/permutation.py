"""Shuffles that keep each timestamp's cross-section intact (for MDA on panels)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.validation.timestamps import stable_group_order, timestamp_index

__all__ = ["permute_within_timestamps"]


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
