"""The run-wide sections of the report: summary, target ranking, leakage, stability.

Each function returns one ``<section>`` with a stable id, a heading, a short
"what this means" sentence for a new user, then the content, or a one-line note
when the stage that feeds it did not run.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import yaml

from panelml.report.html import Child, Markup, explain, fmt, note, table, tag
from panelml.report.inputs import ReportInputs, as_float, column, table_of
from panelml.report.leakage import LEAKAGE_MEANING, leakage_parts
from panelml.report.run_record import placeholder
from panelml.report.style import STATUS_ORDER, status_colour
from panelml.report.svg import IntervalPoint, interval_chart

MAX_TABLE_ROWS = 200


def section(section_id: str, heading: str, meaning: str, *content: Child) -> Markup:
    """``<section id=...>`` with its heading and explanation."""
    return tag("section", tag("h2", heading), explain(meaning), *content, id=section_id)


def badge(status: str) -> Markup:
    """A coloured pill naming a status."""
    colour = status_colour(status)
    text_colour = "#1f2328" if status == "degenerate" else None
    style = f"background:{colour}" + (f";color:{text_colour}" if text_colour else "")
    return tag("span", status, class_="badge", style=style)


def generic_table(frame: pl.DataFrame, *, limit: int = MAX_TABLE_ROWS) -> Markup:
    """Any DataFrame as a table (numbers formatted, first ``limit`` rows), with a
    note when rows were left out."""
    shown = frame.head(limit)
    numeric = [i for i, dtype in enumerate(shown.dtypes) if dtype.is_numeric()]
    rows = [[fmt(v) for v in row] for row in shown.iter_rows()]
    out = [table(shown.columns, rows, numeric=numeric)]
    if frame.height > limit:
        out.append(note(f"{frame.height - limit} more rows not shown."))
    return Markup("".join(out))


# -- summary -------------------------------------------------------------------
def summary_section(inputs: ReportInputs) -> Markup:
    """Run record (filled in at publication), data shape and the resolved config."""
    if inputs.data_shape:
        shape_rows = [
            [k, fmt(v) if not isinstance(v, list | tuple) else ", ".join(map(str, v))]
            for k, v in inputs.data_shape.items()
        ]
        shape: Markup = table(["", ""], shape_rows, class_="data kv")
    else:
        shape = note("The shape of the data is not known (the data was not loaded).")
    if inputs.config:
        text = yaml.safe_dump(dict(inputs.config), sort_keys=False, allow_unicode=True)
        config: Markup = tag(
            "details", tag("summary", "resolved configuration (YAML)"), tag("pre", text)
        )
    else:
        config = note("No configuration was recorded for this run.")
    return section(
        "summary",
        "Summary",
        "What ran, on which data, how long each stage took and which stages were reused "
        "from the cache. The configuration below reproduces this run.",
        placeholder(),
        tag("h3", "Data"),
        shape,
        tag("h3", "Configuration"),
        config,
    )


# -- target ranking ------------------------------------------------------------
def _sorted_ranking(frame: pl.DataFrame) -> pl.DataFrame:
    if "rank" in frame.columns:
        return frame.sort("rank", nulls_last=True, maintain_order=True)
    if "score" in frame.columns:
        return frame.sort("score", descending=True, nulls_last=True, maintain_order=True)
    return frame


def ranking_section(inputs: ReportInputs) -> Markup:
    """A dot-and-whisker chart of each target's score and a table of the ranking."""
    meaning = (
        "Each candidate target is scored by how predictable it is out of sample (rank IC "
        "of leakage-safe cross-validated predictions). Dots are scores, whiskers their "
        "confidence intervals; only green (selected) targets go on to feature selection "
        "and training. A whisker that crosses zero means the score may be luck."
    )
    frame = table_of(inputs.result("target_ranking"), "ranking")
    if inputs.result("target_ranking") is None:
        return section("ranking", "Target ranking", meaning, inputs.missing("target_ranking"))
    if frame is None or "target" not in frame.columns:
        return section(
            "ranking",
            "Target ranking",
            meaning,
            note("target_ranking has no 'ranking' table to show."),
        )
    ordered = _sorted_ranking(frame)
    shown = ordered.head(inputs.max_targets)
    statuses = [str(s) if s is not None else "unknown" for s in column(shown, "status")]
    points = []
    for target, score, low, high, status in zip(
        column(shown, "target"),
        column(shown, "score"),
        column(shown, "score_ci_low"),
        column(shown, "score_ci_high"),
        statuses,
        strict=True,
    ):
        s, lo, hi = as_float(score), as_float(low), as_float(high)
        points.append(
            IntervalPoint(
                label=str(target),
                value=s,
                low=lo,
                high=hi,
                colour=status_colour(status),
                tooltip=f"{target}: score {fmt(s)} [{fmt(lo)}, {fmt(hi)}], {status}",
            )
        )
    present = [st for st in STATUS_ORDER if st in statuses]
    present += sorted({st for st in statuses if st not in STATUS_ORDER})
    chart = interval_chart(
        points,
        legend=[(st, status_colour(st)) for st in present],
        axis_label="score (with confidence interval)",
        title="target ranking: score and confidence interval per target",
    )
    counts = ", ".join(f"{n} {st}" for st, n in _count(column(ordered, "status")).items())
    parts: list[Child] = [
        tag("p", f"{ordered.height} targets: {counts}."),
        tag("figure", chart, tag("figcaption", "Targets in rank order; hover a dot for values.")),
        _ranking_table(shown),
    ]
    if ordered.height > shown.height:
        parts.append(
            note(
                f"{ordered.height - shown.height} more targets not shown "
                f"(max_targets = {inputs.max_targets})."
            )
        )
    return section("ranking", "Target ranking", meaning, *parts)


