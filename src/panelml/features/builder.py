"""Build point-in-time features and forward targets from long-format prices.

Input: one row per (symbol, timestamp) with ``close`` and optionally ``open``,
``high``, ``low``, ``volume``. Output: one row per input row, sorted by
(timestamp, symbol) as a :class:`panelml.data.panel.Panel` expects, with the
feature columns of :class:`FeatureSpec` and the targets ``fwd_ret_<h>``,
``fwd_vol_<h>``, ``y_up_<h>``.

Point in time: a feature at (symbol, t) uses only that symbol's bars <= t and,
for cross-sectional transforms, only the rows at t; so recomputing on data cut
at t reproduces it exactly. Targets use only bars in (t, t+h]. That is the
contract the purged cross-validation in ``panelml.validation`` relies on.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from panelml.features import expressions as ex
from panelml.features.spec import FeatureBuildError, FeatureSpec
from panelml.pipeline.run_folder import atomic_path

_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


def _check_schema(schema: pl.Schema, symbol: str, timestamp: str) -> None:
    for column, role in ((symbol, "symbol"), (timestamp, "timestamp"), ("close", "close price")):
        if column not in schema:
            raise FeatureBuildError(
                f"prices have no column {column!r} ({role}); columns are: "
                f"{', '.join(schema.names())}"
            )
    for column in _PRICE_COLUMNS:
        if column in schema and not schema[column].is_numeric():
            raise FeatureBuildError(f"column {column!r} must be numeric, got {schema[column]}")


def _check_values(df: pl.DataFrame, symbol: str, timestamp: str) -> None:
    """Reject rows the features cannot be computed from, naming the column."""
    checks: list[tuple[str, pl.Expr, str]] = [
        (symbol, pl.col(symbol).is_null(), "null values"),
        (timestamp, pl.col(timestamp).is_null(), "null values"),
        (
            f"{symbol}, {timestamp}",
            pl.struct(symbol, timestamp).is_duplicated(),
            "duplicate (symbol, timestamp) rows",
        ),
    ]
    for column in ("open", "high", "low", "close"):
        if column in df.columns:
            checks.append((column, pl.col(column) <= 0, "non-positive prices"))
    if "volume" in df.columns:
        checks.append(("volume", pl.col("volume") < 0, "negative volumes"))
    counts = df.select(
        [expr.fill_null(False).sum().alias(str(i)) for i, (_, expr, _) in enumerate(checks)]
    ).row(0)
    for (column, _, what), count in zip(checks, counts, strict=True):
        if count:
            raise FeatureBuildError(f"column {column!r} has {count} rows with {what}")


def build_features(
    prices: pl.DataFrame | pl.LazyFrame,
    spec: FeatureSpec | None = None,
    *,
    symbol_column: str = "symbol",
    timestamp_column: str = "timestamp",
) -> pl.DataFrame:
    """Compute features and forward targets per symbol from long-format prices.

    Windows count bars (rows of a symbol), not calendar time; a missing bar is
    not filled. Warm-up rows (too little history) hold nulls and are kept unless
    ``spec.drop_warmup``; the last h rows of a symbol have null h-targets.
    Raises :class:`FeatureBuildError` (a ValueError) naming the column when a
    required column is missing or holds values features cannot use.
    """
    spec = spec or FeatureSpec()
    sym, ts = symbol_column, timestamp_column
    lf = prices.lazy()
    schema = lf.collect_schema()
    _check_schema(schema, sym, ts)
    present = [c for c in _PRICE_COLUMNS if c in schema]
    has_volume = "volume" in schema
    has_high_low = "high" in schema and "low" in schema
    has_open = "open" in schema
    kept = [c for c in schema.names() if c not in (sym, ts)] if spec.keep_input_columns else []

    raw = (
        lf.select(list(dict.fromkeys([sym, ts, *present, *kept])))
        .with_columns(pl.col(c).cast(pl.Float64).fill_nan(None) for c in present)
        .collect()
    )
    _check_values(raw, sym, ts)

    per_symbol = ex.price_features(spec, sym)
    if has_volume:
        per_symbol += ex.volume_features(spec, sym)
    if has_high_low:
        per_symbol += ex.range_features(spec, sym)
    if has_open:
        per_symbol += ex.open_features(sym)
    features = [e.meta.output_name() for e in per_symbol]
    clash = sorted(set(features) & set(kept))
    if clash:
        raise FeatureBuildError(
            f"input columns {clash} clash with feature names; rename them or set "
            "keep_input_columns: false"
        )
    cs_names = ex.resolve_cross_sectional(spec.cross_sectional, features)
    cs_exprs = ex.cross_sectional_columns(spec.cross_sectional, cs_names, ts)
    targets = ex.target_columns(spec, sym)
    features += [e.meta.output_name() for e in cs_exprs]
    target_names = [e.meta.output_name() for e in targets]

    query = (
        raw.lazy()
        .sort([sym, ts], maintain_order=True)
        .with_columns(ex.helper_columns(sym))
        .with_columns([*per_symbol, *targets])
        .with_columns(pl.col(f).fill_nan(None) for f in features if not f.startswith("cs_"))
        .with_columns(cs_exprs)
    )
    if spec.drop_warmup:
        warmup = spec.warmup_bars(has_volume=has_volume, has_high_low=has_high_low)
        query = query.filter(pl.col(ex.BAR) >= warmup)
    dtype = pl.Float32 if spec.dtype == "float32" else pl.Float64
    query = query.select(
        pl.col(sym),
        pl.col(ts),
        *(pl.col(c) for c in kept),
        *(pl.col(c).cast(dtype) for c in [*features, *target_names]),
    ).sort([ts, sym], maintain_order=True)
    return query.collect()


def read_prices(path: Path) -> pl.LazyFrame:
    """Scan a parquet file/folder/glob or a CSV file (dates parsed) lazily."""
    path = Path(path)
    if path.suffix.lower() in {".csv", ".txt"}:
        return pl.scan_csv(path, try_parse_dates=True)
    if path.is_dir():
        return pl.scan_parquet(path / "**" / "*.parquet", hive_partitioning=True)
    return pl.scan_parquet(path)


def build_features_file(
    input_path: Path, output_path: Path, spec: FeatureSpec | None = None
) -> pl.DataFrame:
    """Read prices (parquet or CSV), build features, write them to parquet.

    The file is written to a temporary file in the target folder and then
    renamed over ``output_path``, so a crash never leaves a half-written file.
    Returns the frame that was written.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise FeatureBuildError(f"input file {str(input_path)!r} does not exist")
    out = build_features(read_prices(input_path), spec)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output_path) as tmp:
        out.write_parquet(tmp)
    return out
