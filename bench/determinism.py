"""Benchmark: what ``runtime.deterministic: true`` costs in speed (not a test; run by hand).

Runs the default pipeline on one synthetic panel with ``deterministic`` true and
false, ``--repeats`` times each, interleaved (true, false, true, ...) so machine
noise hits both alike. Every run is its own ``python -m panelml run --no-cache``
process, so nothing is shared between runs. Reports the median wall time of the
whole run and of each stage (from ``manifest.json``), the slowdown, and whether
the repeats of each mode produced identical results (content digests of every
result file, :func:`panelml.stability.compare.result_digests`). Results go to
``bench/results/determinism.json``.

    python bench/determinism.py                                  # 100 x 800, 3 repeats
    python bench/determinism.py --symbols 60 --timestamps 400 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from panelml.data import write_demo_data
from panelml.stability.compare import result_digests

RESULTS = Path(__file__).parent / "results" / "determinism.json"
SRC = Path(__file__).resolve().parents[1] / "src"


def _run(config: Path, run_id: str, deterministic: bool, threads: int) -> tuple[float, Path]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable,
        "-m",
        "panelml",
        "run",
        str(config),
        "--run-id",
        run_id,
        "--no-cache",
        "--quiet",
        "--set",
        f"runtime.deterministic={str(deterministic).lower()}",
        "--set",
        f"runtime.n_jobs={threads}",
    ]
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=config.parent, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"run {run_id} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, config.parent / "runs" / "bench" / run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--timestamps", type=int, default=800)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="runtime.n_jobs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_demo_data(root / "data", n_symbols=args.symbols, n_timestamps=args.timestamps)
        config = root / "experiment.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "experiment": {"name": "bench"},
                    "data": {"path": "data/panel.parquet", "bar_interval": "1d"},
                    "runtime": {"output_dir": "runs", "cache_dir": "cache"},
                }
            )
        )
        wall: dict[str, list[float]] = {"true": [], "false": []}
        stages: dict[str, dict[str, list[float]]] = {"true": {}, "false": {}}
        digests: dict[str, list[dict[str, str]]] = {"true": [], "false": []}
        for i in range(args.repeats):
            for deterministic in (True, False):
                mode = str(deterministic).lower()
                seconds, run_dir = _run(config, f"{mode}-{i}", deterministic, args.threads)
                wall[mode].append(seconds)
                manifest = json.loads((run_dir / "manifest.json").read_text())
                for row in manifest["stages"]:
                    stages[mode].setdefault(row["name"], []).append(float(row["seconds"]))
                digests[mode].append(result_digests(run_dir))
                print(f"deterministic={mode} repeat {i}: {seconds:.1f} s", flush=True)

    def reproducible(runs: list[dict[str, str]]) -> dict[str, Any]:
        differing = sorted(
            {k for d in runs[1:] for k in set(d) | set(runs[0]) if d.get(k) != runs[0].get(k)}
        )
        return {"identical": not differing, "differing_files": differing}

    median = {mode: statistics.median(values) for mode, values in wall.items()}
    out = {
        "panel": {"symbols": args.symbols, "timestamps": args.timestamps},
        "repeats": args.repeats,
        "threads": args.threads,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "median_wall_s": median,
        "slowdown": median["true"] / median["false"],
        "median_stage_s": {
            mode: {name: statistics.median(v) for name, v in per.items()}
            for mode, per in stages.items()
        },
        "reproducible": {mode: reproducible(runs) for mode, runs in digests.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
