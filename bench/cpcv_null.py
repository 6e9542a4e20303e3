"""Null calibration of the ranking's test under ``validation.scheme: cpcv`` next to
purged K-fold: the share of null targets with p < 0.05 and the variance of their t.

Null targets (planted strength 0) on ``make_panel`` panels of two designs:
``persistent`` (features with AR(1) persistence 0.90-0.97, the default) and
``fast`` (persistence 0.2-0.5, 5% of feature values missing). The ridge family
alone (the linear learner the K-fold factor 2 is derived for) ranks every target
under purged K-fold (5 folds) and CPCV (6 groups, 2 tested per split). Under a
calibrated test t has variance about 1 and p < 0.05 happens about 5% of the
time, at every horizon (results per horizon and pooled). Run:
``python bench/cpcv_null.py [n_seeds]`` (30 for the recorded results); writes
``bench/results/cpcv_null.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from panelml.data.synthetic import make_panel
from panelml.data.synthetic.design import TargetSpec
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.stages.ranking import TargetRankingParams, TargetRankingStage
from panelml.validation.spec import ValidationConfig

RESULTS = Path(__file__).parent / "results" / "cpcv_null.json"
HORIZONS = (1, 1, 1, 5, 5, 5, 10, 10)
NULL_TARGETS = tuple(TargetSpec(f"null_{i}_h{h}", h, 0.0, "none") for i, h in enumerate(HORIZONS))
DESIGNS: dict[str, dict[str, Any]] = {
    "persistent": {},
    "fast": {"persistence": (0.2, 0.5), "missing_rate": 0.05},
}
SCHEMES = {
    "purged_kfold": ValidationConfig(scheme="purged_kfold", n_splits=5),
    "cpcv": ValidationConfig(scheme="cpcv", n_splits=6, n_test_groups=2),
}


def t_and_p(
    design: dict[str, Any], validation: ValidationConfig, seed: int
) -> list[tuple[int, float, float]]:
    panel = make_panel(
        n_symbols=40, n_timestamps=300, targets=NULL_TARGETS, leaks=False, seed=seed, **design
    ).to_panel()
    ctx = RunContext(
        config=SimpleNamespace(validation=validation),
        data=panel,
        data_fingerprint="x",
        run_dir=Path("unused"),
        run_id="r",
        experiment="e",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
        results={},
    )
    params = TargetRankingParams(families=["ridge"], top_n=len(HORIZONS))
    ranking = TargetRankingStage(params).run(ctx).ranking
    rows = zip(
        ranking["target"].to_list(),
        ranking["t_stat"].to_list(),
        ranking["p_value"].to_list(),
        strict=True,
    )
    return [
        (int(name.rsplit("_h", 1)[1]), float(t), float(p))
        for name, t, p in rows
        if t is not None and np.isfinite(t)
    ]


def main(n_seeds: int) -> None:
    out: dict[str, Any] = {}
    for design_name, design in DESIGNS.items():
        for scheme_name, validation in SCHEMES.items():
            found = [hp for seed in range(n_seeds) for hp in t_and_p(design, validation, seed)]
            for label, keep in [("all", None), *((f"h{h}", h) for h in sorted(set(HORIZONS)))]:
                cell = [(t, p) for h, t, p in found if keep is None or h == keep]
                ts = np.array([t for t, _ in cell])
                ps = np.array([p for _, p in cell])
                key = f"{design_name}/{scheme_name}/{label}"
                out[key] = {
                    "n_targets": int(ts.size),
                    "var_t": round(float(np.var(ts, ddof=1)), 3),
                    "share_p_below_0.05": round(float(np.mean(ps < 0.05)), 3),
                    "mean_t": round(float(np.mean(ts)), 3),
                }
                print(key, out[key], flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
