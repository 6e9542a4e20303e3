"""Within-timestamp shuffles, row subsampling and the timestamp index."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelml.validation import (
    permute_each_within_timestamps,
    permute_within_timestamps,
    subsample_rows,
    timestamp_index,
)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=80), st.integers(0, 2**16))
def test_permutation_keeps_each_timestamps_multiset(ts_list: list[int], seed: int) -> None:
    ts = np.array(ts_list) * 7
    values = np.arange(ts.size, dtype=float)
    out = permute_within_timestamps(values, ts, np.random.default_rng(seed))
    assert out.shape == values.shape
    for t in np.unique(ts):
        assert Counter(out[ts == t]) == Counter(values[ts == t])


def test_permutation_changes_order_and_handles_2d() -> None:
    rng = np.random.default_rng(0)
    ts = rng.integers(0, 20, 2000)
    values = rng.standard_normal((2000, 3))
    out = permute_within_timestamps(values, ts, np.random.default_rng(1))
    assert not np.array_equal(out, values)
    assert np.mean(np.all(out == values, axis=1)) < 0.2  # most rows moved
    for t in range(20):  # rows move together: a row's features stay together
        a = {tuple(r) for r in values[ts == t]}
        assert {tuple(r) for r in out[ts == t]} == a
    same = permute_within_timestamps(values, ts, np.random.default_rng(1))
    np.testing.assert_array_equal(out, same)  # seeded
    with pytest.raises(ValueError, match="rows"):
        permute_within_timestamps(values[:5], ts, rng)


def test_timestamp_index_sorted_and_unsorted() -> None:
    for ts in (np.array([5, 5, 9, 12, 12, 12]), np.array([12, 5, 9, 12, 5, 12])):
        codes, unique = timestamp_index(ts)
        assert codes.dtype == np.int64
        assert list(unique) == [5, 9, 12]
        np.testing.assert_array_equal(unique[codes], ts)
    codes, unique = timestamp_index(np.array([], dtype=np.int64))
    assert codes.size == 0 and unique.size == 0


def test_subsample_rows() -> None:
    rng = np.random.default_rng(0)
    ts = rng.permutation(np.repeat(np.arange(10), [3, 8, 1, 9, 9, 2, 7, 5, 6, 4]))
    rows = subsample_rows(ts, max_rows_per_timestamp=4, timestamp_stride=2, seed=3)
    assert rows.dtype == np.int64 and np.all(np.diff(rows) > 0)
    counts = Counter(ts[rows].tolist())
    assert set(counts) == {0, 2, 4, 6, 8}
    assert counts == {0: 3, 2: 1, 4: 4, 6: 4, 8: 4}
    np.testing.assert_array_equal(rows, subsample_rows(ts, 4, 2, seed=3))
    assert not np.array_equal(rows, subsample_rows(ts, 4, 2, seed=4))
    np.testing.assert_array_equal(subsample_rows(ts), np.arange(ts.size))
    with pytest.raises(ValueError, match="stride"):
        subsample_rows(ts, timestamp_stride=0)


def test_complete_grid_shuffle_equals_the_sorted_key_definition() -> None:
    """On a complete grid the per-timestamp sorts give exactly the permutation of
    the general definition (rows ordered by (timestamp, random key)), for the
    same generator state; a shuffle across timestamps or a different key order
    would differ in almost every row."""
    for n_t, n_s, seed in [(40, 25, 0), (7, 3, 1), (1, 10, 2)]:
        ts = np.repeat(np.arange(n_t) * 3 + 100, n_s)
        values = np.random.default_rng(seed).standard_normal((ts.size, 2))
        keys = np.random.default_rng(seed + 10).random(ts.size)
        expected = values[np.lexsort((keys, ts))]
        got = permute_within_timestamps(values, ts, np.random.default_rng(seed + 10))
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("layout", ["grid", "ragged", "unsorted"])
def test_each_series_shuffled_as_one_call_per_series(layout: str) -> None:
    """``permute_each_within_timestamps`` equals one ``permute_within_timestamps``
    call per series from the same generator, bit for bit, and leaves the
    generator where those calls leave it: a shuffle that reused one
    permutation for every series, drew keys in another order or mixed
    timestamps differs almost surely (40 values per timestamp)."""
    rng = np.random.default_rng(4)
    sizes = np.full(30, 40) if layout == "grid" else rng.integers(1, 60, 30)
    ts = np.repeat(np.arange(30) * 3, sizes)
    if layout == "unsorted":
        ts = rng.permutation(ts)
    series = rng.standard_normal((6, ts.size)).astype(np.float32)
    each = permute_each_within_timestamps(series, ts, np.random.default_rng(9))
    one_by_one = np.random.default_rng(9)
    expected = np.stack([permute_within_timestamps(s, ts, one_by_one) for s in series])
    np.testing.assert_array_equal(each, expected)
    assert not np.array_equal(each, series)
    after = np.random.default_rng(9)
    permute_each_within_timestamps(series, ts, after)
    assert after.random() == one_by_one.random()
    with pytest.raises(ValueError, match="rows"):
        permute_each_within_timestamps(series[:, :-1], ts, rng)
