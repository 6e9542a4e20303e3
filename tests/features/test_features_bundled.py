"""The bundled real prices and the point-in-time panel built from them."""

from __future__ import annotations

import fnmatch
import math
import tomllib
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from panelml.data import DataConfig
from panelml.data.frames import panel_from_frame
from panelml.data.synthetic.truth import measured_rank_ic
from panelml.features.bundled import (
    PRICE_FILE,
    price_panel,
    real_price_panel,
    real_prices,
    with_lagged_label,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return real_price_panel()


def test_prices_are_the_bundled_slice() -> None:
    prices = real_prices()
    assert prices.columns == ["symbol", "timestamp", "close"]
    assert prices["symbol"].n_unique() == 20 and prices["timestamp"].n_unique() == 1508
    assert str(prices["timestamp"].min())[:10] == "2017-01-03"
    assert str(prices["timestamp"].max())[:10] == "2022-12-28"
    assert prices["close"].null_count() == 0 and (prices["close"] > 0).all()
    some = real_prices(symbols=["AAPL", "XOM"], start=date(2020, 1, 1), end=date(2020, 12, 31))
    assert set(some["symbol"]) == {"AAPL", "XOM"} and some.height == 2 * 253
    with pytest.raises(ValueError, match="unknown symbols"):
        real_prices(symbols=["NOPE"])


def test_the_data_file_ships_with_the_package() -> None:
    """The package-data globs in pyproject.toml cover the price file and its README."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["panelml"]
    for name in (PRICE_FILE, "README.md"):
        relative = f"features/bundled/{name}"
        assert (ROOT / "src" / "panelml" / relative).is_file()
        assert any(fnmatch.fnmatch(relative, g) for g in globs), relative


def test_panel_columns_and_shape(panel: pl.DataFrame) -> None:
    features = ["ret_1", "ret_5", "ret_20", "ret_60", "vol_5", "vol_20", "vol_60"]
    features += ["drawdown_20", "drawdown_60"]
    targets = [f"fwd_{k}_{h}" for h in (1, 5, 20) for k in ("ret", "vol")]
    assert panel.columns == ["symbol", "timestamp", *features, *targets]
    assert panel.height == 20 * (1508 - 60)
    assert panel.select(features).null_count().sum_horizontal().item() == 0
    for h in (1, 5, 20):  # the last h days of each symbol have no h-target
        assert panel[f"fwd_ret_{h}"].null_count() == 20 * h
    assert (panel["drawdown_60"] <= 0).all() and (
        panel["drawdown_60"] <= panel["drawdown_20"]
    ).all()
    loaded = panel_from_frame(
        panel, DataConfig(path="<bundled>", bar_interval="1d", targets=targets), source="<bundled>"
    )
    assert loaded is not None


def test_targets_and_features_match_a_direct_computation(panel: pl.DataFrame) -> None:
    """fwd_ret_5, fwd_vol_5, ret_20, vol_20 and drawdown_20 of one symbol, recomputed
    from its closes with numpy."""
    close = real_prices(symbols=["MSFT"])["close"].to_numpy()
    log_close = np.log(close)
    r = np.diff(log_close)  # r[i] = return from day i to day i+1
    rows = panel.filter(pl.col("symbol") == "MSFT")
    t = 100  # a day index in the price series (>= 60 warm-up)
    row = rows.row(t - 60, named=True)
    assert row["fwd_ret_5"] == pytest.approx(log_close[t + 5] - log_close[t], abs=1e-12)
    assert row["fwd_vol_5"] == pytest.approx(math.sqrt(float((r[t : t + 5] ** 2).sum())), abs=1e-12)
    assert row["ret_20"] == pytest.approx(log_close[t] - log_close[t - 20], abs=1e-12)
    assert row["vol_20"] == pytest.approx(float(np.std(r[t - 20 : t], ddof=1)), rel=1e-9)
    assert row["drawdown_20"] == pytest.approx(
        close[t] / close[t - 19 : t + 1].max() - 1, abs=1e-12
    )


def test_features_are_point_in_time(panel: pl.DataFrame) -> None:
    """Truncating the closes at a cut leaves every earlier feature value identical,
    while targets whose window passes the cut change (become null): the test
    would fail a feature that reads any close after t."""
    cut = date(2020, 6, 30)
    short = price_panel(real_prices(end=cut))
    head = panel.filter(pl.col("timestamp") <= pl.lit(cut).cast(pl.Datetime("us")))
    assert head.height == short.height
    features = [c for c in panel.columns if c.startswith(("ret_", "vol_", "drawdown_"))]
    assert head.select("symbol", "timestamp", *features).equals(
        short.select("symbol", "timestamp", *features)
    )
    assert not head["fwd_vol_20"].equals(short["fwd_vol_20"])
    assert short["fwd_vol_20"].null_count() == 20 * 20


def test_volatility_is_strongly_predictable_on_real_prices(panel: pl.DataFrame) -> None:
    """The property issue 11 is about: on real prices, trailing volatility has a
    rank IC of about 0.5-0.75 with forward volatility (fixed data, so this is a
    deterministic fact of the slice), while returns are close to unpredictable."""
    assert 0.6 < measured_rank_ic(panel, "vol_60", "fwd_vol_20") < 0.8
    assert 0.4 < measured_rank_ic(panel, "vol_5", "fwd_vol_5") < 0.6
    assert abs(measured_rank_ic(panel, "ret_20", "fwd_ret_5")) < 0.05


def test_trailing_volatility_is_a_near_copy_of_the_label_h_days_ago(panel: pl.DataFrame) -> None:
    """On real prices vol_20 is almost fwd_vol_20 of 20 days earlier (its window has
    closed: known at t) and, at the leaky lag 19, still a near-copy (rank IC >= 0.95):
    a shifted-copy leak check must tell the two apart by comparing lags, since the
    genuine feature peaks at lag h and is symmetric around it."""
    ordered = panel.sort("symbol", "timestamp")

    def lagged_ic(lag: int) -> float:
        shifted = ordered.with_columns(pl.col("fwd_vol_20").shift(lag).over("symbol").alias("lab"))
        return measured_rank_ic(shifted, "vol_20", "lab")

    before, at, after = lagged_ic(19), lagged_ic(20), lagged_ic(21)
    assert 0.95 < before < at and 0.95 < after < at and at > 0.98
    assert abs(before - after) < 0.01


def test_a_planted_lagged_label_is_the_target_shifted_within_each_symbol(
    panel: pl.DataFrame,
) -> None:
    leaky = with_lagged_label(panel, "fwd_ret_5", lag=2, name="aux_label")
    assert leaky.drop("aux_label").equals(panel)
    one = leaky.filter(pl.col("symbol") == "KO")
    np.testing.assert_array_equal(one["aux_label"][2:].to_numpy(), one["fwd_ret_5"][:-2].to_numpy())
    assert one["aux_label"][:2].is_null().all()
    # 3 of its 5 bars are the target's: Pearson sqrt(3/5) ~ 0.77 on iid Gaussian
    # returns; the cross-sectional Spearman on these heavy-tailed, heteroskedastic
    # returns is 0.54 (fixed data). A wrong shift (lag >= 5) would give ~0.
    assert 0.45 < measured_rank_ic(leaky, "aux_label", "fwd_ret_5") < 0.65
    with pytest.raises(ValueError, match="already exists"):
        with_lagged_label(panel, "fwd_ret_5", lag=2, name="vol_5")
