"""The ModelFamily base: params layering, input checks, generic reuse."""

from __future__ import annotations

import numpy as np
import pytest

from panelml.models.base import ModelError, PreparedData, check_rows
from panelml.models.lightgbm import LightGBMFamily
from panelml.models.linear import LassoFamily, RidgeFamily
from panelml.testing import make_data


def test_params_layer_defaults_then_task_then_user() -> None:
    model = LassoFamily("binary", {"C": 0.5})
    assert model.params["C"] == 0.5
    assert model.params["solver"] == "saga"
    assert "alpha" not in model.params
    assert LassoFamily("regression").params["alpha"] == 0.001
    assert LightGBMFamily("binary").params["objective"] == "binary"


def test_unknown_task_is_rejected() -> None:
    with pytest.raises(ValueError, match="task must be"):
        RidgeFamily("multiclass")  # type: ignore[arg-type]


def test_fit_rejects_nan_labels_and_non_binary_labels() -> None:
    X, y = make_data("regression", n_rows=200)
    y[3] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        RidgeFamily().fit(X, y)
    with pytest.raises(ModelError, match="only 0 and 1"):
        RidgeFamily("binary").fit(X, np.full(200, 2.0))


def test_predict_checks_fit_and_columns() -> None:
    X, y = make_data("regression", n_rows=200)
    with pytest.raises(ModelError, match="not fitted"):
        RidgeFamily().predict(X)
    model = RidgeFamily().fit(X, y)
    with pytest.raises(ModelError, match="10 feature columns"):
        model.predict(X[:, :5])


def test_unknown_importance_kind_lists_the_available() -> None:
    X, y = make_data("regression", n_rows=200)
    with pytest.raises(ModelError, match="available: coef"):
        RidgeFamily().fit(X, y).importance("gain")


def test_check_rows_sorts_and_validates() -> None:
    np.testing.assert_array_equal(check_rows(np.array([3, 1, 2]), 5, "rows"), [1, 2, 3])
    with pytest.raises(ModelError, match="duplicate"):
        check_rows(np.array([1, 1]), 5, "rows")
    with pytest.raises(ModelError, match=r"\[0, 5\)"):
        check_rows(np.array([0, 5]), 5, "rows")
    with pytest.raises(ModelError, match="non-empty"):
        check_rows(np.array([], dtype=np.intp), 5, "rows")


def test_default_fit_prepared_fits_the_same_rows() -> None:
    X, y = make_data("regression", n_rows=300)
    rows = np.arange(0, 300, 2)
    prepared = RidgeFamily.prepare(X)
    assert type(prepared) is PreparedData
    a = RidgeFamily().fit_prepared(prepared, rows, y)
    b = RidgeFamily().fit(X[rows], y[rows])
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_load_refuses_another_familys_folder(tmp_path: object) -> None:
    from pathlib import Path

    X, y = make_data("regression", n_rows=200)
    folder = Path(str(tmp_path)) / "m"
    RidgeFamily().fit(X, y).save(folder)
    with pytest.raises(ModelError, match="holds a 'ridge' model, not 'lasso'"):
        LassoFamily.load(folder)
