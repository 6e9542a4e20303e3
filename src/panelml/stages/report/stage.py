"""The ``report`` stage: one self-contained ``report.html`` per run.

It reads whatever the earlier stages produced (all of them optional: a pipeline
without training still gets a report that says so) and renders the page with
:mod:`panelml.report`. The result is the HTML itself, saved into the stage
folder and published to ``<run_dir>/report.html`` by :meth:`ReportResult.export`,
which also fills in the run's own timings and cache hits: those are facts of
the run, not inputs of the report, so a report reused from the cache still shows
the current run's record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import Field

from panelml import contracts
from panelml.data.timestamps import format_timestamp
from panelml.pipeline.context import RunContext
from panelml.pipeline.registry import register_stage
from panelml.pipeline.run_folder import write_text_atomic
from panelml.pipeline.stage import Input, Stage, StageParams, StageResult
from panelml.report import ReportInputs, fill_run_record, render_report
from panelml.report.run_folder import FACTS_FILE, REPORT_FILE, pipeline_names


class ReportParams(StageParams):
    """Parameters of the ``report`` stage."""

    title: str | None = Field(
        None, description="page title (default: 'panelml report: <experiment>')"
    )
    top_features: int = Field(15, ge=1, description="features shown per selected target")
    max_targets: int = Field(20, ge=1, description="targets shown in each section")
    ic_window: int = Field(20, ge=1, description="rolling window (periods) of the OOF IC chart")


class ReportResult(StageResult):
    """The rendered report (HTML with a run-record placeholder) and the data facts
    it was rendered with (kept so ``panelml report`` can re-render it later)."""

    def __init__(self, html: str, facts: Mapping[str, Any] | None = None) -> None:
        self.html = html
        self.facts: dict[str, Any] = dict(facts or {})

    def save(self, directory: Path) -> None:
        (directory / REPORT_FILE).write_text(self.html, encoding="utf-8")
        (directory / FACTS_FILE).write_text(
            json.dumps(self.facts, indent=2, sort_keys=True), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> Self:
        html = (directory / REPORT_FILE).read_text(encoding="utf-8")
        facts_path = directory / FACTS_FILE
        facts = json.loads(facts_path.read_text(encoding="utf-8")) if facts_path.is_file() else {}
        return cls(html, facts if isinstance(facts, dict) else {})

    def fingerprint(self) -> str:
        """sha256 of the HTML (the facts are rendered into it)."""
        return hashlib.sha256(self.html.encode("utf-8")).hexdigest()

    def export(self, run_dir: Path) -> None:
        """Write ``<run_dir>/report.html`` atomically, with this run's record filled in."""
        write_text_atomic(run_dir / REPORT_FILE, fill_run_record(self.html, run_dir))

    def finalize(self, run_dir: Path) -> None:
        """Publish ``report.html`` again once the manifest holds the final record."""
        self.export(run_dir)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReportResult):
            return NotImplemented
        return self.html == other.html and self.facts == other.facts

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ReportResult({len(self.html)} characters)"


def config_data(config: Any) -> dict[str, Any] | None:
    """The run's config as plain JSON data (a pydantic model or a mapping), or ``None``."""
    dump = getattr(config, "model_dump", None)
    if callable(dump):
        data = dump(mode="json")
        return dict(data) if isinstance(data, Mapping) else None
    if isinstance(config, Mapping):
        return dict(config)
    return None


