"""The ``feature_selection`` stage: which features matter for a target, stably?

For each target chosen by ``target_ranking`` (status ``selected``, rank order) -
or the explicit ``targets:`` list, which wins when given - the stage:

1. drops the features the leakage screen removed for that target (they are
   still listed, with ``selected`` false and the checks as the reason); a
   feature the screen proved to be built from the future on any target is
   removed for every target (check ``<check> (via <target>)``); features the
   screen only suspected stay in use;
2. adds one shadow per allowed feature (shuffled within timestamps, see
   :mod:`panelml.stages.selection._importance`) and fits every configured
   family on the target's purged folds (``validation:`` section; early stopping
   inside each fold for families that support it);
3. reads importances of several kinds per fold (default: LightGBM gain and
   permutation, univariate |rank IC| with weight 0.5, and the partial rank IC -
   the pooled regression of the target's cross-sectional ranks on all columns'
   ranks z and z**2 - 1, importance ``hypot`` of a column's two coefficients,
   weight 1; the interaction kind ``pairwise_rank_ic`` - for each feature the
   correlation of the additive rank residual with its rank times its best
   partner's rank, the partner chosen on the fold's training rows and the
   pair scored on its test rows, see
   :mod:`panelml.stages.selection._interactions`, weight 0.5;
   ``ridge``/``coef`` and other families can be added), normalises
   each (kind, fold) vector (negatives clipped, sum 1) and averages them with
   the configured weights into a consensus score (the ranking);
4. marks a feature eligible by a Boruta test on the consensus: in every fold
   the shadows get a vote score on the same scale as the real features (each
   (kind, fold) vector normalised over real *and* shadow columns, averaged over
   the voting kinds with their weights; ``vote_exclude`` - default the
   marginal ``univariate_rank_ic``, which correlated noise features inherit
   from their signal neighbour - ranks but does not vote); a feature scores a
   hit in a fold when its vote beats the best shadow's, and is eligible when
   it hits in at least ``min_hit_rate`` (0.6: three of five) of the folds,
   or when a ``solo_vote`` kind (default ``univariate_pairwise_rank_ic``,
   which does not enter the averaged vote) beats its own best shadow in at
   least ``solo_min_hit_rate`` (0.8: four of five) of the folds: a
   product's factors are seen by that kind only, and the average of the
   others outvotes it.
   A feature without information is exchangeable with the S shadows, so it
   hits a fold with probability about 1/(S+1) and three of five folds with
   probability about C(5,3)/(S+1)^3 (folds share training rows, so somewhat
   more; see :mod:`panelml.stages.selection._consensus`);
5. selects the top ``top_n`` eligible features by consensus, skipping one whose
   pooled Spearman |correlation| with a better selected feature exceeds
   ``redundancy_threshold``;
   Pure-noise targets select nothing through this test alone (measured on
   noise targets next to persistent noise features, 3 seeds, horizons 1 and
   10). An optional skill gate (``skill_alpha``, default off) selects nothing
   for a target whose first family shows no out-of-fold skill (the folds' test
   predictions, rank IC tested with
   :func:`panelml.validation.significance.ic_significance`, one-sided p above
   ``skill_alpha``), every feature then with reason ``no_skill``. It is off by
   default because it costs recall on weak long-horizon targets (at 0.01 it
   dropped the only found feature of the default panel's nonlinear 10-bar
   target on seed 1), which the ranking's FDR test already screens;
   then a conditional step (``conditional_fdr``, default 0.05; ``None``: off,
   :mod:`panelml.stages.selection._conditional`) adds, one at a time, a feature
   that is marginally related to the target and whose out-of-fold partial
   rank IC given the chosen features beats every shadow's in 4 of 5 folds
   (reason ``conditional: ...`` with the evidence); it finds what the vote
   dilutes, such as a short volatility next to longer ones;
6. repeats steps 4-5 (the vote's part) with each fold's own scores and reports the Nogueira,
   Sechidis & Brown (JMLR 2018) stability of those fold-wise selections with
   its variance and 95% interval (warning below ``stability_warn``).

Output: one table per target named after it (``feature_selection/<target>.parquet``)
with feature, consensus_score, rank, ``imp_<family>_<kind>`` (normalised, fold
mean), selection_frequency, eligible, selected, reason, plus hits and hit_rate
(consensus hits over folds) and ``hit_rate_<family>_<kind>`` (share of folds in
which that kind alone beat its best shadow, for diagnosis);
meta ``stability[<target>]`` = phi, variance, ci_low, ci_high.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import polars as pl

from panelml import contracts
from panelml.pipeline.context import RunContext
from panelml.pipeline.registry import register_stage
from panelml.pipeline.results import TableResult
from panelml.pipeline.stage import Input, StageParams
from panelml.stability import StabilityThresholds, stability_warnings
from panelml.stages.panel_stage import PanelStage
from panelml.stages.selection._importance import (
    PERMUTATION,
    UNIVARIATE,
    FamilyPlan,
)
from panelml.stages.selection._params import (
    UNIVARIATE_KINDS,
    FeatureSelectionError,
    FeatureSelectionParams,
    ImportanceSpec,
)
from panelml.stages.selection._runner import SelectionRunner

__all__ = ["FeatureSelectionResult", "FeatureSelectionStage"]

TARGETS_HINT = "set feature_selection.targets (names or globs)"


class FeatureSelectionResult(TableResult):
    """One table per target (named after it) and meta ``stability``/``targets``."""

    provides: ClassVar[tuple[str, ...]] = (contracts.FEATURE_CHOICE,)

    def targets(self) -> list[str]:
        """The targets with a selection, in selection order."""
        return contracts.feature_choice_targets(self)

    def contract_problems(self) -> list[str]:
        """Ways the tables break the contracts in ``provides`` (:mod:`panelml.contracts`)."""
        return contracts.result_problems(self, self.provides)

    def table(self, target: str) -> pl.DataFrame:
        try:
            return self.tables[target]
        except KeyError:
            raise KeyError(
                f"no feature selection for target {target!r}; available: {self.targets()}"
            ) from None

    def selected_features(self, target: str) -> list[str]:
        """Selected features of ``target`` in rank order (best first)."""
        self.table(target)  # a clear KeyError for an unknown target
        return contracts.selected_features(self, target)


@register_stage
class FeatureSelectionStage(PanelStage[FeatureSelectionParams]):
    """Multi-model, shadow-calibrated, stability-checked feature selection per target."""

    name: ClassVar[str] = "feature_selection"
    Params: ClassVar[type[StageParams]] = FeatureSelectionParams
    result_type: ClassVar[type[FeatureSelectionResult]] = FeatureSelectionResult
    version: ClassVar[str] = "1"
    error = FeatureSelectionError

    def inputs(self) -> tuple[Input, ...]:
        """A ``TargetChoice`` (unless ``targets:`` names them) and optional ``Exclusions``."""
        exclusions = Input(contracts.EXCLUSIONS, optional=True)
        if self.params.targets is not None:
            return (exclusions,)
        return (Input(contracts.TARGET_CHOICE, instead=TARGETS_HINT), exclusions)

    def run(self, ctx: RunContext) -> FeatureSelectionResult:
        panel = self.panel(ctx)
        targets = self._targets(ctx)
        plans, univariate = self._plans(ctx)
        validation = self.validation(ctx)
        runner = SelectionRunner(ctx, panel, self.params, plans, univariate, validation)
        tables: dict[str, pl.DataFrame] = {}
        stability: dict[str, dict[str, Any]] = {}
        work = [(target, self.exclusion_checks(ctx, target)) for target in targets]
        for target, (table, record) in zip(targets, runner.select_all(work), strict=True):
            tables[target], stability[target] = table, record
        result = FeatureSelectionResult(tables, {"targets": targets, "stability": stability})
        _summarise(ctx, result, self.params.stability_warn)
        return result

    def _targets(self, ctx: RunContext) -> list[str]:
        if self.params.targets is not None:
            return self.resolve_targets(self.panel(ctx), self.params.targets)
        if ctx.input(contracts.TARGET_CHOICE) is None:  # run outside a checked pipeline
            raise FeatureSelectionError(
                "feature_selection has no targets: add target_ranking before it in "
                f"pipeline.stages, or {TARGETS_HINT}"
            )
        chosen = self.chosen_targets(ctx)
        if not chosen:
            ctx.reporter.warn("feature_selection: target_ranking selected no target")
        return chosen

    def _plans(self, ctx: RunContext) -> tuple[list[FamilyPlan], list[ImportanceSpec]]:
        by_family: dict[str, list[str]] = {}
        univariate: list[ImportanceSpec] = []
        for spec in self.params.importances:
            if spec.family == UNIVARIATE:
                if spec.kind not in UNIVARIATE_KINDS:
                    raise FeatureSelectionError(
                        f"feature_selection.importances: family 'univariate' has kinds "
                        f"{', '.join(repr(k) for k in UNIVARIATE_KINDS)}, got {spec.kind!r}"
                    )
                univariate.append(spec)
                continue
            by_family.setdefault(spec.family, []).append(spec.kind)
        plans = []
        families = self.family_specs(ctx, list(by_family), "feature_selection.importances")
        for family_spec in families:
            name, family, kinds = family_spec.name, family_spec.cls, by_family[family_spec.name]
            if family.reads_history:
                raise FeatureSelectionError(
                    f"feature_selection.importances: family {name!r} reads each symbol's "
                    "earlier bars, which the per-row importance shuffles would break; use it "
                    "in target_ranking and training, and a row-wise family here"
                )
            for kind in kinds:
                if kind != PERMUTATION and kind not in family.importance_kinds:
                    raise FeatureSelectionError(
                        f"feature_selection.importances: family {name!r} has no importance "
                        f"kind {kind!r}; use one of "
                        f"{', '.join([*family.importance_kinds, PERMUTATION])}"
                    )
                if kind == "shap":
                    raise FeatureSelectionError(
                        "feature_selection.importances: kind 'shap' is not supported here; "
                        "use gain or permutation"
                    )
            plans.append(FamilyPlan(name, family, tuple(kinds), family_spec.params))
        return plans, univariate


def _summarise(ctx: RunContext, result: FeatureSelectionResult, warn_below: float) -> None:
    rows: list[Sequence[Any]] = []
    thresholds = StabilityThresholds(nogueira_warn=warn_below)
    for target in result.targets():
        chosen = result.selected_features(target)
        frame = result.table(target)
        scores = dict(
            zip(frame["feature"].to_list(), frame["consensus_score"].to_list(), strict=True)
        )
        top = ", ".join(f"{f} {scores[f]:.3f}" for f in chosen[:5])
        st = result.meta["stability"][target]
        phi = st.get("phi")
        stab = (
            "undefined" if phi is None else f"{phi:.2f} [{st['ci_low']:.2f}, {st['ci_high']:.2f}]"
        )
        rows.append((target, len(chosen), top, stab))
        selections = _fold_matrix_from_record(st)
        if selections is not None:
            for message in stability_warnings(
                nogueira=selections, thresholds=thresholds, context=f"target {target}"
            ):
                ctx.reporter.warn(message)
    if rows:
        ctx.reporter.table(
            "feature_selection",
            ["target", "n selected", "top 5 (consensus)", "stability phi [95% CI]"],
            rows,
        )


def _fold_matrix_from_record(record: dict[str, Any]) -> Any:
    """A StabilityEstimate-like object rebuilt from a stored record (for the warnings)."""
    from panelml.stability import StabilityEstimate

    nan = float("nan")

    def num(key: str) -> float:
        value = record.get(key)
        return nan if value is None else float(value)

    return StabilityEstimate(
        phi=num("phi"),
        variance=num("variance"),
        ci_low=num("ci_low"),
        ci_high=num("ci_high"),
        n_selections=int(record.get("n_selections") or 0),
        n_features=int(record.get("n_features") or 0),
        mean_size=num("mean_size"),
        reason=record.get("reason"),
    )
