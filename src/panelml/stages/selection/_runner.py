"""The per-target selection: importances per family and univariate kind, the shadow
consensus, the skill gate and the per-target table."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import polars as pl

from panelml.data.matrix import FeatureMatrix
from panelml.data.panel import Panel
from panelml.models.base import PreparedData, Task
from panelml.pipeline.context import RunContext, Seeds
from panelml.stages.fitting import plan_folds, target_rows
from panelml.stages.selection._additive import (
    BlockEquations,
    additive_rank_fit,
    partial_rank_importance,
    whole_block,
)
from panelml.stages.selection._augmented import AugmentedMatrix
from panelml.stages.selection._consensus import (
    consensus,
    sampled_rank_correlation,
    stability_record,
)
from panelml.stages.selection._fold_parts import (
    FoldImportances,
    FoldPart,
    TargetWork,
    by_target_and_fold,
)
from panelml.stages.selection._gates import add_conditional, no_skill_reason
from panelml.stages.selection._importance import (
    FamilyPlan,
    PermutationSettings,
    family_importances,
    univariate_importance,
)
from panelml.stages.selection._interactions import PAIRWISE_KIND, pairwise_rank_importance
from panelml.stages.selection._params import (
    FeatureSelectionError,
    FeatureSelectionParams,
    ImportanceSpec,
    importance_weight,
)
from panelml.stages.selection._rank_block import PanelRanks, RankBlock, panel_ranks, rank_block
from panelml.stages.selection._table import selection_table
from panelml.validation.spec import ValidationConfig

__all__ = ["SelectionRunner"]


Flags = dict[str, list[str]]
Selection = tuple[pl.DataFrame, dict[str, Any]]


def _fold_task(runner: SelectionRunner, work: tuple[str, Flags, int, FoldPart]) -> FoldImportances:
    """One (target, fold)'s importances of one part, run by the executor (module
    level: picklable)."""
    target, flags, index, part = work
    return runner.fold_importances(target, flags, index, parts=(part,))


def _finish_task(
    runner: SelectionRunner, work: tuple[str, Flags, list[FoldImportances]]
) -> Selection:
    """One target's table from its fold tasks, run by the executor."""
    return runner.finish(*work)


