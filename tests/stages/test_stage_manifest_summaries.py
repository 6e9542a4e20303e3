"""The manifest records what the leak checks found, so a script sees it without the report."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from panelml import api
from panelml.data.synthetic import make_panel


def test_manifest_lists_leak_removals_warnings_and_the_selected_targets(tmp_path: Path) -> None:
    synthetic = make_panel(n_symbols=30, n_timestamps=200, seed=3)
    data = tmp_path / "panel.parquet"
    synthetic.frame.write_parquet(data)
    config = {
        "experiment": {"name": "summary"},
        "data": {"path": str(data), "bar_interval": "1d"},
        "pipeline": {"stages": ["leakage_screen", "target_ranking"]},
        "runtime": {"quiet": True, "output_dir": str(tmp_path / "runs")},
        "target_ranking": {"families": ["ridge"]},
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")

    run = api.run(path)
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    stages = {s["name"]: s for s in manifest["stages"]}
    screen = stages["leakage_screen"]["summary"]
    assert screen["policy"] == "balanced"
    removed = {f for info in screen["targets"].values() for f in info["removed"]}
    proof = {leak.feature for leak in synthetic.truth.leaks if leak.kind != "future_window"}
    assert proof <= removed, screen
    ranking = stages["target_ranking"]["summary"]
    assert ranking["selected"] == run.results["target_ranking"].selected_targets()
    for target, info in ranking["warnings"].items():
        assert info["warnings"], target
