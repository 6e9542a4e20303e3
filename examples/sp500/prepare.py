"""Build the S&P 500 example panel from the prices that skfolio ships in its wheel.

The ``skfolio`` package (``pip install 'panelml[sp500]'``) contains the daily
adjusted closes of 20 S&P 500 stocks from 1990 to 2022 as
``skfolio/datasets/data/sp500_dataset.csv.gz``. This script reads that file
from the installed package (no download), reshapes it to long format, builds
point-in-time features and forward labels with ``panelml.features``, and
writes ``examples/sp500/data/panel.parquet`` for ``experiment.yaml``.

Usage: ``python examples/sp500/prepare.py`` then
``panelml run examples/sp500/experiment.yaml``.
"""

from __future__ import annotations

import argparse
import importlib.resources
import importlib.util
import sys
from pathlib import Path

import polars as pl

from panelml.features import CrossSectionalSpec, FeatureSpec, build_features

HERE = Path(__file__).resolve().parent


def read_sp500_prices() -> pl.DataFrame:
    """The 20-stock price file from the installed skfolio package, in long format."""
    if importlib.util.find_spec("skfolio") is None:
        sys.exit(
            "error: the S&P 500 prices come from the skfolio package; install it with "
            "`pip install 'panelml[sp500]'` (or `pip install skfolio`)"
        )
    resource = importlib.resources.files("skfolio.datasets.data") / "sp500_dataset.csv.gz"
    wide = pl.read_csv(resource.read_bytes(), try_parse_dates=True)
    return (
        wide.rename({"Date": "timestamp"})
        .unpivot(index="timestamp", variable_name="symbol", value_name="close")
        .select("symbol", pl.col("timestamp").cast(pl.Date), "close")
        .sort("timestamp", "symbol")
    )


def feature_spec() -> FeatureSpec:
    """Daily features; labels at 1, 5 and 21 trading days (a day, a week, a month)."""
    return FeatureSpec(
        horizons=[1, 5, 21],
        cross_sectional=CrossSectionalSpec(rank=True, zscore=False),
        drop_warmup=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "data" / "panel.parquet")
    args = parser.parse_args()
    prices = read_sp500_prices()
    panel = build_features(prices, feature_spec())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    panel.write_parquet(args.out)
    print(
        f"wrote {panel.height} rows x {panel.width} columns "
        f"({prices['symbol'].n_unique()} symbols, {panel['timestamp'].n_unique()} days) "
        f"to {args.out}"
    )


if __name__ == "__main__":
    main()
