"""Turn long-format columns (one row per symbol and timestamp) into a Panel.

This is the single place where rows are sorted, keys are checked, arrays are
laid out and targets are screened; :func:`panelml.data.load_panel` reads files
and then calls it, so files and in-memory frames pass the same checks.

Memory: the columns are never held all at once next to the Panel's arrays.
:func:`build_panel` asks a column reader for the symbol and timestamp first
(they give the sort order and the row count), preallocates the C-contiguous
float32 ``X``, then reads the features a group of columns at a time, each group
converted, sorted and written into its slice of ``X`` and dropped before the
next is read; targets follow the same way. A group holds about 1/``GROUPS`` of
``X`` (never less than ``MIN_GROUP_BYTES``; fewer, larger groups for data in
many files, :func:`group_count`), so the high-water mark of loading is about
``X`` plus the targets plus one group's copies, instead of the whole frame plus
its numpy copy plus a sorted copy. Rows already in (timestamp, symbol) order are
not copied to sort them. The values, the report and the fingerprint are exactly
those of converting every column at once. An in-memory frame is read by
zero-copy selections (:class:`FrameColumns`), so it costs its own memory plus
about the Panel's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.data import checks
from panelml.data.columns import ColumnPlan, plan_columns
from panelml.data.errors import DataError
from panelml.data.horizons import resolve_horizon
from panelml.data.panel import DataReport, Panel, TargetKind
from panelml.data.spec import DataConfig
from panelml.data.timestamps import encode_timestamps

ReadColumns = Callable[[Sequence[str]], pl.DataFrame]
"""Reads the named columns (all rows, in one fixed row order) as a polars frame."""

GROUPS = 32
"""Feature and target columns are read in about this many groups of equal bytes."""
MIN_GROUP_BYTES = 1 << 20
"""...but a group is never smaller than this (bytes of its float32/float64 result),
so small panels are read in one go."""
FILE_READS = 2048
"""Every group read opens each file again (its footer, its column chunks), so data
in many files is read in fewer groups: at most ``FILE_READS // n_files``."""


