"""``cross_sectional_ranks`` and the average ranks behind every rank IC, against
scipy's ``rankdata`` per group, and its two paths (the padded layout for grouped
rows, one global sort otherwise) against each other bit for bit.

Average ranks are half-integers, exact in float64, so any correct method gives
identical percentiles: the tests compare with ``array_equal``. A rank off by
one, ties given their first rank, NaN counted in a group or a group boundary
off by one row each change some value, on ragged groups with ties and missing
values over three seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from panelml.validation.ranks import cross_sectional_ranks


def reference(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for g in np.unique(groups):
        at = np.flatnonzero((groups == g) & np.isfinite(x))
        if at.size:
            out[at] = (rankdata(x[at]) - 0.5) / at.size
    return out


def panel_values(seed: int, ragged: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(60), 40)
    x = np.round(rng.standard_normal(groups.size), 1)  # many ties
    x[rng.random(x.size) < 0.1] = np.nan
    x[rng.random(x.size) < 0.02] = np.inf  # infinite counts as missing
    x[groups == 7] = np.nan  # a group with no value
    if ragged:
        keep = rng.random(x.size) > 0.4
        x, groups = x[keep], groups[keep]
    return x, groups


@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_and_shuffled_rows_give_scipys_percentile_ranks(seed: int, ragged: bool) -> None:
    x, groups = panel_values(seed, ragged)
    expected = reference(np.where(np.isfinite(x), x, np.nan), groups)
    grouped = cross_sectional_ranks(x, groups)  # rows grouped: the padded layout
    order = np.random.default_rng(seed).permutation(x.size)  # not grouped: one global sort
    shuffled = np.empty_like(grouped)
    shuffled[order] = cross_sectional_ranks(x[order], groups[order])
    np.testing.assert_allclose(grouped, expected, rtol=0, atol=1e-15)
    assert np.array_equal(grouped, shuffled, equal_nan=True)
