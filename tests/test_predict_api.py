"""``panelml.predict``: saved models reload in a fresh process and predict identically."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from panelml import api
from panelml.data.synthetic import SyntheticPanel, TargetSpec, make_panel
from panelml.predict import PredictError, RunModels, load_run
from panelml.stages.training import TrainingResult
from panelml.validation.ranks import rank_average

SPECS = (
    TargetSpec("fwd_ret_5", 5, 0.20, "linear", (2, 3, 4)),
    TargetSpec("y_up_5", 5, 0.15, "linear", (3, 0), kind="binary"),
)
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def synthetic() -> SyntheticPanel:
    return make_panel(n_symbols=30, n_timestamps=250, targets=SPECS, leaks=False, seed=5)


@pytest.fixture(scope="module")
def run(synthetic: SyntheticPanel, tmp_path_factory: pytest.TempPathFactory) -> api.RunResult:
    folder = tmp_path_factory.mktemp("predict")
    config = {
        "experiment": {"name": "predict"},
        "data": {"path": "unused.parquet"},
        "pipeline": {"stages": ["training"]},
        "runtime": {
            "output_dir": str(folder / "runs"),
            "cache_dir": str(folder / "cache"),
            "deterministic": True,
        },
        "training": {
            "targets": ["fwd_ret_5", "y_up_5"],
            "family_params": {"lightgbm": {"n_estimators": 40}},
        },
    }
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return api.run(path, data=synthetic.to_panel(), quiet=True)


def in_memory(run: api.RunResult) -> RunModels:
    result = run.results["training"]
    assert isinstance(result, TrainingResult)
    return result.run_models()


def new_data(synthetic: SyntheticPanel) -> pl.DataFrame:
    """Features only (no targets), shuffled rows, a few missing values."""
    frame = synthetic.frame.drop("fwd_ret_5", "y_up_5").sample(fraction=1.0, seed=1)
    feature = next(c for c in frame.columns if c.startswith("feat_"))
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 17 == 0)
        .then(None)
        .otherwise(pl.col(feature))
        .alias(feature)
    )


def test_reloaded_in_a_fresh_process_predicts_identically(
    run: api.RunResult, synthetic: SyntheticPanel, tmp_path: Path
) -> None:
    data = new_data(synthetic)
    data_path, out_path = tmp_path / "new.parquet", tmp_path / "scores.parquet"
    data.write_parquet(data_path)
    code = textwrap.dedent(
        f"""
        import polars as pl
        from panelml.predict import load_run, write_frame
        models = load_run({str(run.run_dir)!r})
        write_frame(models.predict(pl.read_parquet({str(data_path)!r})), {str(out_path)!r})
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": SRC}, timeout=120)
    reloaded = pl.read_parquet(out_path)
    expected = in_memory(run).predict(data)
    assert reloaded.columns == expected.columns == [
        "symbol", "timestamp", "fwd_ret_5__lightgbm", "fwd_ret_5__ridge", "fwd_ret_5__ensemble",
        "y_up_5__lightgbm", "y_up_5__ridge", "y_up_5__ensemble", "y_up_5__ensemble_proba",
    ]  # fmt: skip
    assert reloaded["symbol"].equals(data["symbol"])
    assert reloaded["timestamp"].equals(data["timestamp"])
    for column in expected.columns[2:]:
        np.testing.assert_array_equal(reloaded[column].to_numpy(), expected[column].to_numpy())
    assert expected["y_up_5__lightgbm"].is_between(0.0, 1.0).all()


def test_ensemble_is_the_rank_average_per_timestamp(
    run: api.RunResult, synthetic: SyntheticPanel
) -> None:
    scores = load_run(run.run_dir).predict(new_data(synthetic))
    groups = scores["timestamp"].to_physical().to_numpy()
    expected = rank_average(
        [scores["fwd_ret_5__lightgbm"].to_numpy(), scores["fwd_ret_5__ridge"].to_numpy()], groups
    )
    np.testing.assert_allclose(scores["fwd_ret_5__ensemble"].to_numpy(), expected)
    one_day = scores.filter(pl.col("timestamp") == scores["timestamp"][0])
    ranks = one_day["fwd_ret_5__ensemble"]
    assert ranks.min() > 0.0 and ranks.max() <= 1.0


def test_feature_order_is_taken_from_the_model(
    run: api.RunResult, synthetic: SyntheticPanel
) -> None:
    data = new_data(synthetic)
    reordered = data.select(["timestamp", *reversed(data.columns[2:]), "symbol"])
    models = load_run(run.run_dir)
    assert models.predict(reordered).equals(models.predict(data))


def test_missing_feature_names_the_model(run: api.RunResult, synthetic: SyntheticPanel) -> None:
    models = load_run(run.run_dir)
    feature = models.bundles[0].features[3]
    with pytest.raises(PredictError, match=rf"lacks feature '{feature}'.*fwd_ret_5__lightgbm"):
        models.predict(new_data(synthetic).drop(feature))


def test_bad_keys_and_bad_run_folder(
    run: api.RunResult, synthetic: SyntheticPanel, tmp_path: Path
) -> None:
    models = load_run(run.run_dir)
    data = new_data(synthetic)
    with pytest.raises(PredictError, match="same \\(symbol, timestamp\\) pair"):
        models.predict(pl.concat([data.head(3), data.head(1)]))
    with pytest.raises(PredictError, match="no timestamp column 'timestamp'"):
        models.predict(data.drop("timestamp"))
    with pytest.raises(PredictError, match="has no models/ folder"):
        load_run(tmp_path, allow_incomplete=True)
    with pytest.raises(PredictError, match=r"no readable manifest\.json"):
        load_run(tmp_path)
    with pytest.raises(PredictError, match="does not exist"):
        load_run(tmp_path / "missing")
