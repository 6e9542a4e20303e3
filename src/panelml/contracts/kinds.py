"""The names of the contract kinds built-in stages provide and read.

A *kind* is a question a later stage can ask of an earlier result ("which
targets were chosen?", "which features are excluded for this target?"). A
result declares the kinds it satisfies in ``StageResult.provides``; a stage
declares the kinds it reads in ``Stage.inputs()``. The runner matches the two
by these strings only, so a third-party result that writes the documented
tables (:mod:`panelml.contracts.schemas`) and names the kind plugs in.
"""

from __future__ import annotations

from typing import Final

TARGET_CHOICE: Final = "TargetChoice"
"""Table ``ranking`` (target, rank, status): the targets with status ``selected``."""

RANKING_SCORES: Final = "RankingScores"
"""Table ``ranking`` (target, rank, score, status) plus ``per_symbol`` and ``ic_series``."""

EXCLUSIONS: Final = "Exclusions"
"""Table ``report`` (feature, target, check, action): features ``removed`` per target."""

FEATURE_CHOICE: Final = "FeatureChoice"
"""One table per target (feature, rank, selected); meta ``targets`` lists them."""

OOF_PREDICTIONS: Final = "OOFPredictions"
"""Tables ``oof_<target>`` (symbol, timestamp, target, one column per family, ensemble)."""

TRAINING_METRICS: Final = "TrainingMetrics"
"""Table ``metrics`` (target, family, fold, ic_mean, ...); fold -1 summarises all OOF rows."""

TRAINED_MODELS: Final = "TrainedModels"
"""Saved models (``models/<target>/<family>/``) and table ``importances``."""

STABILITY_REPORT: Final = "StabilityReport"
"""Tables ``report`` and ``frequency`` of the ``stability`` stage."""

ALL_KINDS: Final = (
    TARGET_CHOICE,
    RANKING_SCORES,
    EXCLUSIONS,
    FEATURE_CHOICE,
    OOF_PREDICTIONS,
    TRAINING_METRICS,
    TRAINED_MODELS,
    STABILITY_REPORT,
)
