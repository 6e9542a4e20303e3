"""The panelml command line: run, validate, stages, hooks; exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from panelml.cli import app
from panelml.pipeline.registry import register_hook, register_stage
from panelml.pipeline.results import JsonResult
from panelml.pipeline.stage import Input, Stage, StageParams

runner = CliRunner()
SRC = Path(__file__).resolve().parents[1] / "src"

Config = Callable[..., dict[str, Any]]


def _run_dirs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "runs" / "toy").iterdir())


def test_run_prints_a_summary_and_a_rerun_comes_from_the_cache(
    toy_stages: Any,
    toy_data: Any,
    toy_config: Config,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    path = write_config(toy_config())
    first = runner.invoke(app, ["run", str(path), "--run-id", "first"])
    assert first.exit_code == 0, first.output
    for text in ("alpha", "beta", "gamma", "ran", "run folder:"):
        assert text in first.stdout
    second = runner.invoke(app, ["run", str(path), "--run-id", "second"])
    assert second.exit_code == 0
    manifest = json.loads((tmp_path / "runs/toy/second/manifest.json").read_text())
    assert [s["status"] for s in manifest["stages"]] == ["cached"] * 3
    assert "cached" in second.stdout


def test_run_options_set_force_no_cache_and_quiet(
    toy_stages: Any,
    toy_data: Any,
    toy_config: Config,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    path = write_config(toy_config())
    assert runner.invoke(app, ["run", str(path), "-q", "--run-id", "a"]).exit_code == 0

    forced = runner.invoke(app, ["run", str(path), "-q", "--run-id", "b", "--force", "beta"])
    assert forced.exit_code == 0
    assert forced.stdout.strip() == str(tmp_path / "runs" / "toy" / "b")
    statuses = [
        s["status"]
        for s in json.loads((tmp_path / "runs/toy/b/manifest.json").read_text())["stages"]
    ]
    assert statuses == ["cached", "ran", "cached"]

    changed = runner.invoke(app, ["run", str(path), "-q", "--run-id", "c", "--set", "gamma.add=10"])
    assert changed.exit_code == 0
    manifest = json.loads((tmp_path / "runs/toy/c/manifest.json").read_text())
    assert [s["status"] for s in manifest["stages"]] == ["cached", "cached", "ran"]
    assert json.loads((tmp_path / "runs/toy/c/gamma/result.json").read_text()) == {"value": 12}

    fresh = runner.invoke(app, ["run", str(path), "-q", "--run-id", "d", "--no-cache"])
    assert fresh.exit_code == 0
    manifest = json.loads((tmp_path / "runs/toy/d/manifest.json").read_text())
    assert [s["status"] for s in manifest["stages"]] == ["ran"] * 3


def _assert_user_error(result: Any, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


BAD: list[tuple[str, Any, list[str], tuple[str, ...]]] = [
    ("unknown key", {"traning": {}}, [], ("traning: unknown top-level key",)),
    ("wrong type", {"runtime": {"n_jobs": "many"}}, [], ("runtime.n_jobs", "found 'many'")),
    ("unknown stage", {"pipeline": {"stages": ["alpha", "betaa"]}}, [], ("did you mean 'beta'",)),
    ("bad order", {"pipeline": {"stages": ["gamma", "beta", "alpha"]}}, [], ("runs after it",)),
    ("bad stage params", {"beta": {"mult": [1]}}, [], ("beta.mult",)),
    ("bad --set syntax", {}, ["--set", "nonsense"], ("expected KEY.PATH=VALUE",)),
    ("bad --set value", {}, ["--set", "runtime.seed=x"], ("runtime.seed",)),
    ("unknown hook", {"hooks": ["nope"]}, [], ("unknown hook plugin 'nope'",)),
    ("unknown force", {}, ["--force", "gama"], ("--force 'gama'", "did you mean 'gamma'")),
    ("bad executor", {"runtime": {"executor": "cluster"}}, [], ("runtime.executor",)),
]


@pytest.mark.parametrize(
    ("extra", "args", "fragments"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_config_exits_2_with_one_message(
    toy_stages: Any,
    toy_data: Any,
    toy_config: Config,
    write_config: Callable[..., Path],
    extra: dict[str, Any],
    args: list[str],
    fragments: tuple[str, ...],
) -> None:
    path = write_config(toy_config(**extra))
    _assert_user_error(
        runner.invoke(app, ["run", str(path), *args]), str(path) if not args else "", *fragments
    )
    if not any(a == "--force" for a in args):
        _assert_user_error(runner.invoke(app, ["validate", str(path), *args]), *fragments)


def test_yaml_syntax_error_and_missing_file_exit_2(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_config("experiment: {name: [\n")
    _assert_user_error(runner.invoke(app, ["validate", str(path)]), "YAML syntax error", "line")
    _assert_user_error(
        runner.invoke(app, ["run", str(tmp_path / "missing.yaml")]), "does not exist"
    )


def test_usage_error_exits_2() -> None:
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 2


class CrashingStage(Stage[StageParams]):
    name = "crashing"
    result_type = JsonResult

    def run(self, ctx: Any) -> JsonResult:
        raise ZeroDivisionError("a bug in a stage")


def test_stage_failure_exits_1_with_a_traceback(
    toy_data: Any, toy_config: Config, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    register_stage(CrashingStage)
    path = write_config(toy_config(pipeline={"stages": ["crashing"]}))
    result = runner.invoke(app, ["run", str(path), "--run-id", "x"])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "ZeroDivisionError: a bug in a stage" in result.stderr
    manifest = json.loads((tmp_path / "runs/toy/x/manifest.json").read_text())
    assert manifest["status"] == "failed"


def test_validate_reports_ok(
    toy_stages: Any, toy_config: Config, write_config: Callable[..., Path]
) -> None:
    path = write_config(toy_config(gamma={"enabled": False}))
    # validate also checks that the data file exists and has the configured columns
    pl.DataFrame(
        {"symbol": ["a", "b"], "timestamp": [1, 1], "x": [0.1, 0.2], "fwd_ret_1": [0.0, 1.0]}
    ).write_parquet(path.parent / "panel.parquet")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0
    assert "ok" in result.stdout and "gamma (disabled)" in result.stdout


def test_stages_lists_registered_stages_with_params(toy_stages: Any) -> None:
    result = runner.invoke(app, ["stages"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    beta_line = next(line for line in lines if "beta" in line and "mult" in line)
    assert "int" in beta_line and "2" in beta_line and "alpha" in beta_line


def test_hooks_prints_the_call_order(
    toy_stages: Any, toy_config: Config, write_config: Callable[..., Path]
) -> None:
    @register_hook
    class Low:
        name = "low"
        priority = -5

        def before_stage(self, event: Any) -> None: ...

    @register_hook
    class High:
        name = "high"
        priority = 5

        def before_stage(self, event: Any) -> None: ...

    path = write_config(toy_config(hooks=["low", "high"]))
    result = runner.invoke(app, ["hooks", str(path)])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["hook", "#", "plugin", "priority"]
    assert rows[1:] == [
        ["before_stage", "1", "high", "5"],
        ["before_stage", "2", "low", "-5"],
        ["after_stage", "1", "stability_snapshots", "0"],
    ]


def test_python_dash_m_panelml_runs_the_cli(write_config: Callable[..., Path]) -> None:
    path = write_config("experiment: {name: x}\n")
    env = {"PYTHONPATH": str(SRC), "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "panelml", "validate", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {path}: data: required key is missing"
    helped = subprocess.run(
        [sys.executable, "-m", "panelml", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert helped.returncode == 0 and "validate" in helped.stdout


class _ScoresResult(JsonResult):
    provides = ("Scores",)


class _ScorerStage(Stage[StageParams]):
    name = "scorer"
    result_type = _ScoresResult

    def run(self, ctx: Any) -> _ScoresResult:
        return _ScoresResult({"score": 1})


class _ChooserParams(StageParams):
    need_scores: bool = True


class _ChooserStage(Stage[_ChooserParams]):
    """Requires a ``Scores`` result only when its params say so (inputs follow params)."""

    name = "chooser"
    Params = _ChooserParams
    result_type = JsonResult

    def inputs(self) -> tuple[Input, ...]:
        return (Input("Scores"),) if self.params.need_scores else ()

    def run(self, ctx: Any) -> JsonResult:
        return JsonResult()


def test_validate_rejects_an_unsatisfiable_pipeline_naming_the_provider(
    toy_config: Config, write_config: Callable[..., Path]
) -> None:
    register_stage(_ScorerStage)
    register_stage(_ChooserStage)
    path = write_config(toy_config(pipeline={"stages": ["chooser"]}))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "stage 'chooser' requires a 'Scores' result" in result.stderr
    assert "add 'scorer' before 'chooser'" in result.stderr
    # the same check, with the params that need no input, passes the order check
    path = write_config(
        toy_config(pipeline={"stages": ["chooser"]}, chooser={"need_scores": False})
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert "requires a 'Scores' result" not in result.stderr
