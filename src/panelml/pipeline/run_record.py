"""The record of one run: stage records, the manifest's life cycle, the final phase.

:class:`StageRecord` is one row of ``manifest.json``. :func:`start_manifest`
builds the manifest a run starts with (status ``running``); :func:`finish_run`
writes its final status (``finished``, ``failed``, ``interrupted``), then lets
each result publish what depends on the final record
(:meth:`~panelml.pipeline.stage.StageResult.finalize`, for example the report's
run-record block), then emits :class:`~panelml.pipeline.events.PipelineFinished`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from panelml.pipeline.context import RunContext
from panelml.pipeline.events import PipelineFinished
from panelml.pipeline.hashing import sha256_json
from panelml.pipeline.manifest import OUTPUT_SETTING, iso, library_versions, write_manifest
from panelml.pipeline.runstate import process_identity
from panelml.pipeline.signals import RunInterrupted
from panelml.pipeline.stage import StageResult
from panelml.pipeline.storage import storage_errors

Status = Literal["pending", "ran", "cached", "skipped", "failed", "interrupted"]


@dataclass
class StageRecord:
    """What happened to one stage in a run (one row of the manifest)."""

    name: str
    status: Status = "pending"
    seconds: float = 0.0
    cache_key: str | None = None
    fingerprint: str | None = None
    reason: str | None = None
    error: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    """sha256 of every file in the stage's run folder (``panelml runs verify``)."""
    summary: dict[str, Any] | None = None
    """The result's :meth:`~panelml.pipeline.stage.StageResult.manifest_summary`."""


@dataclass
class RunResult:
    """The outcome of a successful run: where it is, its manifest and its results."""

    run_dir: Path
    manifest: dict[str, Any]
    results: dict[str, StageResult] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return str(self.manifest["run_id"])


def start_manifest(
    ctx: RunContext,
    records: Mapping[str, StageRecord],
    started: float,
    config_snapshot: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The manifest a run starts with (status ``running``)."""
    return {
        "run_id": ctx.run_id,
        "experiment": ctx.experiment,
        "status": "running",
        "started": iso(started),
        "finished": None,
        "seconds": None,
        "process": process_identity(),
        "seed": ctx.seed,
        "data_fingerprint": ctx.data_fingerprint,
        "config_hash": None if config_snapshot is None else sha256_json(config_snapshot),
        "versions": library_versions(),
        # what loading did to the data (dropped columns, NaN/inf, ...): Panel.report
        "data_warnings": [
            str(w) for w in getattr(getattr(ctx.data, "report", None), "warnings", None) or ()
        ],
        "stages": [dict(vars(r)) for r in records.values()],
    }


def finish_run(
    ctx: RunContext,
    manifest: dict[str, Any],
    records: Mapping[str, StageRecord],
    started: float,
    error: BaseException | None,
) -> None:
    """Write the final manifest, finalize the results, emit ``PipelineFinished``.

    With ``error`` set, nothing here replaces it: later problems become notes on it.
    Without, a failing finalize or a strict hook marks the run ``failed`` and raises.
    """
    finished = time.time()
    if error is None:
        status = "finished"
    elif isinstance(error, RunInterrupted):
        status = "interrupted"
        error.run_dir = ctx.run_dir
    else:
        status = "failed"
    manifest.update(
        status=status,
        finished=iso(finished),
        seconds=round(finished - started, 6),
        stages=[dict(vars(r)) for r in records.values()],
    )
    if error is not None:
        manifest["error"] = repr(error)
    try:
        write_manifest(ctx.run_dir, manifest)
    except Exception as exc:
        if error is None:
            raise
        error.add_note(
            f"panelml: the manifest could not be written: {exc}"
            if isinstance(exc, OSError)  # StorageError is not an OSError: a real OS fault
            else f"panelml: additionally, {exc}"
        )
    try:
        with storage_errors(ctx.run_dir, OUTPUT_SETTING):
            for result in ctx.results.values():
                result.finalize(ctx.run_dir)
        ctx.events.emit(
            PipelineFinished(
                run_id=ctx.run_id,
                status=manifest["status"],
                seconds=manifest["seconds"],
                error=None if error is None else repr(error),
                context=ctx,
            )
        )
    except Exception as exc:
        if error is not None:
            error.add_note(f"panelml: additionally, {exc}")
            return
        manifest.update(status="failed", error=repr(exc))
        write_manifest(ctx.run_dir, manifest)
        raise


__all__ = ["RunResult", "StageRecord", "finish_run", "start_manifest"]
