"""Checks on the values of a panel, each failing with one clear DataError.

Policies (the same for files and in-memory frames):

* null symbols or timestamps, and duplicate (symbol, timestamp) rows, are errors;
* infinite feature or target values are treated as missing: set to NaN and
  counted per column in ``DataReport.infinite_values``;
* a target that is all missing or constant is dropped with a warning (reason in
  ``DataReport.dropped_targets``); if every target is dropped, that is an error;
* finite feature values beyond float32's range (|x| > 3.4e38) cannot be stored:
  they become NaN, counted and warned about separately from infinities;
* a feature that is missing in every row is dropped with a warning; if every
  feature is, that is an error; features missing in more than half the rows
  are named in one warning with their missing shares;
* a target is binary when it matches ``data.binary_targets`` (then its values
  must all be 0/1) or, with that unset, when all its non-missing values are 0/1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.data.columns import matches_any
from panelml.data.errors import DataError, preview
from panelml.data.panel import DataReport, TargetKind
from panelml.data.timestamps import format_timestamp


def check_not_empty(frame: pl.DataFrame, source: str) -> None:
    if frame.height == 0:
        raise DataError(f"{source} has no rows: point data.path at data with at least one row")


def check_keys_not_null(frame: pl.DataFrame, columns: Sequence[str], source: str) -> None:
    """Every row needs a symbol and a timestamp."""
    for column in columns:
        nulls = frame[column].null_count()
        if nulls:
            first = int(frame[column].is_null().arg_max() or 0)
            raise DataError(
                f"column {column!r} in {source} has {nulls} missing value(s) (first at row "
                f"{first}): every row needs a symbol and a timestamp, so fill or drop those rows"
            )


def check_unique_keys(
    timestamps: npt.NDArray[np.int64],
    codes: npt.NDArray[np.int32],
    symbols: Sequence[str],
    timestamp_dtype: str,
    source: str,
) -> None:
    """No two rows may share (symbol, timestamp); inputs are sorted by (timestamp, code)."""
    if timestamps.size < 2:
        return
    same = (timestamps[1:] == timestamps[:-1]) & (codes[1:] == codes[:-1])
    count = int(np.count_nonzero(same))
    if count:
        at = int(np.argmax(same))
        when = format_timestamp(int(timestamps[at]), timestamp_dtype)
        raise DataError(
            f"{source} has {count} duplicate (symbol, timestamp) row(s), for example symbol "
            f"{symbols[int(codes[at])]!r} at {when}: keep one row per symbol and timestamp "
            "(drop duplicates or aggregate them) before loading"
        )


def replace_infinite(
    values: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    names: Sequence[str],
    report: DataReport,
) -> None:
    """Set +-inf to NaN in place (a 1-D column or a 2-D matrix of ``names`` columns)."""
    infinite = np.isinf(values)
    if values.ndim == 1:
        count = int(np.count_nonzero(infinite))
        if count:
            values[infinite] = np.nan
            report.infinite_values[names[0]] = count
        return
    per_column = np.count_nonzero(infinite, axis=0)
    for j in np.flatnonzero(per_column):
        column = values[:, j]
        column[np.isinf(column)] = np.nan
        report.infinite_values[names[int(j)]] = int(per_column[j])


def drop_reason(values: npt.NDArray[np.float64]) -> str | None:
    """Why a target cannot be learned (all missing, constant), or None if it can."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return "every value is missing"
    low, high = float(present.min()), float(present.max())
    if low == high:
        return f"constant (every value is {low:g})"
    return None


def target_kind(
    name: str,
    values: npt.NDArray[np.float64],
    binary_patterns: Sequence[str] | None,
    source: str,
) -> TargetKind:
    """``binary`` or ``regression`` for one target, per the module rules."""
    zero_one = bool(np.all((values == 0.0) | (values == 1.0) | np.isnan(values)))
    if binary_patterns is None:
        return "binary" if zero_one else "regression"
    if not matches_any(name, binary_patterns):
        return "regression"
    if not zero_one:
        bad = values[~((values == 0.0) | (values == 1.0) | np.isnan(values))]
        raise DataError(
            f"target {name!r} in {source} matches data.binary_targets but holds values other "
            f"than 0 and 1 ({bad.size} such, e.g. {float(bad[0]):g}): recode it as 0/1 or "
            "remove it from data.binary_targets"
        )
    return "binary"


def check_some_targets_left(dropped: dict[str, str], kept: Sequence[str], source: str) -> None:
    if not kept:
        reasons = "; ".join(f"{k}: {v}" for k, v in dropped.items())
        raise DataError(
            f"every target in {source} was dropped ({reasons}): check data.targets points at "
            f"columns with varying values; dropped: {preview(list(dropped))}"
        )


FLOAT32_MAX = float(np.finfo(np.float32).max)
MOSTLY_MISSING = 0.5
"""A feature missing in more than this share of rows gets a warning."""


def float32_overflow(frame: pl.DataFrame, features: Sequence[str]) -> dict[str, int]:
    """Per feature, how many finite values lie beyond float32's range (become inf)."""
    wide = [n for n in features if frame.schema[n] == pl.Float64]
    if not wide:
        return {}
    counts = frame.select(
        ((pl.col(n).abs() > FLOAT32_MAX) & pl.col(n).is_finite()).sum().alias(n) for n in wide
    ).row(0, named=True)
    return {name: int(count) for name, count in counts.items() if count}


def report_overflow(overflow: dict[str, int], report: DataReport) -> None:
    """Move overflowed values out of the infinity counts into their own warning."""
    for name, count in overflow.items():
        left = report.infinite_values.get(name, 0) - count
        if left > 0:
            report.infinite_values[name] = left
        else:
            report.infinite_values.pop(name, None)
        report.warnings.append(
            f"{count} value(s) in feature {name!r} exceed float32's range (|x| > 3.4e38) and "
            "were set to missing: rescale the column"
        )


def drop_empty_features(
    X: npt.NDArray[np.float32], names: Sequence[str], report: DataReport, source: str
) -> tuple[npt.NDArray[np.float32], tuple[str, ...]]:
    """``X`` and ``names`` without the features that are missing in every row."""
    if X.shape[0] == 0:
        return X, tuple(names)
    share = np.isnan(X).mean(axis=0)
    empty = share == 1.0
    sparse = np.flatnonzero((share > MOSTLY_MISSING) & ~empty)
    if sparse.size:
        shown = [f"{names[int(j)]} ({share[j]:.0%})" for j in sparse[np.argsort(-share[sparse])]]
        report.warnings.append(
            f"{sparse.size} feature(s) are missing in more than half the rows: {preview(shown)}"
        )
    if not empty.any():
        return X, tuple(names)
    dropped = [names[int(j)] for j in np.flatnonzero(empty)]
    if empty.all():
        raise DataError(
            f"every feature column of {source} is missing (NaN, null or non-finite) in every "
            f"row ({preview(dropped)}): check the file and data.features"
        )
    report.warnings.append(
        f"{len(dropped)} feature(s) missing in every row were dropped: {preview(dropped)}"
    )
    keep = np.flatnonzero(~empty)
    return np.ascontiguousarray(X[:, keep]), tuple(names[int(j)] for j in keep)
