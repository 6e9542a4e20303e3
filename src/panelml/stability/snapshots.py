"""The snapshot store: per-target feature importance of every run of an experiment.

Why: stability across runs can only be measured if each run leaves a record of
what it selected and how it ranked features. After ``feature_selection`` and
``training`` the built-in ``stability_snapshots`` hook
(:mod:`panelml.stability.hooks`) appends one row per (target, method, feature)
to the experiment's store; the ``stability`` stage and ``panelml stability``
read it back.

Layout and safety. The store lives at
``<output_dir>/<experiment>/stability/snapshots.parquet``, which is a
**directory** (a parquet dataset), not a file::

    snapshots.parquet/
      part-<run_id>--<stage>.parquet     one complete part per (run, stage)
      .part-....parquet.<pid>.<random>.tmp   a write in progress (ignored)

A part is written to a hidden temporary file in the same folder, flushed to
disk, and then atomically renamed onto its final name
(:func:`panelml.pipeline.run_folder.atomic_path`, the run folder's one atomic
write).
Readers list ``*.parquet`` only, so they never see a temporary file; a run
killed in the middle of a write leaves at most a stray ``.tmp`` file and every
complete part stays readable. Two runs never write the same part name (the run
id is in it), so concurrent runs need no lock; writing the same (run, stage)
again (a resumed run) replaces that part as a whole. Stale temporary files can
be removed with :meth:`SnapshotStore.remove_stale_temp_files`.

Columns (:data:`SNAPSHOT_SCHEMA`): run_id, experiment, target, stage, method,
feature, importance, rank, selected, created (UTC).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from panelml import contracts
from panelml.pipeline.errors import UserError
from panelml.pipeline.run_folder import atomic_path

__all__ = [
    "SNAPSHOT_SCHEMA",
    "STORE_NAME",
    "SnapshotStore",
    "SnapshotStoreError",
    "empty_snapshots",
    "selection_snapshots",
    "snapshots_from_result",
    "training_snapshots",
]

STORE_DIR = "stability"
STORE_NAME = "snapshots.parquet"
_PART_PREFIX = "part-"
_TEMP_SUFFIX = ".tmp"
_SAFE = re.compile(r"[^A-Za-z0-9_.=-]")

SNAPSHOT_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "experiment": pl.String(),
    "target": pl.String(),
    "stage": pl.String(),
    "method": pl.String(),
    "feature": pl.String(),
    "importance": pl.Float64(),
    "rank": pl.Int64(),
    "selected": pl.Boolean(),
    "created": pl.Datetime("us", "UTC"),
}
"""Column names and types of every snapshot part."""

#: The ``method`` of a feature-selection snapshot (the consensus ranking).
CONSENSUS = "consensus"


class SnapshotStoreError(UserError):
    """The snapshot store or a snapshot frame is not what panelml expects."""


def empty_snapshots() -> pl.DataFrame:
    """A snapshot frame with no rows (the right columns and types)."""
    return pl.DataFrame(schema=SNAPSHOT_SCHEMA)


def _safe_token(text: str) -> str:
    """``text`` usable inside a file name; altered names get a short hash suffix."""
    cleaned = _SAFE.sub("_", text)
    if cleaned == text and text:
        return text
    return f"{cleaned}~{hashlib.sha256(text.encode()).hexdigest()[:8]}"


class SnapshotStore:
    """The append-only snapshot dataset of one experiment (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_experiment(cls, experiment_dir: Path) -> SnapshotStore:
        """The store of ``<output_dir>/<experiment>/``."""
        return cls(Path(experiment_dir) / STORE_DIR / STORE_NAME)

    @classmethod
    def for_run(cls, run_dir: Path) -> SnapshotStore:
        """The store of the experiment a run folder ``<output_dir>/<experiment>/<run_id>`` is in."""
        return cls.for_experiment(Path(run_dir).parent)

    # -- writing -----------------------------------------------------------------
    def part_path(self, run_id: str, stage: str) -> Path:
        """Where the part of ``(run_id, stage)`` lives."""
        return self.path / f"{_PART_PREFIX}{_safe_token(run_id)}--{_safe_token(stage)}.parquet"

    def write(self, frame: pl.DataFrame, *, run_id: str, stage: str) -> Path:
        """Write the snapshots of one (run, stage) as one part, atomically.

        ``frame`` must have the :data:`SNAPSHOT_SCHEMA` columns (extra columns are
        dropped, types are cast). An existing part of the same run and stage is
        replaced as a whole. Returns the part's path.
        """
        missing = [c for c in SNAPSHOT_SCHEMA if c not in frame.columns]
        if missing:
            raise SnapshotStoreError(
                f"snapshot frame for run {run_id!r}, stage {stage!r} lacks columns {missing}; "
                "build it with panelml.stability.snapshots.snapshots_from_result"
            )
        if self.path.exists() and not self.path.is_dir():
            raise SnapshotStoreError(
                f"{self.path} is a file, but the snapshot store must be a folder of parquet "
                "parts; move the file away and rerun"
            )
        data = frame.select([pl.col(c).cast(t) for c, t in SNAPSHOT_SCHEMA.items()])
        self.path.mkdir(parents=True, exist_ok=True)
        final = self.part_path(run_id, stage)
        with atomic_path(final) as temp, temp.open("wb") as handle:
            data.write_parquet(handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        return final

    def remove_stale_temp_files(self, older_than_s: float = 3600.0) -> list[Path]:
        """Delete temporary files of writes that died more than ``older_than_s`` ago."""
        removed: list[Path] = []
        if not self.path.is_dir():
            return removed
        cutoff = time.time() - older_than_s
        for temp in sorted(self.path.glob(f".*{_TEMP_SUFFIX}")):
            try:
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()
                    removed.append(temp)
            except FileNotFoundError:
                continue
        return removed

    # -- reading -----------------------------------------------------------------
    def parts(self) -> list[Path]:
        """The complete parts, in name order (temporary files are never listed)."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.glob("*.parquet") if not p.name.startswith("."))

    def read(
        self,
        *,
        experiment: str | None = None,
        exclude_run: str | None = None,
        methods: Iterable[str] | None = None,
    ) -> pl.DataFrame:
        """Every snapshot row, optionally filtered, sorted by created, run_id, target,
        method, rank and feature (a stable order)."""
        parts = self.parts()
        if not parts:
            return empty_snapshots()
        try:
            lazy = pl.scan_parquet([str(p) for p in parts])
            if experiment is not None:
                lazy = lazy.filter(pl.col("experiment") == experiment)
            if exclude_run is not None:
                lazy = lazy.filter(pl.col("run_id") != exclude_run)
            if methods is not None:
                lazy = lazy.filter(pl.col("method").is_in(list(methods)))
            frame = lazy.select(list(SNAPSHOT_SCHEMA)).collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise SnapshotStoreError(
                f"cannot read the snapshot store {self.path}: {exc}; move the unreadable part "
                "out of the folder and rerun"
            ) from None
        return frame.sort(["created", "run_id", "target", "method", "rank", "feature"])

    def run_ids(self) -> list[str]:
        """Run ids in the store, oldest first (by their earliest snapshot)."""
        frame = self.read()
        if frame.height == 0:
            return []
        first = frame.group_by("run_id").agg(pl.col("created").min()).sort(["created", "run_id"])
        return [str(r) for r in first["run_id"].to_list()]


# -- building snapshots from stage results ----------------------------------------
def _rows_frame(
    rows: pl.DataFrame, *, run_id: str, experiment: str, stage: str, created: datetime
) -> pl.DataFrame:
    """Add the run columns to (target, method, feature, importance, rank, selected) rows."""
    return rows.with_columns(
        pl.lit(run_id, pl.String()).alias("run_id"),
        pl.lit(experiment, pl.String()).alias("experiment"),
        pl.lit(stage, pl.String()).alias("stage"),
        pl.lit(created, pl.Datetime("us", "UTC")).alias("created"),
    ).select([pl.col(c).cast(t) for c, t in SNAPSHOT_SCHEMA.items()])


def selection_snapshots(
    tables: Mapping[str, pl.DataFrame],
    *,
    run_id: str,
    experiment: str,
    stage: str = "feature_selection",
    created: datetime | None = None,
    targets: Iterable[str] | None = None,
) -> pl.DataFrame:
    """Snapshots of a feature-selection result: per target table (feature,
    consensus_score, rank, selected); ``method`` is ``"consensus"``.

    Tables without those columns are ignored, so a result may carry other tables.
    """
    when = created or datetime.now(UTC)
    names = list(targets) if targets is not None else sorted(tables)
    frames: list[pl.DataFrame] = []
    for target in names:
        table = tables.get(target)
        if table is None or not {"feature", "consensus_score", "rank", "selected"} <= set(
            table.columns
        ):
            continue
        rows = table.select(
            pl.lit(target, pl.String()).alias("target"),
            pl.lit(CONSENSUS, pl.String()).alias("method"),
            pl.col("feature").cast(pl.String()),
            pl.col("consensus_score").cast(pl.Float64()).alias("importance"),
            pl.col("rank").cast(pl.Int64()),
            pl.col("selected").cast(pl.Boolean()).fill_null(False),
        )
        frames.append(
            _rows_frame(rows, run_id=run_id, experiment=experiment, stage=stage, created=when)
        )
    return pl.concat(frames) if frames else empty_snapshots()


def training_snapshots(
    importances: pl.DataFrame,
    *,
    run_id: str,
    experiment: str,
    stage: str = "training",
    created: datetime | None = None,
) -> pl.DataFrame:
    """Snapshots of a training result's ``importances`` table (target, family,
    feature, importance, rank); ``method`` is the family and every listed feature
    is ``selected`` (it is in the model), unless the table says otherwise in a
    ``selected`` column."""
    when = created or datetime.now(UTC)
    needed = {"target", "family", "feature", "importance"}
    if not needed <= set(importances.columns):
        return empty_snapshots()
    frame = importances
    if "rank" not in frame.columns:
        frame = frame.with_columns(
            pl.col("importance")
            .rank(method="ordinal", descending=True)
            .over(["target", "family"])
            .alias("rank")
        )
    selected = pl.col("selected") if "selected" in frame.columns else pl.lit(True)
    rows = frame.select(
        pl.col("target").cast(pl.String()),
        pl.col("family").cast(pl.String()).alias("method"),
        pl.col("feature").cast(pl.String()),
        pl.col("importance").cast(pl.Float64()),
        pl.col("rank").cast(pl.Int64()),
        selected.cast(pl.Boolean()).fill_null(True).alias("selected"),
    )
    return _rows_frame(rows, run_id=run_id, experiment=experiment, stage=stage, created=when)


def snapshots_from_result(
    result: Any,
    *,
    run_id: str,
    experiment: str,
    stage: str,
    created: datetime | None = None,
) -> pl.DataFrame:
    """Snapshots of any result that follows the built-in selection or training
    contract: an ``importances`` table with a ``family`` column is read as
    training (``TrainedModels``), per-target tables (the ``FeatureChoice``
    targets, :func:`panelml.contracts.feature_choice_targets`) with
    ``consensus_score`` as feature selection. Anything else gives no rows."""
    tables = getattr(result, "tables", None)
    if not isinstance(tables, Mapping):
        return empty_snapshots()
    importances = tables.get("importances")
    if isinstance(importances, pl.DataFrame) and "family" in importances.columns:
        return training_snapshots(
            importances, run_id=run_id, experiment=experiment, stage=stage, created=created
        )
    targets = contracts.feature_choice_targets(result)
    return selection_snapshots(
        tables,
        run_id=run_id,
        experiment=experiment,
        stage=stage,
        created=created,
        targets=targets,
    )
