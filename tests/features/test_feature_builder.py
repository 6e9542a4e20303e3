"""Tests for panelml.features.build_features: formulas, point-in-time, validation."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panelml.features import CrossSectionalSpec, FeatureBuildError, FeatureSpec, build_features

TARGET_PREFIXES = ("fwd_ret_", "fwd_vol_", "y_up_")
PIT_SPEC = FeatureSpec(
    cross_sectional=CrossSectionalSpec(features=["ret_*", "vol_20", "rsi_14"], zscore=True)
)


def _one_symbol(
    out: pl.DataFrame, prices: pl.DataFrame, sym: str
) -> tuple[pl.DataFrame, np.ndarray]:
    rows = out.filter(pl.col("symbol") == sym)
    close = prices.filter(pl.col("symbol") == sym).sort("timestamp")["close"].to_numpy()
    return rows, close


def _col(df: pl.DataFrame, name: str) -> np.ndarray:
    return df[name].to_numpy().astype(np.float64)


@pytest.fixture(scope="module")
def built(panel: pl.DataFrame) -> pl.DataFrame:
    return build_features(panel, PIT_SPEC)


# --- shape and order -----------------------------------------------------------------


def test_output_sorted_by_timestamp_then_symbol(panel: pl.DataFrame, built: pl.DataFrame) -> None:
    assert built.height == panel.height
    assert built.columns[:2] == ["symbol", "timestamp"]
    assert built.select(["timestamp", "symbol"]).equals(
        built.select(["timestamp", "symbol"]).sort(["timestamp", "symbol"])
    )
    assert all(built[c].dtype == pl.Float64 for c in built.columns[2:])
    assert "close" not in built.columns


def test_default_columns_with_and_without_ohlcv(make_panel: Callable[..., pl.DataFrame]) -> None:
    full = build_features(make_panel(n_bars=80, symbols="AB"))
    for name in ["ret_1", "ret_60", "vol_5", "vol_60", "mom_60_5", "mom_120_20", "ma_gap_10",
                 "ma_gap_200", "rsi_14", "volume_z_20", "volume_ratio_5_20", "dollar_volume_20",
                 "hl_range", "parkinson_5", "parkinson_20", "gap_ret", "intraday_ret",
                 "cs_rank_ret_1", "cs_rank_vol_20", "cs_rank_mom_60_5",
                 "fwd_ret_1", "fwd_ret_5", "fwd_ret_20", "fwd_vol_5", "y_up_20"]:  # fmt: skip
        assert name in full.columns, name
    close_only = build_features(make_panel(n_bars=80, symbols="AB", ohlcv=False))
    assert not any(
        c.startswith(("volume_", "dollar_", "hl_", "parkinson_", "gap_", "intraday_"))
        for c in close_only.columns
    )
    assert "ret_1" in close_only.columns


def test_lazy_input_float32_and_custom_columns(panel: pl.DataFrame) -> None:
    renamed = panel.rename({"symbol": "ticker", "timestamp": "date"}).lazy()
    out = build_features(
        renamed, FeatureSpec(dtype="float32"), symbol_column="ticker", timestamp_column="date"
    )
    assert out.columns[:2] == ["ticker", "date"]
    assert out["ret_1"].dtype == pl.Float32 and out["y_up_1"].dtype == pl.Float32
    ref = build_features(panel)
    np.testing.assert_allclose(_col(out, "ret_5"), _col(ref, "ret_5"), rtol=1e-6, equal_nan=True)


def test_drop_warmup_and_keep_input_columns(panel: pl.DataFrame) -> None:
    spec = FeatureSpec(drop_warmup=True, keep_input_columns=True, ma_windows=[10, 50])
    out = build_features(panel, spec)
    warmup = spec.warmup_bars()
    assert warmup == 120  # the mom_120_20 lookback
    per_symbol = panel.group_by("symbol").len().sort("symbol")
    kept = out.group_by("symbol").len().sort("symbol")
    assert kept["len"].to_list() == [n - warmup for n in per_symbol["len"].to_list()]
    assert "close" in out.columns and "volume" in out.columns
    features = [c for c in out.columns if c.startswith(("ret_", "vol_", "mom_", "ma_gap_", "rsi_"))]
    assert out.select(features).null_count().sum_horizontal().item() == 0


# --- formulas --------------------------------------------------------------------------


def test_return_volatility_momentum_and_ma_gap(panel: pl.DataFrame, built: pl.DataFrame) -> None:
    rows, close = _one_symbol(built, panel, "A")
    lc = np.log(close)
    r1 = np.diff(lc)
    t = 150
    assert _col(rows, "ret_5")[t] == pytest.approx(lc[t] - lc[t - 5], abs=1e-12)
    assert _col(rows, "vol_20")[t] == pytest.approx(np.std(r1[t - 20 : t], ddof=1), rel=1e-9)
    assert _col(rows, "mom_120_20")[t] == pytest.approx(lc[t - 20] - lc[t - 120], abs=1e-12)
    assert _col(rows, "ma_gap_50")[t] == pytest.approx(close[t] / close[t - 49 : t + 1].mean() - 1)
    assert math.isnan(_col(rows, "ret_60")[59]) and not math.isnan(_col(rows, "ret_60")[60])
    assert math.isnan(_col(rows, "vol_20")[19]) and not math.isnan(_col(rows, "vol_20")[20])
    assert math.isnan(_col(rows, "ma_gap_200")[198]) and not math.isnan(
        _col(rows, "ma_gap_200")[199]
    )


def test_rsi_is_wilder_ewm(panel: pl.DataFrame, built: pl.DataFrame) -> None:
    rows, close = _one_symbol(built, panel, "C")
    delta = np.diff(close)
    alpha = 1.0 / 14
    gain = loss = 0.0
    expected = np.full(close.size, np.nan)
    for i, d in enumerate(delta, start=1):
        g, lo = max(d, 0.0), max(-d, 0.0)
        gain, loss = (
            (g, lo) if i == 1 else ((1 - alpha) * gain + alpha * g, (1 - alpha) * loss + alpha * lo)
        )
        if i >= 14:
            expected[i] = 100.0 * gain / (gain + loss)
    np.testing.assert_allclose(_col(rows, "rsi_14"), expected, rtol=1e-10, equal_nan=True)
    got = _col(rows, "rsi_14")
    assert np.nanmin(got) >= 0.0 and np.nanmax(got) <= 100.0


def test_volume_and_range_features(panel: pl.DataFrame, built: pl.DataFrame) -> None:
    rows = built.filter(pl.col("symbol") == "A")
    src = panel.filter(pl.col("symbol") == "A").sort("timestamp")
    vol, hi, lo, close = (src[c].to_numpy() for c in ("volume", "high", "low", "close"))
    t = 100
    lv = np.log1p(vol[t - 19 : t + 1])
    assert _col(rows, "volume_z_20")[t] == pytest.approx((lv[-1] - lv.mean()) / lv.std(ddof=1))
    assert _col(rows, "volume_ratio_5_20")[t] == pytest.approx(
        vol[t - 4 : t + 1].mean() / vol[t - 19 : t + 1].mean()
    )
    assert _col(rows, "dollar_volume_20")[t] == pytest.approx(
        np.log1p((close * vol)[t - 19 : t + 1].mean())
    )
    hl = np.log(hi / lo)
    assert _col(rows, "hl_range")[t] == pytest.approx(hl[t])
    assert _col(rows, "parkinson_20")[t] == pytest.approx(
        math.sqrt(np.mean(hl[t - 19 : t + 1] ** 2) / (4 * math.log(2)))
    )


def test_cross_sectional_rank_and_zscore(built: pl.DataFrame) -> None:
    for _, g in built.group_by("timestamp"):
        x = g["ret_5"].to_numpy()
        ok = ~np.isnan(x)
        if ok.sum() < 2:
            continue
        order = x[ok].argsort().argsort()  # no ties in continuous returns
        np.testing.assert_allclose(g["cs_rank_ret_5"].to_numpy()[ok], order / (ok.sum() - 1))
        z = (x[ok] - x[ok].mean()) / x[ok].std(ddof=1)
        np.testing.assert_allclose(g["cs_z_ret_5"].to_numpy()[ok], z, rtol=1e-9)
        assert np.isnan(g["cs_rank_ret_5"].to_numpy()[~ok]).all()
    assert "cs_rank_mom_60_5" not in built.columns  # only the configured subset


# --- targets -------------------------------------------------------------------------


def test_targets_cover_t_to_t_plus_h(panel: pl.DataFrame, built: pl.DataFrame) -> None:
    for sym in "AB":  # B has missing bars: horizons count bars, not days
        rows, close = _one_symbol(built, panel, sym)
        r1 = np.diff(np.log(close))
        for h in (1, 5, 20):
            fwd = _col(rows, f"fwd_ret_{h}")
            expected = np.full(close.size, np.nan)
            expected[:-h] = np.log(close[h:] / close[:-h])
            np.testing.assert_allclose(fwd, expected, rtol=0, atol=1e-12, equal_nan=True)
            vol = np.full(close.size, np.nan)
            vol[:-h] = [math.sqrt(np.sum(r1[t : t + h] ** 2)) for t in range(close.size - h)]
            np.testing.assert_allclose(_col(rows, f"fwd_vol_{h}"), vol, rtol=1e-10, equal_nan=True)
            up = _col(rows, f"y_up_{h}")
            assert np.isnan(up[-h:]).all()
            np.testing.assert_array_equal(up[:-h], (fwd[:-h] > 0).astype(float))


def _bump_close(panel: pl.DataFrame, sym: str, ts: object) -> pl.DataFrame:
    hit = (pl.col("symbol") == sym) & (pl.col("timestamp") == ts)
    return panel.with_columns(
        pl.when(hit).then(pl.col("close") * 1.5).otherwise(pl.col("close")).alias("close")
    )


def test_targets_use_only_bars_in_the_window(panel: pl.DataFrame) -> None:
    base = build_features(panel)
    bars = panel.filter(pl.col("symbol") == "A")["timestamp"].sort()  # A has no gaps
    t, h = 100, 5
    at = (pl.col("symbol") == "A") & (pl.col("timestamp") == bars[t])

    def targets(df: pl.DataFrame) -> dict[str, float]:
        return df.filter(at).select(f"fwd_ret_{h}", f"fwd_vol_{h}", "fwd_vol_20").row(0, named=True)

    before = targets(base)
    after_window = targets(build_features(_bump_close(panel, "A", bars[t + h + 1])))
    assert after_window[f"fwd_ret_{h}"] == before[f"fwd_ret_{h}"]
    assert after_window[f"fwd_vol_{h}"] == before[f"fwd_vol_{h}"]
    assert after_window["fwd_vol_20"] != before["fwd_vol_20"]  # inside the 20-bar window
    at_end = targets(build_features(_bump_close(panel, "A", bars[t + h])))
    assert at_end[f"fwd_ret_{h}"] == pytest.approx(before[f"fwd_ret_{h}"] + math.log(1.5))
    # features at t never depend on later bars
    features = [c for c in base.columns[2:] if not c.startswith(TARGET_PREFIXES)]
    bumped = build_features(_bump_close(panel, "A", bars[t + 1]))
    assert bumped.filter(at).select(features).equals(base.filter(at).select(features))


# --- point in time -------------------------------------------------------------------


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut_index=st.integers(min_value=0, max_value=259))
def test_features_are_point_in_time(
    cut_index: int, panel: pl.DataFrame, built: pl.DataFrame
) -> None:
    """Features up to a cut are bit-identical whether or not later data exists.

    The panel has a late-starting symbol and gaps; the spec includes
    cross-sectional ranks and z-scores, RSI (ewm) and rolling windows.
    """
    cut = panel["timestamp"].unique().sort()[cut_index]
    truncated = build_features(panel.filter(pl.col("timestamp") <= cut), PIT_SPEC)
    full = built.filter(pl.col("timestamp") <= cut)
    features = [c for c in built.columns[2:] if not c.startswith(TARGET_PREFIXES)]
    assert any(c.startswith("cs_rank_") for c in features)
    assert any(c.startswith("cs_z_") for c in features)
    assert truncated.select(["symbol", "timestamp"]).equals(full.select(["symbol", "timestamp"]))
    for name in features:
        a, b = _col(truncated, name), _col(full, name)
        np.testing.assert_array_equal(a, b, err_msg=name)  # exact, NaN (null) == NaN


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["close", "symbol", "timestamp"])
def test_missing_column_is_named(panel: pl.DataFrame, missing: str) -> None:
    with pytest.raises(FeatureBuildError, match=f"'{missing}'"):
        build_features(panel.drop(missing))
    assert issubclass(FeatureBuildError, ValueError)


def test_bad_values_are_rejected(panel: pl.DataFrame) -> None:
    with pytest.raises(FeatureBuildError, match="duplicate"):
        build_features(pl.concat([panel, panel.head(1)]))
    with pytest.raises(FeatureBuildError, match=r"'close'.*non-positive"):
        build_features(panel.with_columns(pl.lit(0.0).alias("close")))
    with pytest.raises(FeatureBuildError, match=r"'volume'.*negative"):
        build_features(panel.with_columns(pl.lit(-1.0).alias("volume")))
    with pytest.raises(FeatureBuildError, match="'close' must be numeric"):
        build_features(panel.with_columns(pl.col("close").cast(pl.String)))
    with pytest.raises(FeatureBuildError, match=r"'timestamp'.*null"):
        build_features(panel.with_columns(pl.lit(None).alias("timestamp")))


def test_unknown_cross_sectional_pattern(panel: pl.DataFrame) -> None:
    spec = FeatureSpec(cross_sectional=CrossSectionalSpec(features=["nope_*"]))
    with pytest.raises(FeatureBuildError, match="'nope_\\*' matches no feature"):
        build_features(panel, spec)


def test_nan_close_becomes_null_not_nan(panel: pl.DataFrame) -> None:
    holed = panel.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(float("nan"))
        .otherwise(pl.col("close"))
        .alias("close")
    )
    out = build_features(holed)
    assert out.select(pl.col(pl.Float64).is_nan().sum()).sum_horizontal().item() == 0
