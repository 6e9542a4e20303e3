"""``panelml predict RUN_DIR --data PATH --out PATH`` through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import typer
import yaml
from typer.testing import CliRunner

from panelml import api
from panelml.commands.predict import register
from panelml.data.synthetic import SyntheticPanel, TargetSpec, make_panel
from panelml.stages.training import TrainingResult

SPECS = (TargetSpec("fwd_ret_5", 5, 0.20, "linear", (2, 3, 4)),)


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """panelml (test app)"""

    register(app)
    return app


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticPanel, api.RunResult]:
    folder = tmp_path_factory.mktemp("cli")
    synthetic = make_panel(n_symbols=20, n_timestamps=200, targets=SPECS, leaks=False, seed=2)
    data = folder / "panel.parquet"
    synthetic.frame.write_parquet(data)
    config = {
        "experiment": {"name": "cli"},
        "data": {"path": str(data)},
        "pipeline": {"stages": ["training"]},
        "runtime": {
            "output_dir": str(folder / "runs"),
            "cache_dir": str(folder / "cache"),
            "deterministic": True,
        },
        "training": {"targets": ["fwd_ret_5"], "family_params": {"lightgbm": {"n_estimators": 30}}},
    }
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return synthetic, api.run(path, quiet=True)


def test_predict_writes_parquet_and_csv(
    app: typer.Typer, trained: tuple[SyntheticPanel, api.RunResult], tmp_path: Path
) -> None:
    synthetic, run = trained
    data = tmp_path / "new.csv"
    synthetic.frame.drop("fwd_ret_5").write_csv(data)
    runner = CliRunner()
    for name in ("scores.parquet", "scores.csv"):
        out = tmp_path / "out" / name
        done = runner.invoke(
            app, ["predict", str(run.run_dir), "--data", str(data), "--out", str(out)]
        )
        assert done.exit_code == 0, done.output
        assert done.output.strip() == str(out)
        assert not list(out.parent.glob(".*.tmp"))
    scores = pl.read_parquet(tmp_path / "out" / "scores.parquet")
    assert scores.columns == [
        "symbol",
        "timestamp",
        "fwd_ret_5__lightgbm",
        "fwd_ret_5__ridge",
        "fwd_ret_5__ensemble",
    ]
    assert scores.height == synthetic.frame.height
    result = run.results["training"]
    assert isinstance(result, TrainingResult)
    expected = result.run_models().predict(synthetic.frame)
    np.testing.assert_allclose(scores["fwd_ret_5__ridge"], expected["fwd_ret_5__ridge"], rtol=1e-6)
    as_csv = pl.read_csv(tmp_path / "out" / "scores.csv")
    np.testing.assert_allclose(as_csv["fwd_ret_5__lightgbm"], scores["fwd_ret_5__lightgbm"])


def test_missing_feature_is_a_user_error(
    app: typer.Typer, trained: tuple[SyntheticPanel, api.RunResult], tmp_path: Path
) -> None:
    synthetic, run = trained
    feature = next(c for c in synthetic.frame.columns if c.startswith("feat_"))
    data = tmp_path / "partial.parquet"
    synthetic.frame.drop(feature).write_parquet(data)
    out = tmp_path / "scores.parquet"
    done = CliRunner().invoke(
        app, ["predict", str(run.run_dir), "--data", str(data), "--out", str(out)]
    )
    assert done.exit_code == 2
    assert f"lacks feature '{feature}'" in done.output and "Traceback" not in done.output
    assert not out.exists()


def test_not_a_run_folder_is_a_user_error(app: typer.Typer, tmp_path: Path) -> None:
    done = CliRunner().invoke(
        app, ["predict", str(tmp_path), "--data", "x.parquet", "--out", str(tmp_path / "o.csv")]
    )
    assert done.exit_code == 2 and "no readable manifest.json" in done.output
