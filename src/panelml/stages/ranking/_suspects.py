"""The ranking's leak evidence: scores without suspect features, and warnings.

The leakage screen *warns* about features it suspects but cannot prove to be
leaks (one heuristic: ``too_good`` magnitude or ``future_info`` timing). For
every target with such suspects the ranking refits its families without them
and reports ``score_without_suspects``, so a user sees at a glance how much of
the skill depends on them. A target becomes ``suspect_leak`` only on evidence
beyond magnitude: it has timing suspects, and its skill *vanishes* without
them - it passes the FDR test with them, and refitted without them either it
does not (the refit's p-value, put in place of the target's own, gives a
q-value above ``fdr``, or its score is <= 0) or more than
:data:`SKILL_SHARE` of its score is gone. A large score or one feature's
large share of the importance is never enough; those become entries of the
``warnings`` column.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import polars as pl

from panelml import contracts
from panelml.stages.ranking._fit import TargetPlan
from panelml.stages.ranking._scores import TargetScore
from panelml.stages.ranking._tables import LeakColumns
from panelml.validation.multiple_testing import adjust_pvalues

SKILL_SHARE = 0.5
"""A target whose score loses more than this share without its timing suspects
rests on them (a 0.87 score that is 0.04 without a copy of the label is the
label's, whatever the refit's p-value says)."""

__all__ = [
    "SKILL_SHARE",
    "LeakParams",
    "Refit",
    "Suspects",
    "leak_columns",
    "magnitude_warnings",
    "refits_needed",
    "run_refits",
    "screen_suspects",
    "vanishes",
]


@dataclass(frozen=True)
class Suspects:
    """A target's kept-but-suspected features and the screen's evidence lines."""

    features: frozenset[str]
    timing: frozenset[str]
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Refit:
    """A target's score refitted without some features."""

    left_out: frozenset[str]
    score: TargetScore | None  # None when the refit was not scorable


def screen_suspects(screen: Any, target: str) -> Suspects:
    """The features the screen warned about for ``target`` (none without a screen).

    Reads the ``report`` table of the leakage screen result: rows with action
    ``warned`` are suspicions (or, under ``report_only``, proofs left in use).
    """
    if screen is None:
        return Suspects(frozenset(), frozenset(), ())
    warned = contracts.findings(screen, target).filter(pl.col("action") == "warned")
    rows = list(warned.iter_rows(named=True))
    features = frozenset(str(r["feature"]) for r in rows)
    timing = frozenset(str(r["feature"]) for r in rows if r["check"] == "future_info")
    lines = tuple(
        f"{r['feature']}: {r['check']} ({r.get('evidence') or r.get('value')})"
        for r in sorted(rows, key=lambda r: (r["feature"], r["check"]))
    )
    return Suspects(features, timing, lines)


def vanishes(
    target: str,
    full: TargetScore,
    without: TargetScore | None,
    scores: Mapping[str, TargetScore],
    fdr: float,
    method: Literal["by", "bh"],
) -> tuple[bool, float]:
    """(does the skill vanish without the features, the refit's q-value).

    The refit's p-value replaces the target's own in the FDR adjustment over
    every scored target, so "passes" means the same thing with and without.
    """
    if without is None or not math.isfinite(without.score) or without.score <= 0:
        return True, math.nan
    names = sorted(scores)
    p = np.array(
        [without.p_value if n == target else scores[n].p_value for n in names], dtype=np.float64
    )
    p = np.where(np.isnan(p), 1.0, p)
    q = float(adjust_pvalues(p, method)[names.index(target)])
    return q > fdr, q


def magnitude_warnings(
    plan: TargetPlan,
    score: TargetScore,
    top: tuple[str | None, float],
    *,
    rank_ic_limit: float,
    max_auc: float,
    max_feature_share: float,
) -> list[str]:
    """Magnitude suspicions of a scored target: a score above its limit, a dominant feature."""
    out: list[str] = []
    if plan.kind == "binary":
        aucs = [score.auc, *(f.auc for f in score.families.values())]
        best = max((a for a in aucs if math.isfinite(a)), default=math.nan)
        if math.isfinite(best) and best > max_auc:
            out.append(f"AUC {best:.3f} above max_auc={max_auc}")
    else:
        ics = [score.score, *(f.ic for f in score.families.values())]
        best = max((v for v in ics if math.isfinite(v)), default=math.nan)
        if math.isfinite(best) and best > rank_ic_limit:
            out.append(f"rank IC {best:.3f} above max_rank_ic={rank_ic_limit}")
    feature, share = top
    if feature is not None and math.isfinite(share) and share > max_feature_share:
        out.append(
            f"feature {feature!r} takes {share:.0%} of the split gain "
            f"(max_feature_share={max_feature_share})"
        )
    return out


