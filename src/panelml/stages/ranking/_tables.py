"""Statuses and output tables of the ``target_ranking`` stage.

The rules are documented in :mod:`panelml.stages.ranking`; this module
applies them and lays the results out in the column contract of
``docs/architecture.md`` ("Built-in stage results").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import polars as pl

from panelml.stages.ranking._fit import TargetPlan
from panelml.stages.ranking._scores import TargetScore

STATUS_ORDER = ("selected", "below_top_n", "not_significant", "suspect_leak", "degenerate")


class StatusParams(Protocol):
    """The params :func:`assign_statuses` reads."""

    @property
    def fdr(self) -> float: ...
    @property
    def top_n(self) -> int: ...


@dataclass(frozen=True)
class Verdict:
    """A target's status, rank (``None`` for degenerate targets) and reason."""

    status: str
    rank: int | None
    reason: str


@dataclass(frozen=True)
class LeakColumns:
    """A target's leak evidence columns of the ranking table."""

    suspect_features: tuple[str, ...] = ()
    score_without_suspects: float = math.nan
    warnings: tuple[str, ...] = ()
    suspect_leak: str | None = None  # the reason, when the evidence makes it a status


def _finite(value: float) -> bool:
    return value is not None and math.isfinite(value)


def assign_statuses(
    plans: Sequence[TargetPlan],
    scores: Mapping[str, TargetScore],
    q_values: Mapping[str, float],
    leaks: Mapping[str, LeakColumns],
    params: StatusParams,
) -> dict[str, Verdict]:
    """Status, rank and reason of every target (rules in the stage docstring)."""
    status: dict[str, str] = {}
    reason: dict[str, str] = {}
    passing: list[str] = []
    for plan in plans:
        name = plan.name
        if not plan.scorable:
            status[name], reason[name] = "degenerate", plan.reason or ""
            continue
        score, q = scores[name], q_values[name]
        leak = leaks[name].suspect_leak if name in leaks else None
        if leak is not None:
            status[name], reason[name] = "suspect_leak", leak
        elif _finite(q) and q <= params.fdr and score.score > 0:
            passing.append(name)
        else:
            status[name] = "not_significant"
            reason[name] = f"q={q:.3g} > fdr={params.fdr}" if q > params.fdr else "score <= 0"
    passing.sort(key=lambda n: (-scores[n].score, n))
    for i, name in enumerate(passing):
        if i < params.top_n:
            status[name], reason[name] = "selected", ""
        else:
            status[name] = "below_top_n"
            reason[name] = f"passed q <= {params.fdr} but not in the top_n={params.top_n}"

    def order(name: str) -> tuple[int, float, str]:
        score = scores[name].score if name in scores else math.nan
        return (STATUS_ORDER.index(status[name]), -score if _finite(score) else math.inf, name)

    ranked = sorted((p.name for p in plans if p.scorable), key=order)
    ranks = {name: i + 1 for i, name in enumerate(ranked)}
    return {p.name: Verdict(status[p.name], ranks.get(p.name), reason[p.name]) for p in plans}


def _nan_to_none(value: float) -> float | None:
    return float(value) if _finite(value) else None


