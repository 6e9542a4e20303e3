"""Nested tuning gain versus configured params, and the proof that tuning stays in-sample.

For each design and seed it builds a ``make_panel`` panel, plans the training
stage's outer purged folds, and scores LightGBM out of fold two ways:

- ``configured``: the family params as configured (the design's baseline);
- ``tuned``: per outer fold, an Optuna study on that fold's training rows only
  (inner purged folds, median pruning, default lightgbm space) chooses the
  params, then the fold is fitted with them exactly as the stage does.

It reports the outer OOF mean rank IC of both, and counts the outer test rows
any tuning fit, early-stopping block or inner score touched (must be 0).

Designs: ``interaction`` (x0*x1 signal; configured = 2-leaf stumps at a slow
learning rate, which are additive and cannot express an interaction),
``nonlinear_missing`` (x0^2 signal, 10% missing values, same baseline),
``noise`` (no signal: tuning must not create IC) and ``linear_defaults``
(a linear signal with lightgbm's own defaults as baseline: little to gain).

    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/tuning.py --seeds 0 1 2 --trials 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import zlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from panelml.data.synthetic import TargetSpec, make_panel
from panelml.models.lightgbm import LightGBMFamily
from panelml.stages.fitting import fit_folds, model_label, plan_folds, target_rows
from panelml.stages.training._tuning import TuningJob, inner_folds
from panelml.stages.training._tuning_space import TuningSpec, resolve_space
from panelml.validation import ValidationConfig, ic_series
from panelml.validation.splitters import resolve_embargo

STUMPS = {"num_leaves": 2, "learning_rate": 0.01, "n_estimators": 200}
DESIGNS: dict[str, dict[str, Any]] = {
    "interaction": {
        "spec": TargetSpec("y", 5, 0.30, "interaction", (0, 1)),
        "params": STUMPS,
        "missing": None,
    },
    "nonlinear_missing": {
        "spec": TargetSpec("y", 5, 0.30, "nonlinear", (0,)),
        "params": STUMPS,
        "missing": 0.10,
    },
    "noise": {"spec": TargetSpec("y", 5, 0.0, "none"), "params": STUMPS, "missing": None},
    "linear_defaults": {
        "spec": TargetSpec("y", 5, 0.20, "linear", (0, 3)),
        "params": {},
        "missing": None,
    },
}


class Recording(LightGBMFamily):
    """LightGBM that records the rows it is fitted and stopped on."""

    seen: ClassVar[set[int]] = set()

    def fit_prepared(self, data: Any, rows: Any, y: Any, **kw: Any) -> Any:
        Recording.seen.update(int(r) for r in rows)
        if kw.get("eval_rows") is not None:
            Recording.seen.update(int(r) for r in kw["eval_rows"])
        return super().fit_prepared(data, rows, y, **kw)


def oof_ic(pred: np.ndarray, y: np.ndarray, codes: np.ndarray) -> float:
    keep = np.isfinite(pred)
    return float(np.nanmean(ic_series(pred[keep], y[keep], codes[keep], min_names=5).values))


def run_one(design: str, seed: int, trials: int, naive: bool = False) -> dict[str, Any]:
    cfg = DESIGNS[design]
    synthetic = make_panel(
        n_symbols=60,
        n_timestamps=300,
        targets=[cfg["spec"]],
        leaks=False,
        missing_rate=cfg["missing"],
        seed=seed,
    )
    panel = synthetic.to_panel()
    validation = ValidationConfig(n_splits=4, embargo=2)
    rows = target_rows(panel, "y")
    y = model_label(panel, "y", True)
    codes = panel.timestamp_index
    horizon = panel.horizons["y"]
    folds = plan_folds(panel, "y", validation, rows, early_stopping=True)
    base = {**cfg["params"], "num_threads": 1, "deterministic": True}
    prepared = Recording.prepare(panel.X, base)
    spec = TuningSpec(n_trials=trials, inner_splits=3)
    oof = {"configured": np.full(panel.n_rows, np.nan), "tuned": np.full(panel.n_rows, np.nan)}
    chosen, leaked, n_seen = [], 0, 0
    t0 = time.perf_counter()
    for fold in folds:
        (fitted,) = fit_folds(Recording, "regression", base, prepared, y, [fold], seed=seed)
        oof["configured"][fold.test] = fitted.predictions
        job = TuningJob(
            family=Recording,
            family_name="lightgbm",
            task="regression",
            base_params=base,
            spec=spec,
            space=resolve_space("lightgbm", spec),
            prepared=prepared,
            y=y,
            codes=codes,
            horizon=horizon,
            embargo=resolve_embargo(validation, panel.n_timestamps),
            scheme="purged_kfold",
            early_stopping=True,
            early_stopping_fraction=0.2,
            min_names=5,
            seed=lambda slot, role, s=seed, k=fold.index: zlib.crc32(f"{s}/{k}/{role}".encode()),
            warn=lambda message: None,
        )
        Recording.seen = set()
        outcome = job.run(fold.index, fold.train)
        inner = inner_folds(
            fold.train,
            codes,
            horizon=horizon,
            embargo=job.embargo,
            n_splits=3,
            scheme="purged_kfold",
            early_stopping=True,
            early_stopping_fraction=0.2,
        )
        scored = set(np.concatenate([f.test for f in inner]).tolist())
        touched = Recording.seen | scored
        leaked += len(touched & set(fold.test.tolist()))
        n_seen += len(touched)
        chosen.append(outcome.params)
        params = {**base, **outcome.params}
        (tuned,) = fit_folds(Recording, "regression", params, prepared, y, [fold], seed=seed)
        oof["tuned"][fold.test] = tuned.predictions
    naive_ic = None
    if naive:
        # what a non-nested tuner reports: the best trial's CV IC on all rows, the
        # same rows that choose the params (selection bias included)
        naive_ic = job.run("all", rows).value
    return {
        "naive_best_cv_ic": naive_ic,
        "design": design,
        "seed": seed,
        "ic_configured": oof_ic(oof["configured"], y, codes),
        "ic_tuned": oof_ic(oof["tuned"], y, codes),
        "outer_test_rows_touched_by_tuning": leaked,
        "rows_touched_by_tuning": n_seen,
        "chosen": chosen,
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS))
    parser.add_argument("--naive", action="store_true", help="also the non-nested best CV IC")
    parser.add_argument("--out", type=Path, default=Path("bench/results/tuning.json"))
    args = parser.parse_args()
    rows = []
    for design in args.designs:
        for seed in args.seeds:
            row = run_one(design, seed, args.trials, args.naive)
            rows.append(row)
            print(
                f"{design:18s} seed {seed}: IC configured {row['ic_configured']:+.4f} "
                f"tuned {row['ic_tuned']:+.4f}  "
                f"leaked rows {row['outer_test_rows_touched_by_tuning']}"
                f"  ({row['seconds']:.0f} s)",
                flush=True,
            )
    summary = {}
    for design in args.designs:
        mine = [r for r in rows if r["design"] == design]
        gains = [r["ic_tuned"] - r["ic_configured"] for r in mine]
        summary[design] = {
            "median_ic_configured": statistics.median(r["ic_configured"] for r in mine),
            "median_ic_tuned": statistics.median(r["ic_tuned"] for r in mine),
            "median_gain": statistics.median(gains),
            "gains": gains,
            "naive_best_cv_ic": [r["naive_best_cv_ic"] for r in mine],
            "leaked_rows": sum(r["outer_test_rows_touched_by_tuning"] for r in mine),
        }
        print(design, json.dumps(summary[design]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": rows, "summary": summary}, indent=2, default=str))


if __name__ == "__main__":
    main()
