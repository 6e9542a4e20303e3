"""Per-timestamp rank IC of many features with one label in one call.

The leakage screen needs the rank-IC series of every feature with every target (and
with the target's neighbouring windows). One :func:`~panelml.validation.metrics.ic_series`
call per pair paid its fixed costs (timestamp codes, NaN-padded layout, a
Python round trip) hundreds of times per target. Here a block of features is
stacked into one long vector whose groups are (feature, timestamp) pairs, so a
single call ranks and correlates every (feature, timestamp) cross-section at
once. Each group holds exactly the rows of one (feature, timestamp) pair and
the groups are laid out the same way as for one feature at a time, so the
values are the per-pair ones (a test checks they are identical).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.data.matrix import MatrixParts, columns_of
from panelml.validation.metrics import ICSeries, ic_series
from panelml.validation.timestamps import timestamp_index

__all__ = ["RankIC"]

F64 = npt.NDArray[np.float64]

BLOCK_VALUES = 2_000_000
"""Most stacked values per call (about 16 MB a vector; the call holds a few)."""


class RankIC:
    """Rank-IC series over the rows ``take`` (all rows or a per-timestamp subsample).

    ``ic(x, y)`` scores one full-length feature vector; :meth:`many` scores
    several columns of a matrix with one label, in blocks of at most
    :data:`BLOCK_VALUES` stacked values.
    """

    def __init__(self, timestamps: npt.NDArray[Any], min_names: int, take: Any) -> None:
        self.take = take
        self.min_names = min_names
        self.ts = np.asarray(timestamps)[take]
        self.codes, self.unique = timestamp_index(self.ts)

    def __call__(self, x: F64, y: F64) -> ICSeries:
        take = self.take
        return ic_series(x[take], y[take], self.ts, method="rank", min_names=self.min_names)

    def many(
        self, X: npt.NDArray[Any] | MatrixParts, columns: Sequence[int], y: F64
    ) -> dict[int, ICSeries]:
        """``{j: ic(X[:, j], y)}`` for every ``j`` in ``columns``, batched (``X`` may be
        read by parts: a batch's columns are gathered when it is scored)."""
        out: dict[int, ICSeries] = {}
        columns = list(columns)
        if not columns:
            return out
        y_taken = np.asarray(y, dtype=np.float64)[self.take]
        n = y_taken.size
        block = max(1, BLOCK_VALUES // max(n, 1))
        n_groups = self.unique.size
        for start in range(0, len(columns), block):
            chunk = columns[start : start + block]
            stacked = np.asarray(columns_of(X, chunk), dtype=np.float64)[self.take].T.reshape(-1)
            offsets = np.repeat(np.arange(len(chunk), dtype=np.int64) * n_groups, n)
            groups = np.tile(self.codes, len(chunk)) + offsets
            series = ic_series(
                stacked,
                np.tile(y_taken, len(chunk)),
                groups,
                method="rank",
                min_names=self.min_names,
            )
            owner = series.timestamps // n_groups
            bounds = np.searchsorted(owner, np.arange(len(chunk) + 1))
            for k, j in enumerate(chunk):
                lo, hi = int(bounds[k]), int(bounds[k + 1])
                out[j] = ICSeries(
                    self.unique[series.timestamps[lo:hi] - k * n_groups],
                    series.values[lo:hi],
                    series.n_names[lo:hi],
                    n_groups - (hi - lo),
                    "rank",
                )
        return out
