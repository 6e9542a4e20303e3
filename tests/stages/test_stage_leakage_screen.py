"""leakage_screen: planted leaks are caught by the right check, clean panels pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from panelml.config import ExperimentConfig
from panelml.data.panel import Panel
from panelml.data.synthetic import make_panel
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.stages.leakage_screen import (
    LeakageScreenParams,
    LeakageScreenResult,
    LeakageScreenStage,
    screen_panel,
)

EXPECTED_CHECK = {
    "noisy_copy": "near_copy",
    "future_window": "future_info",
    "short_shift": "future_info",
}


def _context(panel: Panel, patterns: list[str] | None = None) -> RunContext:
    config = ExperimentConfig.model_validate(
        {
            "experiment": {"name": "leak"},
            "data": {"path": "<mem>", "targets": patterns or ["fwd_*", "y_*"]},
        }
    )
    return RunContext(
        config=config,
        data=panel,
        data_fingerprint=panel.fingerprint,
        run_dir=Path("unused"),
        run_id="r",
        experiment="leak",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_planted_leak_is_caught_by_its_check(seed: int) -> None:
    synthetic = make_panel(n_symbols=50, n_timestamps=300, seed=seed)
    panel = synthetic.to_panel()
    result = LeakageScreenStage(LeakageScreenParams()).run(_context(panel))
    assert isinstance(result, LeakageScreenResult)
    assert len(synthetic.truth.leaks) == 3
    for leak in synthetic.truth.leaks:
        assert leak.feature in result.excluded_features(leak.target)
        assert EXPECTED_CHECK[leak.kind] in result.flags(leak.target)[leak.feature], leak
    # nothing legitimate is flagged for any target
    flagged = set(result.report["feature"].to_list())
    assert flagged <= set(synthetic.truth.leak_features())
    assert set(result.report.columns) >= {
        "feature",
        "target",
        "check",
        "value",
        "threshold",
        "action",
    }
    # a proof-of-future leak is removed for every target, with the check and the
    # target it was caught on
    leaks = set(synthetic.truth.leak_features())
    for target in panel.target_names:
        assert leaks <= result.excluded_features(target), target
    via = result.report.filter(pl.col("check").str.contains(" (via ", literal=True))
    for row in via.iter_rows(named=True):
        leak = next(x for x in synthetic.truth.leaks if x.feature == row["feature"])
        assert row["check"] == f"{EXPECTED_CHECK[leak.kind]} (via {leak.target})", row
        assert row["target"] != leak.target and row["action"] == "removed"
    assert result.meta["targets"]["fwd_ret_20"]["n_removed"] == 3


@pytest.mark.parametrize("seed", [0, 3])
def test_no_clean_feature_is_flagged_without_leaks(seed: int) -> None:
    panel = make_panel(n_symbols=50, n_timestamps=300, seed=seed, leaks=False).to_panel()
    report = screen_panel(panel, LeakageScreenParams(), target_patterns=["fwd_*", "y_*"])
    assert report.height == 0


def test_exclude_everywhere_extends_proof_checks_and_can_be_switched_off() -> None:
    synthetic = make_panel(n_symbols=30, n_timestamps=150, seed=0)
    panel = synthetic.to_panel()
    copy = next(leak for leak in synthetic.truth.leaks if leak.kind == "noisy_copy")
    report = screen_panel(panel, LeakageScreenParams())
    other = report.filter((pl.col("feature") == copy.feature) & (pl.col("target") == "fwd_ret_1"))
    assert other["check"].to_list() == [f"near_copy (via {copy.target})"]
    assert other["action"].to_list() == ["removed"]
    assert set(report.columns) == {"feature", "target", "check", "value", "threshold", "action"}
    per_target = screen_panel(panel, LeakageScreenParams(exclude_everywhere=()))
    assert per_target.filter(pl.col("check").str.contains("(via", literal=True)).height == 0
    assert set(per_target["feature"].to_list()) <= set(synthetic.truth.leak_features())
    # too_good stays per target unless listed
    assert not report.filter(pl.col("check").str.starts_with("too_good (via")).height


def _named_panel() -> Panel:
    rng = np.random.default_rng(0)
    n_t, n_s = 40, 20
    y = rng.normal(size=n_t * n_s)
    X = np.column_stack([rng.normal(size=y.size), rng.normal(size=y.size), rng.normal(size=y.size)])
    return Panel.build(
        X=X.astype(np.float32),
        feature_names=["fwd_ret_lag", "Label_x", "momentum"],
        targets={"ret": y},
        horizons={"ret": 1},
        target_kinds={"ret": "regression"},
        timestamps=np.repeat(np.arange(n_t, dtype=np.int64), n_s),
        symbol_codes=np.tile(np.arange(n_s, dtype=np.int32), n_t),
        symbols=[f"S{i}" for i in range(n_s)],
    )


def test_name_rules_use_prefixes_and_target_patterns_and_can_be_switched_off() -> None:
    panel = _named_panel()
    report = screen_panel(panel, LeakageScreenParams(), target_patterns=["fwd_*"])
    assert sorted(report["feature"].to_list()) == ["Label_x", "fwd_ret_lag"]
    assert set(report["check"].to_list()) == {"name_rule"}
    only_patterns = LeakageScreenParams.model_validate({"name_rules": {"prefixes": []}})
    report = screen_panel(panel, only_patterns, target_patterns=["fwd_*"])
    assert report["feature"].to_list() == ["fwd_ret_lag"]
    off = LeakageScreenParams.model_validate({"name_rules": {"enabled": False}})
    assert screen_panel(panel, off, target_patterns=["fwd_*"]).height == 0


def test_warn_action_keeps_features_and_switches_work() -> None:
    synthetic = make_panel(n_symbols=30, n_timestamps=150, seed=0)
    panel = synthetic.to_panel()
    ctx = _context(panel)
    warned = LeakageScreenStage(LeakageScreenParams(action="warn")).run(ctx)
    assert warned.report.height > 0
    assert set(warned.report["action"].to_list()) == {"warned"}
    assert all(not warned.excluded_features(t) for t in panel.target_names)
    params = LeakageScreenParams.model_validate(
        {
            "near_copy": {"enabled": False},
            "future_info": {"enabled": False},
            "too_good": {"enabled": False},
        }
    )
    assert LeakageScreenStage(params).run(ctx).report.height == 0


def test_subsampled_screen_still_catches_the_noisy_copy() -> None:
    synthetic = make_panel(n_symbols=50, n_timestamps=200, seed=1)
    params = LeakageScreenParams(max_rows_per_timestamp=20)
    report = screen_panel(synthetic.to_panel(), params, seed=3)
    copy = next(leak for leak in synthetic.truth.leaks if leak.kind == "noisy_copy")
    hit = report.filter((pl.col("feature") == copy.feature) & (pl.col("check") == "near_copy"))
    assert hit.height == 1


def test_too_good_threshold_can_be_raised_for_targets_matching_a_glob() -> None:
    synthetic = make_panel(n_symbols=30, n_timestamps=150, seed=0)
    panel = synthetic.to_panel()
    ctx = _context(panel)
    only_too_good = {"near_copy": {"enabled": False}, "future_info": {"enabled": False}}
    base = LeakageScreenStage(LeakageScreenParams.model_validate(only_too_good)).run(ctx)
    flagged = {(r["feature"], r["target"]) for r in base.report.to_dicts()}
    assert ("feat_16", "fwd_ret_10") in flagged  # the short-shift leak is too good
    relaxed = LeakageScreenStage(
        LeakageScreenParams.model_validate(
            {**only_too_good, "too_good": {"by_target": {"fwd_ret_1?": 0.99}}}
        )
    ).run(ctx)
    rows = relaxed.report.to_dicts()
    assert not any(r["target"] == "fwd_ret_10" for r in rows)
    assert {(r["feature"], r["target"]) for r in rows} == {
        pair for pair in flagged if pair[1] != "fwd_ret_10"
    }
