"""What the training stage asks of tuning: chosen params per outer fold and for the
final model, the trial records, and the ``tuning`` record of ``meta.json``.

For a tuned (target, family, unit) it runs one study per outer fold on that
fold's training rows, and one on every row of the unit for the final model
(:mod:`panelml.stages.training._tuning` says why this keeps outer metrics
out-of-sample). Studies of one (target, family) share the SQLite file
``training/tuning/<target>/<family>.db`` in the run folder; a rerun of an
interrupted run first copies that file from the newest earlier run of the
experiment, so finished trials are kept. Trials become the result's ``tuning``
table, exported as ``training/tuning/<target>/<family>.parquet`` (one row per
trial per outer fold; fold -1 is the final model's study).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.data.panel import Panel
from panelml.models.base import ModelFamily, PreparedData
from panelml.models.bundle import safe_name
from panelml.stages.fitting import Fold
from panelml.stages.training._tuning import FINAL, TuningJob, load_optuna, resumable_copy
from panelml.stages.training._tuning_space import TuningSpec, resolve_space
from panelml.validation.splitters import resolve_embargo

__all__ = [
    "TUNING_DIR",
    "TUNING_SCHEMA",
    "StageTuner",
    "TunedUnit",
    "stage_tuner",
    "tuning_frame",
    "write_tuning",
]

TUNING_DIR = "tuning"
"""Folder under the stage's run folder (``training/tuning/<target>/<family>.*``)."""

TUNING_SCHEMA: dict[str, Any] = {
    "target": pl.String,
    "family": pl.String,
    "symbol": pl.String,
    "fold": pl.Int64,
    "trial": pl.Int64,
    "state": pl.String,
    "value": pl.Float64,
    "n_inner_scored": pl.Int64,
    "duration_s": pl.Float64,
    "params": pl.String,
}
"""Columns of the ``tuning`` table: ``value`` is the mean inner rank IC (the last
running mean for a pruned trial), ``params`` the trial's params as JSON, ``symbol``
null for pooled models."""


@dataclass
class TunedUnit:
    """Chosen params of one (target, family, unit): per outer fold and for the final model."""

    fold_params: dict[int, dict[str, Any]]
    final_params: dict[str, Any]
    final_iterations: list[int | None]
    record: dict[str, Any]


