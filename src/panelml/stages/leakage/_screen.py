"""The screen itself: every check run over a panel into one findings table (no side effects)."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.data.panel import Panel
from panelml.data.shift import row_grid, shift_values
from panelml.pipeline.executor import Executor, SerialExecutor
from panelml.stages.leakage._evidence import (
    REPORT_SCHEMA,
    Finding,
    decide,
)
from panelml.stages.leakage._params import (
    FutureInfo,
    LeakageScreenParams,
    NameRules,
)
from panelml.stages.leakage._ranks import CrossSections
from panelml.stages.leakage._timing import (
    WindowICs,
    autocorrelations,
    shifted_copies,
    shifted_copy_candidates,
    timing_evidence,
)
from panelml.validation.timestamps import subsample_rows

__all__ = ["screen_panel"]

F64 = npt.NDArray[np.float64]


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
    executor: Executor | None = None,
) -> pl.DataFrame:
    """The leakage report of ``panel`` (no side effects); see the module docstring.

    ``executor`` screens the targets (one task each; default: one after another
    here); the report does not depend on it.
    """
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
        findings.extend(_ic_findings(panel, targets, params, take, min_names, executor))
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
    """Per-panel caches of the IC checks: every feature ranked once, autocorrelations.

    ``sections`` ranks the screened rows (``take``) for the exact ICs;
    ``all_rows`` ranks every row for the shifted-copy prefilter and the
    features' autocorrelations (the same object when every row is screened).
    Both rank each feature once for all targets. Built lazily, so that an
    executor worker builds its own instead of receiving them.
    """

    def __init__(self, panel: Panel, take: Any, min_names: int) -> None:
        self.panel = panel
        self.grid = row_grid(panel)
        self.take = take
        self.min_names = min_names
        self._acf: dict[int, F64] = {}
        self._sections: CrossSections | None = None
        self._all_rows: CrossSections | None = None

    def __getstate__(self) -> dict[str, Any]:
        """A copy for an executor worker: the panel and settings, caches rebuilt there."""
        state = dict(self.__dict__)
        state.update(_acf={}, _sections=None, _all_rows=None)
        return state

    @property
    def sections(self) -> CrossSections:
        if self._sections is None:
            self._sections = CrossSections(
                self.panel.X, self.panel.timestamps, self.min_names, self.take
            )
        return self._sections

    @property
    def all_rows(self) -> CrossSections:
        if isinstance(self.take, slice) and self.take == slice(None):
            return self.sections
        if self._all_rows is None:
            keep = np.zeros(self.panel.n_rows, dtype=bool)
            keep[self.take] = True
            self._all_rows = CrossSections(
                self.panel.X, self.panel.timestamps, self.min_names, slice(None), keep
            )
        return self._all_rows

    def x(self, j: int) -> F64:
        return np.asarray(self.panel.X[:, j], dtype=np.float64)

    def acf(self, j: int, max_lag: int) -> F64:
        have = self._acf.get(j)
        if have is None or have.size <= max_lag:
            x = self.x(j)
            ranks = self.all_rows.percentile_ranks(j)
            self._acf[j] = autocorrelations(
                self.panel, x, max_lag, self.grid, self.min_names, ranks
            )
        return self._acf[j][: max_lag + 1]


def _ic_findings(
    panel: Panel,
    targets: Sequence[str],
    params: LeakageScreenParams,
    take: Any,
    min_names: int,
    executor: Executor | None,
) -> list[Finding]:
    work = (_Screen(panel, take, min_names), params)
    runner = executor or SerialExecutor()
    found = runner.map(_screen_target, targets, description="leakage_screen: targets", shared=work)
    return [finding for per_target in found for finding in per_target]


def _screen_target(work: tuple[_Screen, LeakageScreenParams], target: str) -> list[Finding]:
    """The IC checks of one target (an executor task)."""
    screen, params = work
    return _target_findings(screen, target, params)


def _target_findings(screen: _Screen, target: str, params: LeakageScreenParams) -> list[Finding]:
    panel = screen.panel
    y = np.asarray(panel.targets[target], dtype=np.float64)
    h = int(panel.horizons[target])
    fi, sc = params.future_info, params.shifted_copy
    y_before = shift_values(panel, y, -h, screen.grid)
    y_after = shift_values(panel, y, h, screen.grid) if fi.enabled else y
    candidates: dict[int, list[int]] = {}
    copies: dict[int, tuple[int, float]] = {}
    if sc.enabled and h > 1:
        cutoff = max(sc.threshold - sc.prefilter_margin, 0.0)
        candidates = shifted_copy_candidates(screen.all_rows, panel, y, h, screen.grid, cutoff)
        copies = shifted_copies(screen.sections, panel, y, candidates, screen.grid)
    too_good = params.too_good.threshold(target, panel.target_kinds.get(target))
    nc = params.near_copy
    # every IC series this target needs, batched: with the target, then with the
    # closed window (near copies and shifted-copy candidates, timing) and the next one
    everything = range(panel.n_features)
    now_of = screen.sections.many(everything, y)
    ic_of = {j: _abs_mean(now_of[j]) for j in everything}
    close = {j for j in everything if (nc.enabled and ic_of[j] >= nc.threshold) or j in candidates}
    timed = {j for j in everything if fi.enabled and ic_of[j] >= fi.min_abs_ic}
    before_of = screen.sections.many(sorted(close | timed), y_before)
    after_of = screen.sections.many(sorted(timed), y_after)
    out: list[Finding] = []
    for j, feature in enumerate(panel.feature_names):
        ic_now = ic_of[j]
        known = _abs_mean(before_of[j]) if j in close else 0.0  # closed window (t-h, t]
        if nc.enabled and ic_now >= nc.threshold and ic_now > known + nc.known_margin:
            why = f"rank IC {ic_now:.3f} with the target, {known:.3f} with the closed window"
            out.append(Finding(feature, target, "near_copy", ic_now, nc.threshold, why))
        if j in candidates:
            lag, value = copies[j]
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
        if j in timed:
            windows = WindowICs(now_of[j], before_of[j], after_of[j])
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
