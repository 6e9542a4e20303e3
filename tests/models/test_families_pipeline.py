"""catboost, mlp and gru work through the pipeline: ranking, selection, training,
then predict after a reload in a fresh process (identical predictions).

One run fits all three (each in every stage that fits: selection judges with
catboost's own importance and mlp's permutation importance; gru is not a
selection family, see docs/models.md) to keep the test cheap."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from panelml import api
from panelml.data.synthetic import TargetSpec, make_panel
from panelml.stages.training import TrainingResult

pytest.importorskip("catboost")
pytest.importorskip("torch")

SRC = str(Path(__file__).resolve().parents[2] / "src")
FAMILIES = ("catboost", "mlp", "gru")
TORCH_TINY = {"max_iter": 6, "early_stopping_rounds": 2, "learning_rate": 0.01, "device": "cpu"}
PARAMS = {
    "catboost": {"n_estimators": 30, "depth": 4},
    "mlp": {**TORCH_TINY, "hidden_sizes": [16]},
    "gru": {**TORCH_TINY, "lookback": 4, "hidden_size": 8},
}
TARGET = "fwd_ret_5"


def test_new_families_through_the_pipeline_and_a_reload(tmp_path: Path) -> None:
    synthetic = make_panel(
        n_symbols=16,
        n_timestamps=120,
        targets=(TargetSpec(TARGET, 5, 0.3, "linear", (0, 2)),),
        leaks=False,
        seed=2,
    )
    config = {
        "experiment": {"name": "families"},
        "data": {"path": "unused.parquet"},
        "pipeline": {"stages": ["target_ranking", "feature_selection", "training"]},
        "validation": {"n_splits": 3},
        "runtime": {
            "output_dir": str(tmp_path / "runs"),
            "cache_dir": str(tmp_path / "cache"),
            "deterministic": True,
        },
        "target_ranking": {"families": list(FAMILIES), "family_params": PARAMS},
        "feature_selection": {
            "targets": [TARGET],
            "importances": [
                {"family": "catboost", "kind": "prediction_values_change"},
                {"family": "mlp", "kind": "permutation"},
            ],
            "family_params": {k: PARAMS[k] for k in ("catboost", "mlp")},
        },
        "training": {"targets": [TARGET], "families": list(FAMILIES), "family_params": PARAMS},
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = api.run(path, data=synthetic.to_panel(), quiet=True)
    training = result.results["training"]
    assert isinstance(training, TrainingResult)
    for family in FAMILIES:
        meta = json.loads((result.run_dir / "models" / TARGET / family / "meta.json").read_text())
        assert meta["device"] == "cpu"

    data = synthetic.frame.drop(TARGET)
    data_path, out_path = tmp_path / "new.parquet", tmp_path / "scores.parquet"
    data.write_parquet(data_path)
    code = textwrap.dedent(
        f"""
        import polars as pl
        from panelml.predict import load_run, write_frame
        models = load_run({str(result.run_dir)!r})
        write_frame(models.predict(pl.read_parquet({str(data_path)!r})), {str(out_path)!r})
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": SRC}, timeout=300)
    reloaded = pl.read_parquet(out_path)
    expected = training.run_models().predict(data)
    for family in FAMILIES:
        column = f"{TARGET}__{family}"
        got = reloaded[column].to_numpy().astype(float)
        np.testing.assert_array_equal(got, expected[column].to_numpy().astype(float))
        assert np.isfinite(got).mean() > 0.9, column
    # gru reads 4 bars: each symbol's first 3 rows have no history, so no prediction
    gru = reloaded[f"{TARGET}__gru"].to_numpy().astype(float)
    assert np.isnan(gru).sum() == 3 * 16
