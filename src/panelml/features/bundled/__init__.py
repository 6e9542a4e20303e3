"""Real daily prices kept inside the package, and a point-in-time panel built from them.

``sp500_close_2017_2022.csv.gz`` holds the daily adjusted closes of 20 large
S&P 500 stocks from 2017-01-03 to 2022-12-28 (1508 trading days; wide: a
``Date`` column and one column per ticker). It is a slice of the price file that
the ``skfolio`` package ships in its wheel (BSD 3-Clause); see the README next
to it. It is here so that tests can check the pipeline on real prices without a
network and without an optional dependency.

:func:`real_prices` reads it in long format; :func:`price_panel` turns any
long-format closes into features and targets (strictly point-in-time: a
feature at t uses closes up to t only, a target at t covers (t, t+h]);
:func:`real_price_panel` is the two together; :func:`with_lagged_label` plants
a shifted-label leak (or a legitimate past label) for tests.

Features (windows count trading days of the symbol):

* ``ret_<l>``: log return over the last l days, l in 1, 5, 20, 60;
* ``vol_<w>``: standard deviation of daily log returns over the last w days,
  w in 5, 20, 60;
* ``drawdown_<w>``: close / highest close of the last w days - 1, w in 20, 60;
* the data has no volume, so there are no volume features.

Targets for h in ``horizons`` (default 1, 5, 20): ``fwd_ret_<h>`` (log return
over (t, t+h]) and ``fwd_vol_<h>`` (square root of the sum of squared daily log
returns over (t, t+h]). The first 60 days of each symbol (the warm-up, where a
feature is undefined) are dropped; the last h days have null h-targets.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from datetime import date

import polars as pl

from panelml.features.builder import build_features
from panelml.features.spec import CrossSectionalSpec, FeatureSpec

PRICE_FILE = "sp500_close_2017_2022.csv.gz"
RETURN_LAGS = (1, 5, 20, 60)
VOLATILITY_WINDOWS = (5, 20, 60)
DRAWDOWN_WINDOWS = (20, 60)
HORIZONS = (1, 5, 20)


def real_prices(
    *,
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> pl.DataFrame:
    """The bundled closes as a long frame ``symbol`` (String), ``timestamp``
    (Datetime us), ``close`` (Float64), sorted by timestamp then symbol;
    optionally only some symbols and the days in [start, end]."""
    resource = importlib.resources.files(__name__) / PRICE_FILE
    wide = pl.read_csv(resource.read_bytes(), try_parse_dates=True)
    available = wide.columns[1:]
    chosen = list(available if symbols is None else symbols)
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise ValueError(f"unknown symbols {unknown}; the bundled prices hold {available}")
    long = (
        wide.select("Date", *chosen)
        .unpivot(index="Date", variable_name="symbol", value_name="close")
        .select(
            "symbol",
            pl.col("Date").cast(pl.Datetime("us")).alias("timestamp"),
            pl.col("close").cast(pl.Float64),
        )
    )
    if start is not None:
        long = long.filter(pl.col("timestamp") >= pl.lit(start).cast(pl.Datetime("us")))
    if end is not None:
        long = long.filter(pl.col("timestamp") <= pl.lit(end).cast(pl.Datetime("us")))
    return long.sort("timestamp", "symbol")


def price_panel(prices: pl.DataFrame, *, horizons: Sequence[int] = HORIZONS) -> pl.DataFrame:
    """Features and targets (module docstring) from long closes ``symbol``,
    ``timestamp``, ``close``; one row per (timestamp, symbol) after the warm-up."""
    spec = FeatureSpec(
        return_lags=list(RETURN_LAGS),
        volatility_windows=list(VOLATILITY_WINDOWS),
        momentum=[],
        ma_windows=[],
        rsi_windows=[],
        range_windows=[],
        cross_sectional=CrossSectionalSpec(rank=False, zscore=False),
        horizons=list(horizons),
        targets=["fwd_ret", "fwd_vol"],
        drop_warmup=True,
    )
    panel = build_features(prices.select("symbol", "timestamp", "close"), spec)
    close = pl.col("close")
    drawdowns = prices.sort("symbol", "timestamp").select(
        "symbol",
        "timestamp",
        *(
            (close / close.rolling_max(w, min_samples=w) - 1.0)
            .over("symbol")
            .alias(f"drawdown_{w}")
            for w in DRAWDOWN_WINDOWS
        ),
    )
    features = [c for c in panel.columns if c.startswith(("ret_", "vol_"))]
    targets = [c for c in panel.columns if c.startswith("fwd_")]
    return panel.join(drawdowns, on=["symbol", "timestamp"], how="left").select(
        "symbol",
        "timestamp",
        *features,
        *(f"drawdown_{w}" for w in DRAWDOWN_WINDOWS),
        *targets,
    )


def with_lagged_label(frame: pl.DataFrame, target: str, *, lag: int, name: str) -> pl.DataFrame:
    """``frame`` plus a column ``name`` = ``target`` of ``lag`` rows earlier within
    each symbol: with 0 < lag < h it is a leak (the label's window (t-lag,
    t-lag+h] reaches past t); with lag >= h it is a known past label. For tests
    that plant a shifted-label leak in real data."""
    if lag < 0:
        raise ValueError(f"lag must be >= 0, got {lag}")
    if name in frame.columns:
        raise ValueError(f"column {name!r} already exists")
    shifted = pl.col(target).shift(lag).over("symbol", order_by="timestamp").alias(name)
    return frame.with_columns(shifted)


def real_price_panel(
    *,
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    horizons: Sequence[int] = HORIZONS,
) -> pl.DataFrame:
    """:func:`price_panel` of :func:`real_prices` (20 stocks x 1448 days by default)."""
    return price_panel(real_prices(symbols=symbols, start=start, end=end), horizons=horizons)


__all__ = ["PRICE_FILE", "price_panel", "real_price_panel", "real_prices", "with_lagged_label"]
