"""Linear families: standardisation, imputation, coefficients, fit_many."""

from __future__ import annotations

import contextlib
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


@pytest.mark.parametrize("n_cols", [1, 2, 7])
def test_chunked_column_statistics_equal_numpy_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, n_cols: int
) -> None:
    """``column_means`` and ``column_stds`` read the matrix in row chunks (here
    chunks of 3-17 rows, the last one ragged) yet equal ``np.nanmean`` and
    ``ndarray.std`` exactly: NaN, an all-NaN column, large offsets (where a
    different summation order moves the last bits) and one column included.
    Summing the chunks separately and adding the totals differs in the last
    bits on this data, so the test fails an implementation that does that. An
    F-ordered matrix (summed pairwise by NumPy) gives the same values too."""
    import panelml.models._sklearn as module

    rng = np.random.default_rng(n_cols)
    X = rng.standard_normal((211, n_cols)) * 1e3 + 1e7
    X[rng.random(X.shape) < 0.2] = np.nan
    if n_cols > 1:
        X[:, 1] = np.nan
    with pytest.warns(RuntimeWarning) if n_cols > 1 else contextlib.nullcontext():
        expected_means = np.nan_to_num(np.nanmean(X, axis=0), nan=0.0)
    Z = np.where(np.isnan(X), expected_means, X) - expected_means
    monkeypatch.setattr(module, "COLUMN_SUM_CELLS", 17)
    np.testing.assert_array_equal(module.column_means(X), expected_means)
    np.testing.assert_array_equal(module.column_stds(Z), Z.std(axis=0))
    F = np.asfortranarray(X)
    with pytest.warns(RuntimeWarning) if n_cols > 1 else contextlib.nullcontext():
        np.testing.assert_array_equal(
            module.column_means(F), np.nan_to_num(np.nanmean(F, axis=0), nan=0.0)
        )
    filled = np.nan_to_num(X, nan=0.0)
    naive = sum(filled[lo : lo + 5].sum(axis=0) for lo in range(0, X.shape[0], 5))
    assert not np.array_equal(naive, filled.sum(axis=0)), "the data tells summation orders apart"


@pytest.mark.parametrize("family", [RidgeFamily, LassoFamily])
def test_centering_in_place_gives_the_fit_of_a_copy(family: type[LinearFamily]) -> None:
    """The fit lets scikit-learn center its own standardised matrix in place
    (``copy_X=False``, one matrix copy less); the coefficients equal a fit with
    ``copy_X: true`` exactly, for one target and for several at once."""
    X, y = make_data("regression", seed=4)
    Y = np.column_stack([y, -y + np.random.default_rng(1).normal(size=y.size)])
    plain = family("regression").fit(X, y, seed=1)
    copied = family("regression", {"copy_X": True}).fit(X, y, seed=1)
    np.testing.assert_array_equal(plain.coef_, copied.coef_)
    assert plain.intercept_ == copied.intercept_
    many = family.fit_many(X, Y, seed=1)
    many_copied = family.fit_many(X, Y, params={"copy_X": True}, seed=1)
    for a, b in zip(many, many_copied, strict=True):
        np.testing.assert_array_equal(a.coef_, b.coef_)
        assert a.intercept_ == b.intercept_


@pytest.mark.parametrize("n_cols", [1, 2, 7])
def test_statistics_of_a_row_subset_equal_those_of_its_copy(
    monkeypatch: pytest.MonkeyPatch, n_cols: int
) -> None:
    """``column_means``, ``column_sums`` and ``impute`` given ``rows`` read the rows
    a chunk at a time straight from the matrix; the values equal those of the
    gathered copy ``X[rows]`` bit for bit (chunks of 3-17 rows, NaN, an all-NaN
    column, large offsets; an F-ordered matrix too). Chunks that started at
    other rows than the copy's would change the sums' last bits on this data
    (the test above shows it tells summation orders apart)."""
    import panelml.models._sklearn as module

    rng = np.random.default_rng(10 + n_cols)
    X = (rng.standard_normal((301, n_cols)) * 1e3 + 1e7).astype(np.float32)
    X[rng.random(X.shape) < 0.2] = np.nan
    if n_cols > 1:
        X[:, 1] = np.nan
    rows = np.sort(rng.choice(X.shape[0], size=170, replace=False))
    monkeypatch.setattr(module, "COLUMN_SUM_CELLS", 17)
    for matrix in (X, np.asfortranarray(X)):
        copy = matrix[rows]
        means = module.column_means(copy)
        np.testing.assert_array_equal(module.column_means(matrix, rows), means)
        np.testing.assert_array_equal(
            module.column_sums(matrix, None, rows), module.column_sums(copy)
        )
        np.testing.assert_array_equal(
            module.impute(matrix, means, rows), module.impute(copy, means)
        )
    old = np.array(X, dtype=np.float64)
    old[np.isnan(old)] = np.broadcast_to(means, old.shape)[np.isnan(old)]
    np.testing.assert_array_equal(module.impute(X, means), old)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", ["regression", "binary"])
def test_fits_on_prepared_rows_equal_fits_on_the_copied_rows(
    family: type[LinearFamily], task: str
) -> None:
    """``fit_prepared`` and ``fit_many_prepared`` read the fit rows straight into
    the float64 matrix; coefficients, means and scales equal a fit on the
    gathered rows exactly (a fit on other rows, or rows in another order, moves
    them)."""
    X, y = make_data(task, n_rows=900, seed=3)  # type: ignore[arg-type]
    Y = np.column_stack([y, y[::-1].copy()])
    rows = np.flatnonzero(np.random.default_rng(2).random(X.shape[0]) < 0.6)
    prepared = family.prepare(X)
    a = family(task).fit_prepared(prepared, rows, y, seed=1)  # type: ignore[arg-type]
    b = family(task).fit(X[rows], y[rows], seed=1)  # type: ignore[arg-type]
    for name in ("coef_", "means_", "scales_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.intercept_ == b.intercept_
    many = family.fit_many_prepared(prepared, rows, Y, task=task, seed=1)  # type: ignore[arg-type]
    alone = family.fit_many(X[rows], Y[rows], task=task, seed=1)  # type: ignore[arg-type]
    for m, n in zip(many, alone, strict=True):
        np.testing.assert_array_equal(m.coef_, n.coef_)
        assert m.intercept_ == n.intercept_
