"""Kill -9 at each stage, then resume: identical outputs, honest run states.

One chain of CLI processes on a small real project (20 symbols x 120
timestamps): the first run is killed (SIGKILL, sent by a hook to its own
process when the stage starts: by event, not by a timer) at the first stage,
the next run of the same experiment at the second stage, and so on; every run
resumes what the earlier ones cached. A final run completes. Then:

- its result files equal, byte for byte, those of a clean run with its own cache;
- every killed run, whose manifest still says ``running``, reads as
  ``interrupted`` (its process is gone), and each was marked so on disk by the
  next run of the experiment;
- the stability stage of the final run counted no earlier runs: the killed
  runs' snapshots (written after feature_selection and training) are left out.
  Before run states existed it counted every killed run that got that far.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from engine_helpers import STAGES, result_files, run_cli, write_project

import panelml
from panelml.pipeline.runstate import run_state
from panelml.pipeline.verify import verify_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("kill")
    config = write_project(root)
    for stage in STAGES:
        done = run_cli(config, "--run-id", f"kill-{stage}", stop_at=stage)
        assert done.returncode == -9, done.stdout + done.stderr
    final = run_cli(config, "--run-id", "final")
    assert final.returncode == 0, final.stderr
    # the reference: a clean run in this process, with its own cache and output folder
    panelml.run(
        config,
        run_id="clean",
        overrides=["runtime.cache_dir=clean-cache", "runtime.output_dir=clean-runs"],
    )
    return root, config


def test_resumed_run_equals_a_clean_run(chain: tuple[Path, Path]) -> None:
    root, _ = chain
    final = result_files(root / "runs" / "rel" / "final")
    clean = result_files(root / "clean-runs" / "rel" / "clean")
    assert final and list(final) == list(clean)
    assert [name for name in final if final[name] != clean[name]] == []


def test_killed_runs_read_as_interrupted(chain: tuple[Path, Path]) -> None:
    root, _ = chain
    for stage in STAGES:
        run_dir = root / "runs" / "rel" / f"kill-{stage}"
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "interrupted", stage  # rewritten by the next run
        assert "process was gone" in manifest["error"]
        assert run_state(run_dir) == "interrupted"
    assert run_state(root / "runs" / "rel" / "final") == "finished"


def test_stability_leaves_out_the_killed_runs(chain: tuple[Path, Path]) -> None:
    root, _ = chain
    index = json.loads((root / "runs" / "rel" / "final" / "stability" / "result.json").read_text())
    assert index["meta"]["n_earlier_runs"] == 0
    # the kills at training and stability happened after snapshots were written
    assert {"kill-training", "kill-stability"} <= set(index["meta"]["unfinished_runs_left_out"])


def test_runs_verify_passes_the_resumed_run_and_names_a_flipped_model_byte(
    chain: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = chain
    run_dir = tmp_path / "final"
    shutil.copytree(root / "runs" / "rel" / "final", run_dir)
    assert verify_run(run_dir).ok, verify_run(run_dir).problems
    models = sorted(p for p in (run_dir / "models").rglob("*") if p.is_file())
    victim = next(p for p in models if p.name != "meta.json")
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    problems = verify_run(run_dir).problems
    assert any(victim.relative_to(run_dir).as_posix() in p for p in problems), problems


def test_stability_command_counts_only_finished_runs(chain: tuple[Path, Path]) -> None:
    """``panelml stability`` reads the experiment's snapshots like the stage does:
    the killed runs that wrote snapshots are left out, so only the final run counts."""
    from panelml.commands.stability import stability_table

    root, _ = chain
    table = stability_table(root / "runs" / "rel")
    assert table.height > 0
    assert set(table["n_runs"].to_list()) == {1}
