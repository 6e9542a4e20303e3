"""The ``target_ranking`` stage: planted skill is found and ordered, noise is not
selected, leaks are flagged (and ranked honestly once the screen removes them),
degenerate targets are explained, and the stage runs, caches and prints via ``panelml run``."""

from __future__ import annotations

import io
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest
import yaml
from rich.console import Console
from scipy import stats

from panelml import contracts
from panelml.api import run
from panelml.data.panel import Panel
from panelml.data.synthetic import SyntheticPanel, TargetSpec, make_panel, write_demo_data
from panelml.models import get_family
from panelml.pipeline import registry
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import UserError
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.results import TableResult
from panelml.stages.fitting import fit_folds, oof_vector, plan_folds
from panelml.stages.leakage import LeakageScreenParams, LeakageScreenStage
from panelml.stages.ranking import (
    RankingError,
    TargetRankingParams,
    TargetRankingResult,
    TargetRankingStage,
)
from panelml.validation.ranks import cross_sectional_ranks
from panelml.validation.spec import ValidationConfig

# Linear planted targets (learnable at test size; nonlinear forms need more data
# than a fast test has) with well-separated skill, a binary target and two
# pure-noise targets. Signal targets use short horizons: with h bars of overlap
# the score's sampling error grows like sqrt(h), and 300 bars of h = 10 cannot
# order targets 0.05 apart.
TRUTH_SPECS = (
    TargetSpec("ret_a_1", 1, 0.06, "linear", (0, 1)),
    TargetSpec("ret_b_2", 2, 0.12, "linear", (2, 3)),
    TargetSpec("y_bin_1", 1, 0.22, "linear", (3, 4), kind="binary"),
    TargetSpec("ret_c_3", 3, 0.24, "linear", (5, 6, 7)),
    TargetSpec("noise_e_20", 20, 0.0, "none"),
    TargetSpec("noise_f_5", 5, 0.0, "none"),
)
TRUTH_SEEDS = (0, 1, 2)


class ScreenTable(TableResult):
    """A third-party-like ``Exclusions`` result: only the documented ``report`` table."""

    provides: ClassVar[tuple[str, ...]] = (contracts.EXCLUSIONS,)


def to_panel(synthetic: SyntheticPanel) -> Panel:
    """The synthetic frame as a Panel with every target's planted horizon."""
    horizons = {name: t.horizon for name, t in synthetic.truth.targets.items()}
    return synthetic.to_panel(synthetic.data_config(horizons=horizons))


def make_ctx(panel: Panel, results: dict[str, Any] | None = None, **kw: Any) -> RunContext:
    ctx = RunContext(
        config=SimpleNamespace(validation=ValidationConfig()),
        data=panel,
        data_fingerprint=panel.fingerprint,
        run_dir=Path("unused"),
        run_id="r1",
        experiment="test",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
        n_jobs=1,
        **kw,
    )
    ctx.results.update(results or {})
    return ctx


def rank(panel: Panel, results: dict[str, Any] | None = None, **params: Any) -> TargetRankingResult:
    stage = TargetRankingStage(TargetRankingParams(**params))
    return stage.run(make_ctx(panel, results))


def row(result: TargetRankingResult, target: str) -> dict[str, Any]:
    return result.ranking.filter(pl.col("target") == target).row(0, named=True)


# -- shared runs (module scope: each is fitted once) -------------------------------
@pytest.fixture(scope="module")
def ranking_truth_runs() -> list[tuple[SyntheticPanel, TargetRankingResult]]:
    out = []
    for seed in TRUTH_SEEDS:
        synthetic = make_panel(
            n_symbols=60, n_timestamps=300, targets=TRUTH_SPECS, leaks=False, seed=seed
        )
        out.append((synthetic, rank(to_panel(synthetic))))
    return out


@pytest.fixture(scope="module")
def ranking_leaky() -> tuple[SyntheticPanel, Panel, TargetRankingResult]:
    synthetic = make_panel(n_symbols=60, n_timestamps=300, leaks=True, seed=3)
    panel = to_panel(synthetic)
    return synthetic, panel, rank(panel)


