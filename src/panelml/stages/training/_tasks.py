"""Training's (target, family) fits as executor tasks, and their results merged back.

Every (target, family) pair is one task of the run's executor: the panel, the
family specs, the validation spec and the run's seeds travel once per stage as
the shared payload (:class:`TrainingWork`); each task fits one family on every
unit and fold of one target. Folds are planned as if all families were fitted
together (``stop``: whether any family stops early), and every fit keeps its
seed (target, family, unit, fold), so the merged :class:`TargetFit` equals the
one a single in-process call for all families gives. A worker bins a feature
set once and keeps it for its other tasks; the driver's own cache stays with
the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from panelml.data.panel import Panel
from panelml.pipeline.context import Seeds
from panelml.stages.fitting import FamilySpec, PreparedCache
from panelml.stages.training._fit import TargetFit
from panelml.validation.spec import ValidationConfig

__all__ = ["TrainingWork", "fit_pair", "merge_families"]

FitTarget = Callable[..., TargetFit]
Pair = tuple[str, tuple[str, ...], str]
"""One task: (target, its features, family name)."""


@dataclass
class TrainingWork:
    """What every training task reads (the executor's shared payload).

    ``fit_target`` is the stage's bound per-target fitting method (the stage
    object travels with it); ``cache`` stays in the process that built it.
    """

    fit_target: FitTarget
    panel: Panel
    families: list[FamilySpec]
    validation: ValidationConfig
    seeds: Seeds
    cache: PreparedCache | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["cache"] = None
        return state

    @property
    def stop(self) -> bool:
        """Whether the folds get an early-stopping block (any family stops early)."""
        return any(f.early_stopping for f in self.families)

    def prepared_cache(self) -> PreparedCache:
        if self.cache is None:
            self.cache = PreparedCache(self.panel)
        return self.cache


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
