"""``standardised_ranks`` against a direct definition: per group and column, scipy's
average ranks of the finite values, centred and divided by their ddof-0 spread,
with 0 for missing values and constant columns.

A wrong group boundary, ranks that count NaN, or a spread with ddof 1 each move
values by far more than the float32 tolerance used here (2e-6 relative to values
of order 1), on ragged groups with ties and missing values over three seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from panelml.validation.ranks import standardised_ranks


def reference(X: np.ndarray, starts: np.ndarray) -> np.ndarray:
    out = np.zeros(X.shape)
    bounds = np.r_[starts, X.shape[0]]
    for g in range(starts.size):
        lo, hi = bounds[g], bounds[g + 1]
        for j in range(X.shape[1]):
            col = X[lo:hi, j]
            finite = np.isfinite(col)
            if not finite.any():
                continue
            r = rankdata(col[finite])
            sd = r.std()
            if sd > 0:
                out[lo:hi, j][finite] = (r - r.mean()) / sd
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_the_definition_on_ragged_groups_with_ties_and_gaps(seed: int) -> None:
    rng = np.random.default_rng(seed)
    groups = np.sort(rng.integers(0, 40, 1_500))
    X = rng.standard_t(3, size=(groups.size, 6))
    X[:, 1] = np.round(X[:, 1])  # heavy ties
    X[rng.random(X.shape) < 0.15] = np.nan
    X[groups == 3, 2] = 7.0  # constant in one group
    X[groups == 5, 4] = np.nan  # missing in one group
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    got = standardised_ranks(X, starts)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference(X, starts), atol=2e-6)
    assert not got[groups == 3, 2].any() and not got[groups == 5, 4].any()


def test_a_single_column_vector_and_chunking_give_the_same_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from panelml.validation import ranks

    rng = np.random.default_rng(3)
    X = rng.standard_normal((600, 5))
    starts = np.arange(0, 600, 30)
    whole = standardised_ranks(X, starts)
    monkeypatch.setattr(ranks, "_RANK_CHUNK_CELLS", 50)  # one column per chunk
    np.testing.assert_array_equal(standardised_ranks(X, starts), whole)
    np.testing.assert_array_equal(standardised_ranks(X[:, 2], starts)[:, 0], whole[:, 2])