@pytest.fixture(scope="module")
def ranking_screened(
    ranking_leaky: tuple[SyntheticPanel, Panel, TargetRankingResult],
) -> TargetRankingResult:
    """The leaky panel again, with a (fake) leakage screen that removed the leaks."""
    synthetic, panel, _ = ranking_leaky
    report = pl.DataFrame(
        {
            "feature": [leak.feature for leak in synthetic.truth.leaks] + ["feat_00"],
            "target": [leak.target for leak in synthetic.truth.leaks] + ["fwd_ret_1"],
            "check": ["near_copy"] * len(synthetic.truth.leaks) + ["too_good"],
            "value": [0.9] * (len(synthetic.truth.leaks) + 1),
            "threshold": [0.5] * (len(synthetic.truth.leaks) + 1),
            "action": ["removed"] * len(synthetic.truth.leaks) + ["warned"],
        }
    )
    return rank(panel, {"leakage_screen": ScreenTable({"report": report})})


# -- planted truth ---------------------------------------------------------------
def test_score_orders_targets_like_the_planted_strength(
    ranking_truth_runs: list[tuple[SyntheticPanel, TargetRankingResult]],
) -> None:
    for synthetic, result in ranking_truth_runs:
        frame = result.ranking
        expected = [synthetic.truth.targets[t].expected_rank_ic for t in frame["target"]]
        rho = stats.spearmanr(frame["score"].to_numpy(), expected).statistic
        assert rho >= 0.9, (synthetic.truth.seed, frame.select("target", "score"))


# Pure-noise targets of every horizon for the p-value check (24 per panel x 3 seeds;
# about 8 s per panel at 40 x 250).
NULL_SPECS = tuple(
    TargetSpec(f"null_{i:02d}_{h}", h, 0.0, "none") for i, h in enumerate((1, 2, 3, 5, 10, 20) * 4)
)


@pytest.fixture(scope="module")
def null_p_values(
    ranking_truth_runs: list[tuple[SyntheticPanel, TargetRankingResult]],
) -> list[float]:
    """Ranking p-values of every pure-noise target: the two of the truth panels
    (3 seeds) and 24 per noise-only panel (3 more seeds), 78 in all."""
    values = [
        float(row(result, name)["p_value"])
        for _, result in ranking_truth_runs
        for name in ("noise_e_20", "noise_f_5")
    ]
    for seed in (10, 11, 12):
        synthetic = make_panel(
            n_symbols=40, n_timestamps=250, targets=NULL_SPECS, leaks=False, seed=seed
        )
        frame = rank(to_panel(synthetic)).ranking
        values.extend(float(p) for p in frame["p_value"])
    return values


def test_noise_targets_are_rarely_selected(
    ranking_truth_runs: list[tuple[SyntheticPanel, TargetRankingResult]],
) -> None:
    """A calibrated test at BY fdr 0.10 selects a noise target in a few percent of
    runs by design (the calibration benchmark: 0-7% of runs per horizon), so
    "never on any seed" is not a property of a valid method. What holds: at most
    one of the 6 (noise target, seed) pairs is selected. A calibrated method
    fails this with probability P(Bin(6, 0.07) >= 2) = 0.06 at the worst measured
    rate; the p-value test below is the one with power."""
    statuses = [
        result.status(target)
        for _, result in ranking_truth_runs
        for target in ("noise_e_20", "noise_f_5")
    ]
    assert sum(s != "not_significant" for s in statuses) <= 1, statuses