def _count(values: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        key = "unknown" if v is None else str(v)
        counts[key] = counts.get(key, 0) + 1
    order = {st: i for i, st in enumerate(STATUS_ORDER)}
    return dict(sorted(counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


_RANKING_COLUMNS = (
    ("rank", "rank"),
    ("target", "target"),
    ("status", "status"),
    ("score", "score"),
    ("score_ci_low", "ci low"),
    ("score_ci_high", "ci high"),
    ("ic_mean", "IC mean"),
    ("icir", "ICIR"),
    ("t_stat", "t"),
    ("q_value", "q"),
    ("top_feature", "top feature"),
    ("top_feature_share", "top share"),
    ("reason", "reason"),
)


def _ranking_table(frame: pl.DataFrame) -> Markup:
    cols = [(c, label) for c, label in _RANKING_COLUMNS if c in frame.columns]
    rows = []
    for record in frame.iter_rows(named=True):
        row: list[Child] = []
        for c, _ in cols:
            value = record[c]
            row.append(badge(str(value)) if c == "status" and value is not None else fmt(value))
        rows.append(row)
    numeric = [
        i for i, (c, _) in enumerate(cols) if c in frame.columns and frame[c].dtype.is_numeric()
    ]
    return table([label for _, label in cols], rows, numeric=numeric)


# -- leakage -------------------------------------------------------------------
def leakage_section(inputs: ReportInputs) -> Markup:
    """Findings per target, proof and suspicion apart (:mod:`panelml.report.leakage`)."""
    return section("leakage", "Leakage findings", LEAKAGE_MEANING, *leakage_parts(inputs))


# -- stability across runs -----------------------------------------------------
def stability_section(inputs: ReportInputs) -> Markup:
    """This run's selected features and importances compared with earlier runs."""
    meaning = (
        "Whether this run picked the same features as earlier runs of the experiment. "
        "Features that come and go between runs are weak evidence; a sudden change can also "
        "mean the data changed."
    )
    result = inputs.result("stability")
    if result is None:
        return section("stability", "Stability across runs", meaning, inputs.missing("stability"))
    frame = table_of(result, "report")
    if frame is None or frame.height == 0:
        return section(
            "stability",
            "Stability across runs",
            meaning,
            note("There are no earlier runs to compare with yet."),
        )
    return section("stability", "Stability across runs", meaning, generic_table(frame))
