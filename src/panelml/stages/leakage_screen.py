"""The ``leakage_screen`` stage: which features must a model never see for a target?

Before any model is trained, every (feature, target) pair is checked with four
independent, individually switchable checks. A flagged pair is written to
``leakage_screen/report.parquet`` (feature, target, check, value, threshold,
action) and, with ``action: remove`` (the default), later stages drop the
feature for that target through :meth:`LeakageScreenResult.excluded_features`.
The user's files are never edited.

All IC numbers are the mean over timestamps of the cross-sectional Spearman
rank IC (Qlib SigAnaRecord convention, :func:`panelml.validation.ic_series`),
with the ``validation.min_names`` rule for defined timestamps. For a binary
target the same rank IC is used: Spearman with a 0/1 label is the
point-biserial correlation of the feature's ranks, ``rho ~ sqrt(3 p (1-p)) (2 AUC
- 1)``, so at balanced labels a rank IC of 0.3 is an AUC of about 0.67.

Checks:

1. ``name_rule``: the feature's name matches one of the config's target
   patterns (``data.targets`` globs, for example ``fwd_*``) or starts with one of
   the configured prefixes (case-insensitive; defaults ``fwd_``, ``y_``,
   ``future_``, ``next_``, ``label``, ``target``). Such a name is flagged for
   every target. value = 1.0, threshold = 1.0.
2. ``near_copy``: ``|ic_now| > near_copy.threshold`` (default 0.95), ic_now the
   mean per-timestamp rank IC with the target. The mean per-timestamp IC (not a
   pooled correlation) is used because it ignores level shifts over time that
   pooled statistics would count as agreement or disagreement.
3. ``future_info``: for a target with horizon h (window (t, t+h]) compare
   ``ic_now`` with the IC against the same symbol's target shifted back by h
   (``ic_past``: window (t-h, t], known at t) and forward by h (``ic_next``:
   window (t+h, t+2h]). Flag when ``|ic_now| >= min_abs_ic`` (0.1) and
   ``|ic_now| > ratio * max(|ic_past|, |ic_next|, floor)`` (3, 0.02).
   Assumption: a legitimate predictor's power comes from persistent state, so
   it does not collapse exactly at the label window's edges - it explains the
   next window nearly as well, and it is correlated with the window just
   before t. A feature computed from the window itself is tied to (t, t+h] only.
   Limits: a genuine but non-persistent predictor with a large IC (>= 0.1, which
   is rare and suspicious in itself on a cross-section) is flagged too; a leak
   that also carries persistent information, or one weaker than ``min_abs_ic``,
   passes. value = ``|ic_now| / max(...)``, threshold = ``ratio``.
4. ``too_good``: ``|ic_now|`` above ``too_good.regression_threshold`` (0.3) or
   ``too_good.binary_threshold`` (0.3, on the rank-IC scale above) for the
   target's kind: no single honest feature predicts a cross-section that well.

Leaks are unusable everywhere: ``name_rule``, ``near_copy`` and ``future_info``
prove that a feature is built from data after t (a label's name, a copy of a
label, information tied to a label window), so such a feature must not be used
for *any* target, not only the one it was caught on. For every check listed in
``exclude_everywhere`` (default those three) a feature flagged for some target
is also removed for every other screened target: the report gets one row per
such (feature, other target) with ``check`` = ``"<check> (via <target>)"`` (the
check and the target it was caught on; the first in (check, target) order when
several), ``value``/``threshold`` copied from that catch and the same
``action``; :meth:`LeakageScreenResult.excluded_features` includes them.
``too_good`` stays per target (a strong honest predictor of one target is no
evidence against its use for another). Set ``exclude_everywhere: []`` for purely
per-target screening.

Large panels: ``max_rows_per_timestamp`` caps the names per timestamp (a seeded
random subset, :func:`panelml.validation.subsample_rows`) before any IC is
computed; the shifted targets are still read from the full panel.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from panelml.data.panel import Panel
from panelml.data.shift import row_grid, shift_values
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import UserError
from panelml.pipeline.registry import register_stage
from panelml.pipeline.results import TableResult
from panelml.pipeline.stage import Stage, StageParams
from panelml.validation.metrics import ic_series
from panelml.validation.timestamps import subsample_rows

__all__ = [
    "CHECKS",
    "LeakageScreenParams",
    "LeakageScreenResult",
    "LeakageScreenStage",
    "screen_panel",
]

CHECKS = ("name_rule", "near_copy", "future_info", "too_good")
CheckName = Literal["name_rule", "near_copy", "future_info", "too_good"]
REPORT_SCHEMA: dict[str, Any] = {
    "feature": pl.String,
    "target": pl.String,
    "check": pl.String,
    "value": pl.Float64,
    "threshold": pl.Float64,
    "action": pl.String,
}


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


class NameRules(_Check):
    """Flag features whose names look like labels."""

    prefixes: tuple[str, ...] = ("fwd_", "y_", "future_", "next_", "label", "target")
    use_target_patterns: bool = Field(True, description="also match the data.targets globs")


class NearCopy(_Check):
    """Flag features almost equal (in rank) to the target."""

    threshold: float = Field(0.95, gt=0.0, le=1.0)


class FutureInfo(_Check):
    """Flag features tied to the label window only (module docstring)."""

    min_abs_ic: float = Field(0.1, ge=0.0, le=1.0)
    ratio: float = Field(3.0, gt=1.0)
    floor: float = Field(0.02, gt=0.0, le=1.0)


class TooGood(_Check):
    """Flag single features with an implausibly high rank IC."""

    regression_threshold: float = Field(0.3, gt=0.0, le=1.0)
    binary_threshold: float = Field(0.3, gt=0.0, le=1.0)
    by_target: dict[str, float] = Field(
        default_factory=dict,
        description="glob -> threshold for targets that honest features predict very well "
        "(e.g. forward volatility); the first matching glob wins",
    )

    def threshold(self, target: str, kind: str | None) -> float:
        """The threshold for ``target``: a matching ``by_target`` glob, else by kind."""
        for pattern, value in self.by_target.items():
            if fnmatch.fnmatchcase(target, pattern):
                return value
        return self.binary_threshold if kind == "binary" else self.regression_threshold


class LeakageScreenParams(StageParams):
    """Parameters of ``leakage_screen`` (see the module docstring for the checks)."""

    name_rules: NameRules = Field(default_factory=NameRules)
    near_copy: NearCopy = Field(default_factory=NearCopy)
    future_info: FutureInfo = Field(default_factory=FutureInfo)
    too_good: TooGood = Field(default_factory=TooGood)
    action: Literal["remove", "warn"] = Field(
        "remove", description="remove flagged features for the target, or only warn"
    )
    max_rows_per_timestamp: int | None = Field(
        None, ge=2, description="cap names per timestamp (seeded subsample) on large panels"
    )
    targets: list[str] | None = Field(None, description="targets to screen (default: all)")
    exclude_everywhere: tuple[CheckName, ...] = Field(
        ("name_rule", "near_copy", "future_info"),
        description="checks whose flag removes the feature for every target (module docstring)",
    )


class LeakageScreenResult(TableResult):
    """Table ``report`` (one row per flagged (feature, target, check)) and meta counts."""

    @property
    def report(self) -> pl.DataFrame:
        return self.tables["report"]

    def excluded_features(self, target: str) -> set[str]:
        """Features removed for ``target`` (empty when the screen only warned)."""
        frame = self.report
        hit = frame.filter((pl.col("target") == target) & (pl.col("action") == "removed"))
        return set(hit["feature"].to_list())

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


def _mean_ic(
    x: npt.NDArray[Any], y: npt.NDArray[Any], ts: npt.NDArray[Any], min_names: int
) -> float:
    series = ic_series(x, y, ts, method="rank", min_names=min_names)
    return float(series.values.mean()) if len(series) else 0.0


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
    action = "removed" if params.action == "remove" else "warned"
    rows: list[dict[str, Any]] = []
    names = list(panel.feature_names)
    if params.name_rules.enabled:
        flagged = _name_flags(names, params.name_rules, target_patterns)
        for target in targets:
            rows.extend(_row(f, target, "name_rule", 1.0, 1.0, action) for f in names if flagged[f])
    need_ic = params.near_copy.enabled or params.future_info.enabled or params.too_good.enabled
    if need_ic and names:
        subset: npt.NDArray[np.int64] | None = None
        if params.max_rows_per_timestamp is not None:
            subset = subsample_rows(
                panel.timestamps, max_rows_per_timestamp=params.max_rows_per_timestamp, seed=seed
            )
        grid = row_grid(panel) if params.future_info.enabled else None
        for target in targets:
            rows.extend(_ic_checks(panel, target, params, subset, grid, min_names, action))
    rows.extend(_everywhere_rows(rows, targets, set(params.exclude_everywhere)))
    frame = pl.DataFrame(rows, schema=REPORT_SCHEMA)
    return frame.sort(["target", "feature", "check"])


def _everywhere_rows(
    rows: Sequence[dict[str, Any]], targets: Sequence[str], checks: set[str]
) -> list[dict[str, Any]]:
    """Rows ``"<check> (via <target>)"`` that extend a proof-of-future flag of a
    feature to every screened target it was not already flagged for."""
    caught: dict[str, dict[str, Any]] = {}
    flagged: dict[str, set[str]] = {}
    for row in rows:
        flagged.setdefault(row["feature"], set()).add(row["target"])
    order = {c: i for i, c in enumerate(CHECKS)}
    for row in sorted(rows, key=lambda r: (order[r["check"]], r["target"])):
        if row["check"] in checks:
            caught.setdefault(row["feature"], row)
    out: list[dict[str, Any]] = []
    for feature, first in caught.items():
        check = f"{first['check']} (via {first['target']})"
        for target in targets:
            if target not in flagged[feature]:
                out.append(
                    _row(
                        feature, target, check, first["value"], first["threshold"], first["action"]
                    )
                )
    return out


def _row(
    feature: str, target: str, check: str, value: float, threshold: float, action: str
) -> dict[str, Any]:
    return {
        "feature": feature,
        "target": target,
        "check": check,
        "value": float(value),
        "threshold": float(threshold),
        "action": action,
    }


def _ic_checks(
    panel: Panel,
    target: str,
    params: LeakageScreenParams,
    subset: npt.NDArray[np.int64] | None,
    grid: npt.NDArray[np.int64] | None,
    min_names: int,
    action: str,
) -> list[dict[str, Any]]:
    y = panel.targets[target]
    h = panel.horizons[target]
    fi = params.future_info
    y_past = y_next = None
    if grid is not None:
        y_past = shift_values(panel, y, -h, grid)
        y_next = shift_values(panel, y, h, grid)
    take = slice(None) if subset is None else subset
    ts = panel.timestamps[take]
    y_now = y[take]
    too_good = params.too_good.threshold(target, panel.target_kinds.get(target))
    out: list[dict[str, Any]] = []
    for j, feature in enumerate(panel.feature_names):
        x = panel.X[take, j]
        ic_now = abs(_mean_ic(x, y_now, ts, min_names))
        if params.near_copy.enabled and ic_now > params.near_copy.threshold:
            out.append(
                _row(feature, target, "near_copy", ic_now, params.near_copy.threshold, action)
            )
        if params.too_good.enabled and ic_now > too_good:
            out.append(_row(feature, target, "too_good", ic_now, too_good, action))
        if fi.enabled and ic_now >= fi.min_abs_ic and y_past is not None and y_next is not None:
            ic_past = abs(_mean_ic(x, y_past[take], ts, min_names))
            ic_next = abs(_mean_ic(x, y_next[take], ts, min_names))
            ratio = ic_now / max(ic_past, ic_next, fi.floor)
            if ratio > fi.ratio:
                out.append(_row(feature, target, "future_info", ratio, fi.ratio, action))
    return out


@register_stage
class LeakageScreenStage(Stage[LeakageScreenParams]):
    """Flag (and by default remove) leaky features per target before any model runs."""

    name: ClassVar[str] = "leakage_screen"
    Params: ClassVar[type[StageParams]] = LeakageScreenParams
    result_type: ClassVar[type[LeakageScreenResult]] = LeakageScreenResult
    config_sections: ClassVar[tuple[str, ...]] = ("data", "validation")
    version: ClassVar[str] = "1"

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
        result = LeakageScreenResult({"report": report}, _meta(report, panel, self.params))
        _print_summary(ctx, result)
        return result


def _meta(report: pl.DataFrame, panel: Panel, params: LeakageScreenParams) -> dict[str, Any]:
    per_target: dict[str, dict[str, Any]] = {}
    targets = params.targets if params.targets is not None else list(panel.target_names)
    for target in targets:
        sub = report.filter(pl.col("target") == target)
        per_target[target] = {
            "n_flagged": sub["feature"].n_unique(),
            "n_removed": sub.filter(pl.col("action") == "removed")["feature"].n_unique(),
            "by_check": {c: int((sub["check"] == c).sum()) for c in CHECKS},
            "n_removed_via_other_target": sub.filter(
                pl.col("check").str.contains(" (via ", literal=True)
            )["feature"].n_unique(),
        }
    return {
        "action": params.action,
        "n_features": panel.n_features,
        "n_targets": len(targets),
        "n_flagged_pairs": report.select(["feature", "target"]).unique().height,
        "targets": per_target,
        "checks_enabled": [c for c in CHECKS if _check_enabled(params, c)],
    }


def _check_enabled(params: LeakageScreenParams, check: str) -> bool:
    section = {
        "name_rule": params.name_rules,
        "near_copy": params.near_copy,
        "future_info": params.future_info,
        "too_good": params.too_good,
    }[check]
    return section.enabled


def _print_summary(ctx: RunContext, result: LeakageScreenResult) -> None:
    report = result.report
    verb = "removed" if result.meta["action"] == "remove" else "flagged (warn only)"
    if report.height == 0:
        ctx.reporter.info("leakage_screen: no feature flagged for any target")
        return
    rows = []
    for target in sorted(report["target"].unique().to_list()):
        sub = report.filter(pl.col("target") == target)
        why = sub.group_by("feature").agg(pl.col("check").sort().str.join("+")).sort("feature")
        detail = ", ".join(f"{f} ({c})" for f, c in why.iter_rows())
        rows.append((target, why.height, detail))
    ctx.reporter.table(f"leakage_screen: features {verb} per target", ["target", "n", "why"], rows)
    total = report.select(["feature", "target"]).unique().height
    message = f"leakage_screen: {total} (feature, target) pairs {verb}"
    if result.meta["action"] == "warn":
        ctx.reporter.warn(message + "; they stay in use because action is 'warn'")
    else:
        ctx.reporter.info(message)
