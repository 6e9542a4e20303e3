"""Per-timestamp information coefficients and their significance.

Follows Qlib's SigAnaRecord convention: for every timestamp with enough names,
IC_t is the Pearson correlation of predictions and labels across symbols and
RankIC_t the Pearson correlation of their average ranks (Spearman). A timestamp
with too few non-null pairs, or with no variance on either side, has no IC: it
is excluded and counted, never allowed to turn the mean into NaN.

``ic_summary`` turns the series into ICIR = mean / std (ddof=1, not annualised)
and t-statistics; with overlapping labels (horizon h > 1) consecutive ICs are
autocorrelated, so the t that decides significance uses a Newey-West (1987)
HAC standard error with lag h - 1.

Everything is vectorised over the whole panel (no Python loop per group).
Measured once with timeit (best of 7, 2-core dev machine) on 2,500 timestamps x
200 names (500k rows sorted by timestamp): rank IC 41 ms without ties, 51 ms
with heavy ties; Pearson IC 20 ms; rank IC 78 ms with 10% NaN pairs and 107 ms
on shuffled rows (the extra cost is one stable radix sort of the codes). The
ranking and correlation kernels live in :mod:`panelml.validation._grouped`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from panelml.validation._grouped import (
    ICMethod,
    _dense_layout,
    _dense_rank_corr,
    _DenseLayout,
    _grouped_corr,
    _pearson_spread,
    _row_corr,
)
from panelml.validation.timestamps import Int64Array, stable_group_order, timestamp_index

__all__ = [
    "ICSeries",
    "ICSummary",
    "ic_series",
    "ic_series_many",
    "ic_summary",
    "per_symbol_ic",
    "positive_share",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ICSeries:
    """IC per defined timestamp, with how many names each used and how many were skipped."""

    timestamps: npt.NDArray[Any]
    values: FloatArray
    n_names: Int64Array
    n_skipped: int
    method: ICMethod = "rank"

    def __len__(self) -> int:
        return int(self.values.size)


@dataclass(frozen=True)
class ICSummary:
    """Mean IC, ICIR and its significance; NaN where a quantity is undefined.

    ``t_stat`` = ICIR * sqrt(T'). ``t_stat_nw`` uses the Newey-West standard error
    with lag ``nw_lag`` (= horizon - 1); ``p_value`` is one-sided (H1: mean IC > 0)
    from ``t_stat_nw`` against Student's t with T' - 1 degrees of freedom (the HAC
    t is asymptotically normal; t(T'-1) is slightly more conservative for short
    series and converges to the normal).
    """

    mean: float
    std: float
    icir: float
    t_stat: float
    t_stat_nw: float
    p_value: float
    n_periods: int
    n_skipped: int
    nw_lag: int


def ic_series(
    pred: npt.ArrayLike,
    target: npt.ArrayLike,
    timestamps: npt.ArrayLike,
    *,
    method: ICMethod = "rank",
    min_names: int = 5,
) -> ICSeries:
    """Cross-sectional IC at every timestamp (Qlib SigAnaRecord convention).

    ``method='rank'``: Spearman with average ranks for ties; ``'pearson'``: raw
    values. Pairs with a NaN or infinite side are dropped first; a timestamp is
    then skipped (and counted in ``n_skipped``) if it has fewer than
    ``min_names`` pairs or no variance in predictions or targets.
    """
    ts, values, n_names, n_skipped = _grouped_corr(pred, target, timestamps, method, min_names)
    return ICSeries(ts, values, n_names, n_skipped, method)


def ic_series_many(
    preds: npt.ArrayLike,
    target: npt.ArrayLike,
    timestamps: npt.ArrayLike,
    *,
    method: ICMethod = "rank",
    min_names: int = 5,
) -> list[ICSeries]:
    """``[ic_series(p, target, timestamps) for p in preds]`` for a (copies x rows)
    matrix of predictions, with the target's side (its layout and ranks) formed
    once instead of once per copy; values identical to one call per copy.

    Permutation importance scores dozens of predictions of the same rows this
    way. Copies with a missing or infinite prediction, and very ragged groups,
    go through :func:`ic_series` one copy at a time.
    """
    P = np.asarray(preds, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64).reshape(-1)
    ts = np.asarray(timestamps).reshape(-1)
    if P.ndim != 2 or not P.shape[1] == y.size == ts.size:
        raise ValueError(
            f"preds {P.shape} must be (copies, rows) with rows = targets ({y.size}) = "
            f"timestamps ({ts.size})"
        )
    if method not in ("rank", "pearson"):
        raise ValueError(f"method must be 'rank' or 'pearson', got {method!r}")
    codes, unique = timestamp_index(ts)
    n_groups = unique.size
    layout = _dense_layout(codes, n_groups) if n_groups and P.size else None
    if layout is None or not bool(np.isfinite(P).all()):
        return [ic_series(p, y, ts, method=method, min_names=min_names) for p in P]
    if not bool(np.all(codes[1:] >= codes[:-1])):
        order = stable_group_order(codes, n_groups)
        P, y, codes = P[:, order], y[order], codes[order]
        layout = _DenseLayout(codes, n_groups, layout.shape[1])
    k = P.shape[0]
    finite_y = np.isfinite(y)
    Y = layout(np.where(finite_y, y, np.nan))
    valid = ~np.isnan(Y)
    counts = valid.sum(axis=1).astype(np.int64)
    X = layout(P if bool(finite_y.all()) else np.where(finite_y, P, np.nan))
    X = X.reshape(k * n_groups, -1)
    if method == "rank":  # the target's centred ranks once, gathered into each copy's order
        corr, spread_x, spread_y = _dense_rank_corr(X, Y, valid, counts)
        corr = corr.reshape(k, -1)
    else:
        every = np.tile(valid, (k, 1))
        spread_y, spread_x = _pearson_spread(Y, valid), _pearson_spread(X, every)
        corr = _row_corr(X, np.tile(Y, (k, 1)), every).reshape(k, -1)
    defined = (spread_x.reshape(k, -1) & spread_y) & (counts >= max(min_names, 2))
    return [
        ICSeries(unique[d], c[d], counts[d], int(n_groups - d.sum()), method)
        for c, d in zip(corr, defined, strict=True)
    ]


def per_symbol_ic(
    pred: npt.ArrayLike,
    target: npt.ArrayLike,
    symbol_codes: npt.ArrayLike,
    *,
    method: ICMethod = "rank",
    min_obs: int = 20,
) -> tuple[npt.NDArray[Any], FloatArray]:
    """Time-series IC of each symbol: (symbol codes with an IC, IC values).

    A model that ranks names well but only through a few symbols shows up here;
    ``positive_share`` of the result is the share of symbols it helps. Symbols
    with fewer than ``min_obs`` non-null pairs or no variance are left out.
    """
    codes, values, _, _ = _grouped_corr(pred, target, symbol_codes, method, min_obs)
    return codes, values


def positive_share(values: npt.ArrayLike) -> float:
    """Share of the non-NaN values that are > 0 (NaN when there are none)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(np.mean(arr > 0)) if arr.size else math.nan


def _newey_west_se(x: FloatArray, lag: int) -> float:
    """Newey-West (1987) HAC standard error of the mean with Bartlett weights.

    var = (1/T) [g0 + 2 sum_{l=1..L} (1 - l/(L+1)) g_l], g_l the (1/T-normalised)
    autocovariance at lag l.
    """
    n = x.size
    d = x - x.mean()
    var = float(d @ d) / n
    for lag_l in range(1, min(lag, n - 1) + 1):
        gamma = float(d[lag_l:] @ d[:-lag_l]) / n
        var += 2.0 * (1.0 - lag_l / (lag + 1.0)) * gamma
    return math.sqrt(var / n) if var > 0.0 else 0.0


def ic_summary(series_or_values: ICSeries | npt.ArrayLike, horizon: int = 1) -> ICSummary:
    """Mean, std (ddof=1), ICIR = mean/std, t = ICIR sqrt(T'), and the HAC t and p-value.

    NaN values in a plain array are dropped and counted as skipped. Fewer than two
    periods or a zero std give NaN for what depends on them, without warnings.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if isinstance(series_or_values, ICSeries):
        values = np.asarray(series_or_values.values, dtype=np.float64)
        skipped = series_or_values.n_skipped
    else:
        values = np.asarray(series_or_values, dtype=np.float64).reshape(-1)
        skipped = 0
    nan = np.isnan(values)
    skipped += int(nan.sum())
    values = values[~nan]
    n = values.size
    lag = horizon - 1
    mean = float(values.mean()) if n else math.nan
    std = math.nan
    if n >= 2:  # an exactly constant series has std 0, not a rounding residue
        std = float(values.std(ddof=1)) if np.ptp(values) > 0 else 0.0
    icir = t = t_nw = p = math.nan
    if n >= 2 and std > 0.0:
        icir = mean / std
        t = icir * math.sqrt(n)
        se = _newey_west_se(values, lag)
        if se > 0.0:
            t_nw = mean / se
            p = float(stats.t.sf(t_nw, df=n - 1))
    return ICSummary(mean, std, icir, t, t_nw, p, n, skipped, lag)
