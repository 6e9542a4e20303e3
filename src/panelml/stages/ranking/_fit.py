"""Planning and fitting for the ``target_ranking`` stage.

:func:`plan_targets` decides, for every candidate target, the features it may
use (the leakage screen's exclusions removed), the rows it is fitted and scored
on, and whether it is degenerate (and why). The fit tasks here produce a
family's out-of-fold predictions for every scorable target with the reuse the
performance notes ask for (:mod:`~panelml.stages.ranking._families` sends every
family's tasks through one executor map):

- families that override ``fit_many`` (the linear ones) fit every target of a
  group in one solve per fold (:func:`~panelml.stages.fitting.fit_folds_many`),
  where a group is the targets sharing horizon, rows and feature set;
- every other family bins each feature set once (``PreparedCache``) and fits
  fold subsets with label swaps (:func:`~panelml.stages.fitting.fit_folds`),
  stopping early on an inner purged validation block when it can.

Each (target, fold) of a family fitted one target at a time, and each group of
a ``fit_many`` family, is a task of the run's executor (per fold, so two
workers share a dozen targets evenly although early stopping makes their fits
differ in length); the panel, labels and settings are its shared payload
(:class:`FamilyWork`), shipped once per map. A worker bins a feature set
and plans a target's folds once and keeps them for its other tasks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.data.panel import Panel
from panelml.models.base import ModelFamily, Task
from panelml.stages.fitting import (
    Fold,
    FoldFit,
    PreparedCache,
    fit_folds,
    fit_folds_many,
    oof_vector,
    plan_folds,
    target_rows,
)
from panelml.stages.ranking._scores import gain_shares
from panelml.validation.spec import ValidationConfig

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass
class TargetPlan:
    """What the stage will do with one candidate target."""

    name: str
    kind: Task
    horizon: int
    features: tuple[str, ...]
    excluded: tuple[str, ...]
    rows: IntArray
    n_timestamps: int
    reason: str | None = None  # set when the target is degenerate

    @property
    def scorable(self) -> bool:
        return self.reason is None

    def group_key(self) -> tuple[Any, ...]:
        """Targets with equal keys share rows, folds and features (one fit_many):
        folds depend on the rows and the horizon in bars."""
        digest = hashlib.sha256(self.rows.tobytes()).hexdigest()
        return (self.kind, self.horizon, digest, self.features)


@dataclass(frozen=True)
class PlanSettings:
    """The stage params that planning reads."""

    min_rows: int
    min_timestamps: int
    min_minority_share: float
    max_rows_per_timestamp: int | None
    timestamp_stride: int
    early_stopping_fraction: float
    seed: int


def plan_targets(
    panel: Panel,
    targets: Sequence[str],
    excluded: Mapping[str, set[str]],
    validation: ValidationConfig,
    settings: PlanSettings,
) -> list[TargetPlan]:
    """One :class:`TargetPlan` per target, degenerate ones with their reason."""
    plans: list[TargetPlan] = []
    for name in targets:
        removed = excluded.get(name, set())
        features = tuple(f for f in panel.feature_names if f not in removed)
        rows = target_rows(
            panel,
            name,
            max_rows_per_timestamp=settings.max_rows_per_timestamp,
            timestamp_stride=settings.timestamp_stride,
            seed=settings.seed,
        )
        plan = TargetPlan(
            name=name,
            kind=panel.target_kinds[name],
            horizon=int(panel.horizons[name]),
            features=features,
            excluded=tuple(sorted(removed & set(panel.feature_names))),
            rows=rows,
            n_timestamps=int(np.unique(panel.timestamps[rows]).size),
        )
        plan.reason = _degenerate_reason(panel, plan, validation, settings)
        plans.append(plan)
    return plans


def _degenerate_reason(
    panel: Panel, plan: TargetPlan, validation: ValidationConfig, settings: PlanSettings
) -> str | None:
    """Why a target cannot be ranked, or ``None`` when it can."""
    y = panel.targets[plan.name][plan.rows]
    if not plan.features:
        return "no features left after the leakage screen's exclusions"
    if y.size < settings.min_rows:
        return f"only {y.size} known values (min_rows={settings.min_rows})"
    if float(np.ptp(y)) == 0.0:
        return f"constant (every known value is {y[0]:g})"
    if plan.kind == "binary":
        share = float(min(np.mean(y == 1.0), np.mean(y == 0.0)))
        if share < settings.min_minority_share:
            return (
                f"minority class holds {share:.2%} of rows "
                f"(min_minority_share={settings.min_minority_share})"
            )
    if plan.n_timestamps < max(settings.min_timestamps, 2 * validation.n_splits):
        return (
            f"only {plan.n_timestamps} timestamps with a known value "
            f"(min_timestamps={settings.min_timestamps}, n_splits={validation.n_splits})"
        )
    for early in (False, True):
        try:
            folds = _folds(panel, plan, validation, early, settings)
        except ValueError as exc:
            return f"cannot make {validation.n_splits} purged folds: {exc}"
        for fold in folds:
            if fold.fit.size == 0 or fold.test.size == 0:
                return f"fold {fold.index} has no training or no test rows"
            if plan.kind == "binary" and np.ptp(panel.targets[plan.name][fold.fit]) == 0.0:
                return f"fold {fold.index}'s training rows hold one class only"
    return None


def uses_fit_many(family: type[ModelFamily]) -> bool:
    """Whether ``family`` solves several targets at once (declares ``supports_fit_many``)."""
    return bool(family.supports_fit_many)


@dataclass
class FamilyOutput:
    """One family's OOF predictions (full-length) and gain shares per target."""

    oof: dict[str, FloatArray]
    gain_share: dict[str, FloatArray | None]


