"""What a report is rendered from, and tolerant access to other stages' results.

The report reads results by *name* (``ctx.results["training"]``) and by their
documented table and meta names (docs/architecture.md, "Built-in stage
results"), never by importing the stage modules: any result with ``tables``
(a dict of polars DataFrames) and ``meta`` (a dict) works, so the report renders
results of third-party replacements and results loaded generically from a run
folder alike. Missing tables or columns make a part of the report say so; they
are never an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from panelml.report.html import Markup, note

REPORTED_STAGES = ("leakage_screen", "target_ranking", "feature_selection", "training", "stability")


@dataclass(frozen=True)
class ReportInputs:
    """Everything :func:`panelml.report.render_report` draws from.

    Attributes:
        title: the page title.
        experiment: the experiment name (shown under the title).
        config: the resolved config as plain JSON data, or ``None``.
        data_shape: facts about the data (rows, features, timestamps, symbols,
            targets, first/last timestamp), or ``None`` when unknown.
        results: stage name -> result (anything with ``tables`` and ``meta``).
        pipeline: the stage names of the pipeline, to tell "not in the pipeline"
            from "in the pipeline but produced nothing".
        top_features: how many features per target the selection section shows.
        max_targets: how many targets the ranking, selection and training sections show.
        timestamp_dtype: the panel's original timestamp type (``"date"``,
            ``"datetime[ns]"``, ``"int64"``...) to print int64 timestamps readably.
        ic_window: rolling window (periods) of the OOF IC chart.
        data_warnings: what loading did to the data (shown at the top).
        horizons: target -> label horizon in bars (purging, overlapping-label tests).
        target_kinds: target -> ``"regression"`` or ``"binary"``.
        timestamps: the panel's unique timestamps as physical integers, in order
            (bar i of the fold timeline is ``timestamps[i]``); empty when unknown.
    """

    title: str = "panelml report"
    experiment: str | None = None
    config: Mapping[str, Any] | None = None
    data_shape: Mapping[str, Any] | None = None
    results: Mapping[str, Any] = field(default_factory=dict)
    pipeline: Sequence[str] = ()
    top_features: int = 15
    max_targets: int = 20
    timestamp_dtype: str | None = None
    ic_window: int = 20
    data_warnings: Sequence[str] = ()
    horizons: Mapping[str, int] = field(default_factory=dict)
    target_kinds: Mapping[str, str] = field(default_factory=dict)
    timestamps: Sequence[int] = ()

    def result(self, name: str) -> Any | None:
        """The result of stage ``name`` if present."""
        return self.results.get(name)

    def missing(self, name: str) -> Markup:
        """The one-line note shown when stage ``name`` has no result."""
        if name in self.pipeline:
            return note(f"{name} produced no result in this run (it was disabled or skipped).")
        return note(f"{name} did not run in this pipeline.")


def tables_of(result: Any) -> dict[str, pl.DataFrame]:
    """The named tables of a result (empty for results that have none)."""
    tables = getattr(result, "tables", None)
    if not isinstance(tables, Mapping):
        return {}
    return {str(k): v for k, v in tables.items() if isinstance(v, pl.DataFrame)}


def table_of(result: Any, name: str) -> pl.DataFrame | None:
    """One named table of a result, or ``None``."""
    return tables_of(result).get(name)


def meta_of(result: Any) -> dict[str, Any]:
    """The metadata dict of a result (empty when it has none)."""
    meta = getattr(result, "meta", None)
    return dict(meta) if isinstance(meta, Mapping) else {}


def column(frame: pl.DataFrame, name: str) -> list[Any]:
    """A column as a Python list, or a list of ``None`` when the column is absent."""
    if name in frame.columns:
        return frame.get_column(name).to_list()
    return [None] * frame.height


def as_float(value: Any) -> float | None:
    """A number as float, ``None`` for anything else (strings, null, booleans)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
