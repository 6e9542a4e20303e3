"""Linear families: standardisation, imputation, coefficients, fit_many."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from panelml.models.linear import ElasticNetFamily, LassoFamily, LinearFamily, RidgeFamily
from panelml.testing import make_data

FAMILIES = [RidgeFamily, LassoFamily, ElasticNetFamily]


@pytest.mark.parametrize("family", FAMILIES)
def test_predictions_do_not_depend_on_feature_units(family: type[LinearFamily]) -> None:
    X, y = make_data("regression", n_rows=1000)
    scaled = X * np.array([1000.0] + [1.0] * 9, dtype=np.float32)
    a = family().fit(X, y).predict(X)
    b = family().fit(scaled, y).predict(scaled)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_nan_is_imputed_with_the_training_mean(family: type[LinearFamily]) -> None:
    X, y = make_data("regression", n_rows=1000)
    model = family().fit(X, y)
    assert model.means_ is not None
    row = np.full((1, X.shape[1]), np.nan, dtype=np.float32)
    filled = model.means_.reshape(1, -1)
    np.testing.assert_allclose(model.predict(row), model.predict(filled), rtol=1e-12)
    np.testing.assert_allclose(model.predict(row), [model.intercept_], rtol=1e-12)


def test_coef_importance_is_the_standardised_effect() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 3)).astype(np.float32) * np.array([1, 10, 0.1], dtype=np.float32)
    y = X[:, 0] * 1.0 + X[:, 1] * 0.1 + X[:, 2] * 10.0  # each moves y by 1 per std
    imp = RidgeFamily("regression", {"alpha": 1e-6}).fit(X, y).importance("coef")
    np.testing.assert_allclose(imp, np.ones(3), rtol=0.05)


def test_lasso_zeroes_pure_noise_features() -> None:
    X, y = make_data("regression", n_rows=2000, nan_fraction=0.0)
    imp = LassoFamily("regression", {"alpha": 0.05}).fit(X, y).importance()
    assert imp[:2].min() > 0.1
    assert (imp[5:] == 0).sum() >= 3


def test_ridge_fit_many_solves_all_targets_at_once() -> None:
    X, y = make_data("regression", n_rows=1500)
    Y = np.column_stack([y, -2 * y + 1, np.sin(y)])
    many = RidgeFamily.fit_many(X, Y)
    for j, model in enumerate(many):
        alone = RidgeFamily().fit(X, Y[:, j].copy())
        np.testing.assert_allclose(model.predict(X), alone.predict(X), rtol=1e-9, atol=1e-12)


def test_binary_is_logistic(tmp_path: Path) -> None:
    X, y = make_data("binary", n_rows=1500)
    model = ElasticNetFamily("binary").fit(X, y)
    p = model.predict(X)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-model.decision_function(X))), rtol=1e-12)
    model.save(tmp_path)
    record = json.loads((tmp_path / "coefficients.json").read_text())
    assert set(record) == {"means", "scales", "coef", "intercept"}
    np.testing.assert_array_equal(ElasticNetFamily.load(tmp_path).predict(X), p)


def test_constant_and_all_nan_columns_are_harmless() -> None:
    X, y = make_data("regression", n_rows=500)
    X[:, 3] = 2.0
    X[:, 4] = np.nan
    model = RidgeFamily().fit(X, y)
    assert model.scales_ is not None and model.scales_[3] == 1.0
    assert np.isfinite(model.predict(X)).all()
