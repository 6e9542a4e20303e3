"""The ``target_ranking`` stage: which candidate targets are really predictable.

For every candidate target (all of the panel's targets, or the ``targets`` globs)
the stage fits each ranking family (default ``lightgbm`` and ``ridge``) on purged
K-fold splits (the target's own horizon, the ``validation:`` embargo) and scores
the out-of-fold (OOF) predictions. It answers three questions per target.

**How predictable?** Per family: the mean per-timestamp rank IC, its ICIR and
its t (the same test as the score's, below). The single score of a target is that of a *consensus*:

1. each family's OOF predictions are turned into cross-sectional percentile
   ranks per timestamp (so returns and probabilities share one scale);
2. the consensus prediction of a row is the mean of the families' ranks;
3. ``score`` = mean per-timestamp rank IC of the consensus (Qlib convention);
   ``t_stat`` = score / s.e., ``score_ci_low/high`` = score +- 1.96 s.e. and
   ``p_value`` (one-sided, H1: score > 0) come from
   :func:`panelml.validation.significance.ic_significance`, the project's one
   IC test (per-family t's too). In plain words: ``p_value`` is the chance that
   a target with no real skill scores this high or higher under the same
   folds, and ``q_value`` (below) is the smallest false discovery rate at which
   the target would pass. The s.e. accounts for overlapping labels (a
   bias-corrected uniform-kernel long-run variance with lag h - 1, against
   Student's t with Satterthwaite degrees of freedom) and for the correlation
   between K-fold scores (each fold's model learnt from the other folds'
   labels): under purged K-fold the variance is multiplied by 2 (derived for
   linear families, a bound for others; lightgbm alone uses a measured 1.5),
   and not at all under walk-forward. How this was
   validated on null targets (and the old test's failures) is in the README
   section "What p and q mean" and ``bench/results/calibration.json``.

Why a consensus rather than the best family: it is *one test per target, fixed
before looking at the data*, so picking the luckiest family cannot inflate
significance (no selection bias for the multiple-testing step); rank averaging
is robust to one family's scale or calibration; and a signal only one family
sees still counts, diluted, instead of being missed. Per-family columns
(``<family>_ic``, ``<family>_icir``, ``<family>_t``) show which family sees what.
``r2`` (regression) / ``auc`` (binary) are pooled over all OOF rows on the mean
of the families' raw predictions.

**Is it significant?** The consensus p-values of all non-degenerate targets get
Benjamini-Yekutieli q-values (``fdr_method: by``, valid under any dependence
between targets built from one panel; ``bh`` for Benjamini-Hochberg). A target
passes when ``q_value <= fdr`` and ``score > 0``; the best ``top_n`` passing
targets by score are ``selected``, the other passing ones ``below_top_n``, the
rest ``not_significant``. Degenerate targets (too few known values or
timestamps, constant, a binary target with a tiny minority class, folds that
cannot be made) are ``degenerate`` with the reason and get no rank.

**Leak evidence.** Magnitude is not evidence of leakage (lagged volatility
predicts forward volatility with rank IC 0.6-0.85, honestly), so a large score
or one feature's large share of the importance never changes a status. They
are listed in the ``warnings`` column, with every suspicion the leakage screen
raised for the target (features it flagged but kept) and its evidence numbers:
a consensus or per-family rank IC above ``max_rank_ic`` (``max_rank_ic_by_target``
per glob) or AUC above ``max_auc``; the top feature's share of the first tree
family's split gain above ``max_feature_share``. For every target with suspect
features the families are refitted without them: ``score_without_suspects``
shows how much of the skill depends on them (``suspect_features`` lists them).
A target is ``suspect_leak`` (never selected) only on evidence beyond
magnitude: some of its suspects are *timing* suspects (the screen's
``future_info``: their IC is tied to the label window), and its skill vanishes
without them - it passes the FDR test with them, and refitted without them it
does not (its score is <= 0, or its p-value put in place of its own gives
q > ``fdr``) or more than half of its score is gone
(:mod:`panelml.stages.ranking._suspects`).

``top_feature`` / ``top_feature_share`` are recorded for every target from the
first tree family with gain importance. When the ``leakage_screen`` stage ran,
each target uses only the features it did not remove for that target.

Speed: features are binned once per (family, feature set) and folds are fitted
as subsets with label swaps; linear families solve every target sharing
horizon, rows and features in one factorisation per fold. ``max_rows_per_timestamp``
(seeded random names per timestamp) and ``timestamp_stride`` (every k-th bar;
folds are planned on the panel's own bars, so purging is exact) thin large panels.
LightGBM fits use ``runtime.n_jobs`` threads (-1: all cores; the default of 1
avoids oversubscribing shared machines); with ``runtime.deterministic`` they
use ``deterministic`` / ``force_col_wise`` and a fixed thread count. Ranking
defaults per family are in :data:`RANKING_FAMILY_DEFAULTS` (``family_params``
override them).

Rank order (1 = best): ``selected``, ``below_top_n``, ``not_significant``,
``suspect_leak``; by score (descending) then name within each status.

Tables: ``ranking`` (one row per target, by rank then name), ``per_symbol``
(target, symbol, ic, n_obs: time-series rank IC of the consensus per symbol),
``ic_series`` (target, timestamp, ic: consensus rank IC per timestamp).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl

from panelml import contracts
from panelml.data.panel import Panel
from panelml.pipeline.context import RunContext
from panelml.pipeline.registry import register_stage
from panelml.pipeline.results import TableResult
from panelml.pipeline.stage import Input
from panelml.stages.fitting import FamilySpec, PreparedCache, model_label
from panelml.stages.panel_stage import PanelStage
from panelml.stages.ranking._families import FamilyJob, family_job, fit_families
from panelml.stages.ranking._fit import (
    FamilyOutput,
    PlanSettings,
    TargetPlan,
    plan_targets,
)
from panelml.stages.ranking._scores import TargetScore, score_target
from panelml.stages.ranking._settings import (
    RANKING_FAMILY_DEFAULTS,
    RankingError,
    TargetRankingParams,
)
from panelml.stages.ranking._suspects import leak_columns
from panelml.stages.ranking._tables import (
    assign_statuses,
    ic_series_frame,
    per_symbol_frame,
    ranking_frame,
)
from panelml.validation.multiple_testing import adjust_pvalues
from panelml.validation.spec import ValidationConfig

__all__ = ["TargetRankingResult", "TargetRankingStage"]


class TargetRankingResult(TableResult):
    """Tables ``ranking``, ``per_symbol`` and ``ic_series`` (see the module docstring)."""

    provides: ClassVar[tuple[str, ...]] = (contracts.TARGET_CHOICE, contracts.RANKING_SCORES)

    @property
    def ranking(self) -> pl.DataFrame:
        return self.tables["ranking"]

    def selected_targets(self) -> list[str]:
        """The ``selected`` targets, best first."""
        return contracts.selected_targets(self)

    def contract_problems(self) -> list[str]:
        """Ways the tables break the contracts in ``provides`` (:mod:`panelml.contracts`)."""
        return contracts.result_problems(self, self.provides)

    def status(self, target: str) -> str:
        """The status of ``target`` (KeyError when it was not a candidate)."""
        found = self.ranking.filter(pl.col("target") == target)["status"].to_list()
        if not found:
            raise KeyError(f"target {target!r} was not ranked")
        return str(found[0])

    def manifest_summary(self) -> dict[str, Any]:
        """For ``manifest.json``: the selected targets, and each target's status with
        its leak warnings and score without suspects, where it has warnings."""
        warned = self.ranking.filter(pl.col("warnings").fill_null("") != "")
        return {
            "selected": self.selected_targets(),
            "warnings": {
                str(row["target"]): {
                    "status": row["status"],
                    "warnings": row["warnings"],
                    "score": row["score"],
                    "score_without_suspects": row["score_without_suspects"],
                }
                for row in warned.iter_rows(named=True)
            },
        }


@register_stage
class TargetRankingStage(PanelStage[TargetRankingParams]):
    """Rank candidate targets by out-of-fold predictability (module docstring)."""

    name: ClassVar[str] = "target_ranking"
    Params = TargetRankingParams
    result_type = TargetRankingResult
    version: ClassVar[str] = "1"
    error = RankingError
    family_defaults = RANKING_FAMILY_DEFAULTS

    def inputs(self) -> tuple[Input, ...]:
        """Optional ``Exclusions``: the leakage screen's removals, honoured when present."""
        return (Input(contracts.EXCLUSIONS, optional=True),)

    def candidates(self, panel: Panel) -> list[str]:
        """The panel's targets that ``targets`` names (all when unset), in panel order."""
        names = list(panel.target_names)
        if self.params.targets is not None:
            matched = set(self.resolve_targets(panel, self.params.targets))
            names = [n for n in names if n in matched]
        if not names:
            raise RankingError(
                f"target_ranking: the panel loaded from {panel.source} has no targets; "
                "list target columns in data.targets"
            )
        return names

    def run(self, ctx: RunContext) -> TargetRankingResult:
        p = self.params
        panel = self.panel(ctx)
        validation = self.validation(ctx)
        targets = self.candidates(panel)
        families = {
            spec.name: spec
            for spec in self.family_specs(ctx, p.families, "target_ranking.families")
        }
        excluded = {t: self.excluded_features(ctx, t) for t in targets}
        settings = PlanSettings(
            min_rows=p.min_rows,
            min_timestamps=p.min_timestamps,
            min_minority_share=p.min_minority_share,
            max_rows_per_timestamp=p.max_rows_per_timestamp,
            timestamp_stride=p.timestamp_stride,
            early_stopping_fraction=p.early_stopping_fraction,
            seed=ctx.child_seed(self.name, "rows"),
        )
        plans = plan_targets(panel, targets, excluded, validation, settings)
        scorable = [plan for plan in plans if plan.scorable]
        cache = PreparedCache(panel)
        labels = {
            plan.name: model_label(panel, plan.name, p.demean and plan.kind == "regression")
            for plan in scorable
        }

        def jobs(plans: Sequence[TargetPlan]) -> list[FamilyJob]:
            return [
                family_job(
                    panel,
                    spec.cls,
                    spec.params,
                    plans,
                    validation,
                    cache,
                    early_stopping=p.early_stopping,
                    settings=settings,
                    labels=labels,
                    seed_for=lambda t, f=fam_name: ctx.child_seed(self.name, "fit", f, t),
                )
                for fam_name, spec in families.items()
            ]

        ctx.reporter.info(f"target_ranking: {', '.join(families)} on {len(scorable)} targets")
        outputs: dict[str, FamilyOutput] = dict(
            zip(families, fit_families(jobs(scorable), ctx.executor), strict=True)
        )
        scores: dict[str, TargetScore] = {}
        for plan in scorable:
            scores[plan.name] = _score(plan, outputs, labels, panel, p, validation)
        q_values = _q_values(scores, p.fdr_method)
        tops = _top_features(plans, outputs, families)

        def fit_and_score(extra: Mapping[str, set[str]]) -> dict[str, TargetScore | None]:
            """Scores of the targets in ``extra`` refitted without those features too."""
            sub = plan_targets(
                panel, list(extra), {t: excluded[t] | extra[t] for t in extra}, validation, settings
            )
            ok = [plan for plan in sub if plan.scorable]
            refits = dict(zip(families, fit_families(jobs(ok), ctx.executor), strict=True))
            out: dict[str, TargetScore | None] = {plan.name: None for plan in sub}
            for plan in ok:
                out[plan.name] = _score(plan, refits, labels, panel, p, validation)
            return out

        leaks = leak_columns(ctx.input(contracts.EXCLUSIONS), plans, scores, tops, p, fit_and_score)
        verdicts = assign_statuses(plans, scores, q_values, leaks, p)
        result = TargetRankingResult(
            {
                "ranking": ranking_frame(
                    plans, scores, q_values, tops, verdicts, list(families), leaks
                ),
                "per_symbol": per_symbol_frame(scores, panel.symbols),
                "ic_series": ic_series_frame(scores),
            },
            {
                "families": list(families),
                "fdr": p.fdr,
                "fdr_method": p.fdr_method,
                "top_n": p.top_n,
                "excluded_features": {k: sorted(v) for k, v in excluded.items() if v},
                "n_targets": len(plans),
                "n_selected": sum(v.status == "selected" for v in verdicts.values()),
                "leak_evidence": {
                    name: {
                        "suspect_features": list(c.suspect_features),
                        "score_without_suspects": c.score_without_suspects
                        if math.isfinite(c.score_without_suspects)
                        else None,
                        "warnings": list(c.warnings),
                        "suspect_leak": c.suspect_leak,
                    }
                    for name, c in leaks.items()
                    if c.warnings or c.suspect_features
                },
            },
        )
        _print(ctx, result, list(families))
        return result


