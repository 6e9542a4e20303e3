"""Every model family's ranking fits through one executor map.

A family fitted one target at a time (LightGBM) gives one task per (target,
fold); a ``fit_many`` family (the linear ones) gives one task per group of
targets it solves together (:mod:`~panelml.stages.ranking._fit`). One map per
family made the second family wait for the first's last fold while a worker
stood idle; here every family's tasks go in one map, the per-fold fits first
and the group solves after them, so the short group tasks fill that gap. The
shared payload is every family's :class:`~panelml.stages.ranking._fit.FamilyWork`;
each task names its family by position. Results go back to their family in
task order, so they do not depend on the executor or on which families share
the map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from panelml.data.panel import Panel
from panelml.models.base import ModelFamily
from panelml.pipeline.executor import Executor, SerialExecutor
from panelml.pipeline.memory import release_free_memory
from panelml.stages.fitting import PreparedCache, oof_vector
from panelml.stages.ranking._fit import (
    FamilyOutput,
    FamilyWork,
    FitSet,
    FloatArray,
    FoldTask,
    PlanSettings,
    TargetPlan,
    fit_one_fold,
    fit_set,
    uses_fit_many,
)
from panelml.stages.ranking._scores import gain_shares
from panelml.validation.spec import ValidationConfig

__all__ = ["FamilyJob", "family_job", "fit_families"]


@dataclass
class FamilyJob:
    """One family's fit tasks and how to read their results back.

    ``sets`` (a ``fit_many`` family) or ``folds`` (one target at a time, with
    ``plans`` and their fold counts ``n_folds`` in task order) is non-empty.
    """

    family: type[ModelFamily]
    work: FamilyWork
    sets: list[FitSet]
    folds: list[FoldTask]
    plans: list[TargetPlan]
    n_folds: list[int]


def family_job(
    panel: Panel,
    family: type[ModelFamily],
    params: Mapping[str, Any],
    plans: Sequence[TargetPlan],
    validation: ValidationConfig,
    cache: PreparedCache,
    *,
    early_stopping: bool,
    settings: PlanSettings,
    seed_for: Any,
    labels: Mapping[str, FloatArray] | None = None,
) -> FamilyJob:
    """The tasks that give ``family``'s out-of-fold predictions for every scorable plan.

    ``seed_for(target)`` gives the fit seed of a target (a group of linear
    targets uses the seed of its first member, in name order). ``labels`` maps a
    target to the label the models learn (default: the raw target; see
    ``fitting.model_label``).
    """
    grouped = uses_fit_many(family)
    work = FamilyWork(
        panel,
        family,
        params,
        validation,
        settings,
        stop=early_stopping and family.supports_early_stopping and not grouped,
        grouped=grouped,
        labels=dict(labels) if labels is not None else {},
        cache=cache,
    )
    groups: dict[tuple[Any, ...], list[TargetPlan]] = {}
    for plan in plans:
        if plan.scorable:
            groups.setdefault(plan.group_key(), []).append(plan)
    ordered = [sorted(members, key=lambda p: p.name) for members in groups.values()]
    if grouped:
        sets: list[FitSet] = [(members, [seed_for(members[0].name)]) for members in ordered]
        return FamilyJob(family, work, sets, [], [], [])
    one_by_one = [plan for members in ordered for plan in members]
    n_folds = [len(work.folds(plan)) for plan in one_by_one]
    tasks: list[FoldTask] = [
        (plan, seed_for(plan.name), index)
        for plan, n in zip(one_by_one, n_folds, strict=True)
        for index in range(n)
    ]
    return FamilyJob(family, work, [], tasks, one_by_one, n_folds)


Item = tuple[int, FitSet | FoldTask]
"""One task of the combined map: (position of its family, its fit set or fold task)."""


def _fit_item(works: list[FamilyWork], item: Item) -> Any:
    """Run one family's task (an executor task: module level, picklable)."""
    index, task = item
    work = works[index]
    if work.grouped:
        # every per-fold task is dispatched before the first group task (see
        # fit_families), so the binned matrices of the families fitted one by
        # one are not read again in this process: dropped before the group
        # solves build their own matrices (a later per-fold task would rebin)
        dropped = False
        for other in works:
            if not other.grouped and other.cache is not None:
                dropped = other.cache.drop(other.family) or dropped
        if dropped:
            release_free_memory()
        return fit_set(work, task)  # type: ignore[arg-type]
    return fit_one_fold(work, task)  # type: ignore[arg-type]


def fit_families(jobs: Sequence[FamilyJob], executor: Executor | None = None) -> list[FamilyOutput]:
    """Every job's :class:`FamilyOutput` (in ``jobs`` order) from one executor map
    (default: one task after another here); results do not depend on it."""
    runner = executor or SerialExecutor()
    items: list[Item] = [(j, task) for j, job in enumerate(jobs) for task in job.folds]
    items += [(j, task) for j, job in enumerate(jobs) for task in job.sets]
    names = ", ".join(job.family.name for job in jobs)
    done = runner.map(
        _fit_item,
        items,
        description=f"target_ranking: {len(items)} fit tasks ({names})",
        shared=[job.work for job in jobs],
    )
    found: list[list[Any]] = [[] for _ in jobs]
    for (j, _), result in zip(items, done, strict=True):
        found[j].append(result)
    outputs = []
    for job, results in zip(jobs, found, strict=True):
        output = FamilyOutput({}, {})
        if job.sets:
            for (members, _), by_name in zip(job.sets, results, strict=True):
                for plan in members:
                    output.oof[plan.name], output.gain_share[plan.name] = by_name[plan.name]
        start = 0
        for plan, n in zip(job.plans, job.n_folds, strict=True):
            own = results[start : start + n]
            start += n
            output.oof[plan.name] = oof_vector(job.work.panel.n_rows, own)
            output.gain_share[plan.name] = gain_shares(own, len(plan.features))
        outputs.append(output)
    return outputs
