"""The run-folder module: opening a run, atomic writes; the one did-you-mean rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panelml.pipeline.errors import UserError
from panelml.pipeline.run_folder import (
    CONFIG_FILE,
    MANIFEST,
    RunFolderError,
    atomic_path,
    open_run,
    write_text_atomic,
)
from panelml.pipeline.suggest import did_you_mean


def test_open_run_reads_manifest_and_config(tmp_path: Path) -> None:
    run = tmp_path / "demo" / "r1"
    run.mkdir(parents=True)
    (run / MANIFEST).write_text(json.dumps({"run_id": "r1", "experiment": "demo"}))
    (run / CONFIG_FILE).write_text("runtime:\n  seed: 3\n")
    folder = open_run(run)
    assert (folder.run_id, folder.experiment) == ("r1", "demo")
    assert folder.config == {"runtime": {"seed": 3}}
    assert folder.stage_dir("training") == run / "training"


def test_a_folder_without_manifest_is_a_user_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=r"\(no manifest\.json\); give a folder such as"):
        open_run(tmp_path)
    assert issubclass(RunFolderError, UserError)


def test_atomic_path_publishes_on_success_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_did_you_mean_one_or_several_and_case() -> None:
    assert did_you_mean("lightgmb", ["lightgbm", "ridge"]) == " (did you mean 'lightgbm'?)"
    assert did_you_mean("zzz", ["lightgbm"]) == ""
    assert did_you_mean("CLOSE", ["close", "open"]) == " (did you mean 'close'?)"
    two = did_you_mean("feat_1", ["feat_10", "feat_11", "volume"], limit=3)
    assert two in (
        " (did you mean 'feat_10' or 'feat_11'?)",
        " (did you mean 'feat_11' or 'feat_10'?)",
    )
