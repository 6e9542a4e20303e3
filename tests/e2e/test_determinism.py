"""``runtime.deterministic: true``: two runs in separate processes give identical bytes.

The default pipeline runs twice on a small synthetic panel, each run in its own
``python -m panelml run`` process (so no in-process state such as warm caches,
thread pools or hash seeds is shared) with its own stage cache, and then:

* target_ranking/ranking.parquet, feature_selection/*.parquet and
  training/oof/*.parquet must be equal byte for byte;
* every file under models/ must be equal byte for byte, except meta.json, which
  must be equal once its time fields are removed;
* ``panelml runs diff`` must call the pair identical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from panelml.commands import runs as runs_command
from panelml.data import write_demo_data

SRC = Path(__file__).resolve().parents[2] / "src"
TIME_KEYS = {"created", "saved", "time", "date", "started", "finished", "seconds", "duration"}
TIME_SUFFIXES = ("_at", "_time", "_seconds", "_date", "_duration")

pytestmark = pytest.mark.slow


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_times(v)
            for k, v in value.items()
            if k.lower() not in TIME_KEYS and not k.lower().endswith(TIME_SUFFIXES)
        }
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _files(run_dir: Path, pattern: str) -> dict[str, bytes]:
    return {
        p.relative_to(run_dir).as_posix(): p.read_bytes()
        for p in sorted(run_dir.glob(pattern))
        if p.is_file()
    }


HASH_SEEDS = {"run-a": "1", "run-b": "2"}
"""A different hash seed per process: set and dict iteration order must not matter."""


def _start(config: Path, run_id: str, cache: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "PYTHONHASHSEED": HASH_SEEDS[run_id],
    }
    command = [
        sys.executable,
        "-m",
        "panelml",
        "run",
        str(config),
        "--run-id",
        run_id,
        "--quiet",
        "--set",
        f"runtime.cache_dir={cache}",
    ]
    return subprocess.Popen(
        command,
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("determinism")
    write_demo_data(root / "data", n_symbols=24, n_timestamps=200, seed=3)
    config = root / "experiment.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "experiment": {"name": "det"},
                "data": {"path": "data/panel.parquet", "bar_interval": "1d"},
                "runtime": {"deterministic": True, "output_dir": "runs", "seed": 11},
                "target_ranking": {"top_n": 2},
                "feature_selection": {"permutation_top_k": 5},
            },
            sort_keys=False,
        )
    )
    procs = [_start(config, "run-a", "cache-a"), _start(config, "run-b", "cache-b")]
    for proc in procs:
        output, _ = proc.communicate(timeout=400)
        assert proc.returncode == 0, output
    return root / "runs" / "det" / "run-a", root / "runs" / "det" / "run-b"


@pytest.mark.parametrize(
    "pattern",
    ["target_ranking/ranking.parquet", "feature_selection/*.parquet", "training/oof/*.parquet"],
)
def test_result_tables_are_identical_bytes(two_runs: tuple[Path, Path], pattern: str) -> None:
    a, b = two_runs
    files_a, files_b = _files(a, pattern), _files(b, pattern)
    assert files_a, f"run-a has no {pattern}"
    assert list(files_a) == list(files_b)
    differing = [name for name in files_a if files_a[name] != files_b[name]]
    assert differing == []


def test_saved_models_are_identical_apart_from_timestamps(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    files_a, files_b = _files(a, "models/**/*"), _files(b, "models/**/*")
    assert any(name.endswith("meta.json") for name in files_a), "no models were saved"
    assert list(files_a) == list(files_b)
    differing = []
    for name, content in files_a.items():
        if name.endswith("meta.json"):
            same = _without_times(json.loads(content)) == _without_times(json.loads(files_b[name]))
        else:
            same = content == files_b[name]
        if not same:
            differing.append(name)
    assert differing == []


def test_the_two_processes_hash_strings_differently() -> None:
    """The pair above is worth something only if string hashing differs between them."""
    hashes = set()
    for seed in HASH_SEEDS.values():
        done = subprocess.run(
            [sys.executable, "-c", "print(hash('panelml'))"],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        hashes.add(done.stdout.strip())
    assert len(hashes) == len(HASH_SEEDS)


def test_runs_diff_calls_the_pair_identical(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    app = typer.Typer()
    runs_command.register(app)
    out = CliRunner().invoke(app, ["runs", "diff", str(a), str(b)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[0] == "run-a vs run-b: identical", out.output
    assert "runtime.cache_dir" in out.output  # shown, but it cannot change a result
