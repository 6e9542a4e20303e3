"""The training stage's result: tables, saved models, and the helpers that build its tables.

``TrainingResult`` follows the contract in docs/architecture.md ("Built-in stage
results"): tables ``metrics``, ``oof_<target>`` and ``importances``; ``export``
writes ``models/<target>/<family>/`` (layout: :mod:`panelml.predict`) and
``training/oof/<target>.parquet`` into the run folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml import contracts
from panelml.data.panel import Panel
from panelml.models.bundle import MODELS_DIR, ModelBundle, read_bundle, safe_name, write_bundle
from panelml.pipeline.results import TableResult
from panelml.predict import RunModels
from panelml.stages.fitting import FamilySpec, PreparedCache
from panelml.stages.training._fit import TargetFit, normalised_importance
from panelml.stages.training._metrics import METRIC_COLUMNS, SIGNIFICANCE_COLUMNS
from panelml.stages.training._tuner import write_tuning
from panelml.validation.ranks import rank_average

STAGE_NAME = "training"
ENSEMBLE = "ensemble"
OOF_DIR = "oof"


class TrainingResult(TableResult):
    """Tables ``metrics``, ``importances`` and ``oof_<target>``; the saved models.

    A freshly computed result holds its models in memory; a result loaded from a
    folder (cache) reads them from that folder's ``models/`` when needed.
    """

    provides: ClassVar[tuple[str, ...]] = (
        contracts.OOF_PREDICTIONS,
        contracts.TRAINING_METRICS,
        contracts.TRAINED_MODELS,
    )
    _bundles: list[ModelBundle]
    _source: Path | None

    def __init__(
        self,
        tables: Mapping[str, pl.DataFrame],
        meta: Mapping[str, Any],
        bundles: Sequence[ModelBundle] = (),
    ) -> None:
        super().__init__(tables, meta)
        self._bundles = list(bundles)
        self._source = None
        self.study_files: dict[str, bytes] = {}
        """Tuning studies (path under the stage folder -> SQLite bytes), written by save."""

    def manifest_summary(self) -> dict[str, Any]:
        """The device each (target, family) model was fitted on, for ``manifest.json``."""
        return {"devices": dict(self.meta.get("devices", {}))}

    # -- accessors ----------------------------------------------------------------
    @property
    def metrics(self) -> pl.DataFrame:
        """One row per (target, family, fold); fold -1 summarises all OOF rows."""
        return self.tables["metrics"]

    @property
    def importances(self) -> pl.DataFrame:
        """target, family, feature, importance (sums to 1 per model), rank."""
        return self.tables["importances"]

    def targets(self) -> list[str]:
        """The targets that got models, in training order."""
        return list(self.meta.get("targets", []))

    def oof(self, target: str) -> pl.DataFrame:
        """OOF predictions of ``target``: symbol, timestamp, target, families, ensemble."""
        return contracts.oof(self, target)

    def contract_problems(self) -> list[str]:
        """Ways the tables break the contracts in ``provides`` (:mod:`panelml.contracts`)."""
        return contracts.result_problems(self, self.provides)

    def summary(self) -> pl.DataFrame:
        """The fold -1 rows of ``metrics``."""
        return self.metrics.filter(pl.col("fold") == -1)

    def run_models(self) -> RunModels:
        """The trained models ready to predict (in memory, or read from the saved folder)."""
        bundles = self._bundles
        if not bundles and self._source is not None:
            root = self._source / MODELS_DIR
            bundles = [read_bundle(p.parent) for p in sorted(root.glob("*/*/meta.json"))]
        columns = self.meta.get("columns", {})
        return RunModels(
            bundles,
            symbol_column=columns.get("symbol", "symbol"),
            timestamp_column=columns.get("timestamp", "timestamp"),
            source="<training result>",
        )

    # -- persistence ----------------------------------------------------------------
    @classmethod
    def from_parts(cls, tables: Mapping[str, pl.DataFrame], meta: Mapping[str, Any]) -> Self:
        obj = super().from_parts(tables, meta)
        obj._bundles, obj._source = [], None
        obj.study_files = {}
        return obj

    def save(self, directory: Path) -> None:
        """Tables and meta (TableResult), plus ``models/`` with every saved model."""
        super().save(directory)
        self._write_models(directory / MODELS_DIR)
        for relative, data in self.study_files.items():
            (directory / relative).parent.mkdir(parents=True, exist_ok=True)
            (directory / relative).write_bytes(data)

    @classmethod
    def load(cls, directory: Path) -> Self:
        obj = super().load(directory)
        obj._source = Path(directory)
        return obj

    def export(self, run_dir: Path) -> None:
        """``models/<target>/<family>/`` and ``training/oof/<target>.parquet`` in the run."""
        self._write_models(run_dir / MODELS_DIR)
        oof_dir = run_dir / STAGE_NAME / OOF_DIR
        oof_dir.mkdir(parents=True, exist_ok=True)
        for target, table in self.meta.get("oof_tables", {}).items():
            self.tables[table].write_parquet(oof_dir / f"{safe_name(target)}.parquet")
        if "tuning" in self.tables:
            write_tuning(self.tables["tuning"], run_dir / STAGE_NAME)

    def _write_models(self, root: Path) -> None:
        if self._bundles:
            for bundle in self._bundles:
                folder = bundle.folder(root)
                if folder.exists():
                    shutil.rmtree(folder)
                write_bundle(bundle, root)
            return
        saved = None if self._source is None else self._source / MODELS_DIR
        if saved is not None and saved.is_dir() and saved.resolve() != root.resolve():
            shutil.copytree(saved, root, dirs_exist_ok=True)


# -- tables ---------------------------------------------------------------------------
def ensemble_scores(
    panel: Panel, fit: TargetFit, families: Sequence[FamilySpec]
) -> npt.NDArray[np.float64]:
    """Rank-average of the families' OOF predictions per timestamp (NaN where untested)."""
    tested = fit.fold_of_row >= 0
    predictions = [np.where(tested, fit.oof[spec.name], np.nan) for spec in families]
    return rank_average(predictions, panel.timestamp_index)


