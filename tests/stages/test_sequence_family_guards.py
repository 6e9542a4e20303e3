"""Where a sequence family (``needs_row_index``) cannot be used honestly, the stage says so.

Feature selection's importances shuffle single rows, which would break a sequence
model's windows silently; training's tuner scores inner folds row-wise. Both refuse
the family with one sentence instead of returning wrong numbers. The training result
also reports the device each model was fitted on in the manifest.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from panelml.config import ExperimentConfig
from panelml.data.synthetic import make_panel
from panelml.pipeline.context import RunContext
from panelml.stages.selection import (
    FeatureSelectionError,
    FeatureSelectionParams,
    FeatureSelectionStage,
)
from panelml.stages.training import TrainingParams, TrainingStage
from panelml.testing import stage_context

pytest.importorskip("torch")


def _context(tmp_path: Path) -> RunContext:
    panel = make_panel(n_symbols=20, n_timestamps=120, seed=0).to_panel()
    config = ExperimentConfig.model_validate(
        {"experiment": {"name": "guards"}, "data": {"path": "<mem>"}, "validation": {"n_splits": 3}}
    )
    return stage_context(panel, tmp_path, config=config)


def test_feature_selection_refuses_a_sequence_family(tmp_path: Path) -> None:
    params = FeatureSelectionParams(
        targets=["fwd_ret_5"], importances=[{"family": "gru", "kind": "permutation"}]
    )
    with pytest.raises(FeatureSelectionError, match="'gru' reads each symbol's earlier bars"):
        FeatureSelectionStage(params).run(_context(tmp_path))


def test_training_refuses_to_tune_a_sequence_family() -> None:
    with pytest.raises(ValidationError, match="'gru', a sequence family"):
        TrainingParams(
            families=["gru"],
            tuning={"gru": {"n_trials": 2, "space": {"hidden_size": {"int": [8, 32]}}}},
        )


def test_training_reports_each_models_device_in_its_manifest_summary(tmp_path: Path) -> None:
    params = TrainingParams(targets=["fwd_ret_5"], families=["ridge"])
    result = TrainingStage(params).run(_context(tmp_path))
    assert result.manifest_summary() == {"devices": {"fwd_ret_5/ridge": "cpu"}}