def test_noise_p_values_are_not_concentrated_near_zero(null_p_values: list[float]) -> None:
    """Noise targets' one-sided p-values over 6 panels are close to uniform: at
    most 9 of the 78 below 0.05 and at most 3 below 0.01.

    Under a calibrated test (p uniform; the benchmark measured 0.042-0.050 below
    0.05 and 0.008-0.015 below 0.01 under purged K-fold) the counts are
    Bin(78, 0.05) and Bin(78, 0.01): the rule fails with probability 0.012 by
    simulation of independent uniform p-values (0.005 from the 0.05 count, 0.008
    from the 0.01 count; 0.018 and 0.030 at the worst measured rates 0.06 and
    0.015, binomial). Power against a test 3x too liberal (15% of noise p-values
    below 0.05: its t overstated by a factor 1.59, so 7.1% below 0.01): 0.75
    from the 0.05 count, 0.82 from the 0.01 count, 0.89 together. The
    old rule ("no noise target selected on any seed") failed a calibrated method
    on one seed in three."""
    p = np.asarray(null_p_values)
    assert len(p) == 78 and np.all((p >= 0) & (p <= 1)), p
    below_05, below_01 = int((p < 0.05).sum()), int((p < 0.01).sum())
    assert below_05 <= 9, (below_05, np.sort(p)[:10])
    assert below_01 <= 3, (below_01, np.sort(p)[:10])


def test_planted_targets_are_selected_with_sensible_statistics(
    ranking_truth_runs: list[tuple[SyntheticPanel, TargetRankingResult]],
) -> None:
    for _, result in ranking_truth_runs:
        for name in ("ret_b_2", "y_bin_1", "ret_c_3"):
            r = row(result, name)
            assert r["status"] == "selected", r
            assert r["q_value"] <= 0.10 and r["score"] > 0
            assert r["score_ci_low"] < r["score"] < r["score_ci_high"]
            assert r["score_ci_low"] > 0
            assert r["positive_symbol_share"] > 0.5
            assert r["reason"] == ""
        binary = row(result, "y_bin_1")
        assert binary["kind"] == "binary" and binary["r2"] is None
        assert 0.55 < binary["auc"] < 0.75
        assert row(result, "ret_c_3")["auc"] is None
        assert result.selected_targets()[0] == "ret_c_3"
        assert len(result.selected_targets()) <= 5


def test_ranking_table_follows_the_contract(
    ranking_truth_runs: list[tuple[SyntheticPanel, TargetRankingResult]],
) -> None:
    _, result = ranking_truth_runs[0]
    frame = result.ranking
    contract = {
        *("target", "rank", "score", "score_ci_low", "score_ci_high", "status", "reason"),
        *("kind", "horizon", "n_rows", "n_timestamps", "ic_mean", "icir", "t_stat"),
        *("p_value", "q_value", "r2", "auc", "positive_symbol_share", "top_feature"),
        *("top_feature_share", "lightgbm_ic", "lightgbm_icir", "lightgbm_t"),
        *("ridge_ic", "ridge_icir", "ridge_t"),
        *("suspect_features", "score_without_suspects", "warnings"),
    }
    assert contract <= set(frame.columns)
    assert frame.height == len(TRUTH_SPECS)
    assert frame["rank"].to_list() == list(range(1, len(TRUTH_SPECS) + 1))
    assert frame["horizon"].to_list() == [
        next(s.horizon for s in TRUTH_SPECS if s.name == t) for t in frame["target"]
    ]
    assert frame["ic_mean"].to_list() == frame["score"].to_list()
    assert frame["top_feature"].null_count() == 0
    assert ((frame["top_feature_share"] > 0) & (frame["top_feature_share"] < 0.6)).all()
    statuses = frame["status"].to_list()
    order = ["selected", "below_top_n", "not_significant", "suspect_leak", "degenerate"]
    assert statuses == sorted(statuses, key=order.index)


def test_per_symbol_and_ic_series_tables_match_the_ranking(
    ranking_truth_runs: list[tuple[SyntheticPanel, TargetRankingResult]],
) -> None:
    synthetic, result = ranking_truth_runs[0]
    per_symbol = result.tables["per_symbol"]
    series = result.tables["ic_series"]
    assert per_symbol.columns == ["target", "symbol", "ic", "n_obs"]
    assert series.columns == ["target", "timestamp", "ic"]
    assert series.schema["timestamp"] == pl.Int64
    for r in result.ranking.iter_rows(named=True):
        mine = per_symbol.filter(pl.col("target") == r["target"])
        assert mine.height == synthetic.truth.n_symbols
        assert (mine["n_obs"] >= 20).all()
        assert r["positive_symbol_share"] == pytest.approx((mine["ic"] > 0).mean())
        ics = series.filter(pl.col("target") == r["target"])["ic"]
        assert ics.len() == r["n_ic_periods"]
        assert ics.to_numpy().mean() == pytest.approx(r["score"])


