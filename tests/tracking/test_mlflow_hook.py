"""The built-in ``mlflow`` hook: a run of the demo's pipeline logs its config, timings,
ranking scores, OOF metrics, artifacts and tags to a local MLflow file store, read back
with MLflow's client; a failing tracker stays a warning."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from panelml import api
from panelml.data import write_demo_data
from panelml.data.synthetic import SyntheticPanel, TargetSpec, make_panel
from panelml.demo import DEMO_CONFIG
from panelml.models.registry import available_families
from panelml.pipeline.errors import UserError
from panelml.tracking.records import flatten_params, run_metrics

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

SPECS = (
    TargetSpec("fwd_ret_5", 5, 0.25, "linear", (2, 3, 4)),
    TargetSpec("fwd_ret_1", 1, 0.0, "none", ()),
)


@pytest.fixture(scope="module")
def synthetic() -> SyntheticPanel:
    return make_panel(n_symbols=14, n_timestamps=150, targets=SPECS, leaks=False, seed=3)


def _config(folder: Path, hook: dict[str, Any]) -> dict[str, Any]:
    return {
        "experiment": {"name": "tracked"},
        "data": {"targets": ["fwd_*"]},
        "pipeline": {"stages": ["target_ranking", "training", "report"]},
        "hooks": [hook],
        "runtime": {"output_dir": str(folder / "runs"), "cache_dir": str(folder / "cache")},
        "target_ranking": {"families": ["ridge"], "top_n": 1},
        "training": {"families": ["ridge"]},
    }


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[api.RunResult, Any, str]:
    """The demo's pipeline (all six stages, the demo's config) on a small demo panel,
    tracked to a local MLflow file store and read back with MLflow's client."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = (folder / "mlruns").as_uri()
    path = write_demo_data(folder / "data", n_symbols=30, n_timestamps=200, seed=3)
    config: dict[str, Any] = json.loads(json.dumps(DEMO_CONFIG))
    config["data"]["path"] = str(path)
    config["runtime"].update(output_dir=str(folder / "runs"), cache_dir=str(folder / "cache"))
    config["hooks"] = [{"name": "mlflow", "tracking_uri": uri}]
    config["target_ranking"] = {"top_n": 2, "fdr": 0.10}
    config["feature_selection"] = {"top_n": 6, "permutation_top_k": 5, "targets": ["fwd_vol_5"]}
    config["training"] = {"targets": ["fwd_vol_5", "fwd_ret_5"]}
    with pytest.MonkeyPatch.context() as patch:
        # MLflow 3 keeps the plain-folder store behind this switch
        patch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        result = api.run(config, quiet=True)
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(DEMO_CONFIG["experiment"]["name"])
        assert experiment is not None
        (run,) = client.search_runs([experiment.experiment_id])
        artifacts = _artifact_paths(client, run.info.run_id)
    return result, run, "\n".join(artifacts)


def _artifact_paths(client: Any, run_id: str, path: str | None = None) -> list[str]:
    out = []
    for item in client.list_artifacts(run_id, path):
        out.extend(_artifact_paths(client, run_id, item.path) if item.is_dir else [item.path])
    return out


def test_the_run_is_logged_with_its_params_metrics_tags_and_status(
    logged: tuple[api.RunResult, Any, str],
) -> None:
    result, run, _ = logged
    manifest = result.manifest
    assert [s["name"] for s in manifest["stages"]] == DEMO_CONFIG["pipeline"]["stages"]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == result.run_id
    tags = run.data.tags
    assert tags["panelml.run_id"] == result.run_id
    assert tags["panelml.config_hash"] == manifest["config_hash"]
    assert tags["panelml.data_fingerprint"] == manifest["data_fingerprint"]
    params = run.data.params
    assert params["experiment.name"] == DEMO_CONFIG["experiment"]["name"]
    families = json.loads(params["pipeline.stages.training.params.families"])
    assert families and set(families) <= set(available_families())
    assert params["runtime.seed"] == str(manifest["seed"])
    assert params["validation.n_splits"] == str(DEMO_CONFIG["validation"]["n_splits"])
    metrics = run.data.metrics
    for row in manifest["stages"]:
        assert metrics[f"seconds/{row['name']}"] == pytest.approx(row["seconds"])
    ranking = result.tables()["target_ranking"]["ranking"]
    for target, score in zip(ranking["target"], ranking["score"], strict=True):
        assert metrics[f"ranking/{target}/score"] == pytest.approx(score)
    summary = result.tables()["training"]["metrics"].filter(fold=-1)
    checked = 0
    for row in summary.iter_rows(named=True):
        key = f"oof/{row['target']}/{row['family']}/ic_mean"
        if row["ic_mean"] is not None and math.isfinite(row["ic_mean"]):
            assert metrics[key] == pytest.approx(row["ic_mean"])
            checked += 1
    assert checked >= 2 * len(families)  # two trained targets, every family


def test_the_report_ranking_and_model_folders_are_artifacts(
    logged: tuple[api.RunResult, Any, str],
) -> None:
    result, _, artifacts = logged
    listed = artifacts.splitlines()
    assert "report.html" in listed
    assert "target_ranking/ranking.parquet" in listed
    models = result.run_dir / "models"
    on_disk = sorted(
        p.relative_to(result.run_dir).as_posix() for p in models.rglob("*") if p.is_file()
    )
    assert on_disk and sorted(p for p in listed if p.startswith("models/")) == on_disk
    assert "models/fwd_vol_5/lightgbm/meta.json" in on_disk


def test_an_unreachable_tracker_is_a_warning_and_the_run_finishes(
    synthetic: SyntheticPanel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    result = api.run(
        _config(tmp_path, {"name": "mlflow", "params": {"tracking_uri": blocker.as_uri()}}),
        data=synthetic.frame,
        quiet=True,
    )
    assert result.manifest["status"] == "finished"
    events = [
        json.loads(line)
        for line in (result.run_dir / "events.jsonl").read_text().splitlines()
        if '"HookFailed"' in line
    ]
    assert [e["plugin"] for e in events] == ["mlflow"]
    assert "hook mlflow.after_pipeline failed" in capsys.readouterr().err


def test_without_mlflow_the_config_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    config = _config(tmp_path, {"name": "mlflow"})
    config["data"]["path"] = "x.parquet"
    with pytest.raises(UserError, match=r"pip install 'panelml\[mlflow\]'"):
        api.load_config(config)


def test_params_flatten_stage_lists_by_name_and_metrics_skip_non_finite() -> None:
    config = {
        "a": {"b": 1, "c": [1, 2]},
        "pipeline": {"stages": [{"name": "x", "params": {"k": None}}, {"name": "y", "params": {}}]},
    }
    assert flatten_params(config) == {
        "a.b": "1",
        "a.c": "[1, 2]",
        "pipeline.stages.x.params.k": "null",
        "pipeline.stages.y.params": "{}",
    }
    manifest = {"seconds": 2.0, "stages": [{"name": "s", "seconds": float("nan")}]}
    assert run_metrics(manifest, {}) == {"seconds/total": 2.0}
