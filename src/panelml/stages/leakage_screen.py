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
  in :mod:`panelml.stages._leak_timing`). ``future_info.model: ratio`` restores
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

import fnmatch
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import Field

from panelml import contracts
from panelml.data.panel import Panel
from panelml.data.shift import row_grid, shift_values
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import UserError
from panelml.pipeline.registry import register_stage
from panelml.pipeline.results import TableResult
from panelml.pipeline.stage import Stage, StageParams
from panelml.stages._leak_evidence import (
    CHECKS,
    REPORT_SCHEMA,
    Finding,
    Policy,
    decide,
    default_everywhere,
)
from panelml.stages._leak_params import FutureInfo, NameRules, NearCopy, ShiftedCopy, TooGood
from panelml.stages._leak_summary import print_summary, screen_meta
from panelml.stages._leak_timing import (
    WindowICs,
    autocorrelations,
    centred_ranks,
    rank_ic_fn,
    shifted_copy,
    shifted_copy_candidates,
    timing_evidence,
)
from panelml.validation.timestamps import subsample_rows

__all__ = [
    "CHECKS",
    "LeakageScreenParams",
    "LeakageScreenResult",
    "LeakageScreenStage",
    "screen_panel",
]

CheckName = Literal[
    "name_rule", "near_copy", "shifted_copy", "corroborated", "future_info", "too_good"
]
F64 = npt.NDArray[np.float64]


class LeakageScreenParams(StageParams):
    """Parameters of ``leakage_screen`` (see the module docstring for the checks)."""

    policy: Policy = Field(
        "balanced", description="balanced: remove on proof; strict: on any finding; report_only"
    )
    trusted_features: list[str] = Field(
        default_factory=list, description="globs of point-in-time features heuristics never remove"
    )
    name_rules: NameRules = Field(default_factory=NameRules)
    near_copy: NearCopy = Field(default_factory=NearCopy)
    shifted_copy: ShiftedCopy = Field(default_factory=ShiftedCopy)
    future_info: FutureInfo = Field(default_factory=FutureInfo)
    too_good: TooGood = Field(default_factory=TooGood)
    max_rows_per_timestamp: int | None = Field(
        None, ge=2, description="cap names per timestamp (seeded subsample) on large panels"
    )
    targets: list[str] | None = Field(None, description="targets to screen (default: all)")
    exclude_everywhere: tuple[CheckName, ...] | None = Field(
        None, description="checks whose removal extends to every target (default: by policy)"
    )

    def everywhere(self) -> tuple[str, ...]:
        if self.exclude_everywhere is not None:
            return tuple(self.exclude_everywhere)
        return default_everywhere(self.policy)


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


def _name_flags(
    features: Sequence[str], rules: NameRules, patterns: Sequence[str]
) -> dict[str, bool]:
    prefixes = tuple(p.lower() for p in rules.prefixes)
    out: dict[str, bool] = {}
    for name in features:
        lower = name.lower()
        by_prefix = any(lower.startswith(p) for p in prefixes)
        by_pattern = rules.use_target_patterns and any(
            fnmatch.fnmatchcase(name, p) for p in patterns
        )
        out[name] = by_prefix or by_pattern
    return out


def screen_panel(
    panel: Panel,
    params: LeakageScreenParams,
    *,
    target_patterns: Sequence[str] = (),
    min_names: int = 5,
    seed: int = 0,
) -> pl.DataFrame:
    """The leakage report of ``panel`` (no side effects); see the module docstring."""
    targets = list(params.targets) if params.targets is not None else list(panel.target_names)
    for target in targets:
        panel.target(target)  # a clear DataError for unknown names
    findings: list[Finding] = []
    names = list(panel.feature_names)
    if params.name_rules.enabled:
        flagged = _name_flags(names, params.name_rules, target_patterns)
        why = "the name looks like a label (a target glob or a label-like prefix)"
        for target in targets:
            findings.extend(
                Finding(f, target, "name_rule", 1.0, 1.0, why) for f in names if flagged[f]
            )
    checks = (params.near_copy, params.shifted_copy, params.future_info, params.too_good)
    if any(c.enabled for c in checks) and names:
        take: Any = slice(None)
        if params.max_rows_per_timestamp is not None:
            take = subsample_rows(
                panel.timestamps, max_rows_per_timestamp=params.max_rows_per_timestamp, seed=seed
            )
        findings.extend(_ic_findings(panel, targets, params, take, min_names))
    rows = decide(
        findings,
        targets,
        policy=params.policy,
        everywhere=params.everywhere(),
        trusted=params.trusted_features,
    )
    frame = pl.DataFrame(rows, schema=REPORT_SCHEMA)
    return frame.sort(["target", "feature", "check"])