def data_facts(data: Any) -> dict[str, Any]:
    """Shape and time span of the run's data (a ``Panel``), its target horizons and
    kinds, and its unique timestamps (for the fold timeline); only what ``data`` has."""
    shape: dict[str, Any] = {}
    for label, attr in (
        ("rows", "n_rows"),
        ("features", "n_features"),
        ("symbols", "n_symbols"),
        ("timestamps", "n_timestamps"),
    ):
        value = getattr(data, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            shape[label] = value
    targets = getattr(data, "target_names", None)
    if isinstance(targets, tuple | list):
        shape["targets"] = [str(t) for t in targets]
    timestamp_dtype = getattr(data, "timestamp_dtype", None)
    unique = getattr(data, "unique_timestamps", None)
    if isinstance(timestamp_dtype, str) and unique is not None and len(unique):
        try:
            shape["first timestamp"] = format_timestamp(int(unique[0]), timestamp_dtype)
            shape["last timestamp"] = format_timestamp(int(unique[-1]), timestamp_dtype)
        except (ValueError, TypeError):
            pass
    source = getattr(data, "source", None)
    if isinstance(source, str):
        shape["source"] = source
    facts: dict[str, Any] = {"data_shape": shape} if shape else {}
    if isinstance(timestamp_dtype, str):
        facts["timestamp_dtype"] = timestamp_dtype
    warnings = getattr(getattr(data, "report", None), "warnings", None)
    if warnings:
        facts["data_warnings"] = [str(w) for w in warnings]
    for key in ("horizons", "target_kinds"):
        found = getattr(data, key, None)
        if isinstance(found, Mapping):
            facts[key] = {str(k): v for k, v in found.items()}
    if unique is not None and len(unique):
        facts["timestamps"] = [int(t) for t in unique]
    return facts


def portable_facts(facts: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    """``facts`` safe to cache: the data source relative to the config's folder.

    The absolute path is not part of the report's cache key, so a cached report
    must not show it (a copy of the project elsewhere would show the old place).
    A source outside the config's folder is shown by file name; the data
    fingerprint, which is in the key, names the data exactly.
    """
    shape = facts.get("data_shape")
    if not isinstance(shape, dict):
        return facts
    shape = dict(shape)
    source = shape.get("source")
    base = getattr(ctx.config, "base_dir", None)
    if isinstance(source, str) and source and not source.startswith("<"):
        path = Path(source)
        if path.is_absolute():
            try:
                path = path.relative_to(base) if isinstance(base, Path) else Path(path.name)
            except ValueError:
                path = Path(path.name)
        shape["source"] = path.as_posix()
    shape["data fingerprint"] = ctx.data_fingerprint[:16]
    return {**facts, "data_shape": shape}


REPORTED_KINDS: dict[str, str] = {
    "leakage_screen": contracts.EXCLUSIONS,
    "target_ranking": contracts.RANKING_SCORES,
    "feature_selection": contracts.FEATURE_CHOICE,
    "training": contracts.TRAINING_METRICS,
    "stability": contracts.STABILITY_REPORT,
}
"""The result each part of the report draws, by contract kind (keys: the
:data:`~panelml.report.inputs.REPORTED_STAGES` the sections are named after)."""


@register_stage
class ReportStage(Stage[ReportParams]):
    """Write one self-contained report.html: summary, ranking, leakage, selection,
    training and stability across runs."""

    name = "report"
    Params = ReportParams
    result_type = ReportResult
    version = "1"

    def inputs(self) -> tuple[Input, ...]:
        """Every section's contract kind, each optional (a missing one gets a note)."""
        return tuple(Input(kind, optional=True) for kind in REPORTED_KINDS.values())

    def run(self, ctx: RunContext) -> ReportResult:
        config = config_data(ctx.config)
        facts = portable_facts(data_facts(ctx.data), ctx)
        inputs = ReportInputs(
            title=self.params.title or f"panelml report: {ctx.experiment}",
            experiment=ctx.experiment,
            config=config,
            data_shape=facts.get("data_shape"),
            results={
                section: found
                for section, kind in REPORTED_KINDS.items()
                if (found := ctx.input(kind)) is not None
            },
            pipeline=pipeline_names(config),
            top_features=self.params.top_features,
            max_targets=self.params.max_targets,
            ic_window=self.params.ic_window,
            timestamp_dtype=facts.get("timestamp_dtype"),
            data_warnings=facts.get("data_warnings", ()),
            horizons=facts.get("horizons", {}),
            target_kinds=facts.get("target_kinds", {}),
            timestamps=facts.get("timestamps", ()),
        )
        return ReportResult(render_report(inputs), facts)
