"""Ridge regression from normal equations summed over row chunks: the same
means and scales as the standardised matrix (bit for bit), the same fit as
scikit-learn's ``Ridge`` on it (to rounding), and scikit-learn itself wherever
that would not be the same estimator."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.linear_model import Ridge

import panelml.models._sklearn as sk_module
import panelml.models.linear as linear
from panelml.models._ridge_normal import ridge_normal_equations
from panelml.models.base import ModelError
from panelml.models.linear import RidgeFamily

RTOL = 1e-10


def _matrix(dtype: type, n_rows: int = 400, n_cols: int = 7, seed: int = 0) -> np.ndarray:
    """Features with NaN, an all-NaN column, a constant column and a large offset."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_cols)) * np.linspace(0.1, 30.0, n_cols)
    X[:, 0] += 1e4
    X[rng.random(X.shape) < 0.15] = np.nan
    if n_cols > 2:
        X[:, 1] = np.nan
        X[:, 2] = 3.5
    return X.astype(dtype)


def _targets(X: np.ndarray, k: int = 3, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    filled = np.nan_to_num(X.astype(np.float64), nan=0.0)
    beta = rng.standard_normal((X.shape[1], k))
    return filled @ beta * 0.01 + rng.standard_normal((X.shape[0], k)) + 50.0


_FIT_STANDARDISE = linear.fit_standardise


def _reference(
    X: np.ndarray, rows: npt.NDArray[np.intp] | None, y: np.ndarray, **params: Any
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """(coef, intercept, means, scales) of the materialised path: scikit-learn's
    ``Ridge`` on the standardised matrix, target standardised and converted back."""
    Z, means, scales = _FIT_STANDARDISE(X, rows)
    y_mean, y_scale = float(y.mean()), float(y.std())
    est = Ridge(**params).fit(Z, (y - y_mean) / y_scale)
    return est.coef_ * y_scale, y_mean + y_scale * float(est.intercept_), means, scales


@pytest.fixture
def no_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a fit builds the standardised matrix (the fast path never does)."""

    def refuse(*args: Any) -> Any:
        raise AssertionError("the standardised matrix was built")

    monkeypatch.setattr(linear, "fit_standardise", refuse)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 5-37 rows (1-7 columns), the last one ragged."""
    monkeypatch.setattr(sk_module, "COLUMN_SUM_CELLS", 37)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_cols", [1, 2, 7])
@pytest.mark.parametrize("subset", [False, True])
@pytest.mark.parametrize("order", ["C", "F"])
def test_means_and_scales_equal_the_materialised_path_bit_for_bit(
    small_chunks: None, dtype: type, n_cols: int, subset: bool, order: str
) -> None:
    """The chunked sums give ``column_means`` and ``column_stds`` of the imputed,
    centred matrix exactly (large offsets, where another summation order moves
    the last bits), all rows or a row subset, C- or F-ordered."""
    X = np.asarray(_matrix(dtype, n_cols=n_cols), order=order)
    rows = np.sort(np.random.default_rng(5).choice(X.shape[0], 260, replace=False))
    picked = rows if subset else None
    n = X.shape[0] if picked is None else picked.size
    Ys = np.random.default_rng(2).standard_normal((n, 2))
    solved = ridge_normal_equations(X, picked, Ys, 1.0)
    assert solved is not None
    _, means, scales = linear.fit_standardise(X, picked)
    np.testing.assert_array_equal(solved[0], means)
    np.testing.assert_array_equal(solved[1], scales)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", [1.0, 1e-4, 250.0])
def test_fit_equals_scikit_learn_on_the_standardised_matrix(
    small_chunks: None, no_matrix: None, dtype: type, alpha: float
) -> None:
    X = _matrix(dtype)
    y = _targets(X)[:, 0]
    coef, intercept, means, scales = _reference(X, None, y, alpha=alpha)
    model = RidgeFamily("regression", {"alpha": alpha}).fit(X, y, seed=3)
    np.testing.assert_allclose(model.coef_, coef, rtol=RTOL, atol=RTOL * np.abs(coef).max())
    assert model.intercept_ == pytest.approx(intercept, rel=RTOL)
    np.testing.assert_array_equal(model.means_, means)
    np.testing.assert_array_equal(model.scales_, scales)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prepared_and_many_target_fits_equal_scikit_learn(
    small_chunks: None, no_matrix: None, dtype: type
) -> None:
    """``fit_prepared`` on a row subset, ``fit_many`` and ``fit_many_prepared``
    (one Gram matrix, one factorisation for every target) against scikit-learn
    on the materialised rows; a centred target (intercept near 0) included."""
    X = _matrix(dtype, n_rows=500)
    Y = _targets(X, k=4)
    Y[:, 3] -= Y[:, 3].mean()
    rows = np.flatnonzero(np.random.default_rng(7).random(X.shape[0]) < 0.7)
    prepared = RidgeFamily.prepare(X)
    params = {"alpha": 2.0, "solver": "cholesky", "tol": 1e-6, "copy_X": True}
    fits = {
        "fit_prepared": [
            RidgeFamily("regression", params).fit_prepared(prepared, rows, Y[:, j].copy())
            for j in range(Y.shape[1])
        ],
        "fit_many_prepared": RidgeFamily.fit_many_prepared(prepared, rows, Y, params=params),
        "fit_many": RidgeFamily.fit_many(X[rows], Y[rows], params=params),
    }
    for models in fits.values():
        for j, model in enumerate(models):
            y = Y[rows, j]
            coef, intercept, means, scales = _reference(X, rows, y, alpha=2.0)
            np.testing.assert_allclose(model.coef_, coef, rtol=RTOL, atol=RTOL * np.abs(coef).max())
            assert model.intercept_ == pytest.approx(intercept, rel=RTOL, abs=RTOL * y.std())
            np.testing.assert_array_equal(model.means_, means)
            np.testing.assert_array_equal(model.scales_, scales)
            model.predict(X)  # usable


def test_more_features_than_rows_and_a_constant_target(no_matrix: None) -> None:
    """Where scikit-learn solves the kernel form (features > rows) the primal
    solve gives the same fit; a constant target keeps scale 1 and fits its value."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((12, 30)).astype(np.float32)
    y = rng.standard_normal(12)
    model = RidgeFamily("regression", {"alpha": 0.5}).fit(X, y)
    coef, intercept, _, _ = _reference(X, None, y, alpha=0.5)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-9, atol=1e-12)
    assert model.intercept_ == pytest.approx(intercept, rel=1e-9, abs=1e-12)
    flat = RidgeFamily().fit(X, np.full(12, 4.0))
    assert flat.coef_ is not None and np.abs(flat.coef_).max() == 0.0
    assert flat.intercept_ == 4.0


@pytest.mark.parametrize(
    "params",
    [
        {"solver": "svd"},
        {"solver": "lsqr"},
        {"positive": True},
        {"fit_intercept": False},
        {"alpha": 0.0},
        {"alpha": [1.0]},
    ],
)
def test_other_estimators_go_through_scikit_learn(params: dict[str, Any]) -> None:
    """Params the normal equations do not reproduce fit with scikit-learn on the
    standardised matrix, exactly as before."""
    X = _matrix(np.float32, n_rows=300)
    y = _targets(X)[:, 0]
    model = RidgeFamily("regression", params).fit(X, y, seed=2)
    Z, _, scales = _FIT_STANDARDISE(X, None)
    y_mean, y_scale = float(y.mean()), float(y.std())
    est = Ridge(**{"alpha": 1.0, **params, "random_state": 2}).fit(Z, (y - y_mean) / y_scale)
    np.testing.assert_array_equal(model.coef_, np.ravel(est.coef_) * y_scale)
    assert model.intercept_ == y_mean + y_scale * float(np.ravel(est.intercept_)[0])
    np.testing.assert_array_equal(model.scales_, scales)


def test_sample_weight_and_a_failed_factorisation_go_through_scikit_learn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scipy import linalg

    X = _matrix(np.float64, n_rows=300)
    Y = _targets(X, k=2)
    weight = np.random.default_rng(3).random(300) + 0.5
    weighted = RidgeFamily().fit(X, Y[:, 0].copy(), sample_weight=weight)
    Z, _, _ = _FIT_STANDARDISE(X, None)
    y = Y[:, 0]
    y_mean, y_scale = float(y.mean()), float(y.std())
    est = Ridge().fit(Z, (y - y_mean) / y_scale, sample_weight=weight)
    np.testing.assert_array_equal(weighted.coef_, est.coef_ * y_scale)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise linalg.LinAlgError("not positive definite")

    monkeypatch.setattr(linalg, "cho_factor", fail)
    alone = RidgeFamily().fit(X, y.copy())
    est = Ridge().fit(Z, (y - y_mean) / y_scale)
    np.testing.assert_array_equal(alone.coef_, est.coef_ * y_scale)
    many = RidgeFamily.fit_many(X, Y)
    Y_mean, Y_scale = Y.mean(axis=0), Y.std(axis=0)
    est = Ridge().fit(Z, (Y - Y_mean) / Y_scale)
    for j, model in enumerate(many):
        np.testing.assert_array_equal(model.coef_, est.coef_[j] * Y_scale[j])


@pytest.mark.parametrize(
    "params", [{"alpha": -1.0}, {"alpha": "big"}, {"max_iter": -3}, {"tol": -1.0}]
)
def test_invalid_params_still_raise_scikit_learns_error(params: dict[str, Any]) -> None:
    X = _matrix(np.float32, n_rows=100)
    y = _targets(X)
    key = next(iter(params))
    with pytest.raises(ModelError, match=key):
        RidgeFamily("regression", params).fit(X, y[:, 0].copy())
    with pytest.raises(ModelError, match=key):
        RidgeFamily.fit_many(X, y, params=params)


def test_infinite_features_still_raise_scikit_learns_error() -> None:
    X = _matrix(np.float64, n_rows=100)
    X[3, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        RidgeFamily().fit(X, _targets(X)[:, 0].copy())
