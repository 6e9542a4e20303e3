"""Feature selection's consensus helpers read their inputs as the reference
definitions do (exact comparisons)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("group_cells", [250_000, 1_000])
def test_rank_correlation_equals_per_column_scipy_ranks_exactly(
    group_cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The redundancy matrix ranks every column in one call; it equals ranking
    each column with scipy (average ranks of the finite values, a missing value
    taking its column's mean rank) bit for bit, with ties, NaN, inf, an
    all-missing and a constant column."""
    from scipy import stats

    from panelml.stages.selection import _consensus
    from panelml.stages.selection._consensus import rank_correlation

    monkeypatch.setattr(_consensus, "_RANK_GROUP_CELLS", group_cells)  # groups of columns

    def per_column(X: np.ndarray) -> np.ndarray:
        n, d = X.shape
        R = np.empty((n, d))
        for j in range(d):
            col = X[:, j].astype(np.float64)
            ok = np.isfinite(col)
            r = np.full(n, np.nan)
            r[ok] = stats.rankdata(col[ok])
            r[~ok] = np.nanmean(r) if ok.any() else 0.0
            R[:, j] = r
        R -= R.mean(axis=0)
        norms = np.sqrt((R * R).sum(axis=0))
        norms[norms == 0] = np.inf
        R /= norms
        return R.T @ R

    rng = np.random.default_rng(11)
    for n, d in ((57, 1), (400, 9), (2_345, 30)):
        X = rng.standard_t(3, size=(n, d)).astype(np.float32)
        X[rng.random((n, d)) < 0.1] = np.nan
        X[:, 0] = np.round(X[:, 0])
        if d > 3:
            X[:, 1], X[:, 2], X[5, 3] = np.nan, 1.0, np.inf
        np.testing.assert_array_equal(rank_correlation(X), per_column(X))