def group_count(n_files: int) -> int:
    """How many column groups to read data stored in ``n_files`` files in."""
    if n_files <= 1:
        return GROUPS
    return max(1, min(GROUPS, FILE_READS // n_files))


class FrameColumns:
    """A :data:`ReadColumns` over an in-memory frame.

    With ``consume=True`` each read also drops its columns from the frame held
    here, so a frame that nobody else holds (a CSV read in full) frees its
    columns as soon as the caller is done with them.
    """

    def __init__(self, frame: pl.DataFrame, *, consume: bool = False) -> None:
        self._frame = frame
        self._consume = consume

    def __call__(self, names: Sequence[str]) -> pl.DataFrame:
        part = self._frame.select(names)
        if self._consume:
            self._frame = self._frame.drop(names)
        return part


def panel_from_frame(frame: pl.DataFrame, cfg: DataConfig, *, source: str = "<frame>") -> Panel:
    """A Panel from an in-memory long-format frame, with the same column resolution
    and checks as :func:`panelml.data.load_panel` (``cfg.path`` is not used)."""
    plan = plan_columns(frame.schema, cfg, source=source)
    return build_panel(FrameColumns(frame), plan, cfg, source=source)


def column_groups(
    names: Sequence[str], n_rows: int, itemsize: int, total_bytes: int, groups: int
) -> list[tuple[str, ...]]:
    """``names`` in consecutive groups of about ``max(total_bytes / groups,
    MIN_GROUP_BYTES)`` bytes each, a column being ``n_rows * itemsize`` bytes."""
    budget = max(total_bytes // max(1, groups), MIN_GROUP_BYTES)
    per_group = max(1, budget // max(1, n_rows * itemsize))
    return [tuple(names[i : i + per_group]) for i in range(0, len(names), per_group)]


def _symbol_table(frame: pl.DataFrame, column: str) -> tuple[npt.NDArray[np.int32], list[str]]:
    """int32 codes per row into the sorted unique symbol names (as strings)."""
    names = frame[column].cast(pl.String)
    table = names.unique().sort()
    codes = names.cast(pl.Enum(table.to_list())).to_physical()
    return np.asarray(codes.to_numpy(), dtype=np.int32), table.to_list()


def _read_group(read: ReadColumns, names: Sequence[str], n_rows: int, source: str) -> pl.DataFrame:
    part = read(names)
    if part.height != n_rows:
        raise DataError(
            f"{source} gave {part.height} rows for some columns and {n_rows} for others: "
            "were the files changed while they were read? Load them again"
        )
    return part


def _fill_features(
    read: ReadColumns,
    plan: ColumnPlan,
    order: npt.NDArray[np.intp] | None,
    report: DataReport,
    source: str,
    groups: int,
) -> tuple[npt.NDArray[np.float32], dict[str, int]]:
    """The float32 feature matrix in sorted row order (infinities already NaN and
    counted), filled a column group at a time, and the float32 overflow counts."""
    n_rows = report.n_rows_read
    features = plan.features
    X = np.empty((n_rows, len(features)), dtype=np.float32)
    grouped = column_groups(features, n_rows, 4, X.nbytes, groups)
    block = np.empty((n_rows, max(len(g) for g in grouped)), dtype=np.float32)
    overflow: dict[str, int] = {}
    start = 0
    for names in grouped:
        part = _read_group(read, names, n_rows, source)
        overflow.update(checks.float32_overflow(part, names))
        for j, name in enumerate(names):
            # a float32 column without nulls is viewed, not copied
            column = part[name].cast(pl.Float32).to_numpy()
            block[:, j] = column if order is None else column[order]
            del column
        del part
        view = block[:, : len(names)]
        checks.replace_infinite(view, names, report)
        X[:, start : start + len(names)] = view
        start += len(names)
        del view
    del block
    return X, overflow


def build_panel(
    read: ReadColumns,
    plan: ColumnPlan,
    cfg: DataConfig,
    *,
    source: str,
    warnings: Sequence[str] = (),
    groups: int | None = None,
) -> Panel:
    """Assemble a Panel from the columns ``read`` gives, whose roles are ``plan``.

    ``read`` is called once for the symbol and timestamp, then for groups of
    features and of targets (module docstring); every call must give the rows in
    the same order. ``groups`` is about how many groups the features are read in
    (default ``GROUPS``; see :func:`group_count`). ``warnings`` are the loader's
    own (for example mixed time-zone offsets); they go first into
    ``Panel.report.warnings``.
    """
    groups = GROUPS if groups is None else groups
    keys = read((plan.symbol, plan.timestamp))
    report = DataReport(n_rows_read=keys.height)
    report.warnings.extend(warnings)
    report.warnings.extend(plan.warnings)
    checks.check_not_empty(keys, source)
    checks.check_keys_not_null(keys, (plan.symbol, plan.timestamp), source)

    timestamps, timestamp_dtype = encode_timestamps(
        keys[plan.timestamp], column=plan.timestamp, source=source
    )
    codes, symbols = _symbol_table(keys, plan.symbol)
    del keys
    lexsorted = np.lexsort((codes, timestamps))
    in_order = lexsorted.size < 2 or bool(np.all(lexsorted[1:] > lexsorted[:-1]))
    order = None if in_order else lexsorted  # None: rows already sorted, no copies
    del lexsorted
    if order is not None:
        timestamps, codes = timestamps[order], codes[order]
    checks.check_unique_keys(timestamps, codes, symbols, timestamp_dtype, source)

    X, overflow = _fill_features(read, plan, order, report, source, groups)
    checks.report_overflow(overflow, report)
    X, features = checks.drop_empty_features(X, plan.features, report, source)

    targets: dict[str, npt.NDArray[np.float64]] = {}
    kinds: dict[str, TargetKind] = {}
    horizons: dict[str, int] = {}
    n_rows = report.n_rows_read
    for group in column_groups(plan.targets, n_rows, 8, X.nbytes, groups):
        part = _read_group(read, group, n_rows, source)
        for name in group:
            raw = np.asarray(part[name].cast(pl.Float64).to_numpy(), dtype=np.float64)
            # a new array either way: the sorted gather, or a copy of polars' buffer
            values = np.array(raw, copy=True) if order is None else raw[order]
            del raw
            checks.replace_infinite(values, (name,), report)
            reason = checks.drop_reason(values)
            if reason is not None:
                report.dropped_targets[name] = reason
                report.warnings.append(f"target {name!r} dropped: {reason}")
                continue
            kinds[name] = checks.target_kind(name, values, cfg.binary_targets, source)
            horizon, stated = resolve_horizon(name, cfg.horizons, cfg.bar_interval)
            if not stated:
                report.warnings.append(
                    f"target {name!r} has no horizon in data.horizons or in its name; using 1 bar"
                )
            horizons[name] = horizon
            targets[name] = values
        del part
    checks.check_some_targets_left(report.dropped_targets, list(targets), source)
    for name, count in report.infinite_values.items():
        report.warnings.append(f"{count} infinite value(s) in {name!r} treated as missing")

    return Panel.build(
        X=X,
        feature_names=features,
        targets=targets,
        horizons=horizons,
        target_kinds=kinds,
        timestamps=timestamps,
        symbol_codes=codes,
        symbols=symbols,
        timestamp_dtype=timestamp_dtype,
        report=report,
        symbol_column=plan.symbol,
        timestamp_column=plan.timestamp,
        source=source,
    )