def _score(
    plan: TargetPlan,
    outputs: Mapping[str, FamilyOutput],
    labels: Mapping[str, Any],
    panel: Panel,
    p: TargetRankingParams,
    validation: ValidationConfig,
) -> TargetScore:
    """The score of one target from its families' OOF predictions (first fit and refits)."""
    return score_target(
        predictions={f: outputs[f].oof[plan.name][plan.rows] for f in outputs},
        y=labels[plan.name][plan.rows],
        timestamps=panel.timestamps[plan.rows],
        symbol_codes=panel.symbol_codes[plan.rows],
        horizon=math.ceil(plan.horizon / p.timestamp_stride),
        binary=plan.kind == "binary",
        min_names=validation.min_names,
        min_symbol_obs=p.min_symbol_obs,
        scheme=validation.scheme,
    )


def _q_values(scores: Mapping[str, TargetScore], method: Literal["by", "bh"]) -> dict[str, float]:
    """FDR-adjusted p-values over every scored target; an undefined p counts as 1."""
    names = sorted(scores)
    p = np.array([scores[n].p_value for n in names], dtype=np.float64)
    p = np.where(np.isnan(p), 1.0, p)
    q = adjust_pvalues(p, method) if names else np.zeros(0)
    return {n: float(v) for n, v in zip(names, q, strict=True)}


