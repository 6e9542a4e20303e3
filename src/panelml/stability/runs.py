"""Reading run folders: the runs of an output folder and the content digest of each
result file. The record of one run (:class:`RunFolder`, :func:`open_run`) is the run
folder module's (:mod:`panelml.pipeline.run_folder`), re-exported here.

Results inside a run folder are read through :mod:`panelml.contracts`
(:func:`load_stage` + a reader), never by a parquet path, so a stage that writes
the documented tables is read the same way as a built-in one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from panelml import contracts
from panelml.pipeline.results import TableResult, frame_digest
from panelml.pipeline.run_folder import (
    CONFIG_FILE,
    MANIFEST,
    RunFolder,
    RunFolderError,
    open_run,
)

__all__ = [
    "CONFIG_FILE",
    "MANIFEST_FILE",
    "RESULT_STAGES",
    "RunFolder",
    "RunSummary",
    "RunsError",
    "list_runs",
    "load_stage",
    "open_run",
    "result_digests",
]


RunsError = RunFolderError
"""A folder given as a run is not a panelml run folder (the run folder's own error)."""

MANIFEST_FILE = MANIFEST


@dataclass(frozen=True)
class RunSummary:
    """One line of ``panelml runs list``."""

    experiment: str
    run_id: str
    started: str | None
    status: str
    seconds: float | None
    top_targets: list[str]
    path: Path


def _selected_targets(run_dir: Path, limit: int = 3) -> list[str]:
    """The first ``limit`` targets the run's ranking selected (none when unreadable)."""
    try:
        chosen = contracts.selected_targets(load_stage(run_dir, "target_ranking"))
    except contracts.ContractReadError:
        return []
    return chosen[:limit]


def _run_dirs(root: Path) -> list[Path]:
    """Run folders under ``root``: itself, its children or its grandchildren."""
    if (root / MANIFEST_FILE).is_file():
        return [root]
    children = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    found = [p for p in children if (p / MANIFEST_FILE).is_file()]
    if found:
        return found
    return sorted(p.parent for p in root.glob(f"*/*/{MANIFEST_FILE}"))


def list_runs(root: Path) -> list[RunSummary]:
    """Every run under ``root`` (an output folder, an experiment folder or one run),
    ordered by experiment, start time and run id."""
    if not Path(root).is_dir():
        raise RunsError(f"{root} is not a folder; give the runs folder (runtime.output_dir)")
    out: list[RunSummary] = []
    for run_dir in _run_dirs(Path(root)):
        try:
            run = open_run(run_dir)
        except RunsError:
            continue
        seconds = run.manifest.get("seconds")
        started = run.manifest.get("started")
        out.append(
            RunSummary(
                experiment=run.experiment,
                run_id=run.run_id,
                started=str(started) if started else None,
                status=str(run.manifest.get("status", "unknown")),
                seconds=float(seconds) if isinstance(seconds, int | float) else None,
                top_targets=_selected_targets(run_dir),
                path=run_dir,
            )
        )
    return sorted(out, key=lambda r: (r.experiment, r.started or "", r.run_id))


def load_stage(run_dir: Path, stage: str) -> TableResult | None:
    """The saved result of ``stage`` in a run folder, for the contract readers
    (``None`` when the stage did not run or its folder cannot be read)."""
    return contracts.load_tables(run_dir / stage)


RESULT_STAGES: tuple[str, ...] = (
    "leakage_screen",
    "target_ranking",
    "feature_selection",
    "training",
    "models",
)
"""Folders whose files are compared by content. ``stability/`` (which depends on
the runs before it) and the report (which shows timings) are left out."""


def result_digests(run_dir: Path, stages: Iterable[str] = RESULT_STAGES) -> dict[str, str]:
    """A content digest per result file of a run (relative path -> sha256).

    Parquet files are hashed by content (:func:`~panelml.pipeline.results.frame_digest`,
    independent of the writer); ``meta.json`` files without their time fields
    (keys containing time, created, date, seconds, duration, started, finished);
    the stage index files ``result.json`` are left out (their tables are hashed);
    any other file (native model files) by its bytes.
    """
    out: dict[str, str] = {}
    for stage in stages:
        base = run_dir / stage
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(run_dir).as_posix()
            if path.name == "result.json" and path.parent == base:
                continue
            if path.suffix == ".parquet":
                out[rel] = frame_digest(pl.read_parquet(path))
            elif path.name == "meta.json":
                data = json.loads(path.read_text(encoding="utf-8"))
                text = json.dumps(_strip_times(data), sort_keys=True, default=str)
                out[rel] = hashlib.sha256(text.encode()).hexdigest()
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _is_time_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _TIME_KEYS or lowered.endswith(_TIME_SUFFIXES)


def _strip_times(value: Any) -> Any:
    """JSON data without keys that record when or how long (they always differ)."""
    if isinstance(value, Mapping):
        return {k: _strip_times(v) for k, v in value.items() if not _is_time_key(str(k))}
    if isinstance(value, list):
        return [_strip_times(v) for v in value]
    return value


_TIME_KEYS = frozenset(
    {"created", "saved", "time", "date", "started", "finished", "seconds", "duration"}
)
_TIME_SUFFIXES = ("_at", "_time", "_seconds", "_date", "_duration")