# -- leakage -----------------------------------------------------------------------
def test_magnitude_alone_warns_and_never_demotes(
    ranking_leaky: tuple[SyntheticPanel, Panel, TargetRankingResult],
) -> None:
    """Without a leakage screen the leaky targets score very high and one feature
    dominates: both are warnings with their numbers, never a status."""
    synthetic, _, result = ranking_leaky
    leaked = {leak.target: leak.feature for leak in synthetic.truth.leaks}
    assert len(leaked) == 3
    assert "suspect_leak" not in result.ranking["status"].to_list()
    for target, feature in leaked.items():
        r = row(result, target)
        assert r["top_feature"] == feature
        assert "above max_rank_ic" in r["warnings"] or "split gain" in r["warnings"], r
        assert r["score_without_suspects"] is None  # no screen: no suspects to leave out
    honest = ("fwd_ret_1", "fwd_vol_5", "y_up_5")
    # a leaked feature takes a larger share of the trees' gain than any honest feature
    assert min(row(result, t)["top_feature_share"] for t in leaked) > max(
        row(result, t)["top_feature_share"] for t in honest
    )


def test_suspect_leak_needs_timing_evidence_and_vanishing_skill(
    ranking_leaky: tuple[SyntheticPanel, Panel, TargetRankingResult],
) -> None:
    """With a screen that only reports (``report_only``), the targets whose skill
    is their leak's lose it without the timing suspect and are ``suspect_leak``:
    the noise target with a noisy copy, and the target whose future label is
    copied (its genuine skill, about a tenth of the leaked score, remains)."""
    _, panel, _ = ranking_leaky
    ctx = make_ctx(panel)
    screen = LeakageScreenStage(LeakageScreenParams(policy="report_only")).run(ctx)
    result = rank(panel, {"leakage_screen": screen}, targets=["fwd_ret_20", "fwd_ret_10"])
    for target, feature in (("fwd_ret_20", "feat_22"), ("fwd_ret_10", "feat_16")):
        r = row(result, target)
        assert r["status"] == "suspect_leak", r
        assert "tied to the label window" in r["reason"] and feature in r["reason"]
        assert r["score"] > 0.5 and r["score_without_suspects"] < 0.2
        assert feature in r["suspect_features"] and "future_info" in r["warnings"]


def test_suspect_leak_rule_on_refit_scores() -> None:
    """The rule itself: timing suspects whose removal takes most of the skill (or
    its significance) make ``suspect_leak``; a small loss, or magnitude-only
    suspects, only warn."""
    from panelml.stages.ranking._fit import TargetPlan
    from panelml.stages.ranking._scores import TargetScore
    from panelml.stages.ranking._suspects import leak_columns

    def score(value: float, p: float) -> TargetScore:
        return TargetScore(value, 0.0, 0.0, 0.5, 4.0, p, 0.0, math.nan, 300, 0.7)

    def screen(check: str) -> TableResult:
        report = pl.DataFrame(
            {
                "feature": ["a"],
                "target": ["t_5"],
                "check": [check],
                "action": ["warned"],
                "value": [0.2],
                "threshold": [0.75],
                "evidence": ["numbers"],
            }
        )
        return TableResult({"report": report})

    plan = TargetPlan("t_5", "regression", 5, ("a", "b"), (), np.arange(3), 3)
    params = TargetRankingParams()
    cases = [  # (check, refit score, refit p) -> suspect_leak?
        ("future_info", 0.08, 1e-4, False),  # 20% of the skill: a warning
        ("future_info", 0.02, 1e-3, True),  # 80% of the skill rests on it
        ("future_info", 0.09, 0.5, True),  # no longer significant without it
        ("too_good", 0.0, 1.0, False),  # magnitude alone: never a status
    ]
    for check, after, p, expected in cases:
        leaks = leak_columns(
            screen(check),
            [plan],
            {"t_5": score(0.1, 1e-6)},
            {"t_5": ("a", 0.9)},
            params,
            lambda extra, after=after, p=p: {t: score(after, p) for t in extra},
        )
        column = leaks["t_5"]
        assert (column.suspect_leak is not None) is expected, (check, after, p)
        assert column.suspect_features == ("a",)
        assert column.score_without_suspects == after
        assert any(w.startswith(f"a: {check}") for w in column.warnings)
        assert any("split gain" in w for w in column.warnings)


