"""XGBoost family: optional import, reuse equivalence, early stopping."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from panelml.models import get_family
from panelml.models.base import ModelError
from panelml.models.xgboost import XGBoostFamily, XGBoostPrepared
from panelml.testing import make_data

FAST = {"n_estimators": 40, "nthread": 1}


def test_missing_library_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xgboost", None)
    family = get_family("xgboost")  # registered even without the library
    X, y = make_data("regression", n_rows=100)
    with pytest.raises(ImportError, match=r"pip install 'panelml\[xgboost\]'"):
        family("regression").fit(X, y)


xgb = pytest.importorskip("xgboost")


def test_prepared_fit_equals_a_fresh_fit_on_the_same_cuts() -> None:
    X, y = make_data("regression", seed=1)
    rows, eval_rows = np.arange(0, 1500), np.arange(1500, 2000)
    model = XGBoostFamily("regression", FAST)
    prepared = XGBoostFamily.prepare(X, model.params)
    reused = model.fit_prepared(prepared, rows, y, eval_rows=eval_rows, seed=3)

    params, n_rounds, stop = XGBoostFamily("regression", FAST)._train_params(3)
    full = xgb.QuantileDMatrix(X, max_bin=256)
    train = xgb.QuantileDMatrix(X[rows], label=y[rows], ref=full, max_bin=256)
    valid = xgb.QuantileDMatrix(X[eval_rows], label=y[eval_rows], ref=train, max_bin=256)
    booster = xgb.train(
        params,
        train,
        num_boost_round=n_rounds,
        evals=[(valid, "eval")],
        early_stopping_rounds=stop,
        verbose_eval=False,
    )
    assert reused.best_iteration == booster.best_iteration + 1
    expected = booster.inplace_predict(X, iteration_range=(0, booster.best_iteration + 1))
    np.testing.assert_array_equal(reused.predict(X), expected)


def test_fold_matrices_are_cached_and_relabelled() -> None:
    X, y1 = make_data("regression", discrete=True, seed=2)
    y2 = -y1
    rows = np.arange(0, 1600)
    prepared = XGBoostFamily.prepare(X, FAST)
    assert isinstance(prepared, XGBoostPrepared)
    for y in (y1, y2, y1):
        reused = XGBoostFamily("regression", FAST).fit_prepared(prepared, rows, y, seed=1)
        fresh = XGBoostFamily("regression", FAST).fit(X[rows], y[rows], seed=1)
        np.testing.assert_array_equal(reused.predict(X), fresh.predict(X))
    assert len(prepared._cache) == 1
    prepared.cache_size = 2
    for start in (0, 10, 20):
        XGBoostFamily("regression", FAST).fit_prepared(prepared, np.arange(start, 1500), y1)
    assert len(prepared._cache) == 2


def test_prepare_with_another_max_bin_is_refused() -> None:
    X, y = make_data("regression", n_rows=300)
    prepared = XGBoostFamily.prepare(X, {"max_bin": 64})
    with pytest.raises(ModelError, match="max_bin"):
        XGBoostFamily("regression", FAST).fit_prepared(prepared, np.arange(200), y)


def test_early_stopping_trims_the_booster() -> None:
    X, y = make_data("regression", seed=5)
    params = {"n_estimators": 400, "learning_rate": 0.3, "nthread": 1}
    model = XGBoostFamily("regression", params)
    model.fit(X[:1500], y[:1500], eval_set=(X[1500:], y[1500:]), seed=0)
    assert model.best_iteration is not None and model.best_iteration < 400
    assert model.booster.num_boosted_rounds() == model.best_iteration


def test_gain_and_split_follow_the_signal() -> None:
    X, y = make_data("regression", n_rows=800)
    model = XGBoostFamily("regression", FAST).fit(X, y)
    assert model.importance("gain").argmax() == 0
    assert model.importance("split").sum() > 0
    with pytest.raises(ModelError, match="pass X="):
        model.importance("shap")


def test_cuda_without_a_cuda_build_is_a_config_error() -> None:
    from panelml.pipeline.errors import UserError

    X, y = make_data("regression", n_rows=200)
    if xgb.build_info().get("USE_CUDA"):
        pytest.skip("this XGBoost build has CUDA")
    with pytest.raises(UserError, match=r"device 'cuda'.*no CUDA support.*xgboost\.device"):
        XGBoostFamily("regression", {**FAST, "device": "cuda"}).fit(X, y)
    assert XGBoostFamily("regression", FAST).fit(X, y).device_ == "cpu"
