"""Run comparison: flattening configs, classifying pairs, runs list/diff, the stability CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from panelml.commands import runs as runs_command
from panelml.commands import stability as stability_command
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.hooks import HookManager
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.results import TableResult
from panelml.pipeline.runner import Pipeline
from panelml.pipeline.stage import Stage, StageParams
from panelml.stability.compare import (
    RunsError,
    classify,
    config_changes,
    diff_runs,
    flatten_config,
    list_runs,
    result_digests,
)
from panelml.stability.hooks import StabilitySnapshots

FEATURES = [f"f{j}" for j in range(10)]


class ToyParams(StageParams):
    shift: float = 0.0
    selected: tuple[int, ...] = (0, 1, 2, 3, 4)


class ToyRanking(Stage[ToyParams]):
    name = "target_ranking"
    Params = ToyParams
    result_type = TableResult

    def run(self, ctx: RunContext) -> TableResult:
        frame = pl.DataFrame(
            {
                "target": ["y1", "y2", "y3"],
                "rank": [1, 2, 3],
                "score": [0.10 + self.params.shift, 0.05, 0.01],
                "status": ["selected", "selected", "not_significant"],
            }
        )
        return TableResult({"ranking": frame})


class ToySelection(Stage[ToyParams]):
    name = "feature_selection"
    Params = ToyParams
    result_type = TableResult

    def run(self, ctx: RunContext) -> TableResult:
        tables = {}
        for target in ("y1", "y2"):
            tables[target] = pl.DataFrame(
                {
                    "feature": FEATURES,
                    "consensus_score": [float(10 - j) for j in range(10)],
                    "rank": list(range(1, 11)),
                    "selected": [j in self.params.selected for j in range(10)],
                }
            )
        return TableResult(tables)


class ToyTraining(Stage[ToyParams]):
    name = "training"
    Params = ToyParams
    result_type = TableResult

    def run(self, ctx: RunContext) -> TableResult:
        metrics = pl.DataFrame(
            {
                "target": ["y1", "y1", "y2"],
                "family": ["ridge", "ridge", "ridge"],
                "fold": [0, -1, -1],
                "ic_mean": [0.2, 0.08 + self.params.shift, 0.04],
            }
        )
        return TableResult({"metrics": metrics})


def _run(root: Path, run_id: str, **params: Any) -> Path:
    p = ToyParams(**params)
    ctx = RunContext(
        config=None,
        data=None,
        data_fingerprint="data-v1",
        run_dir=root / "exp" / run_id,
        run_id=run_id,
        experiment="exp",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
    )
    hooks = HookManager(strict=True)
    hooks.register(StabilitySnapshots())
    snapshot = {
        "experiment": {"name": "exp"},
        "runtime": {"output_dir": str(root), "seed": 42},
        "pipeline": {
            "stages": [
                {"name": n, "params": p.model_dump(mode="json")}
                for n in ("target_ranking", "feature_selection", "training")
            ]
        },
    }
    Pipeline([ToyRanking(p), ToySelection(p), ToyTraining(p)], hooks=hooks).run(
        ctx, config_snapshot=snapshot
    )
    return ctx.run_dir


def test_flatten_config_keys_named_entries_by_name() -> None:
    config = {
        "runtime": {"seed": 1},
        "pipeline": {"stages": [{"name": "a", "params": {"x": 1}}, {"name": "b", "params": {}}]},
        "data": {"targets": ["y1", "y2"]},
    }
    assert flatten_config(config) == {
        "runtime.seed": 1,
        "pipeline.stages.order": ["a", "b"],
        "pipeline.stages[a].params.x": 1,
        "data.targets": ["y1", "y2"],
    }
    other = {**config, "runtime": {"seed": 2, "quiet": True}}
    assert [(c.key, c.a, c.b) for c in config_changes(config, other)] == [
        ("runtime.quiet", None, True),
        ("runtime.seed", 1, 2),
    ]


def _frames(
    score_delta: float = 0.0, jaccard: float = 1.0, metric_delta: float = 0.0
) -> dict[str, pl.DataFrame]:
    return {
        "scores": pl.DataFrame(
            {
                "target": ["y"],
                "delta": [score_delta],
                "status_a": ["selected"],
                "status_b": ["selected"],
            }
        ),
        "selections": pl.DataFrame({"target": ["y"], "jaccard": [jaccard]}),
        "metrics": pl.DataFrame({"target": ["y"], "delta": [metric_delta]}),
    }


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        (_frames(), "stable"),
        (_frames(score_delta=0.02, jaccard=0.8), "stable"),
        (_frames(score_delta=-0.03), "drifting"),
        (_frames(metric_delta=0.04, jaccard=0.5), "drifting"),
        (_frames(jaccard=0.7), "drifting"),
        (_frames(score_delta=0.06), "diverged"),
        (_frames(jaccard=0.4), "diverged"),
        (_frames(score_delta=float("nan")), "diverged"),
    ],
)
def test_classification_thresholds(frames: dict[str, pl.DataFrame], expected: str) -> None:
    label, reasons = classify(same_config=False, same_data=True, same_files=False, **frames)
    assert label == expected
    assert reasons[0] == "the config differs"


def test_identical_needs_config_data_and_files() -> None:
    label, _ = classify(same_config=True, same_data=True, same_files=True, **_frames())
    assert label == "identical"
    label, reasons = classify(same_config=True, same_data=True, same_files=False, **_frames())
    assert label == "stable" and "not reproducible" in reasons[0]


def test_two_runs_of_the_same_config_are_identical(tmp_path: Path) -> None:
    a, b = _run(tmp_path, "a"), _run(tmp_path, "b")
    diff = diff_runs(a, b)
    assert diff.classification == "identical"
    assert diff.config == [] and diff.same_data and diff.files_differing == []
    assert diff.files_compared == len(result_digests(a)) == 4
    assert diff.scores["delta"].to_list() == [0.0, 0.0, 0.0]
    assert diff.selections["jaccard"].to_list() == [1.0, 1.0]


def test_small_changes_are_stable_larger_drifting_then_diverged(tmp_path: Path) -> None:
    base = _run(tmp_path, "base")
    small = diff_runs(base, _run(tmp_path, "small", shift=0.01))
    assert small.classification == "stable"
    assert [c.key for c in small.config] == [
        "pipeline.stages[feature_selection].params.shift",
        "pipeline.stages[target_ranking].params.shift",
        "pipeline.stages[training].params.shift",
    ]
    assert small.scores.filter(pl.col("target") == "y1")["delta"][0] == pytest.approx(0.01)
    assert small.metrics["delta"].to_list() == pytest.approx([0.01, 0.0])
    assert "target_ranking/ranking.parquet" in small.files_differing

    drift = diff_runs(base, _run(tmp_path, "drift", selected=(0, 1, 2, 3, 5)))
    assert drift.classification == "drifting"
    assert drift.selections["jaccard"].to_list() == pytest.approx([4 / 6, 4 / 6])

    far = diff_runs(base, _run(tmp_path, "far", shift=0.1))
    assert far.classification == "diverged"


def test_runs_list_and_diff_commands(tmp_path: Path) -> None:
    _run(tmp_path, "20250101-000000-aaaaaa")
    _run(tmp_path, "20250101-000001-bbbbbb")
    assert [r.run_id for r in list_runs(tmp_path)] == [
        "20250101-000000-aaaaaa",
        "20250101-000001-bbbbbb",
    ]
    assert list_runs(tmp_path)[0].top_targets == ["y1", "y2"]
    assert len(list_runs(tmp_path / "exp")) == 2

    app = typer.Typer()
    runs_command.register(app)
    cli = CliRunner()
    listed = cli.invoke(app, ["runs", "list", str(tmp_path)], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert "20250101-000001-bbbbbb" in listed.output and "y1, y2" in listed.output
    assert "stability" not in listed.output.split("top targets")[1]

    diffed = cli.invoke(
        app,
        [
            "runs",
            "diff",
            "20250101-000000-aaaaaa",
            "20250101-000001-bbbbbb",
            "--runs-dir",
            str(tmp_path),
        ],
        env={"COLUMNS": "250"},
    )
    assert diffed.exit_code == 0, diffed.output
    assert "identical" in diffed.output and "result files: 4 of 4 identical" in diffed.output

    missing = cli.invoke(app, ["runs", "diff", str(tmp_path / "nope"), str(tmp_path / "exp")])
    assert missing.exit_code == 2
    assert "neither a run folder nor a run id" in missing.output


def test_a_folder_without_a_manifest_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RunsError, match="not a panelml run folder"):
        diff_runs(tmp_path, tmp_path)


def test_stability_command_prints_the_history(tmp_path: Path) -> None:
    for i, selected in enumerate([(0, 1, 2, 3, 4), (0, 1, 2, 3, 5), (0, 1, 2, 3, 4)]):
        _run(tmp_path, f"r{i}", selected=selected)
    app = typer.Typer()
    stability_command.register(app)
    cli = CliRunner()
    out = cli.invoke(app, [str(tmp_path / "exp"), "--k", "5"], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    assert "stability across runs: exp" in out.output
    assert "Jaccard@5" in out.output
    # f4 is selected in two of three runs, f5 in one: both flip; f0..f3 never do
    assert "f0, f1, f2" in out.output and "f4, f5" in out.output

    empty = cli.invoke(app, [str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "no stability snapshots" in empty.output


def test_model_meta_time_fields_are_ignored_but_model_bytes_are_not(tmp_path: Path) -> None:
    a, b = _run(tmp_path, "a"), _run(tmp_path, "b")
    for run, saved in ((a, "2025-01-01T00:00:00"), (b, "2025-06-01T12:00:00")):
        model = run / "models" / "y1" / "ridge"
        model.mkdir(parents=True)
        meta = {"saved_at": saved, "timestamp_column": "timestamp", "features": ["f0"]}
        (model / "meta.json").write_text(json.dumps(meta))
        (model / "model.txt").write_text("tree 1")
    assert diff_runs(a, b).classification == "identical"
    (b / "models" / "y1" / "ridge" / "model.txt").write_text("tree 2")
    diff = diff_runs(a, b)
    assert diff.files_differing == ["models/y1/ridge/model.txt"]
    assert diff.classification == "stable"
    assert "not reproducible" in diff.reasons[0]