def ranking_frame(
    plans: Sequence[TargetPlan],
    scores: Mapping[str, TargetScore],
    q_values: Mapping[str, float],
    tops: Mapping[str, tuple[str | None, float]],
    verdicts: Mapping[str, Verdict],
    families: Sequence[str],
    leaks: Mapping[str, LeakColumns],
) -> pl.DataFrame:
    """The ``ranking`` table: one row per target, sorted by rank (nulls last) then name."""
    rows: list[dict[str, Any]] = []
    for plan in plans:
        s = scores.get(plan.name)
        verdict = verdicts[plan.name]
        leak = leaks.get(plan.name, LeakColumns())
        top_feature, top_share = tops.get(plan.name, (None, math.nan))
        row: dict[str, Any] = {
            "target": plan.name,
            "rank": verdict.rank,
            "score": None if s is None else _nan_to_none(s.score),
            "score_ci_low": None if s is None else _nan_to_none(s.ci_low),
            "score_ci_high": None if s is None else _nan_to_none(s.ci_high),
            "status": verdict.status,
            "reason": verdict.reason,
            "kind": plan.kind,
            "horizon": plan.horizon,
            "n_rows": int(plan.rows.size),
            "n_timestamps": plan.n_timestamps,
            "n_ic_periods": None if s is None else s.n_periods,
            "n_features": len(plan.features),
            "ic_mean": None if s is None else _nan_to_none(s.score),
            "icir": None if s is None else _nan_to_none(s.icir),
            "t_stat": None if s is None else _nan_to_none(s.t_stat),
            "p_value": None if s is None else _nan_to_none(s.p_value),
            "q_value": _nan_to_none(q_values.get(plan.name, math.nan)),
            "r2": None if s is None else _nan_to_none(s.r2),
            "auc": None if s is None else _nan_to_none(s.auc),
            "positive_symbol_share": None if s is None else _nan_to_none(s.positive_symbol_share),
            "top_feature": top_feature,
            "top_feature_share": _nan_to_none(top_share),
            "suspect_features": ", ".join(leak.suspect_features),
            "score_without_suspects": _nan_to_none(leak.score_without_suspects),
            "warnings": "; ".join(leak.warnings),
        }
        for fam in families:
            f = None if s is None else s.families.get(fam)
            row[f"{fam}_ic"] = None if f is None else _nan_to_none(f.ic)
            row[f"{fam}_icir"] = None if f is None else _nan_to_none(f.icir)
            row[f"{fam}_t"] = None if f is None else _nan_to_none(f.t_stat)
        rows.append(row)
    schema: dict[str, Any] = {
        "target": pl.String,
        "rank": pl.Int64,
        "score": pl.Float64,
        "score_ci_low": pl.Float64,
        "score_ci_high": pl.Float64,
        "status": pl.String,
        "reason": pl.String,
        "kind": pl.String,
        "horizon": pl.Int64,
        "n_rows": pl.Int64,
        "n_timestamps": pl.Int64,
        "n_ic_periods": pl.Int64,
        "n_features": pl.Int64,
        "ic_mean": pl.Float64,
        "icir": pl.Float64,
        "t_stat": pl.Float64,
        "p_value": pl.Float64,
        "q_value": pl.Float64,
        "r2": pl.Float64,
        "auc": pl.Float64,
        "positive_symbol_share": pl.Float64,
        "top_feature": pl.String,
        "top_feature_share": pl.Float64,
        "suspect_features": pl.String,
        "score_without_suspects": pl.Float64,
        "warnings": pl.String,
    }
    for fam in families:
        schema.update({f"{fam}_ic": pl.Float64, f"{fam}_icir": pl.Float64, f"{fam}_t": pl.Float64})
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.sort(["rank", "target"], nulls_last=True)


def per_symbol_frame(scores: Mapping[str, TargetScore], symbols: Sequence[str]) -> pl.DataFrame:
    """The ``per_symbol`` table: target, symbol, ic, n_obs (targets by name, symbols by code)."""
    targets: list[str] = []
    names: list[str] = []
    ics: list[float] = []
    n_obs: list[int] = []
    for target in sorted(scores):
        s = scores[target]
        for code, ic, n in zip(s.symbol_codes, s.symbol_ic, s.symbol_n_obs, strict=True):
            targets.append(target)
            names.append(symbols[int(code)])
            ics.append(float(ic))
            n_obs.append(int(n))
    return pl.DataFrame(
        {"target": targets, "symbol": names, "ic": ics, "n_obs": n_obs},
        schema={"target": pl.String, "symbol": pl.String, "ic": pl.Float64, "n_obs": pl.Int64},
    )


def ic_series_frame(scores: Mapping[str, TargetScore]) -> pl.DataFrame:
    """The ``ic_series`` table: target, timestamp (int64 panel units), consensus ic."""
    names = sorted(scores)
    sizes = [scores[n].ic_values.size for n in names]
    return pl.DataFrame(
        {
            "target": np.repeat(np.asarray(names, dtype=object), sizes).tolist() if names else [],
            "timestamp": np.concatenate([scores[n].ic_timestamps for n in names])
            if names
            else np.zeros(0, dtype=np.int64),
            "ic": np.concatenate([scores[n].ic_values for n in names]) if names else np.zeros(0),
        },
        schema={"target": pl.String, "timestamp": pl.Int64, "ic": pl.Float64},
    )
