"""Scoring new data with a run's saved models (:class:`RunModels`, :func:`load_run`);
the package docstring (:mod:`panelml.predict`) describes the output columns."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import yaml

from panelml.data.errors import DataError
from panelml.data.tables import as_polars
from panelml.data.timestamps import encode_timestamps
from panelml.models.bundle import (
    MODELS_DIR,
    BundleError,
    ModelBundle,
    bundle_folders,
    read_bundle,
)
from panelml.pipeline.run_folder import CONFIG_FILE
from panelml.pipeline.runstate import read_manifest, run_state
from panelml.validation.ranks import rank_average

__all__ = [
    "ENSEMBLE",
    "ENSEMBLE_PROBA",
    "PredictError",
    "RunModels",
    "load_run",
    "require_finished",
    "single_row_warning",
]

ENSEMBLE = "ensemble"
ENSEMBLE_PROBA = "ensemble_proba"
"""What :func:`write_frame` writes, by the output file's suffix (case-insensitive)."""

PredictError = BundleError
"""A run folder or the data to score cannot be used as asked (a ``UserError``).
The same class as :class:`panelml.models.bundle.BundleError`, so a damaged model
folder and bad data to score are caught alike."""


class RunModels:
    """The trained models of one run, ready to score new data."""

    def __init__(
        self,
        bundles: Sequence[ModelBundle],
        *,
        symbol_column: str = "symbol",
        timestamp_column: str = "timestamp",
        source: str = "<memory>",
    ) -> None:
        self.bundles = sorted(bundles, key=lambda b: (b.target, b.family))
        self.symbol_column = symbol_column
        self.timestamp_column = timestamp_column
        self.source = source

    def __repr__(self) -> str:
        return f"RunModels({', '.join(b.label for b in self.bundles)}; from {self.source})"

    @property
    def targets(self) -> list[str]:
        """Targets with at least one model, sorted."""
        return sorted({b.target for b in self.bundles})

    def required_columns(self) -> list[str]:
        """Symbol and timestamp columns, then every feature some model needs (first use order)."""
        features: dict[str, None] = {}
        for bundle in self.bundles:
            features.update(dict.fromkeys(bundle.features))
        return [self.symbol_column, self.timestamp_column, *features]

    def check_columns(self, columns: Iterable[str], where: str = "the data") -> None:
        """A :class:`PredictError` naming the first missing column and the model needing it."""
        present = set(columns)
        for key, setting in ((self.symbol_column, "symbol"), (self.timestamp_column, "timestamp")):
            if key not in present:
                raise PredictError(
                    f"{where} has no {setting} column {key!r} (the run's data.{setting}_column): "
                    f"add it or rename the column to {key!r}"
                )
        for bundle in self.bundles:
            missing = [f for f in bundle.features if f not in present]
            if missing:
                more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                raise PredictError(
                    f"{where} lacks feature {missing[0]!r}{more}, which the model "
                    f"{bundle.label} needs: add the column with the same name and meaning as "
                    "in training"
                )

    def binary_targets(self) -> list[str]:
        """Targets whose models predict a probability (``kind: binary`` in their meta)."""
        return sorted({b.target for b in self.bundles if b.meta.get("kind") == "binary"})

    def predict(self, frame: Any) -> pl.DataFrame:
        """Scores for every row of ``frame`` (polars, pandas or pyarrow): symbol,
        timestamp, ``<target>__<family>`` columns, ``<target>__ensemble`` and, for a
        binary target, ``<target>__ensemble_proba`` (see the module docstring).
        Targets need not be present. Warns once when a timestamp has a single row."""
        frame = as_polars(frame, what="the data to score")
        if not self.bundles:
            raise PredictError(f"the run {self.source} holds no trained models to predict with")
        self.check_columns(frame.columns)
        keys = frame.select(self.symbol_column, self.timestamp_column)
        if keys.null_count().sum_horizontal().item() > 0:
            raise PredictError(
                f"the data has null {self.symbol_column!r} or {self.timestamp_column!r} values: "
                "drop or fill those rows before predicting"
            )
        if keys.is_duplicated().any():
            raise PredictError(
                f"the data holds the same ({self.symbol_column}, {self.timestamp_column}) pair "
                "more than once: keep one row per symbol and timestamp"
            )
        try:
            stamps, _ = encode_timestamps(
                frame[self.timestamp_column], column=self.timestamp_column, source="the data"
            )
        except DataError as exc:
            raise PredictError(str(exc)) from None
        _, groups = np.unique(stamps, return_inverse=True)
        symbols = np.asarray(frame[self.symbol_column].cast(pl.String).to_numpy())
        matrices: dict[tuple[str, ...], npt.NDArray[np.float32]] = {}
        columns: dict[str, npt.NDArray[np.float64]] = {}
        for bundle in self.bundles:
            X = matrices.get(bundle.features)
            if X is None:
                X = matrices[bundle.features] = _feature_matrix(frame, bundle)
            columns[bundle.label] = _predict_bundle(bundle, X, symbols, groups)
        out = [keys[self.symbol_column], keys[self.timestamp_column]]
        binary = set(self.binary_targets())
        for target in self.targets:
            labels = [b.label for b in self.bundles if b.target == target]
            out.extend(_as_series(label, columns[label]) for label in labels)
            ensemble = rank_average([columns[label] for label in labels], groups)
            out.append(_as_series(f"{target}__{ENSEMBLE}", ensemble))
            if target in binary:
                proba = _mean_probability([columns[label] for label in labels])
                out.append(_as_series(f"{target}__{ENSEMBLE_PROBA}", proba))
        message = single_row_warning(groups)
        if message is not None:
            warnings.warn(message, UserWarning, stacklevel=2)
        return pl.DataFrame(out)


