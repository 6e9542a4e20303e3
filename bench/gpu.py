"""Benchmark: fit time of the torch families (and XGBoost) on the CPU versus a GPU
(not a test; run by hand on a machine with a GPU).

A panel of ``--rows`` rows (``--symbols`` symbols x rows/symbols timestamps) and
``--features`` float32 features (1% NaN) with a target that loads on a few
features' last bars is fitted by ``mlp`` and ``gru`` for a fixed number of
epochs (no early stopping, so both devices do the same work), through the
stages' path (``prepare_indexed`` + ``fit_prepared``), once per device; XGBoost
(``device: cpu`` vs ``cuda``, fixed rounds) when it is installed. A device that is
not usable is reported as skipped with the reason, never silently replaced.

Reports the median wall time over ``--repeats`` per (family, device) and the
CPU/GPU speed-up; results go to ``bench/results/gpu.json``.

    python bench/gpu.py                                   # 1M x 200 (the issue's size)
    python bench/gpu.py --rows 20000 --features 20 --epochs 1 --devices cpu   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.models import get_family
from panelml.models.base import RowIndex
from panelml.pipeline.errors import UserError

RESULTS = Path(__file__).parent / "results" / "gpu.json"


def make_panel(
    rows: int, features: int, symbols: int, seed: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], RowIndex]:
    """Features, a target with one-bar and path signal, and the row index."""
    n_times = rows // symbols
    n = n_times * symbols
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features), dtype=np.float32)
    times = np.repeat(np.arange(n_times), symbols).astype(np.int64)
    syms = np.tile(np.arange(symbols), n_times).astype(np.int64)
    y = 0.1 * X[:, 0].astype(np.float64)
    lagged = np.roll(X[:, 1].reshape(n_times, symbols), 1, axis=0).reshape(-1)
    y += 0.1 * lagged + rng.standard_normal(n)
    X[rng.random(X.shape) < 0.01] = np.nan
    return X, y, RowIndex(syms, times)


def time_torch(
    name: str,
    device: str,
    params: dict[str, Any],
    X: npt.NDArray[np.float32],
    y: npt.NDArray[np.float64],
    index: RowIndex,
    repeats: int,
) -> dict[str, Any]:
    family = get_family(name)
    prepared = family.prepare_indexed(X, index)
    rows = np.arange(X.shape[0], dtype=np.intp)
    # untimed warm-up: library import, thread pools, CUDA context and kernels
    warm = {**params, "device": device, "max_iter": 1}
    family("regression", warm).fit_prepared(prepared, rows[: min(2000, rows.size)], y, seed=0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        family("regression", {**params, "device": device}).fit_prepared(prepared, rows, y, seed=0)
        times.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(times), 3), "all_s": [round(t, 3) for t in times]}


def time_xgboost(
    device: str, rounds: int, X: npt.NDArray[np.float32], y: npt.NDArray[np.float64], repeats: int
) -> dict[str, Any]:
    family = get_family("xgboost")
    family("regression", {"n_estimators": 2, "device": device}).fit(X[:2000], y[:2000], seed=0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        family("regression", {"n_estimators": rounds, "device": device}).fit(X, y, seed=0)
        times.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(times), 3), "all_s": [round(t, 3) for t in times]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lookback", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--xgb-rounds", type=int, default=100)
    parser.add_argument("--families", default="mlp,gru,xgboost")
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    X, y, index = make_panel(args.rows, args.features, args.symbols, args.seed)
    torch_params: dict[str, Any] = {
        "max_iter": args.epochs,
        "batch_timestamps": 32,
        "num_threads": args.threads,
        "hidden_sizes": [256, 128],
        "lookback": args.lookback,
        "hidden_size": 64,
    }
    report: dict[str, Any] = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "shape": list(X.shape),
        "families": {},
    }
    for name in args.families.split(","):
        results: dict[str, Any] = {}
        for device in args.devices.split(","):
            try:
                if name == "xgboost":
                    results[device] = time_xgboost(device, args.xgb_rounds, X, y, args.repeats)
                else:
                    params = {
                        k: v
                        for k, v in torch_params.items()
                        if k in get_family(name).default_params
                    }
                    results[device] = time_torch(name, device, params, X, y, index, args.repeats)
            except (UserError, ImportError) as exc:
                results[device] = {"skipped": str(exc)}
            print(f"{name} on {device}: {results[device]}", flush=True)
        cpu, gpu = results.get("cpu", {}), results.get("cuda", {})
        if "median_s" in cpu and "median_s" in gpu:
            results["speedup"] = round(cpu["median_s"] / gpu["median_s"], 2)
            print(f"{name}: GPU speed-up x{results['speedup']}")
        report["families"][name] = results
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
