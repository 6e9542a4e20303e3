"""Polars expressions for the features and targets of :mod:`panelml.features`.

Each function returns named expressions that are evaluated on a frame sorted
by (symbol, timestamp). Per-symbol features are windowed with ``.over(symbol)``
and look only backwards (``shift`` with positive n, trailing ``rolling_*``,
``ewm_mean`` with ``adjust=False``), so the value at bar t depends on bars <= t
of the same symbol only. Targets look forwards, over (t, t+h]. Cross-sectional
transforms use ``.over(timestamp)``: only rows of the same timestamp.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence

import polars as pl

from panelml.features.spec import CrossSectionalSpec, FeatureBuildError, FeatureSpec

#: internal helper columns (dropped before output); the prefix avoids clashes.
LOG_CLOSE = "__pm_log_close"
LOG_RET = "__pm_log_ret_1"
BAR = "__pm_bar"

_FOUR_LN2 = 4.0 * math.log(2.0)


def _safe_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den, null where den is 0 (so flat windows give null, not inf/NaN)."""
    return pl.when(den != 0).then(num / den).otherwise(None)


def helper_columns(symbol: str) -> list[pl.Expr]:
    """Log close, 1-bar log return and the bar number within each symbol."""
    return [
        pl.col("close").log().alias(LOG_CLOSE),
        pl.col("close").log().diff().over(symbol).alias(LOG_RET),
        pl.int_range(pl.len(), dtype=pl.Int64).over(symbol).alias(BAR),
    ]


def price_features(spec: FeatureSpec, symbol: str) -> list[pl.Expr]:
    """Returns, volatility, momentum, moving-average gaps and RSI from ``close``."""
    lc = pl.col(LOG_CLOSE)
    close = pl.col("close")
    out: list[pl.Expr] = []
    for lag in spec.return_lags:
        out.append((lc - lc.shift(lag)).over(symbol).alias(f"ret_{lag}"))
    for w in spec.volatility_windows:
        out.append(pl.col(LOG_RET).rolling_std(w, min_samples=w).over(symbol).alias(f"vol_{w}"))
    for lookback, skip in spec.momentum:
        out.append(
            (lc.shift(skip) - lc.shift(lookback)).over(symbol).alias(f"mom_{lookback}_{skip}")
        )
    for n in spec.ma_windows:
        sma = close.rolling_mean(n, min_samples=n)
        out.append((close / sma - 1.0).over(symbol).alias(f"ma_gap_{n}"))
    for n in spec.rsi_windows:
        out.append(_rsi(n).over(symbol).alias(f"rsi_{n}"))
    return out


def _rsi(n: int) -> pl.Expr:
    """Wilder's RSI: 100 * avg_gain / (avg_gain + avg_loss).

    Wilder's smoothing is an exponential average with alpha = 1/n; we use
    ``ewm_mean(alpha=1/n, adjust=False)``, which is recursive and therefore
    causal. It starts from the first change instead of Wilder's n-bar simple
    average seed, and the first n bars are left null as warm-up. Null where the
    price did not move over the smoothing memory (0/0).
    """
    delta = pl.col("close").diff()
    gain = delta.clip(lower_bound=0.0).ewm_mean(alpha=1.0 / n, adjust=False, min_samples=n)
    loss = (-delta).clip(lower_bound=0.0).ewm_mean(alpha=1.0 / n, adjust=False, min_samples=n)
    return _safe_div(100.0 * gain, gain + loss)


def volume_features(spec: FeatureSpec, symbol: str) -> list[pl.Expr]:
    """Log-volume z-score, short/long volume ratio and log dollar volume."""
    w, s = spec.volume_window, spec.volume_short_window
    volume = pl.col("volume")
    lv = volume.log1p()
    z = _safe_div(lv - lv.rolling_mean(w, min_samples=w), lv.rolling_std(w, min_samples=w))
    ratio = _safe_div(volume.rolling_mean(s, min_samples=s), volume.rolling_mean(w, min_samples=w))
    dollar = (pl.col("close") * volume).rolling_mean(w, min_samples=w).log1p()
    return [
        z.over(symbol).alias(f"volume_z_{w}"),
        ratio.over(symbol).alias(f"volume_ratio_{s}_{w}"),
        dollar.over(symbol).alias(f"dollar_volume_{w}"),
    ]


