"""The stage conformance kit: every built-in stage passes it on a small panel,
chained in pipeline order so each stage reads its inputs from the one before;
and the kit fails stages that break the stage contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest

from panelml import contracts
from panelml.config import ExperimentConfig
from panelml.data.panel import Panel
from panelml.data.synthetic import TargetSpec, make_panel
from panelml.pipeline.context import RunContext
from panelml.pipeline.registry import stages
from panelml.pipeline.results import TableResult
from panelml.pipeline.stage import Input, Stage, StageParams
from panelml.testing import check_stage, stage_context

PIPELINE: tuple[tuple[str, dict[str, Any]], ...] = (
    ("leakage_screen", {}),
    ("target_ranking", {"families": ["ridge"], "top_n": 2}),
    (
        "feature_selection",
        {
            "importances": [
                {"family": "ridge", "kind": "coef"},
                {"family": "univariate", "kind": "rank_ic"},
            ]
        },
    ),
    ("training", {"families": ["ridge"]}),
    ("stability", {}),
    ("report", {}),
)
"""The built-in stages in pipeline order, with cheap params (ridge only)."""


def _panel() -> Panel:
    specs = (
        TargetSpec("fwd_ret_5", 5, 0.35, "linear", (0, 1)),
        TargetSpec("y_up_3", 3, 0.3, "linear", (1, 2), kind="binary"),
        TargetSpec("fwd_noise_2", 2, 0.0, "none"),
    )
    synthetic = make_panel(
        n_symbols=30,
        n_timestamps=220,
        n_signal_features=4,
        n_noise_features=4,
        targets=specs,
        seed=3,
    )
    return synthetic.to_panel()


def _context(tmp_path: Path) -> RunContext:
    config = ExperimentConfig.model_validate(
        {"experiment": {"name": "kit"}, "data": {"path": "<mem>"}, "validation": {"n_splits": 3}}
    )
    return stage_context(_panel(), tmp_path, config=config)


def test_every_builtin_stage_passes_the_kit(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    builtin = {
        name for name, cls in stages.registered().items() if cls.__module__.startswith("panelml.")
    }
    assert builtin == {name for name, _ in PIPELINE}, (
        "a built-in stage is not in the kit's pipeline"
    )
    for name, params in PIPELINE:
        result = check_stage(stages.get(name), params, ctx, tmp_path)
        ctx.results[name] = result
    # the chain really read its inputs through the contracts
    assert contracts.selected_targets(ctx.input(contracts.TARGET_CHOICE))
    assert contracts.feature_choice_targets(ctx.input(contracts.FEATURE_CHOICE))
    assert contracts.oof_table_names(ctx.input(contracts.OOF_PREDICTIONS))


class LooseParams(StageParams):
    model_config = StageParams.model_config | {"extra": "allow"}


class BrokenResult(TableResult):
    provides: ClassVar[tuple[str, ...]] = (contracts.TARGET_CHOICE,)

    def contract_problems(self) -> list[str]:
        return contracts.result_problems(self, self.provides)


class BrokenStage(Stage[StageParams]):
    """Says it provides a target choice but writes no status column."""

    name = "broken_kit_stage"
    result_type = BrokenResult

    def run(self, ctx: RunContext) -> BrokenResult:
        return BrokenResult({"ranking": pl.DataFrame({"target": ["a"], "rank": [1]})})


class LooseStage(BrokenStage):
    Params = LooseParams


class RandomStage(BrokenStage):
    """A result whose content changes on every run."""

    calls: ClassVar[list[int]] = []

    def run(self, ctx: RunContext) -> BrokenResult:
        self.calls.append(1)
        frame = pl.DataFrame(
            {"target": ["a"], "rank": [1], "status": ["selected"], "score": [0.1], "reason": [""]}
        )
        return BrokenResult({"ranking": frame}, {"call": len(self.calls)})


class NeedsChoice(BrokenStage):
    def inputs(self) -> tuple[Input, ...]:
        return (Input(contracts.TARGET_CHOICE),)


def test_the_kit_fails_stages_that_break_the_contract(tmp_path: Path) -> None:
    ctx = stage_context(None, tmp_path)
    with pytest.raises(
        AssertionError, match="breaks its contract: table 'ranking' has no column 'status'"
    ):
        check_stage(BrokenStage, {}, ctx, tmp_path / "a")
    with pytest.raises(AssertionError, match="accept the unknown key"):
        check_stage(LooseStage, {}, ctx, tmp_path / "b")
    with pytest.raises(AssertionError, match="another fingerprint"):
        check_stage(RandomStage, {}, ctx, tmp_path / "c")
    with pytest.raises(AssertionError, match="required input 'TargetChoice'"):
        check_stage(NeedsChoice, {}, ctx, tmp_path / "d")
