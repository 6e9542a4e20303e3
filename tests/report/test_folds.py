"""The fold timeline: every bar's role, worked out by hand, for each splitter."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from panelml.report.folds import bar_kinds, fold_rows, regenerate
from panelml.report.oof import fold_starts, target_oof
from panelml.validation.splitters import CombinatorialPurgedCV, PurgedKFold, WalkForward


def test_purged_kfold_bars_by_hand() -> None:
    # 20 bars, 4 folds of 5, horizon 3, embargo 2: purge h - 1 = 2 bars on each side
    # of the test block (X), then 2 embargoed bars after it; T train
    expected = [
        "XXXXXppeeTTTTTTTTTTT",
        "TTTppXXXXXppeeTTTTTT",
        "TTTTTTTTppXXXXXppeeT",
        "TTTTTTTTTTTTTppXXXXX",
    ]
    roles = {"t": "T", "p": "p", "e": "e", "u": "u"}
    got = []
    for split in PurgedKFold(4, horizon=3, embargo=2).timestamp_splits(20):
        kinds = bar_kinds(split, 20, 3, 2)
        got.append("".join("X" if k == "test" else roles[k[0]] for k in kinds))
    assert got == expected


def test_walk_forward_gap_is_purge_then_embargo_and_later_bars_unused() -> None:
    got = []
    for split in WalkForward(2, horizon=3, embargo=2).timestamp_splits(20):
        kinds = bar_kinds(split, 20, 3, 2)
        got.append("".join("X" if k == "test" else k[0].upper() for k in kinds))
    # test blocks: the last 2 blocks of the bars the first test can start at
    for row in got:
        first_test = row.index("X")
        last_test = row.rindex("X")
        gap = row[first_test - 4 : first_test]
        assert gap == "EEPP"  # embargo 2 bars, then purge h - 1 = 2 bars before the test
        assert set(row[last_test + 1 :]) <= {"U"}
        assert row[: first_test - 4].strip("T") == ""


@pytest.mark.parametrize(("h", "e"), [(1, 0), (5, 3), (10, 0)])
def test_train_labels_never_overlap_a_test_label_and_rows_tile_the_bars(h: int, e: int) -> None:
    n = 120
    splits = PurgedKFold(5, horizon=h, embargo=e).timestamp_splits(n)
    for row, (train, test) in zip(fold_rows(splits, n, h, e), splits, strict=True):
        covered = sorted(b for first, last, _ in row.spans for b in range(first, last + 1))
        assert covered == list(range(n))
        for t in train:  # the label window (t, t + h] never reaches a test bar's window
            assert not np.any((test > t - h) & (test < t + h))
        purged = [
            b for first, last, kind in row.spans if kind == "purge" for b in range(first, last + 1)
        ]
        assert len(purged) == (2 * (h - 1) if test[0] > 0 and test[-1] < n - 1 else h - 1)


def test_regenerate_reads_the_resolved_validation_section() -> None:
    splitter, splits, embargo = regenerate(
        {"scheme": "walk_forward", "n_splits": 3, "embargo": None, "embargo_pct": 0.05}, 4, 100
    )
    assert isinstance(splitter, WalkForward) and len(splits) == 3 and embargo == 5
    with pytest.raises(ValueError):
        regenerate({"scheme": "no_such_scheme"}, 1, 100)


def test_fold_starts_come_from_the_oof_fold_column() -> None:
    oof = pl.DataFrame(
        {
            "symbol": ["a", "b"] * 6,
            "timestamp": np.repeat(np.arange(6), 2),
            "target": np.arange(12.0),
            "ensemble": np.arange(12.0),
            "fold": np.repeat([1, 1, 0, 0, 2, 2], 2),
        }
    )
    data = target_oof("y", oof)
    assert data is not None and data.pred_name == "ensemble"
    assert "fold" not in data.columns
    assert fold_starts(data) == [(2, 0), (4, 2)]


def test_cpcv_splits_are_drawn_generically_with_purge_around_every_test_block() -> None:
    # 4 groups of 6 bars, 2 test groups per split: C(4, 2) = 6 splits
    splits = CombinatorialPurgedCV(4, 2, horizon=3, embargo=1).timestamp_splits(24)
    rows = fold_rows(splits, 24, 3, 1)
    assert len(rows) == 6
    for row, (train, test) in zip(rows, splits, strict=True):
        kinds = {b: kind for first, last, kind in row.spans for b in range(first, last + 1)}
        assert sorted(b for b, k in kinds.items() if k == "test") == test.tolist()
        assert sorted(b for b, k in kinds.items() if k == "train") == train.tolist()
        first, last = int(test[0]), int(test[-1])
        if first > 0:  # the bar just before the first test block: its label reaches it
            assert kinds[first - 1] == "purge"
        if last < 23:  # the bar just after the last test block: its label overlaps
            assert kinds[last + 1] == "purge"