def refits_needed(suspects: Mapping[str, Suspects]) -> dict[str, list[frozenset[str]]]:
    """Per target, the feature sets to leave out: all suspects, then timing ones if different."""
    out: dict[str, list[frozenset[str]]] = {}
    for target, s in suspects.items():
        sets: list[frozenset[str]] = []
        if s.features:
            sets.append(s.features)
        if s.timing and s.timing != s.features:
            sets.append(s.timing)
        if sets:
            out[target] = sets
    return out


def run_refits(
    needed: Mapping[str, Sequence[frozenset[str]]],
    fit_and_score: Callable[[Mapping[str, set[str]]], Mapping[str, TargetScore | None]],
) -> dict[str, list[Refit]]:
    """All refits, batched: round k leaves out each target's k-th feature set."""
    out: dict[str, list[Refit]] = {t: [] for t in needed}
    rounds = max((len(v) for v in needed.values()), default=0)
    for k in range(rounds):
        batch = {t: set(sets[k]) for t, sets in needed.items() if len(sets) > k}
        scored = fit_and_score(batch)
        for target, left_out in batch.items():
            out[target].append(Refit(frozenset(left_out), scored.get(target)))
    return out


class LeakParams(Protocol):
    """The ranking params the leak evidence reads."""

    @property
    def fdr(self) -> float: ...
    @property
    def fdr_method(self) -> Literal["by", "bh"]: ...
    @property
    def max_auc(self) -> float: ...
    @property
    def max_feature_share(self) -> float: ...
    def rank_ic_limit(self, target: str) -> float: ...


def leak_columns(
    screen: Any,
    plans: Sequence[TargetPlan],
    scores: Mapping[str, TargetScore],
    tops: Mapping[str, tuple[str | None, float]],
    params: LeakParams,
    fit_and_score: Callable[[Mapping[str, set[str]]], Mapping[str, TargetScore | None]],
) -> dict[str, LeakColumns]:
    """Every scored target's leak evidence (module docstring), refitting where needed."""
    scored = [plan for plan in plans if plan.scorable and plan.name in scores]
    suspects = {plan.name: _in_use(screen_suspects(screen, plan.name), plan) for plan in scored}
    refits = run_refits(refits_needed(suspects), fit_and_score)
    out: dict[str, LeakColumns] = {}
    for plan in scored:
        name, s = plan.name, suspects[plan.name]
        score = scores[name]
        warnings = [
            *s.lines,
            *magnitude_warnings(
                plan,
                score,
                tops.get(name, (None, math.nan)),
                rank_ic_limit=params.rank_ic_limit(name),
                max_auc=params.max_auc,
                max_feature_share=params.max_feature_share,
            ),
        ]
        done = {r.left_out: r.score for r in refits.get(name, [])}
        without = done.get(s.features)
        without_score = without.score if without is not None else math.nan
        reason = None
        if s.timing:
            gone, q = vanishes(
                name, score, done.get(s.timing), scores, params.fdr, params.fdr_method
            )
            passes_now = _passes(name, scores, params)
            timing_score = done.get(s.timing)
            after = timing_score.score if timing_score is not None else math.nan
            lost = 1.0 - after / score.score if score.score > 0 and math.isfinite(after) else 0.0
            if passes_now and (gone or lost > SKILL_SHARE):
                reason = (
                    f"skill rests on features whose IC is tied to the label window "
                    f"({', '.join(sorted(s.timing))}): score {score.score:.3f}, "
                    f"{after:.3f} without them (q {q:.3g})"
                )
        if s.features and math.isfinite(without_score):
            warnings.append(f"score {score.score:.3f}, {without_score:.3f} without the suspects")
        out[name] = LeakColumns(
            suspect_features=tuple(sorted(s.features)),
            score_without_suspects=without_score,
            warnings=tuple(warnings),
            suspect_leak=reason,
        )
    return out


def _in_use(suspects: Suspects, plan: TargetPlan) -> Suspects:
    """Only the suspects the target's models actually use (not removed by the screen)."""
    used = set(plan.features)
    return Suspects(suspects.features & used, suspects.timing & used, suspects.lines)


def _passes(name: str, scores: Mapping[str, TargetScore], params: LeakParams) -> bool:
    """Does ``name`` pass the FDR test with its own score (as the stage decides)?"""
    names = sorted(scores)
    p = np.array([scores[n].p_value for n in names], dtype=np.float64)
    p = np.where(np.isnan(p), 1.0, p)
    q = float(adjust_pvalues(p, params.fdr_method)[names.index(name)])
    return q <= params.fdr and scores[name].score > 0