@dataclass
class FamilyWork:
    """What every fit task of one family reads: the executor's shared payload.

    ``cache`` (binned matrices) stays in the process that built it: a pickled
    copy travels without it and builds its own on first use.
    """

    panel: Panel
    family: type[ModelFamily]
    params: Mapping[str, Any]
    validation: ValidationConfig
    settings: PlanSettings
    stop: bool
    grouped: bool
    labels: dict[str, FloatArray]
    cache: PreparedCache | None = None

    folds_of: dict[str, list[Fold]] = field(default_factory=dict)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["cache"], state["folds_of"] = None, {}
        return state

    def folds(self, plan: TargetPlan) -> list[Fold]:
        """The plan's folds, kept until another plan's are asked for: tasks come
        target by target, and keeping every target's folds (four index arrays
        per fold) held about 2x the float32 panel at a dozen targets, growing
        with each target."""
        if plan.name not in self.folds_of:
            self.folds_of.clear()
            self.folds_of[plan.name] = _folds(
                self.panel, plan, self.validation, self.stop, self.settings
            )
        return self.folds_of[plan.name]

    def prepared(self, features: Sequence[str]) -> Any:
        if self.cache is None:
            self.cache = PreparedCache(self.panel)
        return self.cache.get(self.family, features, self.params)

    def label(self, target: str) -> FloatArray:
        return self.labels.get(target, self.panel.targets[target])


FitSet = tuple[list[TargetPlan], list[int]]
"""One task: the plans fitted together (a ``fit_many`` group) and their seeds."""
FoldTask = tuple[TargetPlan, int, int]
"""One task: a plan, its seed and one of its folds (families fitted one by one)."""


def fit_one_fold(work: FamilyWork, item: FoldTask) -> FoldFit:
    """One target's model on one fold and its test-row predictions (an executor
    task: per fold, so two workers share a dozen targets' fits evenly even when
    early stopping makes targets' fits differ in length)."""
    plan, seed, index = item
    fold = work.folds(plan)[index]
    (fit,) = fit_folds(
        work.family, plan.kind, work.params, work.prepared(plan.features),
        work.label(plan.name), [fold], seed=seed,
    )  # fmt: skip
    return FoldFit(fold.scored(), fit.model, fit.predictions)


def fit_set(work: FamilyWork, item: FitSet) -> dict[str, tuple[FloatArray, FloatArray | None]]:
    """OOF predictions and gain shares of one ``fit_many`` group (an executor task)."""
    members, seeds = item
    lead = members[0]
    Y = np.column_stack([work.label(p.name) for p in members])
    per_target = fit_folds_many(
        work.family, lead.kind, work.params, work.prepared(lead.features), Y,
        work.folds(lead), seed=seeds[0],
    )  # fmt: skip
    return {
        p.name: (oof_vector(work.panel.n_rows, fits), gain_shares(fits, len(p.features)))
        for p, fits in zip(members, per_target, strict=True)
    }


def _folds(
    panel: Panel, plan: TargetPlan, validation: ValidationConfig, stop: bool, settings: PlanSettings
) -> list[Fold]:
    return plan_folds(
        panel,
        plan.name,
        validation,
        plan.rows,
        early_stopping=stop,
        early_stopping_fraction=settings.early_stopping_fraction,
    )
