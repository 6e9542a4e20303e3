"""The report's leakage section: proof and suspicion apart, with their evidence.

Reads the documented ``leakage_screen`` ``report`` table (feature, target,
check, grade, value, threshold, action, evidence) and the stage's meta
(``policy``). Older or third-party reports without ``grade`` / ``evidence``
columns still render: the grade is derived from the check's name.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from panelml.report.html import Child, fmt, note, table, tag
from panelml.report.inputs import ReportInputs, column, table_of

__all__ = ["LEAKAGE_MEANING", "leakage_parts"]

MAX_ROWS = 200
PROOF_CHECKS = ("name_rule", "near_copy", "shifted_copy", "corroborated")
LEAKAGE_MEANING = (
    "Leakage is information from the future hiding in a feature. Proof (a label-like name, "
    "a copy of a target or of a target shifted by less than its horizon, two independent "
    "heuristics agreeing) removes the feature for every target. Suspicion (one heuristic: "
    "an IC too good to be true, an IC tied to the label window) is only reported under the "
    "default policy: the feature stays in use, and the ranking shows each target's score "
    "without its suspects. Magnitude alone is not proof: lagged volatility predicts "
    "volatility very well, honestly."
)
_COLUMNS = ("feature", "check", "value", "threshold", "action", "evidence")


def _grades(frame: pl.DataFrame) -> list[str]:
    if "grade" in frame.columns:
        return [str(g) for g in column(frame, "grade")]
    checks = [str(c).split(" (via ", 1)[0] for c in column(frame, "check")]
    return ["proof" if c in PROOF_CHECKS else "suspicion" for c in checks]


def _table(group: pl.DataFrame) -> Child:
    cols = [c for c in _COLUMNS if c in group.columns]
    shown = list(group.head(MAX_ROWS).iter_rows(named=True))
    rows = [[fmt(r[c]) if c != "evidence" else str(r[c] or "") for c in cols] for r in shown]
    css = ["removed" if r.get("action") == "removed" else None for r in shown]
    numeric = [i for i, c in enumerate(cols) if group[c].dtype.is_numeric()]
    return table(cols, rows, numeric=numeric, row_classes=css)


def _target_parts(target: str, group: pl.DataFrame) -> list[Child]:
    checks = [str(c) for c in column(group, "check")]
    via = pl.Series([" (via " in c for c in checks], dtype=pl.Boolean)
    own, extended = group.filter(~via), group.filter(via)
    parts: list[Child] = [tag("h3", target)]
    for grade, heading in (
        ("proof", "Proof"),
        ("suspicion", "Suspicion (one heuristic)"),
    ):
        sub = own.filter(pl.col("__grade") == grade)
        if sub.height:
            parts += [tag("h4", heading), _table(sub)]
            if sub.height > MAX_ROWS:
                parts.append(note(f"{sub.height - MAX_ROWS} more findings not shown."))
    if extended.height:
        names = ", ".join(
            f"{r['feature']} ({r['check']})" for r in extended.head(MAX_ROWS).iter_rows(named=True)
        )
        parts.append(note(f"Also removed here, on proof found for another target: {names}."))
    return parts


def leakage_parts(inputs: ReportInputs) -> list[Child]:
    """The section's content (summary line, then per target: proof, suspicion)."""
    result = inputs.result("leakage_screen")
    if result is None:
        return [inputs.missing("leakage_screen")]
    frame = table_of(result, "report")
    if frame is None:
        return [note("leakage_screen has no 'report' table to show.")]
    if frame.height == 0:
        return [tag("p", "No feature was flagged for any target.")]
    meta: dict[str, Any] = getattr(result, "meta", {}) or {}
    actions: dict[str, int] = {}
    for a in column(frame, "action"):
        actions[str(a)] = actions.get(str(a), 0) + 1
    grades = _grades(frame)
    summary = f"{frame.height} findings: " + ", ".join(
        f"{n} {a}" for a, n in sorted(actions.items())
    )
    summary += f" ({grades.count('proof')} proof, {grades.count('suspicion')} suspicion)."
    if meta.get("policy"):
        summary += f" Policy: {meta['policy']}."
    parts: list[Child] = [tag("p", summary)]
    targets = [str(t) if t is not None else "(all targets)" for t in column(frame, "target")]
    keyed = frame.with_columns(pl.Series("__target", targets), pl.Series("__grade", grades))
    for target in sorted(set(targets)):
        parts += _target_parts(target, keyed.filter(pl.col("__target") == target))
    return parts
