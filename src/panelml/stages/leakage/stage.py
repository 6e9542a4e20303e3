"""The ``leakage_screen`` stage: which features must a model never see for a target?

Before any model is trained every (feature, target) pair is checked. A check
that fires is a *finding*, written to ``leakage_screen/report.parquet`` (feature,
target, check, grade, value, threshold, action, evidence). The user's files are
never edited. Findings come in two grades, because magnitude is not evidence of
leakage: lagged volatility predicts forward volatility with rank IC 0.6-0.85,
honestly, and a strong genuine predictor and a leak of the next bars can have
the same joint distribution with the target.

**Proof** (removes the feature for every target under the default policy):

* ``name_rule``: the name matches a ``data.targets`` glob or a label-like prefix
  (case-insensitive; ``fwd_``, ``y_``, ``future_``, ``next_``, ``label``,
  ``target``);
* ``near_copy``: |rank IC| with the target >= ``near_copy.threshold`` (0.95);
* ``shifted_copy``: |rank IC| >= ``shifted_copy.threshold`` (0.95) with the
  target shifted by any lag 0 < l < h, backwards (``y[t-l]``: a lagged label
  whose window still reaches past t, not yet known at t) or forwards.
  Both copy checks also require the copy to beat the |IC| with the closed
  window ``y[t-h]`` - a label known at t - by ``known_margin`` (0.02): a
  trailing 20-bar volatility shares 19 of 20 bars with ``fwd_vol_20[t-19]``
  but is exactly ``fwd_vol_20[t-20]``, a point-in-time feature;
* ``corroborated``: two independent heuristics agree on the same pair - the
  feature is too good *and* its IC is tied to the label window.

**Suspicion** (one heuristic; by default it warns and removes nothing):

* ``too_good``: |rank IC| above ``too_good.regression_threshold`` /
  ``binary_threshold`` (0.3; per target glob in ``too_good.by_target``);
* ``future_info``: the feature's IC with the windows just before and after the
  label's own falls short of what the feature's *own persistence* implies for
  a genuine predictor (a calibrated test: model, standard error and thresholds
  in :mod:`panelml.stages.leakage._timing`). ``future_info.model: ratio`` restores
  the former fixed-ratio rule (|ic_now| > 3 x max(|ic_before|, |ic_after|)).

The target ranking adds its own suspicions (a target score above a limit, one
feature's dominant share of the importance) as warnings, never as a status.

**Policy** (``policy``): ``balanced`` (default) removes on proof only;
``strict`` removes on any finding, as panelml did before graded evidence
(timing findings then also extend to every target); ``report_only`` removes
nothing. ``trusted_features`` (globs) are features the user vouches for as
point-in-time: heuristics never remove them (they are still reported), only a
name rule or a (shifted) near-copy does. ``exclude_everywhere`` overrides which
checks extend a removal to every screened target (rows ``"<check> (via
<target>)"``, with the target the feature was caught on).

**Known ambiguity.** A strong, non-persistent genuine predictor of the next bar
cannot be told apart from a leak of that bar: both know nothing about the
windows around the label's, and the genuine model predicts exactly that for a
feature without persistence. Such a feature is at most a ``too_good``
suspicion; the report shows the numbers and the ranking shows the target's
score without it, so a human can judge.

All IC numbers are the mean over timestamps of the cross-sectional Spearman
rank IC (Qlib convention, :func:`panelml.validation.ic_series`) with the
``validation.min_names`` rule. For a binary target Spearman with a 0/1 label is
the point-biserial correlation of the ranks, ``rho ~ sqrt(3 p (1-p)) (2 AUC -
1)``: at balanced labels a rank IC of 0.3 is an AUC of about 0.67. Large
panels: ``max_rows_per_timestamp`` caps the names per timestamp (a seeded
random subset) before any IC; shifted targets are still read from the full
panel.
"""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from panelml import contracts
from panelml.data.panel import Panel
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import UserError
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.registry import register_stage
from panelml.pipeline.results import TableResult
from panelml.pipeline.stage import Stage, StageParams
from panelml.stages.leakage._evidence import (
    CHECKS,
)
from panelml.stages.leakage._params import (
    LeakageScreenParams,
)
from panelml.stages.leakage._screen import screen_panel
from panelml.stages.leakage._summary import print_summary, screen_meta

