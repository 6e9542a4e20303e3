"""One target's out-of-fold predictions as arrays, and helpers for time axes.

The training and diagnostics sections read the OOF tables through
:func:`panelml.contracts.oof` (the documented columns: symbol, timestamp,
target, one column per family, ensemble); a ``fold`` column, which the built-in
training stage adds, is used when present and never required. Timestamps are
kept as their physical integers (with the column's polars type, to print them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml import contracts
from panelml.data.timestamps import format_timestamp

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_CHART_POINTS = 500
"""Most points a line over time gets (longer series are thinned evenly)."""

KEY_COLUMNS = ("symbol", "timestamp", "target", "fold")
"""OOF columns that are not predictions."""

ENSEMBLE = "ensemble"


def oof_tables(result: Any) -> dict[str, pl.DataFrame]:
    """target -> OOF predictions, for the targets whose table the result holds."""
    out: dict[str, pl.DataFrame] = {}
    for target in contracts.oof_table_names(result):
        try:
            out[target] = contracts.oof(result, target)
        except contracts.ContractReadError:
            continue
    return out


def prediction_columns(oof: pl.DataFrame) -> list[str]:
    """The numeric columns that hold predictions (families and the ensemble)."""
    return [c for c in oof.columns if c not in KEY_COLUMNS and oof[c].dtype.is_numeric()]


@dataclass(frozen=True)
class TargetOOF:
    """A target's OOF rows as aligned arrays.

    ``pred`` is the ensemble when there is one (else the only or first family);
    ``families`` every prediction column; ``fold`` the fold id of each row or
    ``None`` when the table has none. Symbols come as codes into their sorted
    unique names (``symbol_names[symbol_codes]`` is each row's symbol), found
    once here: sorting the names of every row again per chart cost 0.2 s a
    call at 200k rows.
    """

    target: str
    timestamps: IntArray
    dtype: pl.DataType
    symbol_codes: IntArray
    symbol_names: npt.NDArray[Any]
    y: FloatArray
    pred_name: str
    columns: dict[str, FloatArray]
    fold: IntArray | None

    @property
    def pred(self) -> FloatArray:
        return self.columns[self.pred_name]


def target_oof(target: str, oof: pl.DataFrame) -> TargetOOF | None:
    """The arrays of one OOF table, or ``None`` without timestamps, outcomes or predictions."""
    names = prediction_columns(oof)
    if not {"timestamp", "target", "symbol"} <= set(oof.columns) or not names:
        return None
    fold = None
    if "fold" in oof.columns and oof["fold"].dtype.is_integer():
        fold = oof["fold"].fill_null(-1).cast(pl.Int64).to_numpy()
    symbols = oof["symbol"].cast(pl.String)
    return TargetOOF(
        target=target,
        timestamps=oof["timestamp"].to_physical().cast(pl.Int64).to_numpy(),
        dtype=oof["timestamp"].dtype,
        symbol_codes=(symbols.rank("dense") - 1).cast(pl.Int64).to_numpy(),
        symbol_names=symbols.unique().sort().to_numpy(),
        y=oof["target"].cast(pl.Float64).to_numpy(),
        pred_name=ENSEMBLE if ENSEMBLE in names else names[0],
        columns={c: oof[c].cast(pl.Float64).to_numpy() for c in names},
        fold=fold,
    )


def fold_starts(data: TargetOOF) -> list[tuple[int, int]]:
    """(first timestamp, fold id) of each fold's test rows after the earliest one."""
    if data.fold is None:
        return []
    starts = []
    for fold_id in np.unique(data.fold[data.fold >= 0]).tolist():
        starts.append((int(data.timestamps[data.fold == fold_id].min()), int(fold_id)))
    return sorted(starts)[1:]


def rolling_mean(values: FloatArray, window: int) -> FloatArray:
    """Trailing mean over ``window`` periods ignoring NaN; NaN where fewer than
    half the window's values exist."""
    finite = np.isfinite(values)
    filled = np.where(finite, values, 0.0)
    sums = np.concatenate(([0.0], np.cumsum(filled)))
    counts = np.concatenate(([0], np.cumsum(finite)))
    idx = np.arange(1, values.size + 1)
    lo = np.maximum(idx - window, 0)
    n = counts[idx] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (sums[idx] - sums[lo]) / n
    out[n < max(1, window // 2)] = np.nan
    return np.asarray(out, dtype=np.float64)


def thin(n: int) -> int:
    """The step that keeps at most :data:`MAX_CHART_POINTS` of ``n`` points."""
    return max(1, math.ceil(n / MAX_CHART_POINTS))


def timestamp_formatter(dtype: pl.DataType, panel_dtype: str | None) -> Callable[[float], str]:
    """Prints a physical timestamp: through ``dtype`` when it is temporal, else through
    the panel's original type (``int64`` timestamps that stand for dates)."""

    def label(value: float) -> str:
        raw = round(value)
        if dtype.is_temporal():
            text = str(pl.Series([raw], dtype=pl.Int64).cast(dtype)[0])
        elif panel_dtype is not None:
            try:
                text = format_timestamp(raw, panel_dtype)
            except ValueError:
                text = str(raw)
        else:
            text = str(raw)
        return text.removesuffix(" 00:00:00")

    return label


def bar_formatter(timestamps: Sequence[int], panel_dtype: str | None) -> Callable[[int], str]:
    """Prints a bar index (position among the panel's timestamps) as its timestamp,
    or as ``bar <i>`` when the panel's timestamps are not known."""

    def label(index: int) -> str:
        if 0 <= index < len(timestamps) and panel_dtype is not None:
            try:
                return format_timestamp(int(timestamps[index]), panel_dtype).removesuffix(
                    " 00:00:00"
                )
            except (ValueError, TypeError):
                return str(timestamps[index])
        return f"bar {index}"

    return label
