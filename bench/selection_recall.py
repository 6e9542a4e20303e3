"""Feature-selection recall and precision on planted panels, per seed, with the
leak figures of issue 11 and the conditional step's null false-addition rate.

Designs:

* ``hard``: ``make_panel(hard_cases=True)`` (60 symbols x 400 bars), every
  target named (predictable and noise), default policy and params; the leakage
  screen and the ranking run first, so the row also has the screen's figures
  and the ranking's Spearman against the planted strength;
* ``default``: ``make_panel`` (60 x 400), its regression targets;
* ``leak``: the independent generator of ``tests/stages/leak_panels.py``
  (60 x 320; stochastic volatility, t(3) noise scaled by volatility, tanh and
  product signals), every target.

Recall is over the planted (feature, target) pairs of the predictable targets,
precision over every selection for them; noise targets must select nothing.
The conditional step (``feature_selection.conditional_fdr``) is separated out:
``vote`` counts the shadow vote's selections alone; a feature the step adds
that is not planted for the target is a *false addition*, and the null
false-addition rate is false additions / (null candidates the step tested:
allowed features that are not planted for the target and that the vote did
not make eligible), over every target, noise targets included.

Run: ``python bench/selection_recall.py hard:0 hard:1 ... default:0 leak:0``;
each argument adds one row to ``bench/results/selection_recall.json`` (rows of
the same design and seed are replaced) and prints it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "stages"))

from leak_panels import DRIVERS, make_leak_panel  # noqa: E402

from panelml.config import ExperimentConfig  # noqa: E402
from panelml.data.panel import Panel  # noqa: E402
from panelml.data.synthetic import make_panel  # noqa: E402
from panelml.pipeline.context import RunContext  # noqa: E402
from panelml.pipeline.events import EventBus  # noqa: E402
from panelml.pipeline.executor import SerialExecutor  # noqa: E402
from panelml.pipeline.reporter import Reporter  # noqa: E402
from panelml.stages.leakage import LeakageScreenParams, LeakageScreenStage  # noqa: E402
from panelml.stages.ranking import TargetRankingParams, TargetRankingStage  # noqa: E402
from panelml.stages.selection import FeatureSelectionParams, FeatureSelectionStage  # noqa: E402

OUT = ROOT / "bench" / "results" / "selection_recall.json"


def _context(panel: Panel, seed: int) -> RunContext:
    config = ExperimentConfig.model_validate(
        {"experiment": {"name": "sr"}, "data": {"path": "<mem>"}, "validation": {"n_splits": 5}}
    )
    return RunContext(
        config=config,
        data=panel,
        data_fingerprint=panel.fingerprint,
        run_dir=Path("unused"),
        run_id="r",
        experiment="sr",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
        seed=seed,
    )


def run(design: str, seed: int) -> dict[str, Any]:
    t0 = time.time()
    row: dict[str, Any] = {"design": design, "seed": seed}
    synthetic: Any = None
    if design == "leak":
        lp = make_leak_panel(seed)
        panel, targets = lp.panel, list(lp.panel.target_names)
        truth = {t: set(DRIVERS[t]) for t in targets}
        leaks = set(lp.leak_features)
    else:
        synthetic = make_panel(hard_cases=design == "hard", n_symbols=60, n_timestamps=400,
                               seed=seed)  # fmt: skip
        planted = synthetic.truth
        horizons = {n: t.horizon for n, t in planted.targets.items()}
        panel = synthetic.to_panel(synthetic.data_config(horizons=horizons))
        targets = [
            t for t, p in planted.targets.items() if design == "hard" or p.kind == "regression"
        ]
        truth = {
            t: set(planted.targets[t].signal_features) if planted.targets[t].predictable else set()
            for t in targets
        }
        leaks = set(planted.leak_features())
    ctx = _context(panel, seed)
    screen = LeakageScreenStage(LeakageScreenParams()).run(ctx)
    ctx.results["leakage_screen"] = screen
    if design == "hard":
        planted = synthetic.truth
        removed = {(f, t) for t in panel.target_names for f in screen.excluded_features(t)}
        flagged = {(r["feature"], r["target"]) for r in screen.report.iter_rows(named=True)}
        leak_pairs = {(f, t) for f, t, _ in planted.leak_pairs()}
        proof = {(leak.feature, leak.target) for leak in planted.proof_leaks()}
        ics = planted.leak_rank_ics(synthetic.frame)
        strong = {(x.feature, x.target) for x in planted.leaks if abs(ics[x.feature]) >= 0.1}
        row.update(
            genuine_pairs_removed=len(set(planted.genuine_pairs()) & removed),
            proof_leaks_removed=f"{len(proof & removed)}/{len(proof)}",
            leaks_removed=f"{len(leak_pairs & removed)}/{len(leak_pairs)}",
            strong_leaks_flagged=f"{len(strong & flagged)}/{len(strong)}",
        )
        ranking = TargetRankingStage(TargetRankingParams()).run(ctx)
        strength = planted.planted_strength()
        scores = {r["target"]: r["score"] for r in ranking.ranking.iter_rows(named=True)}
        names = sorted(strength)
        row["ranking_spearman"] = float(
            stats.spearmanr(
                [strength[n] for n in names],
                [-1.0 if scores.get(n) is None else scores[n] for n in names],
            )[0]
        )
    result = FeatureSelectionStage(FeatureSelectionParams(targets=targets)).run(ctx)
    tp = fp = fn = tp_vote = fp_vote = 0
    leak_selected: list[tuple[str, str]] = []
    false_positives: list[tuple[str, str]] = []
    missed: list[tuple[str, str]] = []
    noise_selected: dict[str, list[str]] = {}
    added: list[dict[str, Any]] = []
    null_tested = false_added = 0
    for target in targets:
        table = result.table(target)
        chosen = set(result.selected_features(target))
        by_step = set(
            table.filter(pl.col("selected") & pl.col("reason").str.starts_with("conditional:"))[
                "feature"
            ].to_list()
        )
        vote = chosen - by_step
        allowed = table.filter(pl.col("rank").is_not_null())
        null_candidates = allowed.filter(
            ~pl.col("eligible") & ~pl.col("feature").is_in(sorted(truth[target]))
        ).height + len(by_step - truth[target])
        null_tested += null_candidates
        false_added += len(by_step - truth[target])
        added += [{"target": target, "feature": f, "planted": f in truth[target]} for f in by_step]
        leak_selected += [(f, target) for f in chosen & leaks]
        if not truth[target]:
            if chosen:
                noise_selected[target] = sorted(chosen)
            continue
        false_positives += [(target, f) for f in sorted(chosen - truth[target])]
        missed += [(target, f) for f in sorted(truth[target] - chosen)]
        tp, fp, fn = (
            tp + len(chosen & truth[target]),
            fp + len(chosen - truth[target]),
            fn + len(truth[target] - chosen),
        )
        tp_vote, fp_vote = tp_vote + len(vote & truth[target]), fp_vote + len(vote - truth[target])
    n_planted = tp + fn
    row.update(
        leaks_selected=len(leak_selected),
        noise_target_selections=noise_selected,
        recall=tp / max(1, n_planted),
        precision=tp / max(1, tp + fp),
        found=f"{tp}/{n_planted}",
        selected=tp + fp,
        recall_vote=tp_vote / max(1, n_planted),
        precision_vote=tp_vote / max(1, tp_vote + fp_vote),
        conditional_additions=added,
        false_positives=false_positives,
        missed=missed,
        null_candidates_tested=null_tested,
        false_additions=false_added,
        seconds=round(time.time() - t0, 1),
    )
    return row


def main(items: list[str]) -> None:
    for item in items:
        design, seed = item.split(":")
        row = run(design, int(seed))
        print(json.dumps(row), flush=True)
        rows = json.loads(OUT.read_text()) if OUT.exists() else []  # re-read: runs in parallel
        rows = [r for r in rows if (r["design"], r["seed"]) != (design, int(seed))] + [row]
        rows.sort(key=lambda r: (r["design"], r["seed"]))
        OUT.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:] or [f"hard:{s}" for s in range(5)])
