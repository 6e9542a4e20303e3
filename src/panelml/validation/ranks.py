"""Cross-sectional percentile ranks and rank averages.

Ranks put predictions of every model family on one scale whatever their units
(returns, probabilities), which is what lets the ranking consensus, the training
ensemble and ``panelml predict`` average them. One definition serves all three.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from panelml.validation.timestamps import timestamp_index

FloatArray = npt.NDArray[np.float64]

__all__ = ["cross_sectional_ranks", "rank_average"]


def cross_sectional_ranks(values: FloatArray, groups: npt.ArrayLike) -> FloatArray:
    """Percentile rank ``(r - 0.5) / n`` of each value within its group (timestamp).

    ``r`` is the average rank (ties share the mean of their ranks) among the
    ``n`` finite values of that group; NaN stays NaN. Ranks put every
    family on the same scale whatever its output units (returns, probabilities),
    which is what lets the consensus average them.
    """
    x = np.asarray(values, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    finite = np.isfinite(x)
    if not finite.any():
        return out
    codes, _ = timestamp_index(np.asarray(groups)[finite])
    v = x[finite]
    order = np.lexsort((v, codes))
    vs, cs = v[order], codes[order]
    new_run = np.ones(v.size, dtype=bool)
    new_run[1:] = (vs[1:] != vs[:-1]) | (cs[1:] != cs[:-1])
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_len = np.bincount(run_id)
    counts = np.bincount(cs)
    group_start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    run_rank = run_start - group_start[cs[run_start]] + (run_len + 1) / 2.0
    ranks = np.empty(v.size)
    ranks[order] = run_rank[run_id]
    out[finite] = (ranks - 0.5) / counts[codes]
    return out


def rank_average(
    predictions: Sequence[npt.NDArray[np.float64]], groups: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Mean of the predictions' cross-sectional percentile ranks (NaN-aware).

    A row gets the mean over the families that predicted it; a row no family
    predicted stays NaN.
    """
    if not predictions:
        raise ValueError("rank_average needs at least one prediction vector")
    ranks = np.vstack([cross_sectional_ranks(p, groups) for p in predictions])
    finite = np.isfinite(ranks)
    count = finite.sum(axis=0)
    total = np.where(finite, ranks, 0.0).sum(axis=0)
    out = np.full(ranks.shape[1], np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out
