"""The ``feature_selection`` stage: which features matter for a target, stably?

For each target chosen by ``target_ranking`` (status ``selected``, rank order) -
or the explicit ``targets:`` list, which wins when given - the stage:

1. drops the features the leakage screen removed for that target (they are
   still listed, with ``selected`` false and the checks as the reason); a
   feature the screen proved to be built from the future on any target is
   removed for every target (check ``<check> (via <target>)``); features the
   screen only suspected stay in use;
2. adds one shadow per allowed feature (shuffled within timestamps, see
   :mod:`panelml.stages._selection_importance`) and fits every configured
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
   :mod:`panelml.stages._selection_interactions`, weight 0.5;
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
   more; see :mod:`panelml.stages._selection_consensus`);
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
6. repeats steps 4-5 with each fold's own scores and reports the Nogueira,
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

import hashlib
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from panelml import contracts
from panelml.contracts import TargetPatternError, resolve_targets
from panelml.data.panel import Panel
from panelml.models.base import ModelFamily, PreparedData, Task
from panelml.models.registry import get_family
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import UserError
from panelml.pipeline.registry import register_stage
from panelml.pipeline.results import TableResult
from panelml.pipeline.stage import Input, Stage, StageParams
from panelml.stability import StabilityThresholds, stability_warnings
from panelml.stages._selection_consensus import (
    Consensus,
    choose,
    consensus,
    rank_correlation,
    stability_record,
)
from panelml.stages._selection_importance import (
    PERMUTATION,
    UNIVARIATE,
    FamilyPlan,
    PermutationSettings,
    family_importances,
    partial_rank_importance,
    rank_block,
    shadow_matrix,
    univariate_importance,
)
from panelml.stages._selection_interactions import PAIRWISE_KIND, pairwise_rank_importance
from panelml.stages.fitting import plan_folds, runtime_params, target_rows
from panelml.validation.metrics import ic_series
from panelml.validation.significance import ic_significance
from panelml.validation.spec import ValidationConfig

__all__ = [
    "FeatureSelectionError",
    "FeatureSelectionParams",
    "FeatureSelectionResult",
    "FeatureSelectionStage",
    "ImportanceSpec",
]


class FeatureSelectionError(UserError):
    """The feature_selection stage cannot run as configured."""


class ImportanceSpec(BaseModel):
    """One importance judgement: a family (or ``univariate``), a kind, a weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    kind: str
    weight: float = Field(1.0, ge=0.0)

    @property
    def label(self) -> str:
        return f"{self.family}_{self.kind}"


UNIVARIATE_KINDS = ("rank_ic", "partial_rank_ic", PAIRWISE_KIND)
DEFAULT_IMPORTANCES = (
    ImportanceSpec(family="lightgbm", kind="gain", weight=1.0),
    ImportanceSpec(family="lightgbm", kind=PERMUTATION, weight=1.0),
    ImportanceSpec(family=UNIVARIATE, kind="rank_ic", weight=0.5),
    ImportanceSpec(family=UNIVARIATE, kind="partial_rank_ic", weight=1.0),
    ImportanceSpec(family=UNIVARIATE, kind=PAIRWISE_KIND, weight=0.5),
)


