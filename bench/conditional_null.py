"""Null false-addition rate of feature selection's conditional step.

For every target of a planted panel the step runs with ``S`` = the target's
planted features (those the screen would not remove) and every other allowed
feature as a candidate: given the planted features, each candidate adds
nothing in the population, so every addition is a false one. Noise targets
(``S`` empty) test the marginal gate. No model is fitted (the step works on
the rank block), so many seeds are cheap.

Designs: ``hard`` (``make_panel(hard_cases=True)``, 60 x 400: persistent vol
block, t(3) noise, squares and products, ragged symbols), ``default``
(``make_panel``, 60 x 400: correlated noise features in signal groups) and
``leak`` (``tests/stages/leak_panels.py``, 60 x 320: stochastic volatility,
tanh and product signals). Leak features are left out.

Run: ``python bench/conditional_null.py [n_seeds]``; writes
``bench/results/conditional_null.json`` and prints one line per design.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "stages"))
sys.path.insert(0, str(ROOT / "bench"))

from leak_panels import DRIVERS, make_leak_panel  # noqa: E402
from selection_recall import _context  # noqa: E402

from panelml.data.synthetic import make_panel  # noqa: E402
from panelml.stages.fitting import target_rows  # noqa: E402
from panelml.stages.selection import FeatureSelectionParams  # noqa: E402
from panelml.stages.selection._conditional import (  # noqa: E402
    conditional_additions,
    marginal_p,
)
from panelml.stages.selection._importance import rank_block  # noqa: E402
from panelml.stages.selection._runner import SelectionRunner  # noqa: E402
from panelml.validation.multiple_testing import reject  # noqa: E402

OUT = ROOT / "bench" / "results" / "conditional_null.json"


def _design(design: str, seed: int) -> tuple[Any, dict[str, set[str]], set[str]]:
    if design == "leak":
        lp = make_leak_panel(seed)
        return lp.panel, {t: set(DRIVERS[t]) for t in lp.panel.target_names}, lp.leak_features
    synthetic = make_panel(hard_cases=design == "hard", n_symbols=60, n_timestamps=400,
                           seed=seed)  # fmt: skip
    truth = synthetic.truth
    panel = synthetic.to_panel(
        synthetic.data_config(horizons={n: t.horizon for n, t in truth.targets.items()})
    )
    planted = {
        t: set(p.signal_features) if p.predictable else set()
        for t, p in truth.targets.items()
        if p.kind == "regression"
    }
    return panel, planted, set(truth.leak_features())


def run(design: str, seed: int) -> dict[str, Any]:
    panel, planted, leaks = _design(design, seed)
    ctx = _context(panel, seed)
    params = FeatureSelectionParams(targets=list(planted))
    validation = ctx.config.validation
    runner = SelectionRunner(ctx, panel, params, [], [], validation)
    allowed = tuple(f for f in panel.feature_names if f not in leaks)
    X_aug = runner._augmented(allowed)
    tested = marginal_passed = added = noise_added = 0
    additions: list[tuple[str, str]] = []
    assert params.conditional_fdr is not None
    for target, signal in planted.items():
        rows = target_rows(panel, target, max_rows_per_timestamp=None, timestamp_stride=1,
                           seed=0)  # fmt: skip
        folds = runner._folds(target, rows, True)
        y = panel.targets[target]
        block = rank_block(X_aug, y, panel.timestamps, rows, validation.min_names)
        ts = panel.timestamp_index[block.rows]
        chosen = [i for i, f in enumerate(allowed) if f in signal]
        candidates = np.array([f not in signal for f in allowed])
        order = np.argsort(ts, kind="stable")
        sorted_ts = ts[order]
        starts = np.flatnonzero(np.r_[True, sorted_ts[1:] != sorted_ts[:-1]])
        counts = np.diff(np.r_[starts, sorted_ts.size])
        n_cols, h = block.Z.shape[1] // 2, panel.horizons[target]
        Z, yr = block.Z[order], block.target[order]
        p, t = marginal_p(Z, yr, starts, counts, n_cols, h, validation.min_names)
        idx = np.flatnonzero(candidates)
        bar = t[len(allowed) :].max()
        marginal_passed += int(
            (reject(p[idx], params.conditional_fdr, method="bh") & (t[idx] > bar)).sum()
        )
        found = conditional_additions(
            block, ts, folds, len(allowed), chosen, candidates,
            horizon=panel.horizons[target], scheme=validation.scheme,
            fdr=params.conditional_fdr, min_hit_rate=params.conditional_min_hit_rate,
            min_names=validation.min_names, max_additions=params.top_n,
        )  # fmt: skip
        tested += int(candidates.sum())
        added += len(found)
        noise_added += len(found) if not signal else 0
        additions += [(target, allowed[a.column]) for a in found]
    return {
        "design": design,
        "seed": seed,
        "targets": len(planted),
        "null_candidates": tested,
        "marginal_passed": marginal_passed,
        "false_additions": added,
        "noise_target_additions": noise_added,
        "additions": additions,
    }


def main(n_seeds: int) -> None:
    rows = []
    for design in ("hard", "default", "leak"):
        start = time.time()
        part = [run(design, seed) for seed in range(n_seeds)]
        rows += part
        tested = sum(r["null_candidates"] for r in part)
        added = sum(r["false_additions"] for r in part)
        print(
            f"{design}: seeds 0-{n_seeds - 1}, {sum(r['targets'] for r in part)} targets, "
            f"{tested} null candidates, marginal gate passed "
            f"{sum(r['marginal_passed'] for r in part)}, false additions {added} "
            f"(rate {added / max(1, tested):.4f}), on noise targets "
            f"{sum(r['noise_target_additions'] for r in part)}; "
            f"{[a for r in part for a in r['additions']]} ({time.time() - start:.0f} s)",
            flush=True,
        )
    OUT.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