__all__ = [
    "CHECKS",
    "LeakageScreenParams",
    "LeakageScreenResult",
    "LeakageScreenStage",
    "screen_panel",
]


class LeakageScreenResult(TableResult):
    """Table ``report`` (one row per finding) and meta (policy, per-target lists)."""

    provides: ClassVar[tuple[str, ...]] = (contracts.EXCLUSIONS,)

    @property
    def report(self) -> pl.DataFrame:
        return self.tables["report"]

    def excluded_features(self, target: str) -> set[str]:
        """Features removed for ``target`` (empty when the screen only warned)."""
        return contracts.excluded_features(self, target)

    def contract_problems(self) -> list[str]:
        """Ways the tables break the contracts in ``provides`` (:mod:`panelml.contracts`)."""
        return contracts.result_problems(self, self.provides)

    def suspect_features(self, target: str) -> set[str]:
        """Features flagged but kept for ``target`` (warned)."""
        frame = self.report
        hit = frame.filter((pl.col("target") == target) & (pl.col("action") == "warned"))
        return set(hit["feature"].to_list())

    def timing_suspects(self, target: str) -> set[str]:
        """Kept features whose IC with ``target`` is tied to its label window."""
        frame = self.report.filter(
            (pl.col("target") == target)
            & (pl.col("action") == "warned")
            & (pl.col("check") == "future_info")
        )
        return set(frame["feature"].to_list())

    def manifest_summary(self) -> dict[str, Any]:
        """What ``manifest.json`` should record: the policy and, per target, the
        features removed and the features only warned about, with their checks."""
        meta = self.meta
        return {
            "policy": meta.get("policy"),
            "n_removed_pairs": meta.get("n_removed_pairs"),
            "n_warned_pairs": (meta.get("n_flagged_pairs") or 0)
            - (meta.get("n_removed_pairs") or 0),
            "targets": {
                t: {"removed": info["removed"], "warned": info["warned"]}
                for t, info in (meta.get("targets") or {}).items()
                if info["removed"] or info["warned"]
            },
        }

    def flags(self, target: str) -> dict[str, list[str]]:
        """feature -> the checks that flagged it for ``target`` (removed or warned)."""
        out: dict[str, list[str]] = {}
        for row in self.report.filter(pl.col("target") == target).iter_rows(named=True):
            out.setdefault(row["feature"], []).append(row["check"])
        return out


@register_stage
class LeakageScreenStage(Stage[LeakageScreenParams]):
    """Grade leak evidence per (feature, target) and remove what the policy says."""

    name: ClassVar[str] = "leakage_screen"
    Params: ClassVar[type[StageParams]] = LeakageScreenParams
    result_type: ClassVar[type[LeakageScreenResult]] = LeakageScreenResult
    config_sections: ClassVar[tuple[str, ...]] = ("data", "validation")
    version: ClassVar[str] = "2"

    def run(self, ctx: RunContext) -> LeakageScreenResult:
        panel = ctx.data
        if not isinstance(panel, Panel):
            raise UserError(
                "leakage_screen needs a panelml Panel as the run's data, "
                f"got {type(panel).__name__}"
            )
        cfg = ctx.config
        patterns = list(getattr(getattr(cfg, "data", None), "targets", None) or [])
        validation = getattr(cfg, "validation", None)
        min_names = int(getattr(validation, "min_names", 5))
        report = screen_panel(
            panel,
            self.params,
            target_patterns=patterns,
            min_names=min_names,
            seed=ctx.child_seed(self.name, "rows"),
            # In this process whatever the run's executor (with its progress
            # reporter): the work is ranking every feature once (each worker
            # would redo it), then a few matrix products per target; at 200k
            # rows x 100 features it took 4.7 s here, 7.4 s through two workers.
            executor=SerialExecutor(reporter=ctx.executor.reporter),
        )
        result = LeakageScreenResult({"report": report}, screen_meta(report, panel, self.params))
        print_summary(ctx, result)
        return result