def test_screen_exclusions_restore_honest_scores(
    ranking_leaky: tuple[SyntheticPanel, Panel, TargetRankingResult],
    ranking_screened: TargetRankingResult,
) -> None:
    synthetic, panel, _ = ranking_leaky
    leaks = {leak.target: leak.feature for leak in synthetic.truth.leaks}
    for target, feature in leaks.items():
        r = row(ranking_screened, target)
        assert r["status"] != "suspect_leak", r
        assert r["top_feature"] != feature
        assert r["n_features"] == panel.n_features - 1
    assert ranking_screened.meta["excluded_features"] == {t: [f] for t, f in leaks.items()}
    warned = row(ranking_screened, "fwd_ret_1")
    assert warned["n_features"] == panel.n_features  # only warned: still used
    assert warned["suspect_features"] == "feat_00" and warned["status"] == "selected"
    assert warned["score_without_suspects"] is not None
    assert "feat_00: too_good" in warned["warnings"]
    honest = row(ranking_screened, "fwd_ret_5")
    planted = synthetic.truth.targets["fwd_ret_5"].expected_rank_ic
    assert honest["status"] == "selected"
    assert 0.4 * planted < honest["score"] < planted + 0.03
    # the same panel without the leak columns scores the target the same way
    clean = make_panel(n_symbols=60, n_timestamps=300, leaks=False, seed=synthetic.truth.seed)
    baseline = row(rank(to_panel(clean), targets=["fwd_ret_5"]), "fwd_ret_5")
    assert abs(honest["score"] - baseline["score"]) < 0.03
    assert ranking_screened.status("fwd_ret_20") == "not_significant"  # its leak was its skill


def test_magnitude_warnings_list_the_score_and_the_dominant_feature() -> None:
    from panelml.stages.ranking._fit import TargetPlan
    from panelml.stages.ranking._scores import FamilyScore, TargetScore
    from panelml.stages.ranking._suspects import magnitude_warnings

    params = TargetRankingParams()
    limits = {
        "rank_ic_limit": params.rank_ic_limit("t_5"),
        "max_auc": params.max_auc,
        "max_feature_share": params.max_feature_share,
    }
    plan = TargetPlan("t_5", "regression", 5, ("a", "b"), (), np.arange(3), 3)
    score = TargetScore(0.05, 0.03, 0.07, 0.4, 5.0, 1e-6, 0.0, math.nan, 300, 0.7)
    score.families["lightgbm"] = FamilyScore(0.05, 0.4, 5.0, math.nan)
    assert magnitude_warnings(plan, score, ("a", 0.5), **limits) == []
    (share,) = magnitude_warnings(plan, score, ("a", 0.9), **limits)
    assert "'a' takes 90%" in share
    score.families["lightgbm"] = FamilyScore(0.35, 0.4, 5.0, math.nan)
    (ic,) = magnitude_warnings(plan, score, ("a", 0.1), **limits)
    assert "rank IC 0.350 above max_rank_ic=0.3" in ic


# -- null calibration: see test_ranking_calibration.py -------------------------------