@dataclass
class StageTuner:
    """Runs the studies of one stage run; ``seed(*purpose)`` is the run's child seed."""

    specs: Mapping[str, TuningSpec]
    panel: Panel
    scheme: str
    embargo: int
    min_names: int
    early_stopping_fraction: float
    seed: Callable[..., int]
    run_dir: Path | None
    warn: Callable[[str], None]
    records: list[dict[str, Any]] = field(default_factory=list)
    _jobs: dict[tuple[str, str], TuningJob] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.specs:
            load_optuna()  # a missing extra is a clear error before any fit

    def tunes(self, family: str) -> bool:
        return family in self.specs

    def study_path(self, target: str, family: str) -> Path | None:
        if self.run_dir is None:
            return None
        folder = self.run_dir / "training" / TUNING_DIR / safe_name(target)
        return folder / f"{safe_name(family)}.db"

    def _job(
        self,
        target: str,
        family: str,
        cls: type[ModelFamily],
        params: Mapping[str, Any],
        prepared: PreparedData,
        y: npt.NDArray[np.float64],
        early_stopping: bool,
    ) -> TuningJob:
        key = (target, family)
        if key not in self._jobs:
            spec = self.specs[family]
            path = self.study_path(target, family)
            if path is not None and self.run_dir is not None:
                source = resumable_copy(path, self.run_dir.parent)
                if source is not None:
                    self.warn(
                        f"training.tuning: {family} studies of {target!r} continue from "
                        f"{source.parent.parent.parent.parent.name}"
                    )
            self._jobs[key] = TuningJob(
                family=cls,
                family_name=family,
                task=self.panel.target_kinds[target],
                base_params=dict(params),
                spec=spec,
                space=resolve_space(family, spec),
                prepared=prepared,
                y=y,
                codes=self.panel.timestamp_index,
                horizon=self.panel.horizons[target],
                embargo=self.embargo,
                scheme=self.scheme,
                early_stopping=early_stopping,
                early_stopping_fraction=self.early_stopping_fraction,
                min_names=self.min_names,
                seed=lambda slot, role: self.seed(target, family, "tuning", slot, role),
                storage_path=path,
                warn=self.warn,
            )
        return self._jobs[key]

    def tune(
        self,
        target: str,
        family: str,
        cls: type[ModelFamily],
        params: Mapping[str, Any],
        *,
        prepared: PreparedData,
        y: npt.NDArray[np.float64],
        early_stopping: bool,
        rows: npt.NDArray[np.int64],
        folds: Sequence[Fold],
        unit: str = "",
    ) -> TunedUnit:
        """Tune ``family`` for every outer fold of one unit and for its final model."""
        job = self._job(target, family, cls, params, prepared, y, early_stopping)
        fold_params: dict[int, dict[str, Any]] = {}
        values: dict[str, float] = {}
        for fold in folds:
            outcome = job.run(fold.index, fold.train, unit=unit)
            fold_params[fold.index] = outcome.params
            values[str(fold.index)] = outcome.value
            self._keep(target, family, unit, outcome.records)
        final = job.run(FINAL, rows, unit=unit)
        self._keep(target, family, unit, final.records)
        path = self.study_path(target, family)
        record = {
            "params": final.params,
            "inner_ic": final.value,
            "fold_params": {str(k): v for k, v in fold_params.items()},
            "fold_inner_ic": values,
            "n_trials": job.spec.n_trials,
            "inner_splits": job.spec.inner_splits,
            "pruner": job.spec.pruner,
            "space": {k: v.describe() for k, v in job.space.items()},
            "study": None
            if path is None or self.run_dir is None
            else str(path.relative_to(self.run_dir)),
            "rule": "outer fold k: best mean inner rank IC over inner purged folds of fold "
            "k's training rows; final model: the same on every row",
        }
        return TunedUnit(fold_params, final.params, final.best_iterations, record)

    def study_files(self) -> dict[str, bytes]:
        """Every study file, by its path under the stage folder (``tuning/<target>/...``).

        The runner replaces the stage folder with the saved result, so the result
        carries the finished studies and writes them back (an interrupted run
        leaves its files in place, where a rerun finds them)."""
        out: dict[str, bytes] = {}
        for job in self._jobs.values():
            path = job.storage_path
            if path is not None and path.is_file() and self.run_dir is not None:
                job.close()
                out[str(path.relative_to(self.run_dir / "training"))] = path.read_bytes()
        return out

    def _keep(self, target: str, family: str, unit: str, records: list[dict[str, Any]]) -> None:
        for row in records:
            self.records.append({"target": target, "family": family, "symbol": unit or None, **row})


def tuning_frame(records: list[dict[str, Any]]) -> pl.DataFrame:
    """The ``tuning`` table (empty with its columns when nothing was tuned)."""
    if not records:
        return pl.DataFrame(schema=TUNING_SCHEMA)
    return pl.DataFrame(records, schema=TUNING_SCHEMA)


def stage_tuner(
    specs: Mapping[str, TuningSpec],
    ctx: Any,
    panel: Panel,
    validation: Any,
    early_stopping_fraction: float,
) -> StageTuner | None:
    """The tuner of one training run (``None`` when ``training.tuning`` is empty);
    ``ctx`` is the run's context, ``validation`` the stage's validation spec."""
    if not specs:
        return None
    return StageTuner(
        specs=specs,
        panel=panel,
        scheme=str(validation.scheme),
        embargo=resolve_embargo(validation, panel.n_timestamps),
        min_names=int(validation.min_names),
        early_stopping_fraction=early_stopping_fraction,
        seed=lambda *purpose: int(ctx.child_seed("training", *purpose)),
        run_dir=Path(ctx.run_dir) if ctx.run_dir is not None else None,
        warn=ctx.reporter.warn,
    )


def write_tuning(table: pl.DataFrame, stage_dir: Path) -> None:
    """``<stage_dir>/tuning/<target>/<family>.parquet`` for every (target, family)."""
    for (target, family), part in table.group_by(["target", "family"], maintain_order=True):
        folder = stage_dir / TUNING_DIR / safe_name(str(target))
        folder.mkdir(parents=True, exist_ok=True)
        part.write_parquet(folder / f"{safe_name(str(family))}.parquet")
