"""The CLI as scripts use it: ``--json`` on every listing command parses, ``run -q``
prints exactly one line (the run folder) on stdout, ``--version``, completion,
``predict --out`` by suffix, ``--set`` with a list, and a light ``--help``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import panelml
from panelml import api
from panelml.cli import app
from panelml.data.synthetic import TargetSpec, make_panel

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[2] / "src")
SPECS = (
    TargetSpec("fwd_ret_5", 5, 0.25, "linear", (2, 3, 4)),
    TargetSpec("fwd_ret_2", 2, 0.1, "linear", (1,)),
)


def _config(folder: Path) -> dict[str, Any]:
    return {
        "experiment": {"name": "cli"},
        "data": {"path": "panel.parquet", "targets": ["fwd_*", "extra_target"]},
        "pipeline": {"stages": ["target_ranking", "training"]},
        "runtime": {"output_dir": "runs", "cache_dir": "cache"},
        "target_ranking": {"families": ["ridge"], "top_n": 2},
        "training": {"families": ["ridge"]},
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose data loads with a warning (a target without a horizon in
    its name) and two finished runs of it."""
    folder = tmp_path_factory.mktemp("scripting")
    frame = make_panel(n_symbols=12, n_timestamps=120, targets=SPECS, leaks=False, seed=4).frame
    frame.with_columns(extra_target=frame["fwd_ret_2"] * 2).write_parquet(folder / "panel.parquet")
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(_config(folder)), encoding="utf-8")
    for run_id in ("first", "second"):
        api.run(path, quiet=True, run_id=run_id)
    return path


def _json(args: list[str]) -> Any:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_listing_command_prints_parseable_json(project: Path) -> None:
    runs_dir = project.parent / "runs"
    listed = _json(["runs", "list", str(runs_dir), "--json"])
    assert [r["run_id"] for r in listed] == ["first", "second"]
    assert all(r["status"] == "finished" for r in listed)

    diff = _json(["runs", "diff", "first", "second", "--runs-dir", str(runs_dir), "--json"])
    assert diff["a"]["run_id"] == "first" and diff["data"]["same"] is True
    assert {row["target"] for row in diff["scores"]} >= {"fwd_ret_5"}

    stability = _json(["stability", str(runs_dir / "cli"), "--json"])
    assert stability and {"target", "method", "n_runs", "nogueira"} <= set(stability[0])

    stages = _json(["stages", "--json"])
    training = next(s for s in stages if s["stage"] == "training")
    assert "families" in [p["name"] for p in training["params"]]

    families = {f["family"]: f for f in _json(["models", "--json"])}
    assert {"lightgbm", "ridge", "catboost", "mlp", "gru"} <= set(families)
    assert families["gru"]["reads_history"] and not families["mlp"]["reads_history"]
    assert families["mlp"]["needs_row_index"] and families["catboost"]["device_param"]
    assert "early_stopping_rounds" in families["lightgbm"]["default_params"]["regression"]

    validated = _json(["validate", str(project), "--json"])
    assert validated["ok"] is True
    assert [s["name"] for s in validated["stages"]] == ["target_ranking", "training"]

    hooks = _json(["hooks", str(project), "--json"])
    assert {h["plugin"] for h in hooks} == {"stability_snapshots"}

    explained = _json(["cache", "explain", str(project), "--json"])
    assert [e["stage"] for e in explained] == ["target_ranking", "training"]
    assert {e["verdict"] for e in explained} == {"hit"}

    cache = str(project.parent / "cache")
    pruned = _json(
        ["cache", "prune", "--cache-dir", cache, "--older-than", "365", "--dry-run", "--json"]
    )
    assert pruned["removed"] == [] and pruned["dry_run"] is True


FAILING_HOOK = """
class Failing:
    def before_pipeline(self, event):
        raise RuntimeError("a failing hook " + "x" * 80)
"""


def test_quiet_run_prints_exactly_the_run_folder_on_stdout(project: Path, tmp_path: Path) -> None:
    """What ``RUN=$(panelml run -q x.yaml)`` captures: one line, the run folder. The
    data warning (a target without a horizon) and a run warning (a failing hook,
    reported through the run's reporter) still show, on stderr, unwrapped."""
    (tmp_path / "scripting_hooks.py").write_text(FAILING_HOOK, encoding="utf-8")
    command = [sys.executable, "-m", "panelml", "run", "-q", str(project), "--run-id", "quiet"]
    done = subprocess.run(
        [*command, "--set", "hooks=[scripting_hooks:Failing]"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(tmp_path)]), "COLUMNS": "40"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(project.parent / "runs" / "cli" / "quiet")]
    assert "extra_target" in done.stderr and "horizon" in done.stderr
    hook_lines = [line for line in done.stderr.splitlines() if "a failing hook" in line]
    assert len(hook_lines) == 1 and "x" * 80 in hook_lines[0], done.stderr


def test_version_and_completion() -> None:
    shown = runner.invoke(app, ["--version"])
    assert shown.exit_code == 0 and shown.stdout.strip() == f"panelml {panelml.__version__}"
    # what the installed bash completion script asks the program for each <TAB>
    for words, cword, expected in (
        ("panelml ru", "1", ["run", "runs"]),
        ("panelml runs l", "2", ["list"]),
    ):
        env = {**os.environ, "PYTHONPATH": SRC, "_PANELML_COMPLETE": "complete_bash"}
        done = subprocess.run(
            [sys.executable, "-m", "panelml"],
            env={**env, "COMP_WORDS": words, "COMP_CWORD": cword},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert done.stdout.split() == expected


def test_predict_out_chooses_the_format_by_suffix_and_refuses_others(
    project: Path, tmp_path: Path
) -> None:
    run_dir = project.parent / "runs" / "cli" / "first"
    data = project.parent / "panel.parquet"
    refused = runner.invoke(
        app, ["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "p.json")]
    )
    assert refused.exit_code == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "'.json'" in lines[0] and ".csv" in lines[0]
    assert not (tmp_path / "p.json").exists()
    for name, magic in (("p.csv", b"symbol,"), ("p.parquet", b"PAR1"), ("p.PQ", b"PAR1")):
        done = runner.invoke(
            app, ["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / name)]
        )
        assert done.exit_code == 0, done.output
        assert (tmp_path / name).read_bytes().startswith(magic)


def test_set_replaces_a_list_and_drops_sections_of_removed_stages(project: Path) -> None:
    config = yaml.safe_load(project.read_text())
    assert "training" in config  # a section the new stage list leaves out
    result = runner.invoke(
        app, ["validate", str(project), "--set", "pipeline.stages=[target_ranking]", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert [s["name"] for s in json.loads(result.stdout)["stages"]] == ["target_ranking"]
    bad = runner.invoke(app, ["validate", str(project), "--set", "pipeline.stages=ridge"])
    assert bad.exit_code == 2 and "must be a list" in bad.stderr


def test_help_imports_no_data_or_model_library() -> None:
    """``panelml --help`` stays fast by importing none of the heavy libraries (the
    timing itself is measured, not asserted)."""
    code = (
        "import sys; from panelml.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('polars', 'pydantic', 'scipy', 'numpy', 'sklearn', 'lightgbm')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=120,
        check=True,
    )
    assert "HEAVY []" in done.stdout, done.stdout