# -- degenerate targets and params ----------------------------------------------------
def degenerate_panel() -> Panel:
    rng = np.random.default_rng(0)
    n_ts, n_sym = 120, 20
    n = n_ts * n_sym
    X = rng.standard_normal((n, 4)).astype(np.float32)
    good = X[:, 0] * 0.3 + rng.standard_normal(n)
    few = np.full(n, np.nan)
    few[:150] = rng.standard_normal(150)
    rare = (rng.random(n) < 0.005).astype(np.float64)
    return Panel.build(
        X=X,
        feature_names=["f0", "f1", "f2", "f3"],
        targets={"good_1": good, "flat_1": np.ones(n), "few_1": few, "rare_1": rare},
        horizons={"good_1": 1, "flat_1": 1, "few_1": 1, "rare_1": 1},
        target_kinds={
            "good_1": "regression",
            "flat_1": "regression",
            "few_1": "regression",
            "rare_1": "binary",
        },
        timestamps=np.repeat(np.arange(n_ts, dtype=np.int64), n_sym),
        symbol_codes=np.tile(np.arange(n_sym, dtype=np.int32), n_ts),
        symbols=[f"S{i}" for i in range(n_sym)],
    )


def test_degenerate_targets_get_a_reason_and_no_rank() -> None:
    result = rank(degenerate_panel(), families=["ridge"])
    reasons = {r["target"]: r for r in result.ranking.iter_rows(named=True)}
    assert reasons["good_1"]["status"] == "selected" and reasons["good_1"]["rank"] == 1
    assert "constant" in reasons["flat_1"]["reason"]
    assert "min_rows" in reasons["few_1"]["reason"]
    assert "minority" in reasons["rare_1"]["reason"]
    for name in ("flat_1", "few_1", "rare_1"):
        assert reasons[name]["status"] == "degenerate"
        assert reasons[name]["rank"] is None and reasons[name]["score"] is None
        assert reasons[name]["q_value"] is None
    assert result.ranking["target"].to_list()[-3:] == ["few_1", "flat_1", "rare_1"]
    assert result.tables["per_symbol"]["target"].unique().to_list() == ["good_1"]


def test_too_few_timestamps_for_the_folds_is_degenerate() -> None:
    result = rank(degenerate_panel(), families=["ridge"], targets=["good_1"], min_timestamps=500)
    assert result.status("good_1") == "degenerate"
    assert "timestamps" in row(result, "good_1")["reason"]


def test_targets_globs_and_bad_params_are_user_errors() -> None:
    panel = degenerate_panel()
    result = rank(panel, families=["ridge"], targets=["good_*", "few_1"])
    assert sorted(result.ranking["target"].to_list()) == ["few_1", "good_1"]
    with pytest.raises(RankingError, match="matches no target"):
        rank(panel, targets=["nope_*"])
    with pytest.raises(RankingError, match="family_params"):
        rank(panel, families=["ridge"], family_params={"lightgbm": {"num_leaves": 7}})
    with pytest.raises(UserError, match="model family"):
        rank(panel, families=["no_such_family"])
    assert issubclass(RankingError, UserError)


def test_same_seed_gives_the_same_result_and_save_load_round_trips(tmp_path: Path) -> None:
    panel = to_panel(make_panel(n_symbols=30, n_timestamps=150, leaks=False, seed=5))
    params: dict[str, Any] = {
        "families": ["lightgbm", "ridge"],
        "family_params": {"lightgbm": {"n_estimators": 20}},
        "max_rows_per_timestamp": 20,
        "timestamp_stride": 2,
    }
    first = rank(panel, **params)
    second = rank(panel, **params)
    assert first.fingerprint() == second.fingerprint()
    assert (first.ranking["n_rows"] <= 20 * 75).all()
    first.save(tmp_path)
    loaded = TargetRankingResult.load(tmp_path)
    assert loaded == first
    assert loaded.selected_targets() == first.selected_targets()


