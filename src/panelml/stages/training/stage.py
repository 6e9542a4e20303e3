"""The ``training`` stage: trained models per target with honest out-of-sample metrics.

For every selected target and every model family in ``families`` it runs purged
cross-validation (``validation.scheme``: purged k-fold or walk-forward, with the
target's horizon and the run's embargo; never a shuffled split), keeps the
out-of-fold (OOF) predictions, scores them per fold and overall, adds a
rank-average ensemble of the families, fits a final model on every known row of
the target and saves it so that ``panelml predict`` can score new data.

Which targets (first that applies): ``targets`` (names or globs), the targets of
the ``feature_selection`` result, the ``selected`` targets of the
``target_ranking`` result; otherwise a :class:`TrainingError`. Which features:
the feature selection's selected features (rank order) when it covers the
target, else every feature minus the leakage screen's ``removed`` ones.

Early stopping (families that support it) uses a validation block that lies
strictly after every fitted row's label window plus the embargo, inside the
fold's training rows (:func:`panelml.validation.inner_validation_split`); the
test block is never used to stop. The final model's number of rounds is the
median of the folds' best iterations (see :mod:`panelml.stages.training._fit`
for why). Seeds: ``ctx.child_seed("training", target, family, fold)`` (and
``"final"`` for the final model; per-symbol models add the symbol before the
fold).

Tuning (``tuning``, optional extra ``optuna``): each outer fold's params are
chosen by an Optuna study on that fold's training rows only, the final model's
by one on all rows; studies and trials go to ``training/tuning/<target>/``
and the chosen params to ``meta.json`` (:mod:`panelml.stages.training._tuner`,
docs/tuning.md).

Scope ``pooled`` (default) fits one cross-sectional model per (target,
family). Scope ``per_symbol`` fits one model per symbol that has at least
``min_rows_per_symbol`` known rows, cross-validated with the same splitter on
that symbol's rows; other symbols are skipped and named (terminal, result meta
and ``meta.json``). OOF rows of all symbols form one table per target.

Result (``TrainingResult``; contract in docs/architecture.md): tables
``metrics`` (one row per target, family, fold; fold -1 = all OOF rows),
``oof_<target>`` (also exported as ``training/oof/<target>.parquet``) and
``importances``; ``export`` writes ``models/<target>/<family>/`` (layout:
:mod:`panelml.predict`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from panelml import contracts
from panelml.data.panel import Panel
from panelml.models.bundle import (
    MODELS_DIR,
    ModelBundle,
    bundle_device,
    safe_name,
)
from panelml.pipeline.context import RunContext, Seeds
from panelml.pipeline.errors import UserError
from panelml.pipeline.registry import register_stage
from panelml.pipeline.stage import Input, StageParams, StageResult
from panelml.stages.fitting import FamilySpec, PreparedCache, model_label, target_rows
from panelml.stages.panel_stage import PanelStage
from panelml.stages.training._bundles import BundleSpec, model_bundle
from panelml.stages.training._fit import (
    TargetFit,
    TrainingError,
    fit_unit,
    new_target_fit,
    plan_unit,
    unit_rows,
)
from panelml.stages.training._folds import path_table
from panelml.stages.training._metrics import (
    summary_row,
)
from panelml.stages.training._params import TrainingParams
from panelml.stages.training._result import (
    TrainingResult,
    importance_rows,
    importances_frame,
    metrics_frame,
    oof_table,
)
from panelml.stages.training._scoring import metric_rows
from panelml.stages.training._tasks import TrainingWork, fit_folds_then_finals, fit_pairs
from panelml.stages.training._tuner import StageTuner, stage_tuner, tuning_frame
from panelml.validation.spec import ValidationConfig
from panelml.validation.splitters import resolve_embargo

__all__ = ["TrainingStage"]

TARGETS_HINT = "set training.targets (names or globs)"


@register_stage
class TrainingStage(PanelStage[TrainingParams]):
    """Cross-validated training, OOF metrics, ensemble and saved final models."""

    name: ClassVar[str] = "training"
    Params: ClassVar[type[StageParams]] = TrainingParams
    result_type: ClassVar[type[StageResult]] = TrainingResult
    version: ClassVar[str] = "1"
    error = TrainingError

    def inputs(self) -> tuple[Input, ...]:
        """Optional exclusions and feature choice; a target choice unless
        ``training.targets`` names the targets (see the module docstring)."""
        optional = (
            Input(contracts.EXCLUSIONS, optional=True),
            Input(contracts.FEATURE_CHOICE, optional=True),
        )
        if self.params.targets is not None:
            return optional
        return (*optional, Input(contracts.TARGET_CHOICE, instead=TARGETS_HINT))

    # -- what to train --------------------------------------------------------------
    def skip(self, ctx: RunContext) -> str | None:
        try:
            targets, source = self.targets(ctx)
        except UserError:
            return None  # run() raises the clear error
        return None if targets else f"no targets to train: {source} selected none"

    def targets(self, ctx: RunContext) -> tuple[list[str], str]:
        """(targets to train, where they came from); see the module docstring."""
        panel = self.panel(ctx)
        if self.params.targets is not None:
            return self.resolve_targets(panel, self.params.targets), "training.targets"
        available = set(panel.target_names)
        covered = self.feature_choice_targets(ctx)
        if covered is not None:
            return [t for t in covered if t in available], "feature_selection"
        if ctx.input(contracts.TARGET_CHOICE) is None:  # run outside a checked pipeline
            raise TrainingError(
                "training has no targets: put target_ranking / feature_selection before "
                f"training in pipeline.stages, or {TARGETS_HINT}"
            )
        return [t for t in self.chosen_targets(ctx) if t in available], "target_ranking"

    def resolve_features(self, ctx: RunContext, target: str) -> tuple[list[str], str]:
        """(features for ``target`` in order, where they came from)."""
        covered = self.feature_choice_targets(ctx)
        if covered is not None and target in covered:
            return self.selected_features(ctx, target), "feature_selection"
        excluded = self.excluded_features(ctx, target)
        features = [f for f in self.panel(ctx).feature_names if f not in excluded]
        return features, "all features" + (" minus leakage_screen removals" if excluded else "")

    def demean(self, panel: Panel, target: str) -> bool:
        """Whether ``target``'s label is cross-sectionally demeaned (``target_transform``)."""
        if panel.target_kinds[target] == "binary" or self.params.target_transform == "none":
            return False
        return self.params.target_transform == "demean" or self.params.scope == "pooled"

    # -- run --------------------------------------------------------------------------
    def run(self, ctx: RunContext) -> TrainingResult:
        panel = self.panel(ctx)
        targets, source = self.targets(ctx)
        if not targets:
            raise TrainingError(f"training: no targets to train ({source} selected none)")
        families = self.family_specs(ctx, self.params.families, "training.families")
        validation = self.validation(ctx)
        cache = PreparedCache(panel)
        fraction = self.params.early_stopping_fraction
        tuner = stage_tuner(self.params.tuning, ctx, panel, validation, fraction)
        metric_records: list[dict[str, Any]] = []
        importance_records: list[dict[str, Any]] = []
        tables: dict[str, pl.DataFrame] = {}
        bundles: list[ModelBundle] = []
        meta: dict[str, Any] = {
            "targets": [],
            "families": [f.name for f in families],
            "scope": self.params.scope,
            "target_source": source,
            "validation": {
                "scheme": validation.scheme,
                "n_splits": validation.n_splits,
                "embargo": resolve_embargo(validation, panel.n_timestamps),
                "min_names": validation.min_names,
            },
            "columns": {"symbol": panel.symbol_column, "timestamp": panel.timestamp_column},
            "features": {},
            "folds": {},
            "skipped_symbols": {},
            "skipped_targets": {},
            "oof_tables": {},
            "models": {},
        }
        if validation.scheme == "cpcv":
            meta["validation"]["n_test_groups"] = validation.n_test_groups
            meta["path_tables"] = {}
        prefit: dict[str, TargetFit] = {}
        if tuner is None:  # a tuner keeps its studies and records here: then fit here
            todo = [(t, self.resolve_features(ctx, t)[0]) for t in targets]
            todo = [(t, f) for t, f in todo if f]
            prefit = self._fit_all(ctx, panel, todo, families, cache, validation)
        for target in targets:
            features, feature_source = self.resolve_features(ctx, target)
            if not features:
                reason = f"no features left ({feature_source})"
                meta["skipped_targets"][target] = reason
                ctx.reporter.warn(f"training: target {target!r} skipped: {reason}")
                continue
            fit = prefit.get(target) or self._fit_target(
                ctx.seeds(), panel, target, features, families, cache, validation, tuner
            )
            if fit.skipped:
                names = ", ".join(f"{s} ({r})" for s, r in sorted(fit.skipped.items())[:5])
                more = f" and {len(fit.skipped) - 5} more" if len(fit.skipped) > 5 else ""
                ctx.reporter.warn(
                    f"training: target {target!r}: {len(fit.skipped)} symbol(s) get no "
                    f"per-symbol model: {names}{more}"
                )
            if not fit.finals:
                reason = "no symbol could be trained (see skipped_symbols)"
                meta["skipped_targets"][target] = reason
                meta["skipped_symbols"][target] = fit.skipped
                ctx.reporter.warn(f"training: target {target!r} skipped: {reason}")
                continue
            rows = metric_rows(panel, target, fit, families, validation)
            metric_records.extend(rows)
            summaries = {r["family"]: r for r in rows if r["fold"] == -1}
            importance_records.extend(importance_rows(target, features, fit, families, cache))
            table = f"oof_{safe_name(target)}"
            tables[table] = oof_table(panel, target, fit, families)
            if fit.n_paths:
                tables[f"paths_{safe_name(target)}"] = path_table(panel, fit, families)
                meta["path_tables"][target] = f"paths_{safe_name(target)}"
            meta["targets"].append(target)
            meta["features"][target] = {"source": feature_source, "names": features}
            meta["folds"][target] = fit.folds
            meta["skipped_symbols"][target] = fit.skipped
            meta["oof_tables"][target] = table
            meta["models"][target] = {}
            for spec in families:
                bundle = model_bundle(
                    ctx,
                    panel,
                    BundleSpec(target, features, spec, self.params.scope, self.validation(ctx)),
                    fit,
                    summaries[spec.name],
                    demeaned=self.demean(panel, target),
                )
                bundles.append(bundle)
                meta["models"][target][spec.name] = (
                    f"{MODELS_DIR}/{safe_name(target)}/{safe_name(spec.name)}"
                )
                meta.setdefault("devices", {})[f"{target}/{spec.name}"] = bundle_device(bundle)
        tables["metrics"] = metrics_frame(metric_records)
        tables["importances"] = importances_frame(importance_records)
        if tuner is not None:
            tables["tuning"] = tuning_frame(tuner.records)
        result = TrainingResult(tables, meta, bundles)
        if tuner is not None:
            result.study_files = tuner.study_files()
        self._report(ctx, result)
        return result

    def _fit_target(
        self,
        ctx: Seeds,
        panel: Panel,
        target: str,
        features: list[str],
        families: list[FamilySpec],
        cache: PreparedCache,
        validation: ValidationConfig,
        tuner: StageTuner | None = None,
        *,
        stop: bool | None = None,
    ) -> TargetFit:
        """One target's fits; ``stop`` (default: any family stops early) decides the
        early-stopping block of the folds, so a call per family plans the same folds."""
        rows = target_rows(panel, target)
        if rows.size == 0:
            raise TrainingError(f"training: target {target!r} has no known values to train on")
        fit = new_target_fit(
            panel, families, model_label(panel, target, self.demean(panel, target))
        )
        stop = any(f.early_stopping for f in families) if stop is None else stop
        fraction = self.params.early_stopping_fraction
        if self.params.scope == "pooled":
            folds = plan_unit(
                panel,
                target,
                validation,
                rows,
                early_stopping=stop,
                early_stopping_fraction=fraction,
            )
            fit_unit(
                panel,
                target,
                rows,
                folds,
                families,
                cache,
                features,
                fit,
                unit="",
                seed=lambda family, fold: ctx.child_seed("training", target, family, fold),
                tuner=tuner,
            )
            return fit
        kept, fit.skipped = unit_rows(panel, rows, self.params.min_rows_per_symbol)
        for symbol, symbol_rows in kept.items():
            try:
                folds = plan_unit(
                    panel,
                    target,
                    validation,
                    symbol_rows,
                    early_stopping=stop,
                    early_stopping_fraction=fraction,
                )
            except TrainingError as exc:
                fit.skipped[symbol] = str(exc)
                continue

            def seed(family: str, fold: int | str, symbol: str = symbol) -> int:
                return ctx.child_seed("training", target, family, symbol, fold)

            fit_unit(
                panel,
                target,
                symbol_rows,
                folds,
                families,
                cache,
                features,
                fit,
                unit=symbol,
                seed=seed,
                tuner=tuner,
            )
        return fit

    def _fit_all(
        self,
        ctx: RunContext,
        panel: Panel,
        work: list[tuple[str, list[str]]],
        families: list[FamilySpec],
        cache: PreparedCache,
        validation: ValidationConfig,
    ) -> dict[str, TargetFit]:
        """Every target's untuned fits through ``ctx.executor`` (task layout: ``_tasks``):
        a task per fold, then per final model, under ``scope: pooled``; a task per
        (target, family) under ``per_symbol``. Tuned runs fit in :meth:`run` instead."""
        fraction = self.params.early_stopping_fraction
        shared = TrainingWork(
            self._fit_target, panel, families, validation, ctx.seeds(), self.demean, fraction, cache
        )
        if self.params.scope == "pooled":
            return fit_folds_then_finals(ctx.executor, shared, work)
        return fit_pairs(ctx.executor, shared, work)

    def _report(self, ctx: RunContext, result: TrainingResult) -> None:
        summary = result.summary()
        ctx.reporter.table(
            "training: out-of-fold summary",
            ["target", "family", "IC", "ICIR", "t", "R2 / AUC", "hit rate", "best iter"],
            [summary_row(row) for row in summary.iter_rows(named=True)],
            caption="rank IC per timestamp on out-of-fold rows; ensemble = rank average",
        )
