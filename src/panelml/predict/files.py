"""The files ``panelml predict`` reads and writes: the data to score (only the columns
the models need), warnings about its values, and the scores, as parquet or CSV by
the output's suffix, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from panelml.data.errors import DataError
from panelml.data.tables import as_polars
from panelml.pipeline.run_folder import atomic_path
from panelml.predict.scoring import PredictError, RunModels

__all__ = ["OUTPUT_SUFFIXES", "frame_warnings", "output_format", "read_frame", "write_frame"]

OUTPUT_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


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
