"""Feature selection's augmented matrix read by parts holds exactly the values of
the stored ``[X_allowed | shadows]`` it replaces, and every consumer that reads
it by parts (LightGBM binning and prediction, panel ranks, rank blocks, the
univariate rank IC, the redundancy sample) gives bit-identical results.

The checks are exact equalities on panels with missing values and ragged
symbols (``hard_cases``), so any wrong draw order, inverted permutation or
misplaced NaN fails them: with 20+ symbols a wrong permutation matches the
right one with probability below 1/20! per column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from panelml.data.matrix import columns_of, rows_of, whole
from panelml.data.synthetic import make_panel
from panelml.models.base import ModelError, PreparedData
from panelml.models.lightgbm import LightGBMFamily
from panelml.stages.fitting import plan_folds, target_rows
from panelml.stages.selection._augmented import AugmentedMatrix
from panelml.stages.selection._consensus import sampled_rank_correlation
from panelml.stages.selection._importance import shadow_matrix, univariate_importance
from panelml.stages.selection._rank_block import panel_ranks, rank_block
from panelml.validation.spec import ValidationConfig


def _both(hard: bool, seed: int, shuffle: str, subset: bool):  # type: ignore[no-untyped-def]
    panel = make_panel(hard_cases=hard, seed=seed, n_symbols=30, n_timestamps=120).to_panel()
    columns = np.arange(panel.X.shape[1], dtype=np.int64)
    if subset:  # an allowed set that skips and reorders columns
        columns = np.random.default_rng(seed).permutation(columns)[: max(2, columns.size - 3)]
    aug = AugmentedMatrix(panel, columns, np.random.default_rng(seed + 7), shuffle)  # type: ignore[arg-type]
    stored = np.empty((panel.n_rows, 2 * columns.size), dtype=np.float32)
    stored[:, : columns.size] = panel.X[:, columns]
    shadow_matrix(
        panel,
        columns,
        np.random.default_rng(seed + 7),
        shuffle,  # type: ignore[arg-type]
        out=stored[:, columns.size :],
    )
    return panel, aug, stored


@pytest.mark.parametrize("shuffle", ["symbol", "row"])
@pytest.mark.parametrize(("hard", "seed", "subset"), [(False, 0, False), (True, 1, True)])
def test_parts_equal_the_stored_matrix(hard: bool, seed: int, shuffle: str, subset: bool) -> None:
    panel, aug, stored = _both(hard, seed, shuffle, subset)
    assert aug.shape == stored.shape
    if shuffle == "symbol":  # both ways of finding a partner's row are exercised
        assert (aug._offsets is None) == hard
    if hard:
        assert np.isnan(stored).any()  # missing values and absent symbols are exercised
    np.testing.assert_array_equal(whole(aug), stored)
    rng = np.random.default_rng(seed)
    rows = rng.permutation(panel.n_rows)[: panel.n_rows // 3]  # any order
    n_real = aug.n_real
    for stop in (None, 1, n_real, n_real + 2, stored.shape[1]):
        np.testing.assert_array_equal(rows_of(aug, rows, stop), rows_of(stored, rows, stop))
    cols = rng.permutation(stored.shape[1])[:7]
    np.testing.assert_array_equal(columns_of(aug, cols), stored[:, cols])
    np.testing.assert_array_equal(columns_of(aug, slice(3, 9)), stored[:, 3:9])
    with pytest.raises(IndexError):
        aug.take(None, [stored.shape[1]])


@pytest.mark.parametrize("subset", [False, True])
def test_runs_of_consecutive_rows_read_by_timestamp_equal_the_stored_matrix(
    subset: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of consecutive rows of a complete panel takes the by-timestamp path
    (a whole test block); runs that start and end inside a timestamp, runs cut
    into chunks that split timestamps, and a run with one row skipped (the
    per-cell path) all hold the stored matrix's values exactly. A wrong offset
    within a timestamp or a chunk read from the wrong timestamp moves values
    between symbols, which an exact comparison catches."""
    from panelml.stages.selection import _augmented

    panel, aug, stored = _both(False, 5, "symbol", subset)
    assert aug._offsets is not None  # complete and in grid order
    n_symbols = panel.n_symbols
    runs = [
        np.arange(3 * n_symbols, 40 * n_symbols),  # whole timestamps
        np.arange(3 * n_symbols + 7, 40 * n_symbols - 5),  # cut inside both ends
        np.arange(0, panel.n_rows),
    ]
    gap = np.delete(np.arange(5, 900), 400)
    for cells in (_augmented._GATHER_CELLS, 7 * stored.shape[1]):  # 7-row chunks split timestamps
        monkeypatch.setattr(_augmented, "_GATHER_CELLS", cells)
        for rows in [*runs, gap]:
            np.testing.assert_array_equal(aug.take(rows, None), stored[rows])
            cols = np.array([aug.n_real + 1, 0, aug.n_real, 2 * aug.n_real - 1])
            np.testing.assert_array_equal(aug.take(rows, cols), stored[np.ix_(rows, cols)])


