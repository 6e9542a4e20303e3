"""Turn a long-format polars frame (one row per symbol and timestamp) into a Panel.

This is the single place where rows are sorted, keys are checked, arrays are
laid out and targets are screened; :func:`panelml.data.load_panel` reads files
and then calls it, so files and in-memory frames pass the same checks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.data import checks
from panelml.data.columns import ColumnPlan, plan_columns
from panelml.data.horizons import resolve_horizon
from panelml.data.panel import DataReport, Panel, TargetKind
from panelml.data.spec import DataConfig
from panelml.data.timestamps import encode_timestamps


def panel_from_frame(frame: pl.DataFrame, cfg: DataConfig, *, source: str = "<frame>") -> Panel:
    """A Panel from an in-memory long-format frame, with the same column resolution
    and checks as :func:`panelml.data.load_panel` (``cfg.path`` is not used)."""
    plan = plan_columns(frame.schema, cfg, source=source)
    return build_panel(frame, plan, cfg, source=source)


def _symbol_table(frame: pl.DataFrame, column: str) -> tuple[npt.NDArray[np.int32], list[str]]:
    """int32 codes per row into the sorted unique symbol names (as strings)."""
    names = frame[column].cast(pl.String)
    table = names.unique().sort()
    codes = names.cast(pl.Enum(table.to_list())).to_physical()
    return np.asarray(codes.to_numpy(), dtype=np.int32), table.to_list()


def build_panel(
    frame: pl.DataFrame,
    plan: ColumnPlan,
    cfg: DataConfig,
    *,
    source: str,
    n_rows_read: int | None = None,
    warnings: Sequence[str] = (),
) -> Panel:
    """Assemble a Panel from ``frame`` whose column roles are ``plan``.

    ``warnings`` are the loader's own (for example mixed time-zone offsets); they
    go first into ``Panel.report.warnings``.
    """
    report = DataReport(n_rows_read=frame.height if n_rows_read is None else n_rows_read)
    report.warnings.extend(warnings)
    report.warnings.extend(plan.warnings)
    checks.check_not_empty(frame, source)
    checks.check_keys_not_null(frame, (plan.symbol, plan.timestamp), source)

    timestamps, timestamp_dtype = encode_timestamps(
        frame[plan.timestamp], column=plan.timestamp, source=source
    )
    codes, symbols = _symbol_table(frame, plan.symbol)
    order = np.lexsort((codes, timestamps))
    is_sorted = bool(np.all(order[1:] > order[:-1])) if order.size > 1 else True
    if not is_sorted:
        timestamps, codes = timestamps[order], codes[order]
    checks.check_unique_keys(timestamps, codes, symbols, timestamp_dtype, source)

    overflow = checks.float32_overflow(frame, plan.features)
    X = frame.select(pl.col(name).cast(pl.Float32) for name in plan.features).to_numpy(
        order="c", writable=True
    )
    if not is_sorted:
        X = X[order]
    X = np.ascontiguousarray(X, dtype=np.float32)
    checks.replace_infinite(X, plan.features, report)
    checks.report_overflow(overflow, report)
    X, features = checks.drop_empty_features(X, plan.features, report, source)

    targets: dict[str, npt.NDArray[np.float64]] = {}
    kinds: dict[str, TargetKind] = {}
    horizons: dict[str, int] = {}
    for name in plan.targets:
        values = np.array(frame[name].cast(pl.Float64).to_numpy(), dtype=np.float64, copy=True)
        if not is_sorted:
            values = values[order]
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