class FeatureSelectionParams(StageParams):
    """Parameters of ``feature_selection`` (module docstring for the method)."""

    targets: list[str] | None = Field(
        None, description="targets to select for; default: those target_ranking selected"
    )
    importances: tuple[ImportanceSpec, ...] = Field(default=DEFAULT_IMPORTANCES, min_length=1)
    family_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-family model params (override the defaults)"
    )
    top_n: int = Field(30, ge=1, description="most features selected per target")
    min_hit_rate: float = Field(
        0.6, gt=0.0, le=1.0, description="share of folds whose consensus vote beats the shadows"
    )
    vote_exclude: tuple[str, ...] = Field(
        ("univariate_rank_ic", f"univariate_{PAIRWISE_KIND}"),
        description="importance labels (<family>_<kind>) that rank but do not vote on eligibility",
    )
    solo_vote: tuple[str, ...] = Field(
        (f"univariate_{PAIRWISE_KIND}",),
        description="importance labels that make a feature eligible on their own when they "
        "beat their best shadow in at least solo_min_hit_rate of the folds",
    )
    solo_min_hit_rate: float = Field(
        0.8, gt=0.0, le=1.0, description="share of folds a solo_vote kind must win"
    )
    pairwise_max_partners: int = Field(64, ge=1, description="partners per pairwise_rank_ic")
    shadow_quantile: float = Field(1.0, gt=0.0, le=1.0, description="1.0 = beat the best shadow")
    shadow_shuffle: str = Field("symbol", pattern="^(symbol|row)$")
    redundancy_threshold: float | None = Field(0.95, gt=0.0, le=1.0)
    redundancy_sample_rows: int = Field(20_000, ge=100)
    permutation_top_k: int = Field(20, ge=1)
    permutation_max_rows_per_timestamp: int | None = Field(200, ge=2)
    permutation_repeats: int = Field(1, ge=1)
    max_rows_per_timestamp: int | None = Field(None, ge=2, description="thin rows for fitting")
    timestamp_stride: int = Field(1, ge=1, description="keep every k-th timestamp for fitting")
    stability_warn: float = Field(StabilityThresholds().nogueira_warn, ge=-1.0, le=1.0)
    skill_alpha: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="select nothing unless the first family's out-of-fold rank IC is "
        "significant at this level (None: no gate)",
    )

    @field_validator("importances")
    @classmethod
    def _unique(cls, value: tuple[ImportanceSpec, ...]) -> tuple[ImportanceSpec, ...]:
        labels = [s.label for s in value]
        if len(set(labels)) != len(labels):
            raise ValueError(f"each (family, kind) may appear once; got {labels}")
        if sum(s.weight for s in value) <= 0:
            raise ValueError("at least one importance needs a positive weight")
        return value


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
class FeatureSelectionStage(Stage[FeatureSelectionParams]):
    """Multi-model, shadow-calibrated, stability-checked feature selection per target."""

    name: ClassVar[str] = "feature_selection"
    Params: ClassVar[type[StageParams]] = FeatureSelectionParams
    result_type: ClassVar[type[FeatureSelectionResult]] = FeatureSelectionResult
    config_sections: ClassVar[tuple[str, ...]] = ("validation",)
    version: ClassVar[str] = "1"

    def inputs(self) -> tuple[Input, ...]:
        """A ``TargetChoice`` (unless ``targets:`` names them) and optional ``Exclusions``.

        The target choice is declared optional so that a pipeline without one is
        refused by the config check with its fuller advice ("set
        feature_selection.targets, or enable target_ranking before it"); ``run``
        raises the same advice.
        """
        exclusions = Input(contracts.EXCLUSIONS, optional=True)
        if self.params.targets is not None:
            return (exclusions,)
        return (Input(contracts.TARGET_CHOICE, optional=True), exclusions)

    def run(self, ctx: RunContext) -> FeatureSelectionResult:
        panel = ctx.data
        if not isinstance(panel, Panel):
            raise FeatureSelectionError(
                f"feature_selection needs a panelml Panel as data, got {type(panel).__name__}"
            )
        targets = self._targets(ctx, panel)
        plans, univariate = self._plans(ctx)
        screen = ctx.input(contracts.EXCLUSIONS)
        validation = getattr(ctx.config, "validation", None) or ValidationConfig()
        runner = _Runner(ctx, panel, self.params, plans, univariate, validation)
        tables: dict[str, pl.DataFrame] = {}
        stability: dict[str, dict[str, Any]] = {}
        for target in targets:
            flags = contracts.exclusion_checks(screen, target)
            tables[target], stability[target] = runner.select(target, flags)
        result = FeatureSelectionResult(tables, {"targets": targets, "stability": stability})
        _summarise(ctx, result, self.params.stability_warn)
        return result

    def _targets(self, ctx: RunContext, panel: Panel) -> list[str]:
        if self.params.targets is not None:
            try:
                return resolve_targets(
                    self.params.targets, list(panel.target_names), key="feature_selection.targets"
                )
            except TargetPatternError as exc:
                raise FeatureSelectionError(str(exc)) from None
        ranking = ctx.input(contracts.TARGET_CHOICE)
        if ranking is None:
            raise FeatureSelectionError(
                "feature_selection has no targets: add target_ranking before it in "
                "pipeline.stages, or set feature_selection.targets: [...]"
            )
        chosen = contracts.selected_targets(ranking)
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
        for name, kinds in by_family.items():
            try:
                family = get_family(name)
            except UserError as exc:
                raise FeatureSelectionError(f"feature_selection.importances: {exc}") from None
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
            params = _family_params(family, self.params.family_params.get(name, {}), ctx)
            plans.append(FamilyPlan(name, family, tuple(kinds), params))
        return plans, univariate


