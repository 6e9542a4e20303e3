"""Saved models of a run, and scoring new data with them.

::

    models = panelml.load_run("runs/demo/20240101-120000-abc123")
    scores = models.predict(frame)   # polars DataFrame: symbol, timestamp, <target>__<family>

The saved-model layout the training stage writes is :mod:`panelml.models.bundle`'s.

Predictions: one column ``<target>__<family>`` per saved model and
``<target>__ensemble``, the mean of the families' cross-sectional percentile
ranks per timestamp (the training stage's ensemble rule). Rows keep the input
order. A per-symbol model scores only its own symbol; other rows get null.

The ensemble is a *rank*, not a forecast: it orders the symbols of one timestamp.
A timestamp with a single row (one row scored, or one symbol per timestamp) has
nothing to rank against, so its ensemble is 0.5 whatever the models say; scoring
such data warns once (a ``UserWarning``; ``panelml predict`` prints it on stderr).
Use the ``<target>__<family>`` columns there.

Binary targets also get ``<target>__ensemble_proba``: the mean of the families'
predicted probabilities P(y=1) for the row (families whose prediction is missing
are left out). It is a probability on the training label's scale, as calibrated
as the families are; the rank ensemble is not.

Tables may be polars, pandas or pyarrow (:func:`panelml.data.tables.as_polars`).
"""

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
    FORMAT,
    FORMAT_VERSION,
    MODELS_DIR,
    BundleError,
    ModelBundle,
    bundle_folders,
    read_bundle,
    safe_name,
    write_bundle,
)
from panelml.pipeline.run_folder import CONFIG_FILE, atomic_path
from panelml.pipeline.runstate import read_manifest, run_state
from panelml.validation.ranks import rank_average

__all__ = [
    "ENSEMBLE",
    "ENSEMBLE_PROBA",
    "FORMAT",
    "FORMAT_VERSION",
    "MODELS_DIR",
    "OUTPUT_SUFFIXES",
    "ModelBundle",
    "PredictError",
    "RunModels",
    "frame_warnings",
    "load_run",
    "output_format",
    "read_bundle",
    "read_frame",
    "safe_name",
    "single_row_warning",
    "write_bundle",
    "write_frame",
]

ENSEMBLE = "ensemble"
ENSEMBLE_PROBA = "ensemble_proba"
OUTPUT_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
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


def read_frame(path: str | Path, models: RunModels) -> pl.DataFrame:
    """Read the columns ``models`` need from a parquet / CSV file, folder or glob.

    Files are found as ``data.path`` is (:func:`panelml.data.loaders.resolve_source`);
    only the symbol, timestamp and feature columns are read. Problems name ``--data``.
    """
    from panelml.data.loaders import resolve_source, scan_source
    from panelml.data.sniff import check_single_column
    from panelml.data.spec import DataConfig

    try:
        source = resolve_source(DataConfig(path=str(path)), key="--data")
        lazy = scan_source(source, "--data")
        schema = lazy.collect_schema()
        check_single_column(source, schema, "--data")
        models.check_columns(schema.names(), where=str(path))
        return lazy.select(models.required_columns()).collect()
    except DataError as exc:
        raise PredictError(str(exc)) from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PredictError(
            f"cannot read {path} ({detail}): check the file given as --data"
        ) from None


def frame_warnings(frame: Any, models: RunModels) -> list[str]:
    """What scoring will do to ``frame``'s feature values that the user should hear:
    infinities and values beyond float32's range become missing (as in training)."""
    frame = as_polars(frame, what="the data to score")
    features = [c for c in models.required_columns()[2:] if frame.schema[c].is_float()]
    if not features or frame.height == 0:
        return []
    limit = float(np.finfo(np.float32).max)
    counts = frame.select(
        *(pl.col(c).is_infinite().sum().alias(f"inf:{c}") for c in features),
        *(
            ((pl.col(c).abs() > limit) & pl.col(c).is_finite()).sum().alias(f"big:{c}")
            for c in features
        ),
    ).row(0, named=True)
    out = []
    for column in features:
        if counts[f"inf:{column}"]:
            out.append(
                f"{counts[f'inf:{column}']} infinite value(s) in {column!r} scored as missing"
            )
        if counts[f"big:{column}"]:
            out.append(
                f"{counts[f'big:{column}']} value(s) in {column!r} exceed float32's range "
                "(|x| > 3.4e38) and were scored as missing"
            )
    return out


def output_format(out: str | Path) -> str:
    """``parquet`` or ``csv`` by ``out``'s suffix (:data:`OUTPUT_SUFFIXES`); any other
    suffix is a :class:`PredictError`, so ``p.json`` is never silently parquet."""
    suffix = Path(out).suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise PredictError(
            f"--out {out}: unknown output type {suffix or '(no suffix)'!r}; end the file "
            f"name with {', '.join(OUTPUT_SUFFIXES)}"
        )
    return OUTPUT_SUFFIXES[suffix]


def write_frame(frame: pl.DataFrame, out: str | Path) -> Path:
    """Write ``frame`` atomically (temporary file, then rename), as parquet or CSV by
    ``out``'s suffix (:func:`output_format`)."""
    out = Path(out)
    kind = output_format(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        if kind == "csv":
            frame.write_csv(tmp)
        else:
            frame.write_parquet(tmp)
    return out
