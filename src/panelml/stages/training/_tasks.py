"""Training's fits as executor tasks, and their results merged back per target.

The panel, the family specs, the validation spec and the run's seeds travel
once per map as the shared payload (:class:`TrainingWork`). Two task layouts:

- ``scope: pooled`` (:func:`fit_folds_then_finals`): two maps. First every
  (target, family, fold) is one task that fits that fold's model and returns
  its test predictions and best iteration; then every (target, family) is one
  task that fits the final model on all known rows, its boosting rounds the
  median of that family's fold best iterations. Fold fits differ in length
  (early stopping; LightGBM against a linear family), so many small tasks let
  two workers share the work evenly where one task per (target, family) left
  one worker with three long LightGBM pairs and the other with two.
- ``scope: per_symbol`` (:func:`fit_pairs`): one task per (target, family)
  that fits every symbol's folds and final model (``_fit.fit_unit``), since a
  symbol's folds are planned on its own rows and several symbols may be
  skipped. Tuned families never come here: the stage fits them in the driver,
  which keeps the studies (:mod:`panelml.stages.training._tuner`).

Both give what one in-process call for all families gives: folds are planned
as if all families were fitted together (``stop``: whether any family stops
early), every fit keeps its seed (target, family[, symbol], fold or
``"final"``), and the driver records fold and final results in the order
``fit_unit`` does. Each worker process keeps one :class:`PreparedCache` and
its latest target plan per stage run (keyed by the run's ``token``, across
both maps), so it bins a feature set once; the driver's own cache stays with
the driver. A worker drops that state when a later training stage's first
task reaches it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.data.panel import Panel
from panelml.models.base import ModelFamily
from panelml.pipeline.context import Seeds
from panelml.pipeline.executor import Executor
from panelml.stages.fitting import FamilySpec, Fold, PreparedCache, model_label, target_rows
from panelml.stages.training._fit import (
    FoldOutcome,
    TargetFit,
    TrainingError,
    begin_unit,
    final_params,
    fit_final,
    fit_fold,
    new_target_fit,
    plan_unit,
    record_final,
)
from panelml.stages.training._folds import record_prediction
from panelml.validation.spec import ValidationConfig

__all__ = [
    "TrainingWork",
    "fit_final_task",
    "fit_fold_task",
    "fit_folds_then_finals",
    "fit_pair",
    "fit_pairs",
    "merge_families",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
FitTarget = Callable[..., TargetFit]
Pair = tuple[str, tuple[str, ...], str]
"""A per-(target, family) task: (target, its features, family name)."""
FoldItem = tuple[str, tuple[str, ...], str, int]
"""A fold task: (target, its features, family name, position of the fold in the plan)."""
FinalItem = tuple[str, tuple[str, ...], str, tuple[int | None, ...]]
"""A final-model task: (target, its features, family name, the folds' best iterations)."""


@dataclass
class PooledPlan:
    """One target's pooled unit: its known rows, model label and purged folds."""

    rows: IntArray
    label: FloatArray
    folds: list[Fold]


@dataclass
class FinalModel:
    """What a final-model task returns."""

    model: ModelFamily
    params: dict[str, Any]
    rounds: int | None


@dataclass
class _Local:
    """Process-local state of one training run: prepared matrices and the latest plan."""

    token: str
    cache: PreparedCache
    plan: tuple[str, PooledPlan] | None = None


_WORKER_LOCAL: list[_Local] = []
"""In a worker process: the state of the latest training run it served (at most one)."""


def _worker_local(token: str, panel: Panel) -> _Local:
    if not _WORKER_LOCAL or _WORKER_LOCAL[0].token != token:
        _WORKER_LOCAL.clear()  # an earlier run's matrices go before this run's are built
        _WORKER_LOCAL.append(_Local(token, PreparedCache(panel)))
    return _WORKER_LOCAL[0]


@dataclass
class TrainingWork:
    """What every training task reads (the executor's shared payload).

    ``fit_target`` and ``demean`` are the stage's bound methods (the stage
    object travels with them); ``fraction`` is its early-stopping fraction.
    ``cache`` (the driver's) stays in the process that built it; a worker uses
    its own, kept across the maps of the run that ``token`` names.
    """

    fit_target: FitTarget
    panel: Panel
    families: list[FamilySpec]
    validation: ValidationConfig
    seeds: Seeds
    demean: Callable[[Panel, str], bool]
    fraction: float
    cache: PreparedCache | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    local: _Local | None = None

    def __post_init__(self) -> None:
        if self.cache is not None and self.local is None:
            self.local = _Local(self.token, self.cache)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["cache"] = state["local"] = None
        return state

    @property
    def stop(self) -> bool:
        """Whether the folds get an early-stopping block (any family stops early)."""
        return any(f.early_stopping for f in self.families)

    def state(self) -> _Local:
        if self.local is None:
            self.local = _worker_local(self.token, self.panel)
        return self.local

    def prepared_cache(self) -> PreparedCache:
        return self.state().cache

    def spec(self, family: str) -> FamilySpec:
        return next(spec for spec in self.families if spec.name == family)

    def plan(self, target: str) -> PooledPlan:
        """``target``'s pooled rows, label and folds, as ``_fit_target`` plans them
        (the latest target's kept: a worker's consecutive tasks mostly share one)."""
        local = self.state()
        if local.plan is not None and local.plan[0] == target:
            return local.plan[1]
        plan = self.new_plan(target)
        local.plan = (target, plan)
        return plan

    def new_plan(self, target: str) -> PooledPlan:
        rows = target_rows(self.panel, target)
        if rows.size == 0:
            raise TrainingError(f"training: target {target!r} has no known values to train on")
        label = model_label(self.panel, target, self.demean(self.panel, target))
        folds = plan_unit(
            self.panel,
            target,
            self.validation,
            rows,
            early_stopping=self.stop,
            early_stopping_fraction=self.fraction,
        )
        return PooledPlan(rows, label, folds)


# -- pooled: one task per fold, then one per final model -----------------------------


def fit_fold_task(work: TrainingWork, item: FoldItem) -> FoldOutcome:
    """Fit one (target, family, fold) model and predict the fold's test rows (a task)."""
    target, features, family, position = item
    spec, plan = work.spec(family), work.plan(target)
    fold = plan.folds[position]
    prepared = work.prepared_cache().get(spec.cls, features, spec.params)
    seed = work.seeds.child_seed("training", target, family, fold.index)
    return fit_fold(spec, work.panel.target_kinds[target], prepared, plan.label, fold, seed=seed)


def fit_final_task(work: TrainingWork, item: FinalItem) -> FinalModel:
    """Fit one (target, family)'s final model on every known row (a task)."""
    target, features, family, best = item
    spec, plan = work.spec(family), work.plan(target)
    params, rounds = final_params(spec, best)
    prepared = work.prepared_cache().get(spec.cls, features, spec.params)
    seed = work.seeds.child_seed("training", target, family, "final")
    task = work.panel.target_kinds[target]
    model = fit_final(spec, task, prepared, plan.rows, plan.label, params, seed=seed)
    return FinalModel(model, params, rounds)


def fit_folds_then_finals(
    executor: Executor, work: TrainingWork, todo: Sequence[tuple[str, Sequence[str]]]
) -> dict[str, TargetFit]:
    """Every target's pooled fits in two maps (module docstring), in ``todo`` order.

    The driver plans each target's folds to count them, then again when it
    records the results (planning is deterministic and cheap; keeping every
    target's fold index arrays through the maps would hold several times the
    panel at scale).
    """
    n_folds = {target: len(work.new_plan(target).folds) for target, _ in todo}
    names = [spec.name for spec in work.families]
    fold_items: list[FoldItem] = [
        (target, tuple(features), family, k)
        for target, features in todo
        for family in names
        for k in range(n_folds[target])
    ]
    outcomes = executor.map(
        fit_fold_task,
        fold_items,
        description=f"training: {len(fold_items)} folds of {len(todo) * len(names)} "
        "(target, family) fits",
        shared=work,
    )
    best: dict[tuple[str, str], list[int | None]] = {}
    for (target, _, family, _), outcome in zip(fold_items, outcomes, strict=True):
        best.setdefault((target, family), []).append(outcome.best_iteration)
    final_items: list[FinalItem] = [
        (target, tuple(features), family, tuple(best[target, family]))
        for target, features in todo
        for family in names
    ]
    finals = executor.map(
        fit_final_task,
        final_items,
        description=f"training: {len(final_items)} final models",
        shared=work,
    )
    out: dict[str, TargetFit] = {}
    position = 0
    for index, (target, _) in enumerate(todo):
        plan = work.new_plan(target)
        fit = new_target_fit(work.panel, work.families, plan.label)
        begin_unit(work.panel, plan.rows, plan.folds, fit, unit="")
        for j, spec in enumerate(work.families):
            for fold in plan.folds:
                outcome = outcomes[position]
                record_prediction(fit, spec.name, fold, outcome.predictions, outcome.best_iteration)
                position += 1
            done = finals[index * len(names) + j]
            n_rows = plan.rows.size
            record_final(fit, spec, done.model, done.params, done.rounds, n_rows, unit="")
        out[target] = fit
    return out


# -- per symbol: one task per (target, family) ---------------------------------------


def fit_pair(work: TrainingWork, item: Pair) -> TargetFit:
    """Fit one family on every unit and fold of one target (an executor task)."""
    target, features, family = item
    specs = [spec for spec in work.families if spec.name == family]
    return work.fit_target(
        work.seeds,
        work.panel,
        target,
        list(features),
        specs,
        work.prepared_cache(),
        work.validation,
        stop=work.stop,
    )


def fit_pairs(
    executor: Executor, work: TrainingWork, todo: Sequence[tuple[str, Sequence[str]]]
) -> dict[str, TargetFit]:
    """Every (target, family) as one task (:func:`fit_pair`), merged per target."""
    pairs = [(t, tuple(f), spec.name) for t, f in todo for spec in work.families]
    done = executor.map(
        fit_pair,
        pairs,
        description=f"training: {len(pairs)} (target, family) fits",
        shared=work,
    )
    n = len(work.families)
    return {
        target: merge_families(done[i * n : (i + 1) * n], work.families)
        for i, (target, _) in enumerate(todo)
    }


def merge_families(fits: Sequence[TargetFit], families: Sequence[FamilySpec]) -> TargetFit:
    """One target's per-family fits as one: the family-independent records (folds,
    rows, skipped symbols) of the first, each family's own entries from its fit."""
    merged = fits[0]
    for spec, fit in zip(families, fits, strict=True):
        name = spec.name
        merged.oof[name] = fit.oof[name]
        if name in fit.best_iterations:
            merged.best_iterations[name] = fit.best_iterations[name]
        if name in fit.finals:
            merged.finals[name] = fit.finals[name]
        if name in fit.paths:
            merged.paths[name] = fit.paths[name]
    return merged