def _top_features(
    plans: list[Any], outputs: Mapping[str, FamilyOutput], families: Mapping[str, FamilySpec]
) -> dict[str, tuple[str | None, float]]:
    """(top feature, its gain share) per target from the first family with gain."""
    out: dict[str, tuple[str | None, float]] = {}
    for plan in plans:
        out[plan.name] = (None, math.nan)
        for fam in families:
            share = outputs[fam].gain_share.get(plan.name) if plan.scorable else None
            if share is not None:
                best = int(np.argmax(share))
                out[plan.name] = (plan.features[best], float(share[best]))
                break
    return out


def _print(ctx: RunContext, result: TargetRankingResult, families: list[str]) -> None:
    frame = result.ranking
    rows = []
    for row in frame.iter_rows(named=True):
        ci = (
            f"[{row['score_ci_low']:.3f}, {row['score_ci_high']:.3f}]"
            if row["score_ci_low"] is not None and math.isfinite(row["score_ci_low"])
            else ""
        )
        rows.append(
            [
                row["target"],
                row["status"],
                _num(row["score"]),
                ci,
                _num(row["q_value"]),
                *(_num(row[f"{f}_ic"]) for f in families),
                row["reason"],
            ]
        )
    ctx.reporter.table(
        "target ranking",
        ["target", "status", "score", "95% CI", "q", *(f"{f} IC" for f in families), "reason"],
        rows,
        caption=f"{result.meta['n_selected']} selected of {result.meta['n_targets']} targets",
    )
    for row in frame.iter_rows(named=True):
        if row["warnings"]:
            ctx.reporter.warn(
                f"target_ranking: {row['target']} ({row['status']}): {row['warnings']}"
            )


def _num(value: Any) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.4f}"
