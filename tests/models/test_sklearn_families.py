"""Forests and HistGradientBoosting: imputation, early stopping, safe loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from panelml.models import _sklearn
from panelml.models.base import ModelError
from panelml.models.hist_gb import HistGBFamily
from panelml.models.trees import ExtraTreesFamily, RandomForestFamily
from panelml.testing import make_data


@pytest.mark.parametrize("family", [RandomForestFamily, ExtraTreesFamily])
def test_forests_impute_nan_with_training_means(family: type[RandomForestFamily]) -> None:
    X, y = make_data("regression", n_rows=800)
    model = family("regression", {"n_estimators": 10}).fit(X, y, seed=1)
    assert model.means_ is not None
    row = np.full((1, 10), np.nan, dtype=np.float32)
    np.testing.assert_array_equal(model.predict(row), model.predict(model.means_[None, :]))
    imp = model.importance("impurity")
    assert imp.argmax() == 0
    np.testing.assert_allclose(imp.sum(), 1.0)


def test_hist_gb_has_no_builtin_importance() -> None:
    X, y = make_data("regression", n_rows=500)
    model = HistGBFamily("regression", {"max_iter": 10, "n_threads": 1}).fit(X, y)
    with pytest.raises(ModelError, match="permutation"):
        model.importance()


def test_hist_gb_early_stops_on_the_eval_set() -> None:
    X, y = make_data("regression")
    params = {"max_iter": 500, "learning_rate": 0.3, "n_threads": 1}
    model = HistGBFamily("regression", params)
    model.fit(X[:1500], y[:1500], eval_set=(X[1500:], y[1500:]))
    assert model.best_iteration is not None and model.best_iteration < 500
    assert HistGBFamily("regression", {**params, "max_iter": 20}).fit(X, y).estimator.n_iter_ == 20


def test_untrusted_types_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = make_data("regression", n_rows=300)
    RandomForestFamily("regression", {"n_estimators": 3}).fit(X, y).save(tmp_path)
    monkeypatch.setattr(_sklearn, "EXPECTED_UNTRUSTED_TYPES", frozenset())
    with pytest.raises(ModelError, match=r"does not trust: sklearn\.tree\._tree\.Tree"):
        RandomForestFamily.load(tmp_path)


def test_single_class_training_predicts_zero_probability() -> None:
    X, _ = make_data("binary", n_rows=300)
    model = RandomForestFamily("binary", {"n_estimators": 3}).fit(X, np.zeros(300))
    np.testing.assert_array_equal(model.predict(X), 0.0)