class _Screen:
    """Per-panel caches of the IC checks (feature columns, ranks, autocorrelations)."""

    def __init__(self, panel: Panel, take: Any, min_names: int) -> None:
        self.panel = panel
        self.grid = row_grid(panel)
        self.ic = rank_ic_fn(panel.timestamps, min_names, take)
        self.take = take
        self.min_names = min_names
        self._x: dict[int, F64] = {}
        self._acf: dict[int, F64] = {}
        self._ranked: F64 | None = None

    def x(self, j: int) -> F64:
        if j not in self._x:
            self._x[j] = np.asarray(self.panel.X[:, j], dtype=np.float64)
        return self._x[j]

    def acf(self, j: int, max_lag: int) -> F64:
        have = self._acf.get(j)
        if have is None or have.size <= max_lag:
            x = self.x(j)
            self._acf[j] = autocorrelations(self.panel, x, max_lag, self.grid, self.min_names)
        return self._acf[j][: max_lag + 1]

    def ranked(self) -> F64:
        """Centred cross-sectional ranks of every feature (rows x features)."""
        if self._ranked is None:
            cols = [
                centred_ranks(self.x(j), self.panel.timestamps)
                for j in range(self.panel.n_features)
            ]
            ranked = np.column_stack(cols)
            if not isinstance(self.take, slice):
                keep = np.zeros(self.panel.n_rows, dtype=bool)
                keep[self.take] = True
                ranked[~keep] = 0.0
            self._ranked = ranked
        return self._ranked


def _ic_findings(
    panel: Panel, targets: Sequence[str], params: LeakageScreenParams, take: Any, min_names: int
) -> list[Finding]:
    screen = _Screen(panel, take, min_names)
    out: list[Finding] = []
    for target in targets:
        out.extend(_target_findings(screen, target, params))
    return out


def _target_findings(screen: _Screen, target: str, params: LeakageScreenParams) -> list[Finding]:
    panel = screen.panel
    y = np.asarray(panel.targets[target], dtype=np.float64)
    h = int(panel.horizons[target])
    fi, sc = params.future_info, params.shifted_copy
    y_before = shift_values(panel, y, -h, screen.grid)
    y_after = shift_values(panel, y, h, screen.grid) if fi.enabled else y
    candidates: dict[int, list[int]] = {}
    if sc.enabled and h > 1:
        cutoff = max(sc.threshold - sc.prefilter_margin, 0.0)
        candidates = shifted_copy_candidates(panel, screen.ranked(), y, h, screen.grid, cutoff)
    too_good = params.too_good.threshold(target, panel.target_kinds.get(target))
    out: list[Finding] = []
    for j, feature in enumerate(panel.feature_names):
        x = screen.x(j)
        now = screen.ic(x, y)
        ic_now = abs(float(now.values.mean())) if len(now) else 0.0
        nc = params.near_copy
        close = (nc.enabled and ic_now >= nc.threshold) or j in candidates
        known = _abs_mean(screen.ic(x, y_before)) if close else 0.0  # closed window (t-h, t]
        if nc.enabled and ic_now >= nc.threshold and ic_now > known + nc.known_margin:
            why = f"rank IC {ic_now:.3f} with the target, {known:.3f} with the closed window"
            out.append(Finding(feature, target, "near_copy", ic_now, nc.threshold, why))
        if j in candidates:
            lag, value = shifted_copy(screen.ic, panel, x, y, candidates[j], screen.grid)
            if value >= sc.threshold and value > known + sc.known_margin:
                why = (
                    f"rank IC {value:.3f} with the target shifted to y[t{lag:+d}] "
                    f"(|lag| < h={h}: not known at t), {known:.3f} with the closed "
                    f"window y[t-{h}]"
                )
                out.append(Finding(feature, target, "shifted_copy", value, sc.threshold, why))
        if params.too_good.enabled and ic_now > too_good:
            why = f"rank IC {ic_now:.3f} above {too_good}"
            out.append(Finding(feature, target, "too_good", ic_now, too_good, why))
        if fi.enabled and ic_now >= fi.min_abs_ic:
            windows = WindowICs(now, screen.ic(x, y_before), screen.ic(x, y_after))
            found = _future_info(screen, j, windows, h, params.future_info)
            if found is not None:
                value, threshold, why = found
                out.append(Finding(feature, target, "future_info", value, threshold, why))
    return out


def _abs_mean(series: Any) -> float:
    return abs(float(series.values.mean())) if len(series) else 0.0


def _future_info(
    screen: _Screen, j: int, windows: WindowICs, h: int, fi: FutureInfo
) -> tuple[float, float, str] | None:
    """(value, threshold, evidence) when the timing check fires, else ``None``."""
    if fi.model == "ratio":
        now = abs(float(windows.now.values.mean()))
        before = abs(float(windows.before.values.mean())) if len(windows.before) else 0.0
        after = abs(float(windows.after.values.mean())) if len(windows.after) else 0.0
        ratio = now / max(before, after, fi.floor)
        if ratio <= fi.ratio:
            return None
        why = f"IC {now:.3f} now vs {before:.3f} before / {after:.3f} after the label window"
        return ratio, fi.ratio, why
    evidence = timing_evidence(windows, screen.acf(j, 2 * h - 1), h)
    share = evidence.share
    if not math.isfinite(share) or evidence.z > -fi.z or share >= 1.0 - fi.min_shortfall:
        return None
    return share, 1.0 - fi.min_shortfall, evidence.describe()


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
        )
        result = LeakageScreenResult({"report": report}, screen_meta(report, panel, self.params))
        print_summary(ctx, result)
        return result