@pytest.mark.parametrize(("hard", "seed"), [(False, 2), (True, 3)])
def test_consumers_read_parts_bit_identically(hard: bool, seed: int) -> None:
    panel, aug, stored = _both(hard, seed, "symbol", False)
    codes = panel.timestamp_index
    ranks_parts, ranks_stored = panel_ranks(aug, codes), panel_ranks(stored, codes)
    np.testing.assert_array_equal(ranks_parts.z, ranks_stored.z)
    target = panel.target_names[0]
    y = panel.targets[target]
    validation = ValidationConfig(n_splits=3)
    rows = target_rows(panel, target, seed=0)
    folds = plan_folds(panel, target, validation, rows)
    for ranks in (None, ranks_parts):  # rows ranked afresh, and taken from the panel ranks
        a = rank_block(aug, y, panel.timestamps, rows, 5, ranks)
        b = rank_block(stored, y, panel.timestamps, rows, 5, ranks)
        np.testing.assert_array_equal(np.asarray(a.z), np.asarray(b.z))
    # a subset of rows fills no timestamp: every block row is ranked from the matrix
    half = rows[::2]
    a = rank_block(aug, y, panel.timestamps, half, 5, ranks_parts)
    b = rank_block(stored, y, panel.timestamps, half, 5, ranks_stored)
    np.testing.assert_array_equal(np.asarray(a.z), np.asarray(b.z))
    for block in (None, rank_block(stored, y, panel.timestamps, rows, 5, ranks_stored)):
        np.testing.assert_array_equal(
            univariate_importance(aug, y, panel.timestamps, rows, folds, 5, block),
            univariate_importance(stored, y, panel.timestamps, rows, folds, 5, block),
        )
    n_real = aug.n_real
    np.testing.assert_array_equal(
        sampled_rank_correlation(aug, n_real, rows, 500, np.random.default_rng(1)),
        sampled_rank_correlation(stored, n_real, rows, 500, np.random.default_rng(1)),
    )


def test_lightgbm_bins_and_predicts_from_parts_as_from_the_array() -> None:
    panel, aug, stored = _both(True, 4, "symbol", False)
    params = {"n_estimators": 20, "bin_construct_sample_cnt": 2_000}
    # small column groups, so the matrix is binned in several gathered parts
    from panelml.models import _lightgbm_bins

    old = _lightgbm_bins.BIN_GROUP_CELLS
    _lightgbm_bins.BIN_GROUP_CELLS = 2_000 * 5
    try:
        from_parts = LightGBMFamily.prepare_matrix(aug, params)
        from_array = LightGBMFamily.prepare(stored, params)
    finally:
        _lightgbm_bins.BIN_GROUP_CELLS = old
    y = np.nan_to_num(panel.targets[panel.target_names[0]]).astype(np.float64)
    rows = np.arange(0, panel.n_rows, 2)
    test = np.arange(1, panel.n_rows, 2)
    a = LightGBMFamily("regression", params).fit_prepared(from_parts, rows, y, seed=3)
    b = LightGBMFamily("regression", params).fit_prepared(from_array, rows, y, seed=3)
    assert a._booster is not None and b._booster is not None
    assert a._booster.model_to_string() == b._booster.model_to_string()
    np.testing.assert_array_equal(
        a.predict_prepared(from_parts, test), b.predict_prepared(from_array, test)
    )
    np.testing.assert_array_equal(from_parts.rows(test), stored[test])
    with pytest.raises(ModelError, match="read by parts"):
        _ = from_parts.X
    assert PreparedData(stored).X is stored


def test_shipped_with_its_panel_the_matrix_adds_no_copy_of_the_features(tmp_path: Path) -> None:
    """Workers get the runner (its panel and this matrix) in one joblib file, which
    writes every array reference again: the matrix must refer to the panel, not
    to its arrays, so the file grows by its permutations and indices only
    (a copy of the features would add ``X.nbytes``)."""
    import joblib

    panel, aug, _ = _both(False, 5, "symbol", False)
    joblib.dump(panel, tmp_path / "panel.pkl")
    joblib.dump((panel, aug), tmp_path / "both.pkl")
    added = (tmp_path / "both.pkl").stat().st_size - (tmp_path / "panel.pkl").stat().st_size
    assert added < 0.5 * panel.X.nbytes
    loaded = joblib.load(tmp_path / "both.pkl", mmap_mode="r")
    np.testing.assert_array_equal(whole(loaded[1]), whole(aug))