def range_features(spec: FeatureSpec, symbol: str) -> list[pl.Expr]:
    """High-low log range and Parkinson (1980) volatility.

    Parkinson: sigma^2 = mean(ln(high/low)^2) / (4 ln 2) over the window.
    """
    hl = (pl.col("high") / pl.col("low")).log()
    out = [hl.alias("hl_range")]
    for w in spec.range_windows:
        var = (hl * hl).rolling_mean(w, min_samples=w) / _FOUR_LN2
        out.append(var.sqrt().over(symbol).alias(f"parkinson_{w}"))
    return out


def open_features(symbol: str) -> list[pl.Expr]:
    """Overnight gap log(open_t / close_{t-1}) and intraday log(close_t / open_t)."""
    lo = pl.col("open").log()
    return [
        (lo - pl.col(LOG_CLOSE).shift(1)).over(symbol).alias("gap_ret"),
        (pl.col(LOG_CLOSE) - lo).alias("intraday_ret"),
    ]


def target_columns(spec: FeatureSpec, symbol: str) -> list[pl.Expr]:
    """Forward return, realised volatility and direction over (t, t+h].

    ``fwd_ret_h`` = log(close_{t+h}) - log(close_t), the sum of the 1-bar log
    returns over (t, t+h]. ``fwd_vol_h`` = sqrt of the sum of squared 1-bar log
    returns over (t, t+h] (not annualised). ``y_up_h`` = 1.0 if fwd_ret_h > 0
    else 0.0, null where fwd_ret_h is null. Each is null in the last h bars of a
    symbol.
    """
    lc = pl.col(LOG_CLOSE)
    out: list[pl.Expr] = []
    for h in spec.horizons:
        fwd = (lc.shift(-h) - lc).over(symbol)
        if "fwd_ret" in spec.targets:
            out.append(fwd.alias(f"fwd_ret_{h}"))
        if "fwd_vol" in spec.targets:
            r2 = pl.col(LOG_RET) * pl.col(LOG_RET)
            vol = r2.rolling_sum(h, min_samples=h).shift(-h).sqrt().over(symbol)
            out.append(vol.alias(f"fwd_vol_{h}"))
        if "y_up" in spec.targets:
            up = pl.when(fwd.is_null()).then(None).when(fwd > 0).then(1.0).otherwise(0.0)
            out.append(up.alias(f"y_up_{h}"))
    return out


def resolve_cross_sectional(cs: CrossSectionalSpec, features: Sequence[str]) -> list[str]:
    """The feature names that ``cs.features`` (names or globs) selects, in feature order."""
    if cs.features is None:
        return [f for f in features if f.startswith(("ret_", "mom_", "vol_"))]
    chosen: set[str] = set()
    for pattern in cs.features:
        matched = fnmatch.filter(features, pattern)
        if not matched:
            raise FeatureBuildError(
                f"cross_sectional.features: {pattern!r} matches no feature; "
                f"available: {', '.join(features)}"
            )
        chosen.update(matched)
    return [f for f in features if f in chosen]


def cross_sectional_columns(
    cs: CrossSectionalSpec, names: Sequence[str], timestamp: str
) -> list[pl.Expr]:
    """Percentile ranks and z-scores of ``names`` among the symbols at each timestamp.

    ``cs_rank_<f>`` = (average rank - 1) / (n - 1) in [0, 1] over the n symbols
    with a value at t (0.5 when n = 1); ``cs_z_<f>`` = (x - mean) / std (ddof=1),
    null when fewer than 2 values or no spread. Nulls stay null.
    """
    out: list[pl.Expr] = []
    for name in names:
        x = pl.col(name)
        if cs.rank:
            n = x.count().over(timestamp).cast(pl.Float64)
            rank = x.rank("average").over(timestamp)
            pct = (
                pl.when(x.is_null())
                .then(None)
                .when(n > 1)
                .then((rank - 1.0) / (n - 1.0))
                .otherwise(0.5)
            )
            out.append(pct.alias(f"cs_rank_{name}"))
        if cs.zscore:
            z = _safe_div(x - x.mean().over(timestamp), x.std().over(timestamp))
            out.append(z.alias(f"cs_z_{name}"))
    return out
