"""The ``PanelStage`` base of the three model-fitting stages: one way each to get the
panel, the validation spec, the families with merged params, and the targets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from panelml.data.synthetic import make_panel
from panelml.models.base import ModelFamily
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import UserError
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.results import TableResult
from panelml.stages.panel_stage import PanelStage, PanelStageParams
from panelml.stages.ranking import RankingError, TargetRankingParams, TargetRankingStage
from panelml.stages.selection import (
    FeatureSelectionError,
    FeatureSelectionParams,
    FeatureSelectionStage,
)
from panelml.stages.training import TrainingError, TrainingParams, TrainingStage
from panelml.validation.spec import ValidationConfig


class Threaded(ModelFamily):
    """A family that declares a thread setting, to see where it lands in the merge."""

    name: ClassVar[str] = "threaded_toy"

    @classmethod
    def runtime_params(
        cls, n_jobs: int, deterministic: bool, user_params: Any = None
    ) -> dict[str, Any]:
        return {"threads": n_jobs}


class ToyStage(PanelStage[PanelStageParams]):
    name: ClassVar[str] = "toy_fitting"
    Params = PanelStageParams
    result_type = TableResult
    error = RankingError
    family_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "threaded_toy": {"depth": 3, "rate": 0.1}
    }

    def run(self, ctx: RunContext) -> TableResult:  # pragma: no cover - not run here
        return TableResult({})


def _context(data: Any, validation: ValidationConfig | None = None, n_jobs: int = 2) -> RunContext:
    return RunContext(
        config=SimpleNamespace(validation=validation or ValidationConfig()),
        data=data,
        data_fingerprint="x",
        run_dir=Path("unused"),
        run_id="r",
        experiment="e",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
        results={},
        n_jobs=n_jobs,
    )


def test_params_merge_one_way_defaults_then_user_then_runtime() -> None:
    ctx = _context(None)
    (spec,) = ToyStage(PanelStageParams()).family_specs(
        ctx, [f"{__name__}:Threaded"], "toy.families"
    )
    assert spec.cls is Threaded
    assert spec.params == {"depth": 3, "rate": 0.1, "threads": 2}
    user = ToyStage(PanelStageParams(family_params={f"{__name__}:Threaded": {"rate": 0.5}}))
    (spec,) = user.family_specs(ctx, [f"{__name__}:Threaded"], "toy.families")
    assert spec.params == {"depth": 3, "rate": 0.5, "threads": 2}
    keeps = ToyStage(PanelStageParams(family_params={f"{__name__}:Threaded": {"threads": 9}}))
    (spec,) = keeps.family_specs(ctx, [f"{__name__}:Threaded"], "toy.families")
    assert spec.params["threads"] == 9  # the user's key wins over the runtime setting


def test_family_errors_are_the_stages_own_error() -> None:
    ctx = _context(None)
    with pytest.raises(RankingError, match="lists a family twice"):
        ToyStage(PanelStageParams()).family_specs(ctx, ["ridge", "ridge"], "toy.families")
    unused = ToyStage(PanelStageParams(family_params={"lightgbm": {}}))
    with pytest.raises(RankingError, match=r"toy_fitting\.family_params: 'lightgbm'"):
        unused.family_specs(ctx, ["ridge"], "toy.families")
    with pytest.raises(RankingError, match=r"toy\.families: .*did you mean 'ridge'"):
        ToyStage(PanelStageParams()).family_specs(ctx, ["ridg"], "toy.families")
    selection = FeatureSelectionStage(
        FeatureSelectionParams(targets=["fwd_ret_5"], family_params={"xgboost": {}})
    )
    with pytest.raises(FeatureSelectionError, match=r"feature_selection\.family_params: 'xgboost'"):
        selection._plans(ctx)


def test_panel_validation_and_targets() -> None:
    panel = make_panel(n_symbols=8, n_timestamps=60, seed=0).to_panel()
    with pytest.raises(TrainingError, match="needs a panelml Panel"):
        TrainingStage(TrainingParams()).panel(_context("not a panel"))
    ctx = _context(panel, ValidationConfig(n_splits=4))
    stage = TrainingStage(TrainingParams(scheme="walk_forward"))
    assert stage.panel(ctx) is panel
    assert (stage.validation(ctx).scheme, stage.validation(ctx).n_splits) == ("walk_forward", 4)
    assert TargetRankingStage(TargetRankingParams()).validation(ctx).scheme == "purged_kfold"
    assert stage.resolve_targets(panel, ["y_*", "fwd_ret_1*"]) == [
        "y_up_5",
        "fwd_ret_1",
        "fwd_ret_10",
    ]
    with pytest.raises(TrainingError, match=r"training\.targets: 'fwd_ret5'.*did you mean"):
        stage.resolve_targets(panel, ["fwd_ret5"])
    assert issubclass(TrainingError, UserError)