def oof_table(
    panel: Panel, target: str, fit: TargetFit, families: Sequence[FamilySpec]
) -> pl.DataFrame:
    rows = np.flatnonzero(fit.fold_of_row >= 0)
    scores = ensemble_scores(panel, fit, families)
    columns = [
        panel.symbol_names(panel.symbol_codes[rows]).alias("symbol"),
        panel.timestamps_as_series(panel.timestamps[rows], name="timestamp"),
        pl.Series("target", panel.targets[target][rows], dtype=pl.Float64),
        *(pl.Series(s.name, fit.oof[s.name][rows], dtype=pl.Float64) for s in families),
        pl.Series(ENSEMBLE, scores[rows], dtype=pl.Float64),
        pl.Series("fold", fit.fold_of_row[rows], dtype=pl.Int64),
    ]
    return pl.DataFrame(columns)


def importance_rows(
    target: str,
    features: Sequence[str],
    fit: TargetFit,
    families: Sequence[FamilySpec],
    cache: PreparedCache,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for spec in families:
        final = fit.finals[spec.name]
        X = cache.get(spec.cls, features, spec.params).X
        models = [final.model] if final.model is not None else list(final.by_symbol.values())
        rows = np.concatenate(fit.trained_rows)
        values = [normalised_importance(m, X, np.sort(rows)) for m in models if m is not None]
        known = [v for v in values if v is not None]
        if not known:
            continue
        mean = np.mean(np.vstack(known), axis=0)
        order = sorted(range(len(features)), key=lambda j: (-float(mean[j]), features[j]))
        for rank, j in enumerate(order, start=1):
            out.append(
                {
                    "target": target,
                    "family": spec.name,
                    "feature": features[j],
                    "importance": float(mean[j]),
                    "rank": rank,
                }
            )
    return out


METRIC_SCHEMA: dict[str, Any] = {
    "target": pl.String,
    "family": pl.String,
    "fold": pl.Int64,
    **dict.fromkeys(METRIC_COLUMNS, pl.Float64),
    "best_iteration": pl.Int64,
    "n_train": pl.Int64,
    "n_test": pl.Int64,
    **dict.fromkeys(SIGNIFICANCE_COLUMNS, pl.Float64),
}


def metrics_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=METRIC_SCHEMA) if rows else None
    if frame is None:
        return pl.DataFrame(schema=METRIC_SCHEMA)
    return frame.with_columns(
        pl.col(c).fill_nan(None) for c in (*METRIC_COLUMNS, *SIGNIFICANCE_COLUMNS)
    )


def importances_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {
        "target": pl.String,
        "family": pl.String,
        "feature": pl.String,
        "importance": pl.Float64,
        "rank": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
