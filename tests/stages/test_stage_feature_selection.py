"""feature_selection: planted signal found, leaks never selected, shadows, stability, caching."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

from panelml import api
from panelml.config import ExperimentConfig
from panelml.data.panel import Panel
from panelml.data.synthetic import SyntheticPanel, TargetSpec, make_panel
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus, StageCompleted
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.stages.leakage import LeakageScreenParams, LeakageScreenStage
from panelml.stages.selection import (
    FeatureSelectionError,
    FeatureSelectionParams,
    FeatureSelectionResult,
    FeatureSelectionStage,
)
from panelml.stages.selection._consensus import choose, consensus, normalise, stability_record
from panelml.stages.selection._importance import shadow_matrix

SEEDS = (0, 1, 2)
# make_panel's default size; measured (seeds 0-2, default 5 folds, pooled over the
# four predictable regression targets): recall 29/30, precision 29/32 (per seed
# 10/10 at 10/10, 9/10 at 9/10, 10/10 at 10/12), the same with and without the
# conditional step, which adds nothing here (bench/selection_recall.py; 0 false
# additions on 327 null candidates). The default panel's timing leak
# is the first two bars of fwd_ret_5's window, which the screen removes by
# corroboration (too good and tied to the label window) for every target.
PANEL_SIZE = {"n_symbols": 60, "n_timestamps": 400}


def _context(panel: Panel, seed: int) -> RunContext:
    config = ExperimentConfig.model_validate(
        {"experiment": {"name": "fs"}, "data": {"path": "<mem>"}, "validation": {"n_splits": 5}}
    )
    return RunContext(
        config=config,
        data=panel,
        data_fingerprint=panel.fingerprint,
        run_dir=Path("unused"),
        run_id="r",
        experiment="fs",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
        seed=seed,
    )


@pytest.fixture(scope="module")
def planted_runs() -> list[tuple[SyntheticPanel, FeatureSelectionResult]]:
    """Screen + selection (default 5 folds) on three seeds for the predictable
    regression targets; leaks of other targets are removed there too."""
    runs = []
    for seed in SEEDS:
        synthetic = make_panel(**PANEL_SIZE, seed=seed)
        panel = synthetic.to_panel()
        ctx = _context(panel, seed)
        ctx.results["leakage_screen"] = LeakageScreenStage(LeakageScreenParams()).run(ctx)
        truth = synthetic.truth
        chosen = [t for t in truth.predictable_targets() if truth.targets[t].kind == "regression"]
        params = FeatureSelectionParams(targets=chosen)
        runs.append((synthetic, FeatureSelectionStage(params).run(ctx)))
    return runs


def test_planted_signal_is_found_with_high_precision(planted_runs: Any) -> None:
    tp = fp = fn = 0
    for synthetic, result in planted_runs:
        for name, planted in synthetic.truth.targets.items():
            if planted.kind != "regression" or not planted.predictable:
                continue
            chosen = set(result.selected_features(name))
            signal = set(planted.signal_features)
            tp, fp, fn = (
                tp + len(chosen & signal),
                fp + len(chosen - signal),
                fn + len(signal - chosen),
            )
    precision, recall = tp / max(1, tp + fp), tp / (tp + fn)
    # Room for seed noise over the measured 29/32, 29/30: up to 7 false positives
    # (29/36 = 0.806) and 4 misses (26/30 = 0.867). Power: keeping the top 10 by
    # consensus score gives precision about 0.25 (2-3 signal features per target)
    # and keeping nothing recall 0; a method that cannot see the
    # interaction target's product pair (found by the trees only: x1*x2 has no
    # marginal split gain) misses 2 features per seed (recall 23/30 = 0.77); a
    # screen that keeps the timing leak in use had it selected for fwd_ret_5 on
    # every seed (25/30, 25/32 measured with a next-bar leak). Squares are found
    # by the trees and the partial rank IC's z**2 term.
    assert precision >= 0.8, (precision, recall)
    assert recall >= 0.85, (precision, recall)


def test_no_removed_leak_is_ever_selected(planted_runs: Any) -> None:
    """Every planted leak of the default panel is removed (proof or
    corroboration) and never selected, for any target: a leak proven on one
    target is removed for all. The ``partial_window`` leak (first two bars of
    fwd_ret_5's window) is too good and its IC with the neighbouring windows is
    far below what its own persistence implies: corroborated proof. (A leak of
    the next bar alone would be the documented ambiguity - a strong
    non-persistent predictor - and only a suspicion.)"""
    for synthetic, result in planted_runs:
        for target in result.targets():
            table = result.table(target)
            for leak in synthetic.truth.leaks:
                row = table.filter(pl.col("feature") == leak.feature).row(0, named=True)
                assert row["reason"].startswith("removed by leakage screen: ")
                assert row["selected"] is False
                if leak.target != target:
                    assert "(via " + leak.target + ")" in row["reason"]


NOISE_SPECS = (
    TargetSpec("noise_a_1", 1, 0.0, "none"),
    TargetSpec("noise_b_10", 10, 0.0, "none"),
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pure_noise_targets_select_nothing(seed: int) -> None:
    """Noise targets next to persistent noise features (persistence 0.95-0.99,
    where in-sample importances of overlapping labels flatter persistent
    columns) select nothing, over three seeds, by the shadow test alone and
    with the optional out-of-fold skill gate, which says why. Power: any
    method that keeps its top-k features by importance selects k features
    here; the shadow test has to hold back all 20 features of both targets on
    every seed. The default params include the conditional step
    (``conditional_fdr``), whose marginal gate must hold them back too."""
    synthetic = make_panel(
        n_symbols=30,
        n_timestamps=200,
        targets=NOISE_SPECS,
        leaks=False,
        seed=seed,
        persistence=(0.95, 0.99),
    )
    horizons = {n: t.horizon for n, t in synthetic.truth.targets.items()}
    panel = synthetic.to_panel(synthetic.data_config(horizons=horizons))
    names = [s.name for s in NOISE_SPECS]
    plain = FeatureSelectionStage(FeatureSelectionParams(targets=names))
    gated = FeatureSelectionStage(FeatureSelectionParams(targets=names, skill_alpha=0.01))
    for stage in (plain, gated):
        result = stage.run(_context(panel, seed))
        for name in names:
            assert result.selected_features(name) == []
            reasons = result.table(name)["reason"].to_list()
            # the gate fires unless the null p-value falls below 0.01 by chance;
            # then the shadow test still holds every feature back
            assert all(r.startswith(("no_skill: ", "not_eligible: ")) for r in reasons)
            if stage is plain:
                assert not any(r.startswith("no_skill: ") for r in reasons)


def test_table_contract_and_stability_record(planted_runs: Any) -> None:
    synthetic, result = planted_runs[0]
    assert set(result.targets()) == {"fwd_ret_1", "fwd_ret_5", "fwd_ret_10", "fwd_vol_5"}
    table = result.table("fwd_ret_5")
    for column in ("feature", "consensus_score", "rank", "selection_frequency", "eligible"):
        assert column in table.columns
    assert {"selected", "reason", "imp_lightgbm_gain", "imp_univariate_partial_rank_ic"} <= set(
        table.columns
    )
    assert {"hits", "hit_rate", "hit_rate_lightgbm_permutation"} <= set(table.columns)
    assert table.height == panel_features(synthetic)
    assert table.filter(pl.col("selected"))["hit_rate"].min() >= 0.6
    allowed = table.filter(pl.col("rank").is_not_null())
    # normalised importances: each kind's fold-mean sums to 1 over allowed features
    for column in [c for c in table.columns if c.startswith("imp_")]:
        assert allowed[column].sum() == pytest.approx(1.0, abs=1e-9)
    chosen = result.selected_features("fwd_ret_5")
    ranks = allowed.filter(pl.col("selected")).sort("rank")["feature"].to_list()
    assert chosen == ranks
    assert table.filter(~pl.col("selected"))["reason"].null_count() == 0
    for target in result.targets():
        record = result.meta["stability"][target]
        assert {"phi", "variance", "ci_low", "ci_high"} <= set(record)


def panel_features(synthetic: SyntheticPanel) -> int:
    return sum(1 for c in synthetic.frame.columns if c.startswith("feat_"))


def test_nogueira_record_reference_values() -> None:
    universe = ["a", "b", "c"]
    same = stability_record([["a", "b"]] * 3, universe)
    assert same["phi"] == pytest.approx(1.0)
    mixed = stability_record([["a", "b"], ["b", "c"], ["a", "c"]], universe)
    assert mixed["phi"] == pytest.approx(-0.5)
    assert mixed["ci_low"] <= mixed["phi"] <= mixed["ci_high"]


@pytest.mark.parametrize("shuffle", ["symbol", "row"])
def test_shadows_keep_every_value_in_its_timestamp(shuffle: str) -> None:
    panel = make_panel(n_symbols=12, n_timestamps=30, seed=4, leaks=False).to_panel()
    columns = np.arange(3, dtype=np.int64)
    shadows = shadow_matrix(panel, columns, np.random.default_rng(0), shuffle)  # type: ignore[arg-type]
    for j, col in enumerate(columns):
        original = panel.X[:, col]
        assert not np.array_equal(shadows[:, j], original)
        for t in np.unique(panel.timestamp_index):
            rows = panel.timestamp_index == t
            np.testing.assert_array_equal(np.sort(shadows[rows, j]), np.sort(original[rows]))
    again = shadow_matrix(panel, columns, np.random.default_rng(0), shuffle)  # type: ignore[arg-type]
    np.testing.assert_array_equal(shadows, again)


def test_normalise_and_greedy_choice() -> None:
    np.testing.assert_allclose(normalise(np.array([2.0, -1.0, 2.0])), [0.5, 0.0, 0.5])
    assert normalise(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    names = ["a", "b", "c", "d"]
    score = np.array([0.4, 0.3, 0.2, 0.1])
    corr = np.eye(4)
    corr[0, 1] = corr[1, 0] = 0.99
    kept, reasons = choose(names, score, np.array([True, True, True, False]), 1, corr, 0.95)
    assert kept == [0]
    assert reasons == {1: "below_top_n", 2: "below_top_n"}
    kept, reasons = choose(names, score, np.ones(4, dtype=bool), 3, corr, 0.95)
    assert kept == [0, 2, 3] and reasons == {1: "redundant with a"}


def test_consensus_vote_counts_tree_only_features_not_marginal_only_ones() -> None:
    """Columns: real a (seen by the trees only), b (marginal IC only, like a noise
    neighbour of a signal feature), c (noise); then shadows of a, b, c."""
    rng = np.random.default_rng(0)
    n_folds = 5
    noise = {k: rng.uniform(0.0, 0.1, size=(n_folds, 6)) for k in ("gain", "perm", "uni", "part")}
    for values in noise.values():
        values[:, 1:3] *= 0.1  # real b and c sit below every shadow unless boosted
    noise["gain"][:, 0] += 1.0
    noise["perm"][:, 0] += 1.0
    noise["uni"][:, 1] += 1.0
    raw = {
        "lightgbm_gain": noise["gain"],
        "lightgbm_permutation": noise["perm"],
        "univariate_rank_ic": noise["uni"],
        "univariate_partial_rank_ic": noise["part"],
    }
    weights = dict.fromkeys(raw, 1.0) | {"univariate_rank_ic": 0.5}
    cons = consensus(raw, weights, 3, 1.0, ("univariate_rank_ic",))
    assert cons.hit_rate.tolist() == [1.0, 0.0, 0.0]
    assert cons.n_trials == n_folds and cons.fold_hit_rate.shape == (n_folds, 3)
    assert cons.kind_hit_rate["univariate_rank_ic"][1] == 1.0
    assert cons.score[1] > cons.score[2]  # the marginal kind still ranks
    # when it votes with a large weight, the marginal-only column is eligible too
    loud = weights | {"univariate_rank_ic": 3.0}
    assert consensus(raw, loud, 3, 1.0, ()).hit_rate[1] == 1.0


def test_without_targets_or_ranking_the_error_says_what_to_do() -> None:
    panel = make_panel(n_symbols=10, n_timestamps=40, seed=0).to_panel()
    with pytest.raises(FeatureSelectionError, match=r"feature_selection\.targets"):
        FeatureSelectionStage(FeatureSelectionParams()).run(_context(panel, 0))
    with pytest.raises(FeatureSelectionError, match="did you mean 'fwd_ret_5'"):
        FeatureSelectionStage(FeatureSelectionParams(targets=["fwd_ret5"])).run(_context(panel, 0))
    bad = FeatureSelectionParams.model_validate(
        {"targets": ["fwd_ret_5"], "importances": [{"family": "ridge", "kind": "gain"}]}
    )
    with pytest.raises(FeatureSelectionError, match="no importance kind 'gain'"):
        FeatureSelectionStage(bad).run(_context(panel, 0))


def test_runs_from_yaml_cached_and_top_n_recomputes_only_selection(tmp_path: Path) -> None:
    synthetic = make_panel(n_symbols=30, n_timestamps=160, seed=5)
    synthetic.frame.write_parquet(tmp_path / "panel.parquet")
    config = {
        "experiment": {"name": "fs_yaml"},
        "data": {"path": "panel.parquet", "bar_interval": "1d"},
        "validation": {"n_splits": 3},
        "pipeline": {"stages": ["leakage_screen", "feature_selection"]},
        "feature_selection": {
            "targets": ["fwd_ret_5"],
            "importances": [
                {"family": "ridge", "kind": "coef"},
                {"family": "univariate", "kind": "rank_ic", "weight": 0.5},
            ],
        },
        "runtime": {"quiet": True},
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")

    def computed(**kwargs: Any) -> tuple[Counter[str], Any]:
        bus = EventBus()
        seen: Counter[str] = Counter()
        bus.subscribe(lambda e: seen.update([e.stage]), StageCompleted)
        return seen, api.run(path, events=bus, **kwargs)

    first, run = computed()
    assert first == Counter({"leakage_screen": 1, "feature_selection": 1})
    assert (run.run_dir / "feature_selection" / "fwd_ret_5.parquet").is_file()
    assert (run.run_dir / "leakage_screen" / "report.parquet").is_file()
    again, _ = computed()
    assert again == Counter()
    changed, run2 = computed(overrides=["feature_selection.top_n=1"])
    assert changed == Counter({"feature_selection": 1})
    assert len(run2.results["feature_selection"].selected_features("fwd_ret_5")) <= 1
