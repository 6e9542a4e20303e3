"""Run states: ``running -> finished | failed | interrupted``.

Before: SIGTERM left the manifest at ``running`` forever, ``runs list`` showed
killed runs as running, and nothing told a live run from a dead one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import run_cli, write_project
from typer.testing import CliRunner

from panelml.cli import app
from panelml.pipeline import registry
from panelml.pipeline.context import RunContext
from panelml.pipeline.results import JsonResult
from panelml.pipeline.runner import Pipeline
from panelml.pipeline.runstate import effective_state, process_identity, run_state
from panelml.pipeline.signals import RunInterrupted
from panelml.pipeline.stage import Stage, StageParams

runner = CliRunner()


class SignalParams(StageParams):
    signal: str = "SIGTERM"


class SignalStage(Stage[SignalParams]):
    """Sends a signal to its own process (the event a user's kill would be)."""

    name = "send_signal"
    Params = SignalParams
    requires = ("alpha",)
    result_type = JsonResult

    def run(self, ctx: RunContext) -> JsonResult:
        os.kill(os.getpid(), getattr(signal, self.params.signal))
        return JsonResult({"unreachable": True})  # pragma: no cover


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_signal_marks_the_run_interrupted(
    toy_stages: Any, make_context: Callable[..., RunContext], name: str, code: int
) -> None:
    alpha = toy_stages[0]
    ctx = make_context(run_id="sig")
    with pytest.raises(RunInterrupted) as caught:
        Pipeline([alpha(alpha.Params()), SignalStage(SignalParams(signal=name))]).run(ctx)
    assert caught.value.exit_code == code
    manifest = json.loads((ctx.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert [s["status"] for s in manifest["stages"]] == ["ran", "interrupted"]
    assert run_state(ctx.run_dir) == "interrupted"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored


def test_cli_prints_one_line_and_exits_143_on_sigterm(
    toy_stages: Any, toy_config: Any, write_config: Callable[..., Path], toy_data: Any
) -> None:
    registry.register_stage(SignalStage)
    config = write_config(toy_config(pipeline={"stages": ["alpha", "send_signal"]}))
    out = runner.invoke(app, ["run", str(config), "--run-id", "t1", "-q"])
    assert out.exit_code == 143, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted: stopped by SIGTERM; run ")
    assert "rerun the same command to resume" in lines[0]


@pytest.mark.slow
def test_a_real_process_sent_sigterm_exits_143_marked_interrupted(tmp_path: Path) -> None:
    config = write_project(tmp_path, stages=["leakage_screen", "target_ranking"])
    done = run_cli(config, "--run-id", "term", stop_at="target_ranking", signal="SIGTERM")
    assert done.returncode == 143, done.stderr
    # --quiet sends the run's warnings to stderr too; the error is the one other line
    lines = [line for line in done.stderr.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("interrupted: stopped by SIGTERM")
    run_dir = tmp_path / "runs" / "rel" / "term"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert not list(run_dir.glob(".*.tmp"))


# -- stale running manifests ----------------------------------------------------------
def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def _manifest(process: Any, status: str = "running") -> dict[str, Any]:
    return {"run_id": "x", "status": status, "process": process}


def test_state_of_a_running_manifest_follows_its_process() -> None:
    me = process_identity()
    assert effective_state(_manifest(me)) == "running"
    assert effective_state(_manifest(dict(me, pid=_dead_pid()))) == "interrupted"
    if me["start_ticks"] is not None:  # a reused pid: same number, another start time
        assert effective_state(_manifest(dict(me, start_ticks=me["start_ticks"] + 1))) == (
            "interrupted"
        )
    assert effective_state(_manifest(dict(me, host="elsewhere", pid=_dead_pid()))) == "running"
    assert effective_state(_manifest(me, status="ok")) == "finished"  # older manifests
    assert effective_state(_manifest(me, status="finished")) == "finished"
    assert effective_state(_manifest(me, status="garbage")) == "failed"


def _fake_run(root: Path, run_id: str, status: str, pid: int) -> Path:
    run_dir = root / "runs" / "toy" / run_id
    run_dir.mkdir(parents=True)
    manifest = {
        "run_id": run_id,
        "experiment": "toy",
        "status": status,
        "started": "2025-01-01T00:00:00+00:00",
        "process": dict(process_identity(), pid=pid),
        "stages": [],
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def test_runs_list_and_the_next_run_show_a_dead_running_run_as_interrupted(
    toy_stages: Any, make_context: Callable[..., RunContext], tmp_path: Path
) -> None:
    dead = _fake_run(tmp_path, "dead", "running", _dead_pid())
    live = _fake_run(tmp_path, "live", "running", os.getpid())
    out = runner.invoke(app, ["runs", "list", str(tmp_path / "runs")], env={"COLUMNS": "200"})
    rows = {line.split("│")[2].strip(): line for line in out.output.splitlines() if "│" in line}
    assert "interrupted" in rows["dead"] and "running" in rows["live"], out.output
    assert json.loads((dead / "manifest.json").read_text())["status"] == "running"

    alpha = toy_stages[0]
    Pipeline([alpha(alpha.Params())]).run(make_context(run_id="next"))
    marked = json.loads((dead / "manifest.json").read_text())
    assert marked["status"] == "interrupted" and "process was gone" in marked["error"]
    assert json.loads((live / "manifest.json").read_text())["status"] == "running"


def test_stability_history_leaves_out_runs_that_did_not_finish(tmp_path: Path) -> None:
    import polars as pl

    from panelml.stability.history import finished_runs_only
    from panelml.stability.snapshots import SNAPSHOT_SCHEMA

    experiment = tmp_path / "runs" / "toy"
    _fake_run(tmp_path, "killed", "running", _dead_pid())
    _fake_run(tmp_path, "failed", "failed", os.getpid())
    _fake_run(tmp_path, "done", "finished", os.getpid())
    runs = ["killed", "failed", "done", "gone", "current"]  # "gone": its folder was removed
    frame = pl.DataFrame(
        {c: [None] * len(runs) for c in SNAPSHOT_SCHEMA} | {"run_id": runs},
        schema=SNAPSHOT_SCHEMA,
    )
    kept, dropped = finished_runs_only(frame, experiment, keep="current")
    assert sorted(kept["run_id"].to_list()) == ["current", "done", "gone"]
    assert dropped == ["failed", "killed"]


# -- runs verify --------------------------------------------------------------------
def test_runs_verify_names_a_changed_file(
    toy_stages: Any, make_context: Callable[..., RunContext]
) -> None:
    stages = [cls(cls.Params()) for cls in toy_stages]
    run = Pipeline(stages).run(make_context(run_id="v1"))
    ok = runner.invoke(app, ["runs", "verify", str(run.run_dir)])
    assert ok.exit_code == 0 and ": ok (finished; 3 files match)" in ok.output, ok.output
    models = run.run_dir / "models" / "t" / "fam"
    models.mkdir(parents=True)
    (models / "model.txt").write_text("tree")
    meta = {"files": {"model.txt": "0" * 64}}
    (models / "meta.json").write_text(json.dumps(meta))
    (run.run_dir / "beta" / "result.json").write_text('{"value": 999}')
    bad = runner.invoke(app, ["runs", "verify", str(run.run_dir)])
    assert bad.exit_code == 2
    assert "beta/result.json: content changed" in bad.output
    assert "models/t/fam/model.txt: content changed" in bad.output
    assert bad.output.strip().splitlines()[-1].startswith("error: run folder ")