class SelectionRunner:
    """Per-target work, with shadows and prepared matrices reused across targets
    that share an allowed feature set.

    :meth:`select_all` sends the targets through ``ctx.executor``: the runner
    itself is the shared payload, with the augmented matrix (features and
    their shadows, read by parts from the panel:
    :mod:`~panelml.stages.selection._augmented`) of one allowed feature set.
    Workers receive it without the run context (seeds come from
    :class:`~panelml.pipeline.context.Seeds`) and without prepared (binned)
    matrices, which each worker builds once and keeps for its targets.
    """

    def __init__(
        self,
        ctx: RunContext,
        panel: Panel,
        params: FeatureSelectionParams,
        plans: list[FamilyPlan],
        univariate: list[ImportanceSpec],
        validation: ValidationConfig,
    ) -> None:
        self.ctx: RunContext | None = ctx
        self.seeds: Seeds = ctx.seeds()
        self.panel, self.params = panel, params
        self.plans, self.univariate, self.validation = plans, univariate, validation
        self._key: tuple[str, ...] | None = None
        self._X_aug: AugmentedMatrix | None = None
        self._ranks: PanelRanks | None = None
        self._prepared: dict[str, PreparedData] = {}
        self._block_of: tuple[str, RankBlock] | None = None
        self._whole_of: tuple[str, BlockEquations] | None = None
        self._target_of: TargetWork | None = None
        self.permutation = PermutationSettings(
            params.permutation_top_k,
            params.permutation_max_rows_per_timestamp,
            params.permutation_repeats,
        )

    def _augmented(self, allowed: tuple[str, ...]) -> AugmentedMatrix:
        """The feature set's ``[X_allowed | shadows]``, read by parts (never stored
        whole: :mod:`~panelml.stages.selection._augmented`)."""
        if self._key != allowed or self._X_aug is None:
            digest = hashlib.sha256("\x00".join(allowed).encode()).hexdigest()[:16]
            rng = self.seeds.rng("feature_selection", "shadows", digest)
            # the previous feature set's matrices go first
            self._X_aug = self._ranks = self._block_of = self._whole_of = None
            self._target_of, self._prepared = None, {}
            shuffle: Literal["symbol", "row"] = (
                "row" if self.params.shadow_shuffle == "row" else "symbol"
            )
            columns = self.panel.feature_indices(allowed)
            self._X_aug = AugmentedMatrix(self.panel, columns, rng, shuffle)
            self._key = allowed
        return self._X_aug

    def _panel_ranks(self) -> PanelRanks | None:
        """The augmented matrix's ranks (``None`` when no step reads rank blocks),
        computed when first needed: in a serial run that is after the first
        family has binned the matrix, so LightGBM's transient binning buffers
        and the ranks are never held at once (a lower peak); before a parallel
        map the driver computes them, so the workers share one copy."""
        if self._ranks is None and self._X_aug is not None and self._needs_ranks():
            self._ranks = panel_ranks(self._X_aug, self.panel.timestamp_index)
        return self._ranks

    def _needs_ranks(self) -> bool:
        """Whether any step reads the targets' rank blocks (partial or pairwise rank
        IC, the conditional step): then the feature set's ranks are computed once."""
        kinds = {spec.kind for spec in self.univariate}
        return bool(kinds - {"rank_ic"}) or self.params.conditional_fdr is not None

    def __getstate__(self) -> dict[str, Any]:
        """What a worker gets: no run context, no prepared (binned) matrices, no block."""
        state = dict(self.__dict__)
        state["ctx"], state["_prepared"] = None, {}
        state["_block_of"] = state["_whole_of"] = state["_target_of"] = None
        return state

    def select_all(self, work: Sequence[tuple[str, Flags]]) -> list[Selection]:
        """Every target's (table, stability record) through the run's executor, in input order.

        Two maps per allowed feature set: every (target, fold) is one task (its
        family fits and block kinds), so two workers share five targets' work
        evenly instead of three targets against two; then every target's
        consensus, skill gate and conditional step is one task. Targets sharing
        an allowed feature set go in the same maps, so their augmented matrix is
        built and shipped once; every result depends only on its target's and
        fold's seeds, not on the grouping or the backend.
        """
        if self.ctx is None:
            raise RuntimeError("select_all runs in the driver, with the run context")
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, (target, flags) in enumerate(work):
            allowed = self._allowed(target, flags)
            groups.setdefault(allowed, []).append(index)
        out: list[Selection | None] = [None] * len(work)
        for allowed, indices in groups.items():
            self._augmented(allowed)
            if not self.ctx.executor.in_driver:
                self._panel_ranks()  # once here, shipped with the runner
            targets = [work[i] for i in indices]
            folds = [
                (target, flags, k)
                for target, flags in targets
                for k in range(self.n_folds(target, flags))
            ]
            # every fold's model fits first, then its block kinds: the short
            # block tasks fill the gap a worker leaves when it finishes its last
            # fit before the other does
            parts: list[FoldPart] = ["models"]
            if any(spec.kind != "rank_ic" for spec in self.univariate):
                parts.append("block")
            fold_work = [(t, f, k, part) for part in parts for t, f, k in folds]
            found_parts = self.ctx.executor.map(
                _fold_task,
                fold_work,
                description=f"feature_selection: {len(folds)} folds of {len(targets)} targets",
                shared=self,
            )
            by_target = by_target_and_fold(
                [(t, k) for t, _, k, _ in fold_work], found_parts, [(t, k) for t, _, k in folds]
            )
            found = self.ctx.executor.map(
                _finish_task,
                [(target, flags, by_target[target]) for target, flags in targets],
                description=f"feature_selection: consensus of {len(targets)} targets",
                shared=self,
            )
            for index, selection in zip(indices, found, strict=True):
                out[index] = selection
        return [selection for selection in out if selection is not None]

    def _allowed(self, target: str, flags: Flags) -> tuple[str, ...]:
        allowed = tuple(f for f in self.panel.feature_names if f not in flags)
        if not allowed:
            raise FeatureSelectionError(
                f"feature_selection: the leakage screen removed every feature for target "
                f"{target!r}; review leakage_screen/report.parquet or set "
                "leakage_screen.policy: report_only"
            )
        return allowed

    def _prepare(self, plan: FamilyPlan, X_aug: FeatureMatrix) -> PreparedData:
        if plan.name not in self._prepared:
            self._prepared[plan.name] = plan.family.prepare_matrix(X_aug, plan.params)
        return self._prepared[plan.name]

    def _target(self, target: str, flags: Flags) -> TargetWork:
        """What both steps of one target need: its allowed columns, rows and folds
        (kept for the next task of the same target)."""
        allowed, kept = self._allowed(target, flags), self._target_of
        if kept is not None and kept.target == target and kept.allowed == allowed:
            return kept
        params = self.params
        rows = target_rows(
            self.panel,
            target,
            max_rows_per_timestamp=params.max_rows_per_timestamp,
            timestamp_stride=params.timestamp_stride,
            seed=self.seeds.child_seed("feature_selection", target, "rows"),
        )
        plan_folds = [
            self._folds(target, rows, plan.family.supports_early_stopping) for plan in self.plans
        ]
        # the univariate kinds use the last family's folds (the same test blocks)
        folds = plan_folds[-1] if plan_folds else self._folds(target, rows, False)
        if any(len(f) != len(folds) for f in plan_folds):
            raise RuntimeError(f"feature_selection: families plan different folds for {target!r}")
        self._target_of = TargetWork(
            target, allowed, self._augmented(allowed), rows, plan_folds, folds
        )
        return self._target_of

    def n_folds(self, target: str, flags: Flags) -> int:
        """How many folds (fold tasks) ``target`` has."""
        return len(self._target(target, flags).folds)

    def _block(self, work: TargetWork) -> RankBlock:
        """The target's rank block, kept for the next task of the same target."""
        if self._block_of is None or self._block_of[0] != work.target:
            self._block_of = self._whole_of = None  # never two targets' blocks at once
            y = self.panel.targets[work.target]
            block = rank_block(
                work.X_aug, y, self.panel.timestamps, work.rows, self.validation.min_names,
                self._panel_ranks(),
            )  # fmt: skip
            self._block_of = (work.target, block)
        return self._block_of[1]

    def _whole(self, work: TargetWork) -> BlockEquations:
        """The normal equations of the target's whole block, summed over its folds'
        test blocks (so each fold reads its own), kept with the block."""
        block = self._block(work)
        if self._whole_of is None or self._whole_of[0] != work.target:
            tests = [fold.test for fold in work.folds]
            self._whole_of = (work.target, whole_block(block, tests))
        return self._whole_of[1]

    def fold_importances(
        self,
        target: str,
        flags: Flags,
        index: int,
        parts: Sequence[FoldPart] = ("models", "block"),
    ) -> FoldImportances:
        """The importances of one fold of ``target``: each family's fit and kinds
        (``"models"``), and the block kinds, partial and pairwise rank IC
        (``"block"``). The executor runs each part as its own task."""
        panel, params = self.panel, self.params
        work = self._target(target, flags)
        if "models" not in parts:
            # block tasks come after every model task of the feature set (see
            # select_all), so this process's binned matrices are not read again:
            # dropped before the rank blocks are built (0.5x the float32 panel
            # less at the stage's peak)
            self._prepared = {}
        y = panel.targets[target]
        task: Task = "binary" if panel.target_kinds.get(target) == "binary" else "regression"
        raw: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
        skill_oof = None
        for k, plan in enumerate(self.plans if "models" in parts else []):
            fold = work.plan_folds[k][index]
            seed = self.seeds.child_seed("feature_selection", target, plan.name, "fit", fold.index)
            # the first family's out-of-fold predictions decide the skill gate
            gate = k == 0 and params.skill_alpha is not None
            oof = np.full(panel.n_rows, np.nan) if gate else None
            found = family_importances(
                plan, task, self._prepare(plan, work.X_aug), y, panel.timestamps, [fold],
                len(work.allowed), self.permutation, [seed], self.validation.min_names, oof,
            )  # fmt: skip
            if oof is not None:
                skill_oof = oof[fold.test]
            for kind, values in found.items():
                raw[f"{plan.name}_{kind}"] = values[0]
        fold = work.folds[index]
        coef = None
        for spec in self.univariate if "block" in parts else []:
            if spec.kind == "rank_ic":
                continue  # all folds at once, in finish()
            block = self._block(work)
            if coef is None:  # one additive rank fit serves both block kinds
                coef = additive_rank_fit(block, fold.train, whole=self._whole(work))
            if spec.kind == PAIRWISE_KIND:
                raw[spec.label] = pairwise_rank_importance(
                    block,
                    fold.train,
                    panel.timestamp_index[block.rows],
                    len(work.allowed),
                    panel.horizons[target],
                    params.pairwise_max_partners,
                    test=fold.test,
                    coef=coef,
                )
            else:
                raw[spec.label] = partial_rank_importance(block, fold.train, coef)
        return FoldImportances(index, raw, skill_oof)

    def finish(self, target: str, flags: Flags, parts: Sequence[FoldImportances]) -> Selection:
        """From the fold tasks' importances to ``target``'s table and stability
        record: the univariate rank IC, the consensus, redundancy, the skill gate
        and the conditional step. One executor task."""
        panel, params = self.panel, self.params
        work = self._target(target, flags)
        allowed, X_aug = work.allowed, work.X_aug
        parts = sorted(parts, key=lambda part: part.index)
        raw: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
        weights: dict[str, float] = {}
        for plan in self.plans:
            for kind in plan.kinds:
                label = f"{plan.name}_{kind}"
                raw[label] = np.stack([part.raw[label] for part in parts])
                weights[label] = importance_weight(params, plan.name, kind)
        block = self._block(work) if self._needs_ranks() else None
        for spec in self.univariate:
            if spec.kind == "rank_ic":
                raw[spec.label] = univariate_importance(
                    X_aug, panel.targets[target], panel.timestamps, work.rows, work.folds,
                    self.validation.min_names, block,
                )  # fmt: skip
            else:
                raw[spec.label] = np.stack([part.raw[spec.label] for part in parts])
            weights[spec.label] = spec.weight
        cons = consensus(
            raw, weights, len(allowed), params.shadow_quantile, params.vote_exclude,
            params.solo_vote,
        )  # fmt: skip
        corr = None
        if params.redundancy_threshold is not None:
            corr = sampled_rank_correlation(
                X_aug,
                len(allowed),
                work.rows,
                params.redundancy_sample_rows,
                self.seeds.rng("feature_selection", target, "redundancy"),
            )
        no_skill = None
        if self.plans and params.skill_alpha is not None:
            oof = np.full(panel.n_rows, np.nan)
            for part in parts:
                oof[work.plan_folds[0][part.index].test] = part.oof
            no_skill = no_skill_reason(
                panel, target, work.rows, oof, self.plans[0].name, params, self.validation
            )
        table, selections = selection_table(params, allowed, flags, cons, corr, no_skill)
        if params.conditional_fdr is not None and no_skill is None:
            block = block if block is not None else self._block(work)
            table = add_conditional(
                panel, target, table, allowed, block, work.folds, corr, params, self.validation
            )
        return table, stability_record(selections, allowed)

    def _folds(self, target: str, rows: Any, early_stopping: bool) -> list[Any]:
        try:
            return plan_folds(
                self.panel,
                target,
                self.validation,
                rows,
                early_stopping=early_stopping,
            )
        except ValueError as exc:
            raise FeatureSelectionError(
                f"feature_selection: cannot make purged folds for target {target!r}: {exc}; "
                "lower validation.n_splits or use more timestamps"
            ) from None