# -- building blocks ---------------------------------------------------------------------
def test_cross_sectional_ranks_are_per_timestamp_percentiles() -> None:
    values = np.array([3.0, 1.0, 2.0, np.nan, 5.0, 5.0, 1.0])
    ts = np.array([0, 0, 0, 0, 1, 1, 1])
    out = cross_sectional_ranks(values, ts)
    np.testing.assert_allclose(out[:3], [2.5 / 3, 0.5 / 3, 1.5 / 3])
    assert np.isnan(out[3])
    np.testing.assert_allclose(out[4:], [2.0 / 3, 2.0 / 3, 0.5 / 3])


def test_grouped_linear_fits_equal_one_fit_per_target() -> None:
    """Ridge solves targets sharing rows and folds together; the OOF predictions
    equal fitting each target on its own."""
    synthetic = make_panel(n_symbols=20, n_timestamps=120, leaks=False, seed=2)
    panel = to_panel(synthetic)
    from panelml.stages.fitting import PreparedCache
    from panelml.stages.ranking._families import family_job, fit_families
    from panelml.stages.ranking._fit import PlanSettings, plan_targets

    settings = PlanSettings(50, 10, 0.02, None, 1, 0.2, 0)
    validation = ValidationConfig()
    names = ["fwd_vol_5", "fwd_ret_5", "y_up_5"]
    plans = plan_targets(panel, names, {}, validation, settings)
    ridge = get_family("ridge")
    (out,) = fit_families(
        [
            family_job(
                panel,
                ridge,
                {},
                plans,
                validation,
                PreparedCache(panel),
                early_stopping=True,
                settings=settings,
                seed_for=lambda t: 0,
            )
        ]
    )
    for plan in plans:
        folds = plan_folds(panel, plan.name, validation, plan.rows)
        alone = fit_folds(
            ridge, plan.kind, {}, ridge.prepare(panel.X), panel.targets[plan.name], folds, seed=0
        )
        np.testing.assert_allclose(
            out.oof[plan.name], oof_vector(panel.n_rows, alone), rtol=1e-6, atol=1e-9
        )


def test_fold_tasks_keep_one_targets_folds_and_no_training_rows_in_results() -> None:
    """Families fitted fold by fold: the work keeps only the current target's
    folds (tasks come target by target; keeping all held ~2x the panel at a
    dozen targets) and each result keeps its fold's test rows but no training
    rows; the out-of-fold predictions equal fitting every fold directly."""
    panel = to_panel(make_panel(n_symbols=20, n_timestamps=120, leaks=False, seed=3))
    from panelml.stages.fitting import PreparedCache
    from panelml.stages.ranking._families import family_job
    from panelml.stages.ranking._fit import PlanSettings, fit_one_fold, plan_targets

    settings = PlanSettings(50, 10, 0.02, None, 1, 0.2, 0)
    validation = ValidationConfig()
    plans = plan_targets(panel, ["fwd_ret_1", "fwd_ret_5"], {}, validation, settings)
    lgbm = get_family("lightgbm")
    params = {"n_estimators": 20, "num_threads": 1}
    job = family_job(
        panel, lgbm, params, plans, validation, PreparedCache(panel),
        early_stopping=True, settings=settings, seed_for=lambda t: 0,
    )  # fmt: skip
    results = [fit_one_fold(job.work, task) for task in job.folds]
    assert set(job.work.folds_of) == {plans[-1].name}
    start = 0
    for plan, n in zip(job.plans, job.n_folds, strict=True):
        own, start = results[start : start + n], start + n
        folds = plan_folds(panel, plan.name, validation, plan.rows, early_stopping=True,
                           early_stopping_fraction=0.2)  # fmt: skip
        direct = fit_folds(lgbm, plan.kind, params, lgbm.prepare(panel.X, params),
                           panel.targets[plan.name], folds, seed=0)  # fmt: skip
        for kept, fold in zip(own, folds, strict=True):
            assert kept.fold.train.size == 0 and kept.fold.fit.size == 0 and kept.fold.val is None
            np.testing.assert_array_equal(kept.fold.test, fold.test)
        np.testing.assert_array_equal(
            oof_vector(panel.n_rows, own), oof_vector(panel.n_rows, direct)
        )


