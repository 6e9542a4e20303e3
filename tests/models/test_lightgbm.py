"""LightGBM family: reuse equivalence, early stopping, params, importances."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from panelml.models.base import ModelError
from panelml.models.lightgbm import LightGBMFamily
from panelml.testing import make_data

FAST = {"n_estimators": 40, "num_threads": 1}


def test_prepared_fit_equals_a_fresh_fit_on_the_same_bins() -> None:
    """The documented guarantee on continuous data: identical to a Dataset of
    X[rows] binned with the full matrix's boundaries."""
    X, y = make_data("regression", seed=1)
    rows, eval_rows = np.arange(0, 1500), np.arange(1500, 2000)
    model = LightGBMFamily("regression", FAST)
    prepared = LightGBMFamily.prepare(X, model.params)
    reused = model.fit_prepared(prepared, rows, y, eval_rows=eval_rows, seed=3)

    params, n_rounds, stop = LightGBMFamily("regression", FAST)._train_params(3)
    ds_params = LightGBMFamily._dataset_params(model.params)
    full = lgb.Dataset(X, params=dict(ds_params)).construct()
    train = lgb.Dataset(X[rows], label=y[rows], reference=full, params=dict(ds_params))
    valid = lgb.Dataset(X[eval_rows], label=y[eval_rows], reference=full, params=dict(ds_params))
    booster = lgb.train(
        params,
        train,
        num_boost_round=n_rounds,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(stop, first_metric_only=True, verbose=False)],
    )
    assert reused.best_iteration == booster.best_iteration
    np.testing.assert_array_equal(reused.predict(X), booster.predict(X))


def test_one_prepared_matrix_serves_many_targets_and_seeds() -> None:
    X, y1 = make_data("regression", discrete=True, seed=2)
    y2 = -y1 + np.random.default_rng(0).normal(size=y1.size)
    rows = np.arange(0, 1600)
    prepared = LightGBMFamily.prepare(X, FAST)
    for y, seed in ((y1, 1), (y2, 2), (y1, 3)):
        params = {**FAST, "feature_fraction": 0.5}
        reused = LightGBMFamily("regression", params).fit_prepared(prepared, rows, y, seed=seed)
        fresh = LightGBMFamily("regression", params).fit(X[rows], y[rows], seed=seed)
        np.testing.assert_array_equal(reused.predict(X), fresh.predict(X))


def test_prepare_with_other_binning_params_is_refused() -> None:
    X, y = make_data("regression", n_rows=300)
    prepared = LightGBMFamily.prepare(X, {"max_bin": 63})
    with pytest.raises(ModelError, match="prepare"):
        LightGBMFamily("regression", FAST).fit_prepared(prepared, np.arange(200), y)


def test_early_stopping_keeps_only_the_best_trees(tmp_path: Path) -> None:
    X, y = make_data("regression", seed=5)
    params = {"n_estimators": 400, "learning_rate": 0.3, "num_threads": 1}
    model = LightGBMFamily("regression", params)
    model.fit(X[:1500], y[:1500], eval_set=(X[1500:], y[1500:]), seed=0)
    assert model.best_iteration is not None and model.best_iteration < 400
    assert model.booster.num_trees() == model.best_iteration
    model.save(tmp_path)
    assert lgb.Booster(model_file=str(tmp_path / "model.txt")).num_trees() == model.best_iteration
    plain = LightGBMFamily("regression", {**params, "n_estimators": 30}).fit(X, y)
    assert plain.best_iteration is None and plain.booster.num_trees() == 30


def test_user_params_reach_lightgbm() -> None:
    X, y = make_data("regression", n_rows=500)
    params = {"num_threads": 1, "num_leaves": 4, "num_iterations": 7}
    model = LightGBMFamily("regression", params).fit(X, y)
    dump = model.booster.dump_model()
    assert len(dump["tree_info"]) == 7
    assert all(t["num_leaves"] <= 4 for t in dump["tree_info"])


def test_shap_needs_rows_and_matches_pred_contrib_sums() -> None:
    X, y = make_data("regression", n_rows=800)
    model = LightGBMFamily("regression", FAST).fit(X, y)
    with pytest.raises(ModelError, match="pass X="):
        model.importance("shap")
    contrib = model.booster.predict(X[:100], pred_contrib=True)
    np.testing.assert_allclose(contrib.sum(axis=1), model.predict(X[:100]), rtol=1e-6, atol=1e-9)
    shap = model.importance("shap", X=X[:100])
    assert shap.argmax() == 0
    assert model.importance("gain").argmax() == 0


def test_binary_predicts_probabilities() -> None:
    X, y = make_data("binary", n_rows=800)
    p = LightGBMFamily("binary", FAST).fit(X, y).predict(X)
    assert ((p > 0) & (p < 1)).all()
    assert p[y == 1].mean() > p[y == 0].mean() + 0.2


@pytest.mark.parametrize(
    ("task", "sample_cnt", "by_feature"),
    [("regression", 200_000, False), ("binary", 300, False), ("regression", 200_000, True)],
)
def test_binning_in_column_groups_gives_the_models_of_one_call(
    monkeypatch: pytest.MonkeyPatch, task: str, sample_cnt: int, by_feature: bool
) -> None:
    """Columns binned a group at a time (3 columns per group here) give the same
    trees as one ``Dataset`` over the whole matrix: same model text, same
    predictions. The matrix mixes continuous columns with NaN, heavy ties and
    sparse indicators (candidates for exclusive-feature bundles); one case
    samples 300 of 2,000 rows for the bins, one sets ``max_bin_by_feature``.
    Grouping that shifted a column's bins or names, or misaligned a group's
    ``max_bin_by_feature``, changes the model text."""
    import panelml.models._lightgbm_bins as module

    rng = np.random.default_rng(5)
    n = 2000
    X = rng.standard_normal((n, 11)).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 3] = np.round(X[:, 3])  # heavy ties
    X[:, 4:8] = (rng.random((n, 4)) < 0.04) * rng.integers(1, 4, (n, 4))  # sparse
    signal = np.nan_to_num(X[:, 0]) + X[:, 5] - np.nan_to_num(X[:, 9])
    y = signal + rng.standard_normal(n)
    if task == "binary":
        y = (y > 0).astype(np.float64)
    params: dict[str, object] = {**FAST, "bin_construct_sample_cnt": sample_cnt}
    if by_feature:
        params["max_bin_by_feature"] = [7, 15, 255, 31, 4, 4, 63, 9, 255, 127, 5]
    rows, eval_rows = np.arange(0, 1500), np.arange(1500, 2000)

    def fitted() -> LightGBMFamily:
        model = LightGBMFamily(task, params)  # type: ignore[arg-type]
        prepared = LightGBMFamily.prepare(X, model.params)
        return model.fit_prepared(prepared, rows, y, eval_rows=eval_rows, seed=4)

    one_call = fitted()
    monkeypatch.setattr(module, "BIN_GROUP_CELLS", 3 * min(n, sample_cnt))
    assert len(module._column_groups(n, 11, {"bin_construct_sample_cnt": sample_cnt})) == 4
    grouped = fitted()
    assert grouped._booster.model_to_string() == one_call._booster.model_to_string()
    np.testing.assert_array_equal(grouped.predict(X), one_call.predict(X))
