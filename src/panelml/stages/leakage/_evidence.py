"""Grading of the leakage screen's findings and what each policy does with them.

A *finding* is one check that fired on one (feature, target) pair, with its
numbers. :func:`decide` turns findings into report rows:

* grade ``proof``: ``name_rule``, ``near_copy``, ``shifted_copy``, and
  ``corroborated`` - a row added when two independent heuristics
  (``too_good`` and ``future_info``) fire on the same pair;
* grade ``suspicion``: ``too_good``, ``future_info`` alone.

Policies: ``balanced`` removes on proof only, ``strict`` on any finding,
``report_only`` never. A removed pair's rows all say ``removed``; the other
rows say ``warned``. Proof of a feature built from the future is extended to
every other screened target (``"<check> (via <target>)"`` rows), for the checks
in ``everywhere``. Trusted features (the user vouches they are point-in-time)
are never removed on heuristic evidence - suspicion or corroboration - but
still reported; a name rule or a (shifted) near-copy still removes them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

__all__ = [
    "CHECKS",
    "DIRECT_PROOF",
    "REPORT_SCHEMA",
    "Finding",
    "Policy",
    "decide",
    "default_everywhere",
    "grade_of",
]

Policy = Literal["balanced", "strict", "report_only"]
CHECKS = ("name_rule", "near_copy", "shifted_copy", "corroborated", "future_info", "too_good")
DIRECT_PROOF = frozenset({"name_rule", "near_copy", "shifted_copy"})
PROOF = DIRECT_PROOF | {"corroborated"}
HEURISTICS = ("too_good", "future_info")
REPORT_SCHEMA: dict[str, Any] = {
    "feature": pl.String,
    "target": pl.String,
    "check": pl.String,
    "grade": pl.String,
    "value": pl.Float64,
    "threshold": pl.Float64,
    "action": pl.String,
    "evidence": pl.String,
}


@dataclass(frozen=True)
class Finding:
    """One check that fired on one (feature, target) pair."""

    feature: str
    target: str
    check: str
    value: float
    threshold: float
    evidence: str


def grade_of(check: str) -> str:
    """``proof`` or ``suspicion`` of a check name (``"<check> (via <t>)"`` too)."""
    base = check.split(" (via ", 1)[0]
    return "proof" if base in PROOF else "suspicion"


def default_everywhere(policy: Policy) -> tuple[str, ...]:
    """Checks whose removal extends to every target: proof, and timing under strict."""
    proof = ("name_rule", "near_copy", "shifted_copy", "corroborated")
    return (*proof, "future_info") if policy == "strict" else proof


def is_trusted(feature: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(feature, p) for p in patterns)


def corroborate(findings: Iterable[Finding]) -> list[Finding]:
    """A ``corroborated`` finding for every pair flagged by two independent heuristics."""
    by_pair: dict[tuple[str, str], dict[str, Finding]] = {}
    for f in findings:
        if f.check in HEURISTICS:
            by_pair.setdefault((f.feature, f.target), {})[f.check] = f
    out: list[Finding] = []
    for (feature, target), hits in by_pair.items():
        if len(hits) == len(HEURISTICS):
            detail = "; ".join(f"{c}: {hits[c].evidence}" for c in HEURISTICS)
            out.append(Finding(feature, target, "corroborated", 2.0, 2.0, detail))
    return out


def _removes(check: str, policy: Policy, trusted: bool) -> bool:
    if policy == "report_only":
        return False
    if trusted:
        return check in DIRECT_PROOF
    return policy == "strict" or check in PROOF


def decide(
    findings: Sequence[Finding],
    targets: Sequence[str],
    *,
    policy: Policy,
    everywhere: Sequence[str],
    trusted: Sequence[str],
) -> list[dict[str, Any]]:
    """Report rows (``REPORT_SCHEMA``) of ``findings`` under ``policy`` (module docstring)."""
    all_findings = [*findings, *corroborate(findings)]
    removed: set[tuple[str, str]] = set()
    order = {c: i for i, c in enumerate(CHECKS)}
    spread: dict[str, Finding] = {}
    for f in sorted(all_findings, key=lambda f: (order[f.check], f.target)):
        trust = is_trusted(f.feature, trusted)
        if _removes(f.check, policy, trust):
            removed.add((f.feature, f.target))
            if f.check in everywhere:
                spread.setdefault(f.feature, f)
    extra: list[Finding] = []
    for feature, first in spread.items():
        check = f"{first.check} (via {first.target})"
        for target in targets:
            if (feature, target) not in removed:  # unflagged there, or only suspected
                extra.append(
                    Finding(feature, target, check, first.value, first.threshold, first.evidence)
                )
                removed.add((feature, target))
    rows: list[dict[str, Any]] = []
    for f in [*all_findings, *extra]:
        gone = (f.feature, f.target) in removed
        evidence = f.evidence
        if not gone and is_trusted(f.feature, trusted) and policy != "report_only":
            evidence = f"trusted feature, kept; {evidence}"
        rows.append(
            {
                "feature": f.feature,
                "target": f.target,
                "check": f.check,
                "grade": grade_of(f.check),
                "value": float(f.value),
                "threshold": float(f.threshold),
                "action": "removed" if gone else "warned",
                "evidence": evidence,
            }
        )
    return rows