def test_binned_matrices_are_dropped_before_the_group_solves() -> None:
    """Every per-fold task runs before the first group task, so a process drops
    LightGBM's binned matrices when it starts a group solve (memory the linear
    fits' own matrices would otherwise sit on top of); the results equal each
    family fitted in a map of its own."""
    panel = to_panel(make_panel(n_symbols=20, n_timestamps=120, leaks=False, seed=4))
    from panelml.stages.fitting import PreparedCache
    from panelml.stages.ranking._families import family_job, fit_families
    from panelml.stages.ranking._fit import PlanSettings, plan_targets

    settings = PlanSettings(50, 10, 0.02, None, 1, 0.2, 0)
    validation = ValidationConfig()
    plans = plan_targets(panel, ["fwd_ret_1", "fwd_ret_5", "y_up_5"], {}, validation, settings)
    lgbm, ridge = get_family("lightgbm"), get_family("ridge")
    params: dict[str, dict[str, object]] = {
        "lightgbm": {"n_estimators": 20, "num_threads": 1},
        "ridge": {},
    }

    def job(family: type, cache: PreparedCache):  # type: ignore[no-untyped-def]
        return family_job(
            panel, family, params[family.name], plans, validation, cache,
            early_stopping=True, settings=settings, seed_for=lambda t: 0,
        )  # fmt: skip

    shared = PreparedCache(panel)
    together = fit_families([job(lgbm, shared), job(ridge, shared)])
    assert {key[0] for key in shared._entries} == {"ridge"}
    (lgbm_alone,) = fit_families([job(lgbm, PreparedCache(panel))])
    (ridge_alone,) = fit_families([job(ridge, PreparedCache(panel))])
    for got, alone in zip(together, (lgbm_alone, ridge_alone), strict=True):
        assert set(got.oof) == set(alone.oof)
        for name in alone.oof:
            np.testing.assert_array_equal(got.oof[name], alone.oof[name])
    assert shared.drop(ridge) and not shared.drop(ridge)


# -- end to end ------------------------------------------------------------------------
def test_runs_from_yaml_caches_and_prints(tmp_path: Path) -> None:
    assert registry.stages.get("target_ranking") is TargetRankingStage
    data = write_demo_data(tmp_path / "data", n_symbols=30, n_timestamps=200, seed=4)
    config = {
        "experiment": {"name": "rank_demo"},
        "data": {"path": str(data), "bar_interval": "1d"},
        "validation": {"n_splits": 4},
        "pipeline": {"stages": ["target_ranking"]},
        "runtime": {"output_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")},
        "target_ranking": {"family_params": {"lightgbm": {"n_estimators": 30}}, "top_n": 2},
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    buffer = io.StringIO()
    reporter = Reporter(Console(file=buffer, width=200, force_terminal=False))
    first = run(path, reporter=reporter)
    assert first.manifest["stages"][0]["status"] == "ran"
    result = first.results["target_ranking"]
    assert isinstance(result, TargetRankingResult)
    assert (first.run_dir / "target_ranking" / "ranking.parquet").is_file()
    printed = buffer.getvalue()
    assert "target ranking" in printed and "fwd_ret_5" in printed and "max_rank_ic" in printed
    assert len(result.selected_targets()) <= 2
    second = run(path, reporter=Reporter(quiet=True))
    assert second.manifest["stages"][0]["status"] == "cached"
    assert second.results["target_ranking"] == result
    changed = run(path, reporter=Reporter(quiet=True), overrides=["validation.n_splits=3"])
    assert changed.manifest["stages"][0]["status"] == "ran"


def test_leak_threshold_can_be_raised_for_legitimately_predictable_targets() -> None:
    params = TargetRankingParams(max_rank_ic=0.3, max_rank_ic_by_target={"fwd_vol_*": 0.8})
    assert params.rank_ic_limit("fwd_vol_21") == 0.8
    assert params.rank_ic_limit("fwd_ret_5") == 0.3
    with pytest.raises(ValueError):
        TargetRankingParams(max_rank_ic_by_target="fwd_vol_*")  # type: ignore[arg-type]
