"""Purged k-fold, walk-forward and CPCV: the AFML ch. 7 rules on random panels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelml.validation import (
    CombinatorialPurgedCV,
    PurgedKFold,
    ValidationConfig,
    WalkForward,
    inner_validation_split,
    make_splitter,
    resolve_embargo,
    timestamp_index,
)


def rect_panel(n_ts: int, n_sym: int) -> np.ndarray:
    return np.repeat(np.arange(n_ts), n_sym)


@st.composite
def panels(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    """Random panel: irregular raw timestamps, random names per timestamp, shuffled rows."""
    n_ts = draw(st.integers(6, 40))
    raw = np.cumsum(draw(st.lists(st.integers(1, 5), min_size=n_ts, max_size=n_ts))) * 10
    sizes = draw(st.lists(st.integers(1, 4), min_size=n_ts, max_size=n_ts))
    ts = np.repeat(raw, sizes)
    seed = draw(st.integers(0, 2**16))
    ts = ts[np.random.default_rng(seed).permutation(ts.size)]
    horizon = draw(st.integers(1, 4))
    embargo = draw(st.integers(0, 3))
    return ts, horizon, embargo


def check_split(codes: np.ndarray, train: np.ndarray, test: np.ndarray, h: int, e: int) -> None:
    assert train.dtype == np.int64 and test.dtype == np.int64
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    assert train.size > 0 and test.size > 0
    tr_ts, te_ts = np.unique(codes[train]), np.unique(codes[test])
    assert not set(tr_ts) & set(te_ts)
    # whole cross-sections: every row of a test timestamp is a test row
    assert set(np.flatnonzero(np.isin(codes, te_ts))) == set(test)
    # no kept training label window overlaps a test label window
    ta, tb = tr_ts[:, None], te_ts[None, :]
    assert not np.any((ta < tb + h) & (tb < ta + h))
    # embargo: after each contiguous test segment, the next e bars past the purge are empty
    seg_ends = te_ts[np.append(np.diff(te_ts) > 1, True)]
    for b in seg_ends:
        assert not np.any((tr_ts > b) & (tr_ts < b + h + e))


def test_reference_case_purged_kfold() -> None:
    ts = rect_panel(10, 3)
    folds = list(PurgedKFold(n_splits=5, horizon=2, embargo=1).split(groups=ts))
    assert len(folds) == 5
    train, test = folds[2]
    assert set(ts[test]) == {4, 5}
    assert sorted(set(ts[train])) == [0, 1, 2, 8, 9]
    assert train.size == 15


def test_purged_kfold_works_in_bars_not_raw_values_or_rows() -> None:
    raw = np.array([3, 7, 100, 101, 250, 251, 400, 999, 1000, 5000])
    ts = np.repeat(raw, [1, 5, 2, 3, 1, 4, 2, 1, 3, 2])
    train, test = next(s for s in PurgedKFold(5, 2, 1).split(groups=ts) if 250 in ts[s[1]])
    assert set(ts[test]) == {250, 251}
    assert set(ts[train]) == {3, 7, 100, 1000, 5000}  # bars 0-2 and 8-9, as in the reference


@settings(max_examples=60, deadline=None)
@given(panels(), st.integers(2, 6))
def test_purged_kfold_properties(panel: tuple[np.ndarray, int, int], n_splits: int) -> None:
    ts, h, e = panel
    codes, unique = timestamp_index(ts)
    cv = PurgedKFold(n_splits, h, e)
    try:
        splits = list(cv.split(np.zeros((ts.size, 2)), groups=ts))
    except ValueError as err:
        assert "lower" in str(err)
        return
    assert len(splits) == cv.get_n_splits() == n_splits
    tested = np.concatenate([np.unique(codes[te]) for _, te in splits])
    assert np.array_equal(np.sort(tested), np.arange(unique.size))  # partition
    for train, test in splits:
        check_split(codes, train, test, h, e)
        assert np.ptp(codes[test]) == np.unique(codes[test]).size - 1  # one contiguous block


@settings(max_examples=40, deadline=None)
@given(panels(), st.integers(2, 5), st.integers(1, 2))
def test_cpcv_properties(panel: tuple[np.ndarray, int, int], n_groups: int, k: int) -> None:
    ts, h, e = panel
    if k >= n_groups:
        k = n_groups - 1
    codes, _ = timestamp_index(ts)
    cv = CombinatorialPurgedCV(n_groups, k, h, e)
    try:
        splits = list(cv.split(groups=ts))
    except ValueError as err:
        assert "lower" in str(err)
        return
    assert len(splits) == math.comb(n_groups, k) == cv.get_n_splits()
    for train, test in splits:
        check_split(codes, train, test, h, e)


@settings(max_examples=40, deadline=None)
@given(panels(), st.integers(1, 4), st.booleans(), st.none() | st.integers(1, 8))
def test_walk_forward_properties(
    panel: tuple[np.ndarray, int, int], n_splits: int, expanding: bool, max_train: int | None
) -> None:
    ts, h, e = panel
    codes, _ = timestamp_index(ts)
    cv = WalkForward(n_splits, h, e, expanding=expanding, max_train=max_train)
    try:
        splits = list(cv.split(groups=ts))
    except ValueError as err:
        assert "lower" in str(err)
        return
    assert len(splits) == n_splits
    prev_end = -1
    for train, test in splits:
        check_split(codes, train, test, h, e)
        a = codes[test].min()
        assert a > prev_end  # test blocks move forward and do not overlap
        prev_end = codes[test].max()
        assert codes[train].max() + h + e <= a  # past only, with the gap
        if max_train is not None:
            assert np.unique(codes[train]).size <= max_train
    assert prev_end == codes.max()  # the last block ends at the last timestamp


def test_walk_forward_layout() -> None:
    ts = rect_panel(12, 2)
    splits = WalkForward(n_splits=3, horizon=1, embargo=0).timestamp_splits(12)
    assert [list(te) for _, te in splits] == [[3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert [list(tr) for tr, _ in splits] == [[0, 1, 2], list(range(6)), list(range(9))]
    rolling = WalkForward(3, horizon=2, embargo=1, expanding=False).timestamp_splits(12)
    assert [list(tr) for tr, _ in rolling] == [[0], [3], [6]]
    capped = WalkForward(3, horizon=1, max_train=2, min_train=4).timestamp_splits(12)
    first_train, first_test = capped[0]
    assert list(first_train) == [2, 3] and int(first_test[0]) == 4
    _, first_test_rows = next(WalkForward(2, 1).split(groups=ts))
    assert first_test_rows.size == 8


def test_cpcv_paths() -> None:
    cv = CombinatorialPurgedCV(n_groups=6, n_test_groups=2, horizon=1, embargo=0)
    assert cv.get_n_splits() == 15
    assert cv.n_paths == 2 * 15 // 6 == 5
    paths = cv.paths()
    assert paths.shape == (5, 6)
    combos = cv.combinations
    for p in range(5):
        for g in range(6):
            assert g in combos[paths[p, g]]
    # every (split, test group) pair is used exactly once over all paths
    used = sorted((int(paths[p, g]), g) for p in range(5) for g in range(6))
    assert used == sorted((s, g) for s, c in enumerate(combos) for g in c)


def test_cpcv_assemble_paths() -> None:
    ts = rect_panel(12, 2)[::-1].copy()
    cv = CombinatorialPurgedCV(4, 2, horizon=1, embargo=0)
    preds = [ts[test] * 100.0 + s for s, (_, test) in enumerate(cv.split(groups=ts))]
    out = cv.assemble_paths(preds, ts)
    assert out.shape == (cv.n_paths, ts.size)
    assert not np.isnan(out).any()
    group = ts // 3
    for p in range(cv.n_paths):
        np.testing.assert_array_equal(out[p], ts * 100.0 + cv.paths()[p, group])


def test_cpcv_merges_adjacent_test_groups() -> None:
    cv = CombinatorialPurgedCV(n_groups=4, n_test_groups=2, horizon=2, embargo=1)
    splits = cv.timestamp_splits(12)
    train, test = splits[cv.combinations.index((1, 2))]
    assert list(test) == list(range(3, 9))
    assert list(train) == [0, 1, 11]


def test_empty_training_raises_clear_error() -> None:
    ts = rect_panel(6, 2)
    with pytest.raises(ValueError, match="lower horizon, embargo or n_splits"):
        list(PurgedKFold(n_splits=2, horizon=3, embargo=3).split(groups=ts))
    with pytest.raises(ValueError, match="lower"):
        list(WalkForward(n_splits=2, horizon=5).split(groups=ts))
    with pytest.raises(ValueError, match="lower"):
        list(CombinatorialPurgedCV(3, 2, horizon=2, embargo=4).split(groups=ts))
    with pytest.raises(ValueError, match="lower n_splits"):
        list(PurgedKFold(n_splits=7).split(groups=ts))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="groups"):
        list(PurgedKFold(3).split(np.zeros(9)))
    with pytest.raises(ValueError, match="rows"):
        list(PurgedKFold(3).split(np.zeros(8), groups=rect_panel(3, 3)))
    with pytest.raises(ValueError, match="horizon"):
        PurgedKFold(3, horizon=0)
    with pytest.raises(ValueError, match="n_test_groups"):
        CombinatorialPurgedCV(3, 3)


def test_sklearn_compatible() -> None:
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_score

    rng = np.random.default_rng(0)
    ts = rect_panel(30, 4)
    X = rng.standard_normal((ts.size, 3))
    y = X @ np.array([1.0, 0.0, -1.0]) + 0.1 * rng.standard_normal(ts.size)
    scores = cross_val_score(Ridge(), X, y, groups=ts, cv=PurgedKFold(3, horizon=2, embargo=1))
    assert scores.shape == (3,) and np.all(scores > 0.9)
    assert "PurgedKFold(n_splits=3" in repr(PurgedKFold(3))


def test_inner_validation_split() -> None:
    ts = rect_panel(20, 3)
    train, _ = list(PurgedKFold(4, horizon=2, embargo=1).split(groups=ts))[1]  # test 5..9
    fit, val = inner_validation_split(train, ts, horizon=2, fraction=0.2, embargo=1)
    assert list(np.unique(ts[train])) == [0, 1, 2, 3, *range(12, 20)]  # 12 timestamps
    assert sorted(set(ts[val])) == [17, 18, 19]  # ceil(0.2 * 12) = 3 latest
    assert sorted(set(ts[fit])) == [0, 1, 2, 3, 12, 13, 14]  # t + 2 + 1 <= 17
    assert np.all(ts[fit][:, None] + 2 <= ts[val][None, :])
    assert set(fit) | set(val) <= set(train) and not set(fit) & set(val)
    with pytest.raises(ValueError, match="lower fraction"):
        inner_validation_split(np.arange(6), ts, horizon=5)


def test_config_helpers() -> None:
    cfg = ValidationConfig()
    assert resolve_embargo(cfg, 2500) == 25
    assert resolve_embargo(ValidationConfig(embargo=3), 2500) == 3
    s = make_splitter(cfg, horizon=5, n_timestamps=1000)
    assert isinstance(s, PurgedKFold) and (s.n_splits, s.horizon, s.embargo) == (5, 5, 10)
    w = make_splitter(ValidationConfig(scheme="walk_forward", n_splits=3), 2, 100)
    assert isinstance(w, WalkForward) and (w.n_splits, w.horizon, w.embargo) == (3, 2, 1)
