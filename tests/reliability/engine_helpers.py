"""Helpers of the engine reliability tests: a small real project, CLI subprocesses,
and a hook plugin that stops its own process when a chosen stage starts.

Processes are stopped by an event (the ``before_stage`` hook of the chosen
stage), never after a sleep, so the tests are deterministic and fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from panelml.data import write_demo_data

SRC = Path(__file__).resolve().parents[2] / "src"

STAGES = ["leakage_screen", "target_ranking", "feature_selection", "training", "stability"]

KILLER_MODULE = '''
import os
import signal

from panelml.pipeline.hooks import Hooks


class StopAt(Hooks):
    """Sends ``signal`` to its own process when ``stage`` starts."""

    name = "stop_at"

    def __init__(self, stage: str, signal: str = "SIGKILL") -> None:
        self.stage = stage
        self.signal = signal

    def before_stage(self, event) -> None:
        if event.stage == self.stage:
            os.kill(os.getpid(), getattr(signal, self.signal))
'''


def write_project(root: Path, *, stages: list[str] | None = None, seed: int = 3) -> Path:
    """A demo panel (20 symbols x 120 timestamps), a config and the killer hook module."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "data" / "panel.parquet").is_file():
        write_demo_data(root / "data", n_symbols=20, n_timestamps=120, seed=seed)
    (root / "engine_killer.py").write_text(KILLER_MODULE, encoding="utf-8")
    names = stages or STAGES
    config: dict[str, Any] = {
        "experiment": {"name": "rel"},
        "data": {"path": "data/panel.parquet", "bar_interval": "1d"},
        "pipeline": {"stages": names},
        "runtime": {"output_dir": "runs", "seed": 5, "quiet": True},
        "target_ranking": {"top_n": 1},
        "feature_selection": {"permutation_top_k": 3},
    }
    for name in ("target_ranking", "feature_selection"):
        if name not in names:
            del config[name]
    path = root / "experiment.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_cli(
    config: Path, *args: str, stop_at: str | None = None, signal: str = "SIGKILL"
) -> subprocess.CompletedProcess[str]:
    """``python -m panelml run CONFIG ARGS`` in the config's folder; with ``stop_at``,
    the process sends itself ``signal`` when that stage starts."""
    command = [sys.executable, "-m", "panelml", "run", str(config), "--quiet", *args]
    if stop_at is not None:
        hook = f'[{{name: "engine_killer:StopAt", params: {{stage: {stop_at}, signal: {signal}}}}}]'
        command += ["--set", f"hooks={hook}"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(config.parent), str(SRC)]),
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        command, cwd=config.parent, env=env, capture_output=True, text=True, timeout=300
    )


def result_files(run_dir: Path) -> dict[str, bytes]:
    """Every file of the result folders and models, by relative path (manifest,
    events, config, report and stability, which record times, left out)."""
    out: dict[str, bytes] = {}
    for folder in ("leakage_screen", "target_ranking", "feature_selection", "training", "models"):
        for path in sorted((run_dir / folder).rglob("*")):
            if path.is_file() and path.name != "meta.json":
                out[path.relative_to(run_dir).as_posix()] = path.read_bytes()
    return out
