"""Permutation importance with ``scratch``: the fold's own test rows shuffled in
place (a column at a time, restored after its predictions) instead of a copy.

The drops must equal the copying path's exactly (the same shuffles of the same
values, predicted by the same model), and the matrix must hold its values on
return: a column left shuffled changes the next kind's or fold's reads, and a
restore that wrote the wrong column changes both the matrix and later drops.
"""

from __future__ import annotations

import numpy as np
import pytest

from panelml.models.lightgbm import LightGBMFamily
from panelml.stages.selection._importance import PermutationSettings, permutation_importance


@pytest.mark.parametrize("max_rows", [None, 8, 30])
def test_in_place_shuffles_give_the_copys_drops_and_restore_the_rows(max_rows: int | None) -> None:
    rng = np.random.default_rng(0)
    n_times, n_names, n_cols = 60, 20, 6
    timestamps = np.repeat(np.arange(n_times), n_names)
    X = rng.standard_normal((timestamps.size, n_cols)).astype(np.float32)
    y = X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.standard_normal(timestamps.size)
    model = LightGBMFamily("regression", {"n_estimators": 30, "num_leaves": 7, "verbose": -1})
    model.fit(X, y, seed=0)
    test = np.arange(timestamps.size // 2, timestamps.size)
    settings = PermutationSettings(top_k=2, max_rows_per_timestamp=max_rows, repeats=2)
    X_test = np.ascontiguousarray(X[test])
    before = X_test.copy()
    args = (y, timestamps, test, 3, settings)
    copied = permutation_importance(model, X_test, *args, np.random.default_rng(5), 5)
    in_place = permutation_importance(
        model, X_test, *args, np.random.default_rng(5), 5, scratch=True
    )
    assert np.array_equal(in_place, copied)
    assert np.array_equal(X_test, before)
    assert np.count_nonzero(copied) > 0  # the comparison covers evaluated columns


@pytest.mark.parametrize("max_rows", [None, 8])
def test_the_callers_predictions_replace_the_unshuffled_predict(
    max_rows: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the model's predictions on the test rows (the out-of-fold ones), the
    unshuffled rows are not predicted again when every row is scored: one predict
    per shuffled copy, and the same drops. When a per-timestamp cap scores fewer
    rows, the given predictions do not apply and the subset is predicted."""
    rng = np.random.default_rng(1)
    timestamps = np.repeat(np.arange(40), 15)
    X = rng.standard_normal((timestamps.size, 5)).astype(np.float32)
    y = X[:, 0] + rng.standard_normal(timestamps.size)
    model = LightGBMFamily("regression", {"n_estimators": 20, "num_leaves": 7, "verbose": -1})
    model.fit(X, y, seed=0)
    test = np.arange(300, timestamps.size)
    X_test = np.ascontiguousarray(X[test])
    settings = PermutationSettings(top_k=2, max_rows_per_timestamp=max_rows, repeats=1)
    args = (y, timestamps, test, 3, settings)
    expected = permutation_importance(model, X_test, *args, np.random.default_rng(2), 5)
    predicted = model.predict(X_test)
    calls: list[int] = []
    predict = LightGBMFamily.predict

    def counting(self: LightGBMFamily, X: np.ndarray) -> np.ndarray:
        calls.append(X.shape[0])
        return predict(self, X)

    monkeypatch.setattr(LightGBMFamily, "predict", counting)
    got = permutation_importance(
        model, X_test, *args, np.random.default_rng(2), 5, scratch=True, predicted=predicted
    )
    assert np.array_equal(got, expected)
    shuffled = 2 + 2  # top_k real and top_k shadow columns, one repeat each
    assert len(calls) == (shuffled if max_rows is None else shuffled + 1)
