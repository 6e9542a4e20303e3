"""Leak handling on real prices: volatility is predictable, honestly.

Bundled daily closes of 20 S&P 500 stocks (2019-2022 here; source and licence
in ``panelml/features/bundled/README.md``). Lagged volatility predicts forward
volatility with rank IC 0.5-0.7: under the default policy no volatility feature
may be removed and the volatility targets must come out ``selected``. A label
lagged by 3 bars of a 20-bar target (a shifted-label leak) planted in the same
data must be removed, for every target.

Power: the pre-graded screen removed every ``vol_*`` feature as ``too_good``
and the pre-graded ranking marked both volatility targets ``suspect_leak``
(rank IC above 0.3), so both asserts fail it; a screen without the shifted-copy
check keeps the leak (its IC with the target is about 0.9, a suspicion only).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from panelml.config import ExperimentConfig
from panelml.data import DataConfig
from panelml.data.frames import panel_from_frame
from panelml.features.bundled import real_price_panel, with_lagged_label
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.stages.leakage import LeakageScreenParams, LeakageScreenStage
from panelml.stages.ranking import TargetRankingParams, TargetRankingStage

LEAK = "vol_20_lag3"


@pytest.fixture(scope="module")
def real_run() -> RunContext:
    frame = real_price_panel(start=date(2019, 1, 1), horizons=(5, 20))
    frame = with_lagged_label(frame, "fwd_vol_20", lag=3, name=LEAK)
    targets = [c for c in frame.columns if c.startswith("fwd_")]
    cfg = DataConfig(path="<bundled>", bar_interval="1d", targets=targets)
    panel = panel_from_frame(frame, cfg, source="<bundled>")
    config = ExperimentConfig.model_validate(
        {"experiment": {"name": "real"}, "data": {"path": "<bundled>", "targets": ["fwd_*"]}}
    )
    ctx = RunContext(
        config=config,
        data=panel,
        data_fingerprint=panel.fingerprint,
        run_dir=Path("unused"),
        run_id="r",
        experiment="real",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
        seed=0,
    )
    ctx.results["leakage_screen"] = LeakageScreenStage(LeakageScreenParams()).run(ctx)
    params = TargetRankingParams(targets=["fwd_vol_*"])
    ctx.results["target_ranking"] = TargetRankingStage(params).run(ctx)
    return ctx


def test_volatility_targets_are_selected_with_every_volatility_feature(
    real_run: RunContext,
) -> None:
    screen = real_run.results["leakage_screen"]
    vol_features = [f for f in real_run.data.feature_names if f.startswith("vol_") and f != LEAK]
    assert len(vol_features) == 3
    for target in ("fwd_vol_5", "fwd_vol_20"):
        assert not set(vol_features) & screen.excluded_features(target), target
        assert real_run.results["target_ranking"].status(target) == "selected"
    ranking = real_run.results["target_ranking"].ranking
    vol20 = ranking.filter(pl.col("target") == "fwd_vol_20").row(0, named=True)
    # the strong honest features are reported, with the score without them
    assert "vol_60: too_good" in vol20["warnings"]
    assert vol20["score_without_suspects"] < vol20["score"]


def test_a_planted_shifted_label_is_removed_for_every_target(real_run: RunContext) -> None:
    screen = real_run.results["leakage_screen"]
    for target in real_run.data.target_names:
        assert LEAK in screen.excluded_features(target), target
    own = screen.report.filter((pl.col("feature") == LEAK) & (pl.col("target") == "fwd_vol_20"))
    assert "shifted_copy" in own["check"].to_list()
    assert set(own["grade"].to_list()) >= {"proof"}