def single_row_warning(groups: npt.NDArray[np.intp]) -> str | None:
    """The one warning for timestamps holding a single row (``groups``: the row's
    timestamp index), or ``None`` when every timestamp has two rows or more."""
    if groups.size == 0:
        return None
    sizes = np.bincount(groups)
    lonely = int(np.sum(sizes == 1))
    if lonely == 0:
        return None
    return (
        f"{lonely} of {sizes.size} timestamp(s) hold a single row: the <target>__ensemble "
        "column is a rank among the symbols of a timestamp, so there it is 0.5 whatever "
        "the models say; read the <target>__<family> columns (or <target>__ensemble_proba "
        "for a binary target) for such rows"
    )


def _mean_probability(columns: Sequence[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    """Row-wise mean of the families' probabilities, ignoring missing ones (NaN when
    every family is missing for the row)."""
    stacked = np.vstack(columns)
    counts = np.sum(~np.isnan(stacked), axis=0)
    sums = np.nansum(stacked, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _as_series(name: str, values: npt.NDArray[np.float64]) -> pl.Series:
    return pl.Series(name, values, dtype=pl.Float64, nan_to_null=True)


def _feature_matrix(frame: pl.DataFrame, bundle: ModelBundle) -> npt.NDArray[np.float32]:
    """The bundle's features in training order as C-contiguous float32 (inf -> NaN), the
    layout the training panel had."""
    for name in bundle.features:
        dtype = frame.schema[name]
        if not (dtype.is_numeric() or dtype == pl.Boolean):
            raise PredictError(
                f"feature {name!r} has type {dtype}, not numbers, but the model {bundle.label} "
                "needs it as in training: convert it to numbers"
            )
    X = frame.select(pl.col(n).cast(pl.Float32) for n in bundle.features).to_numpy(
        order="c", writable=True
    )
    X = np.ascontiguousarray(X, dtype=np.float32)
    X[np.isinf(X)] = np.nan
    return X


def _predict_bundle(
    bundle: ModelBundle,
    X: npt.NDArray[np.float32],
    symbols: npt.NDArray[Any],
    times: npt.NDArray[Any],
) -> npt.NDArray[np.float64]:
    """The bundle's predictions; sequence families also read each row's symbol and
    timestamp code (:meth:`ModelBundle.predict`)."""
    return bundle.predict(X, symbols, times)


def _run_columns(run_dir: Path, metas: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """Symbol and timestamp column names: the run's config.yaml, else the models' meta."""
    config = run_dir / CONFIG_FILE
    if config.is_file():
        try:
            data = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("data") or {}
        except yaml.YAMLError:
            data = {}
        if isinstance(data, dict):
            return str(data.get("symbol_column", "symbol")), str(
                data.get("timestamp_column", "timestamp")
            )
    if metas:
        return str(metas[0].get("symbol_column", "symbol")), str(
            metas[0].get("timestamp_column", "timestamp")
        )
    return "symbol", "timestamp"


def require_finished(run_dir: Path, *, allow_incomplete: bool = False) -> None:
    """A :class:`PredictError` unless the run in ``run_dir`` finished (or the caller
    accepts an unfinished one): a running, failed or interrupted run may hold models
    and results of a run that never completed. The state is
    :func:`panelml.pipeline.runstate.run_state` (a ``running`` run whose process is
    gone reads as ``interrupted``)."""
    if not run_dir.is_dir():
        what = "is a file, not a folder" if run_dir.exists() else "does not exist"
        raise PredictError(
            f"the run folder {run_dir} {what}: pass a run folder (runs/<experiment>/<run_id>)"
        )
    if allow_incomplete:
        return
    if read_manifest(run_dir) is None:
        raise PredictError(
            f"{run_dir} has no readable manifest.json, so it is not known to have finished: "
            "pass a finished run folder, or --allow-incomplete to use it anyway"
        )
    state = run_state(run_dir)
    if state != "finished":
        raise PredictError(
            f"the run {run_dir} is {state}, not finished: pass a finished run, or "
            "--allow-incomplete to use it anyway"
        )


def load_run(run_dir: str | Path, *, allow_incomplete: bool = False) -> RunModels:
    """Load every model saved under ``<run_dir>/models`` (see the module docstring).

    ``allow_incomplete=False`` refuses a run whose manifest is not ``finished``
    (what ``panelml predict`` does unless given ``--allow-incomplete``).
    """
    run_dir = Path(run_dir)
    require_finished(run_dir, allow_incomplete=allow_incomplete)
    root = run_dir / MODELS_DIR
    if not root.is_dir():
        raise PredictError(
            f"{run_dir} has no {MODELS_DIR}/ folder: point at a run folder "
            "(runs/<experiment>/<run_id>) whose training stage ran"
        )
    bundles = [read_bundle(folder) for folder in bundle_folders(run_dir)]
    if not bundles:
        raise PredictError(f"{root} holds no saved models; run the training stage first")
    symbol_column, timestamp_column = _run_columns(run_dir, [b.meta for b in bundles])
    return RunModels(
        bundles,
        symbol_column=symbol_column,
        timestamp_column=timestamp_column,
        source=str(run_dir),
    )
