"""CatBoost family: conformance, optional import, bin-once reuse, device choice."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from panelml.models import get_family
from panelml.models.base import ModelError
from panelml.models.catboost import CatBoostFamily, CatBoostPrepared
from panelml.pipeline.errors import UserError
from panelml.testing import ModelFamilyConformance, make_data

FAST = {"n_estimators": 30, "depth": 4, "learning_rate": 0.2, "thread_count": 1}


def test_missing_library_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "catboost", None)
    family = get_family("catboost")  # registered even without the library
    X, y = make_data("regression", n_rows=100)
    with pytest.raises(ImportError, match=r"pip install 'panelml\[catboost\]'"):
        family("regression").fit(X, y)


cb = pytest.importorskip("catboost")


class TestCatBoostConformance(ModelFamilyConformance):
    family = CatBoostFamily
    params = FAST


def test_prepared_fit_equals_a_fresh_fit_on_the_full_matrix_borders() -> None:
    """On continuous data the prepared fit uses the full matrix's borders: it equals
    a fresh CatBoost fit given those borders, and differs from one that searches
    borders on the training rows alone (so the check can fail)."""
    X, y = make_data("regression", seed=1)
    rows, eval_rows = np.arange(0, 1500), np.arange(1500, 2000)
    model = CatBoostFamily("regression", FAST)
    prepared = CatBoostFamily.prepare(X, model.params)
    assert isinstance(prepared, CatBoostPrepared)
    reused = model.fit_prepared(prepared, rows, y, eval_rows=eval_rows, seed=3)

    params, stop = CatBoostFamily("regression", FAST)._train_params(3)
    train = cb.Pool(X[rows], label=y[rows])
    train.quantize(input_borders=str(prepared.borders))
    valid = cb.Pool(X[eval_rows], label=y[eval_rows])
    booster = cb.CatBoost(params).fit(
        train, eval_set=valid, use_best_model=True, early_stopping_rounds=stop
    )
    assert reused.best_iteration == booster.tree_count_
    np.testing.assert_array_equal(reused.predict(X), booster.predict(X))


def test_label_swap_reuses_one_quantization_per_label() -> None:
    X, y = make_data("regression", seed=2)
    prepared = CatBoostFamily.prepare(X, FAST)
    first = prepared.pool(y)
    assert prepared.pool(y.copy()) is first  # same labels: the same quantized pool
    assert prepared.pool(-y) is not first
    with pytest.raises(ModelError, match="quantization params"):
        CatBoostFamily("regression", {**FAST, "border_count": 32}).fit_prepared(
            prepared, np.arange(100), y
        )


def test_both_importances_rank_the_signal_first() -> None:
    X, y = make_data("regression", seed=3)
    model = CatBoostFamily("regression", FAST).fit(X, y, seed=0)
    for kind in ("prediction_values_change", "shap"):
        assert int(np.argmax(model.importance(kind, X=X[:200]))) == 0


def test_cuda_without_a_gpu_is_a_config_error() -> None:
    X, y = make_data("regression", n_rows=200)
    with pytest.raises(UserError, match=r"device 'cuda'.*family_params\.catboost\.device"):
        CatBoostFamily("regression", {**FAST, "device": "cuda"}).fit(X, y)


def test_runtime_params_set_the_thread_count() -> None:
    assert CatBoostFamily.runtime_params(3, False, {}) == {"thread_count": 3}