def _family_params(
    family: type[ModelFamily], user: dict[str, Any], ctx: RunContext
) -> dict[str, Any]:
    """User params plus the runtime thread / reproducibility settings."""
    params = dict(user)
    params.update(
        runtime_params(family.name, params, n_jobs=ctx.n_jobs, deterministic=ctx.deterministic)
    )
    return params


class _Runner:
    """Per-target work, with shadows and prepared matrices reused across targets
    that share an allowed feature set."""

    def __init__(
        self,
        ctx: RunContext,
        panel: Panel,
        params: FeatureSelectionParams,
        plans: list[FamilyPlan],
        univariate: list[ImportanceSpec],
        validation: ValidationConfig,
    ) -> None:
        self.ctx, self.panel, self.params = ctx, panel, params
        self.plans, self.univariate, self.validation = plans, univariate, validation
        self._key: tuple[str, ...] | None = None
        self._X_aug: np.ndarray[Any, np.dtype[np.float32]] | None = None
        self._prepared: dict[str, PreparedData] = {}
        self.permutation = PermutationSettings(
            params.permutation_top_k,
            params.permutation_max_rows_per_timestamp,
            params.permutation_repeats,
        )

    def _augmented(self, allowed: tuple[str, ...]) -> np.ndarray[Any, np.dtype[np.float32]]:
        if self._key != allowed or self._X_aug is None:
            digest = hashlib.sha256("\x00".join(allowed).encode()).hexdigest()[:16]
            rng = self.ctx.rng("feature_selection", "shadows", digest)
            columns = self.panel.feature_indices(allowed)
            shadows = shadow_matrix(
                self.panel, columns, rng, "row" if self.params.shadow_shuffle == "row" else "symbol"
            )
            self._X_aug = np.ascontiguousarray(np.hstack([self.panel.X[:, columns], shadows]))
            self._key, self._prepared = allowed, {}
        return self._X_aug

    def _prepare(
        self, plan: FamilyPlan, X_aug: np.ndarray[Any, np.dtype[np.float32]]
    ) -> PreparedData:
        if plan.name not in self._prepared:
            self._prepared[plan.name] = plan.family.prepare(X_aug, plan.params)
        return self._prepared[plan.name]

    def select(
        self, target: str, flags: dict[str, list[str]]
    ) -> tuple[pl.DataFrame, dict[str, Any]]:
        panel, params, ctx = self.panel, self.params, self.ctx
        allowed = tuple(f for f in panel.feature_names if f not in flags)
        if not allowed:
            raise FeatureSelectionError(
                f"feature_selection: the leakage screen removed every feature for target "
                f"{target!r}; review leakage_screen/report.parquet or set "
                "leakage_screen.policy: report_only"
            )
        X_aug = self._augmented(allowed)
        y = panel.targets[target]
        task: Task = "binary" if panel.target_kinds.get(target) == "binary" else "regression"
        rows = target_rows(
            panel,
            target,
            max_rows_per_timestamp=params.max_rows_per_timestamp,
            timestamp_stride=params.timestamp_stride,
            seed=ctx.child_seed("feature_selection", target, "rows"),
        )
        min_names = self.validation.min_names
        raw: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
        weights: dict[str, float] = {}
        folds_any = None
        skill_of: str | None = None
        oof_all = oof = np.full(panel.n_rows, np.nan) if params.skill_alpha is not None else None
        for plan in self.plans:
            folds = self._folds(target, rows, plan.family.supports_early_stopping)
            folds_any = folds
            seeds = [
                ctx.child_seed("feature_selection", target, plan.name, "fit", f.index)
                for f in folds
            ]
            found = family_importances(
                plan, task, self._prepare(plan, X_aug), y, panel.timestamps, folds,
                len(allowed), self.permutation, seeds, min_names, oof,
            )  # fmt: skip
            skill_of = plan.name if oof is not None and skill_of is None else skill_of
            oof = None  # the first family's predictions decide the skill gate
            for kind, values in found.items():
                label = f"{plan.name}_{kind}"
                raw[label] = values
                weights[label] = _weight(params, plan.name, kind)
        block = None
        for spec in self.univariate:
            folds = folds_any or self._folds(target, rows, False)
            per_fold: list[np.ndarray[Any, np.dtype[np.float64]]]
            if spec.kind == "rank_ic":
                per_fold = [
                    univariate_importance(X_aug, y, panel.timestamps, f.train, min_names)
                    for f in folds
                ]
                raw[spec.label], weights[spec.label] = np.stack(per_fold), spec.weight
                continue
            if block is None:
                block = rank_block(X_aug, y, panel.timestamps, rows, min_names)
            if spec.kind == PAIRWISE_KIND:
                per_fold = [
                    pairwise_rank_importance(
                        block,
                        f.train,
                        panel.timestamp_index[block.rows],
                        len(allowed),
                        panel.horizons[target],
                        params.pairwise_max_partners,
                        test=f.test,
                    )
                    for f in folds
                ]
            else:
                per_fold = [partial_rank_importance(block, f.train) for f in folds]
            raw[spec.label] = np.stack(per_fold)
            weights[spec.label] = spec.weight
        cons = consensus(
            raw, weights, len(allowed), params.shadow_quantile, params.vote_exclude,
            params.solo_vote,
        )  # fmt: skip
        corr = None
        if params.redundancy_threshold is not None:
            corr = self._correlation(target, rows, X_aug[:, : len(allowed)])
        no_skill = None
        if skill_of is not None and oof_all is not None:
            no_skill = self._no_skill(target, rows, oof_all, skill_of)
        table, selections = self._table(target, allowed, flags, cons, corr, no_skill)
        record = stability_record(selections, allowed)
        return table, record

    def _no_skill(
        self, target: str, rows: Any, oof: np.ndarray[Any, np.dtype[np.float64]], family: str
    ) -> str | None:
        """Why nothing may be selected (no out-of-fold skill), or ``None``."""
        panel, alpha = self.panel, self.params.skill_alpha
        known = rows[np.isfinite(oof[rows]) & np.isfinite(panel.targets[target][rows])]
        series = ic_series(
            oof[known],
            panel.targets[target][known],
            panel.timestamps[known],
            min_names=self.validation.min_names,
        )
        horizon = math.ceil(panel.horizons[target] / self.params.timestamp_stride)
        test = ic_significance(
            series.values, horizon, scheme=self.validation.scheme, families=[family]
        )
        if alpha is None or (math.isfinite(test.p_value) and test.p_value <= alpha):
            return None
        return (
            f"no_skill: the {family} models show no out-of-fold skill for this target "
            f"(rank IC {test.mean:.3f}, p={test.p_value:.3g} > skill_alpha={alpha:g})"
        )

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

    def _correlation(
        self, target: str, rows: Any, X: np.ndarray[Any, np.dtype[np.float32]]
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        n = self.params.redundancy_sample_rows
        sample = rows
        if rows.size > n:
            rng = self.ctx.rng("feature_selection", target, "redundancy")
            sample = np.sort(rng.choice(rows, size=n, replace=False))
        return rank_correlation(X[sample])

    def _table(
        self,
        target: str,
        allowed: tuple[str, ...],
        flags: dict[str, list[str]],
        cons: Consensus,
        corr: Any,
        no_skill: str | None = None,
    ) -> tuple[pl.DataFrame, list[list[str]]]:
        params = self.params
        skill = no_skill is None  # without out-of-fold skill nothing is eligible
        eligible = cons.eligible(params.min_hit_rate, params.solo_min_hit_rate) & skill
        kept, reasons = choose(
            allowed, cons.score, eligible, params.top_n, corr, params.redundancy_threshold
        )
        selections: list[list[str]] = []
        counts = np.zeros(len(allowed))
        for f in range(cons.fold_score.shape[0]):
            fold_eligible = cons.fold_eligible(f, params.min_hit_rate) & skill
            fold_kept, _ = choose(
                allowed, cons.fold_score[f], fold_eligible, params.top_n, corr,
                params.redundancy_threshold,
            )  # fmt: skip
            counts[fold_kept] += 1
            selections.append([allowed[i] for i in fold_kept])
        n_folds = max(1, cons.fold_score.shape[0])
        order = sorted(range(len(allowed)), key=lambda i: (-cons.score[i], allowed[i]))
        rank = np.empty(len(allowed), dtype=np.int64)
        rank[order] = np.arange(1, len(allowed) + 1)
        kept_set = set(kept)
        records: list[dict[str, Any]] = []
        for i, name in enumerate(allowed):
            reason = None
            if i not in kept_set:
                reason = (
                    no_skill
                    or reasons.get(i)
                    or (
                        f"not_eligible: consensus beat the shadows in {int(cons.hits[i])}/"
                        f"{cons.n_trials} folds (hit rate {cons.hit_rate[i]:.2f} < "
                        f"{params.min_hit_rate:g})"
                    )
                )
            record: dict[str, Any] = {
                "feature": name,
                "consensus_score": float(cons.score[i]),
                "rank": int(rank[i]),
            }
            for label, values in cons.per_kind.items():
                record[f"imp_{label}"] = float(values[i])
            for label, values in cons.kind_hit_rate.items():
                record[f"hit_rate_{label}"] = float(values[i])
            record.update(
                selection_frequency=float(counts[i] / n_folds),
                eligible=bool(eligible[i]),
                selected=i in kept_set,
                reason=reason,
                hits=int(cons.hits[i]),
                hit_rate=float(cons.hit_rate[i]),
            )
            records.append(record)
        for name in sorted(flags):
            record = {"feature": name, "consensus_score": None, "rank": None}
            record.update({f"imp_{label}": None for label in cons.per_kind})
            record.update({f"hit_rate_{label}": None for label in cons.kind_hit_rate})
            record.update(
                selection_frequency=0.0,
                eligible=False,
                selected=False,
                reason="removed by leakage screen: " + ",".join(sorted(set(flags[name]))),
                hits=None,
                hit_rate=None,
            )
            records.append(record)
        schema: dict[str, Any] = {"feature": pl.String, "consensus_score": pl.Float64}
        schema["rank"] = pl.Int64
        schema.update({f"imp_{label}": pl.Float64 for label in cons.per_kind})
        schema.update({f"hit_rate_{label}": pl.Float64 for label in cons.kind_hit_rate})
        schema.update(
            selection_frequency=pl.Float64,
            eligible=pl.Boolean,
            selected=pl.Boolean,
            reason=pl.String,
            hits=pl.Int64,
            hit_rate=pl.Float64,
        )
        frame = pl.DataFrame(records, schema=schema).sort(["rank", "feature"], nulls_last=True)
        return frame, selections


def _weight(params: FeatureSelectionParams, family: str, kind: str) -> float:
    for spec in params.importances:
        if spec.family == family and spec.kind == kind:
            return spec.weight
    raise KeyError(f"{family}/{kind}")  # unreachable: plans come from the specs


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
