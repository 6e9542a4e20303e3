"""What the leakage screen tells the user: run meta (manifest) and terminal lines.

The meta goes into the stage result and so into ``manifest.json``: the policy,
counts per grade, and per target the features removed and warned with their
checks. The terminal gets one line per target with findings: what was removed
(proof, or any finding under ``strict``) and what was only warned about.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import polars as pl

from panelml.data.panel import Panel
from panelml.pipeline.context import RunContext
from panelml.stages.leakage._evidence import CHECKS

__all__ = ["print_summary", "screen_meta"]


class _Params(Protocol):
    @property
    def policy(self) -> str: ...
    @property
    def targets(self) -> list[str] | None: ...
    @property
    def trusted_features(self) -> list[str]: ...
    def everywhere(self) -> tuple[str, ...]: ...


class _Result(Protocol):
    @property
    def report(self) -> pl.DataFrame: ...
    @property
    def meta(self) -> dict[str, Any]: ...


def _by_feature(frame: pl.DataFrame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in frame.sort(["feature", "check"]).iter_rows(named=True):
        out.setdefault(row["feature"], []).append(row["check"])
    return out


def screen_meta(report: pl.DataFrame, panel: Panel, params: _Params) -> dict[str, Any]:
    """Counts and per-target removed / warned features (for the manifest)."""
    targets: Sequence[str] = (
        params.targets if params.targets is not None else list(panel.target_names)
    )
    per_target: dict[str, dict[str, Any]] = {}
    for target in targets:
        sub = report.filter(pl.col("target") == target)
        removed = sub.filter(pl.col("action") == "removed")
        warned = sub.filter(pl.col("action") == "warned")
        per_target[target] = {
            "n_flagged": sub["feature"].n_unique(),
            "n_removed": removed["feature"].n_unique(),
            "n_warned": warned["feature"].n_unique(),
            "removed": _by_feature(removed),
            "warned": _by_feature(warned),
            "by_check": {c: int((sub["check"] == c).sum()) for c in CHECKS},
            "n_removed_via_other_target": removed.filter(
                pl.col("check").str.contains(" (via ", literal=True)
            )["feature"].n_unique(),
        }
    pairs = report.select(["feature", "target", "action"]).unique(["feature", "target"])
    return {
        "policy": params.policy,
        "trusted_features": list(params.trusted_features),
        "exclude_everywhere": list(params.everywhere()),
        "n_features": panel.n_features,
        "n_targets": len(targets),
        "n_flagged_pairs": pairs.height,
        "n_removed_pairs": int((pairs["action"] == "removed").sum()),
        "n_proof_findings": int((report["grade"] == "proof").sum()),
        "n_suspicion_findings": int((report["grade"] == "suspicion").sum()),
        "targets": per_target,
    }


def _short(checks: dict[str, list[str]]) -> str:
    return ", ".join(f"{f} ({'+'.join(sorted(set(c)))})" for f, c in checks.items())


def print_summary(ctx: RunContext, result: _Result) -> None:
    """One line per target with findings, and a closing count."""
    meta = result.meta
    if result.report.height == 0:
        ctx.reporter.info(f"leakage_screen ({meta['policy']}): no finding for any target")
        return
    for target, info in meta["targets"].items():
        parts = []
        if info["removed"]:
            parts.append(f"removed {_short(info['removed'])}")
        if info["warned"]:
            parts.append(f"suspected, kept {_short(info['warned'])}")
        if parts:
            line = f"leakage_screen: {target}: " + "; ".join(parts)
            (ctx.reporter.warn if info["warned"] else ctx.reporter.info)(line)
    ctx.reporter.info(
        f"leakage_screen ({meta['policy']}): {meta['n_removed_pairs']} (feature, target) pairs "
        f"removed, {meta['n_flagged_pairs'] - meta['n_removed_pairs']} only warned about; "
        "evidence in leakage_screen/report.parquet"
    )
