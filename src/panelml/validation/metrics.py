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
on shuffled rows (the extra cost is one stable radix sort of the codes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

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
ICMethod = Literal["rank", "pearson"]


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


def _dense_ranks(X: FloatArray, counts: Int64Array) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Average ranks (1-based, ties averaged) along each row of a NaN-padded matrix.

    Returns the ranks (NaN where X is NaN) and whether each row has any spread.
    Many small row sorts beat one big sort, and NaN sorts last, so a row's valid
    entries occupy its first ``counts`` sorted slots.
    """
    n_rows, width = X.shape
    keys = X
    missing = np.isnan(X)
    if missing.any() and not bool(np.isposinf(X).any()):
        # NaN as +inf: the same order (missing last), and numpy sorts rows
        # without NaN about 4x faster; tied values get one average rank, so
        # their order within a tie does not matter
        keys = np.where(missing, np.inf, X)
    idx = np.argsort(keys, axis=1)
    srt = np.take_along_axis(X, idx, axis=1)
    col = np.arange(width)
    tie = srt[:, 1:] == srt[:, :-1]
    ranks_sorted: FloatArray = np.broadcast_to(col + 1.0, (n_rows, width)).copy()
    tied = np.flatnonzero(tie.any(axis=1))
    if tied.size:  # ties averaged only in the rows that have any
        t = tie[tied]
        new_run = np.ones((tied.size, width), dtype=bool)
        np.logical_not(t, out=new_run[:, 1:])
        run_end = np.ones((tied.size, width), dtype=bool)
        np.logical_not(t, out=run_end[:, :-1])
        first = np.maximum.accumulate(np.where(new_run, col, 0), axis=1)
        last = np.minimum.accumulate(np.where(run_end, col, width)[:, ::-1], axis=1)[:, ::-1]
        ranks_sorted[tied] = (first + last) / 2.0 + 1.0
    ranks_sorted[col >= counts[:, None]] = np.nan
    ranks = np.empty_like(ranks_sorted)
    np.put_along_axis(ranks, idx, ranks_sorted, axis=1)
    rows = np.arange(n_rows)
    spread = srt[rows, 0] < srt[rows, np.maximum(counts - 1, 0)]
    return ranks, spread


def _dense_side(
    X: FloatArray, valid: npt.NDArray[np.bool_], counts: Int64Array, method: ICMethod
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """One side of :func:`_dense_corr`: the values it correlates (average ranks for
    ``'rank'``, the raw values for ``'pearson'``) and whether each row has spread."""
    if method == "rank":
        return _dense_ranks(X, counts)
    spread = np.where(valid, X, -np.inf).max(axis=1) > np.where(valid, X, np.inf).min(axis=1)
    return X, spread


def _row_corr(X: FloatArray, Y: FloatArray, valid: npt.NDArray[np.bool_]) -> FloatArray:
    """Row-wise Pearson correlation of the ``valid`` cells of two same-shape matrices."""
    n = np.maximum(valid.sum(axis=1), 1)
    Xc = np.where(valid, X - (np.where(valid, X, 0.0).sum(axis=1) / n)[:, None], 0.0)
    Yc = np.where(valid, Y - (np.where(valid, Y, 0.0).sum(axis=1) / n)[:, None], 0.0)
    sxy = np.einsum("ij,ij->i", Xc, Yc)
    sxx = np.einsum("ij,ij->i", Xc, Xc)
    syy = np.einsum("ij,ij->i", Yc, Yc)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr: FloatArray = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
    return corr


def _dense_corr(
    X: FloatArray, Y: FloatArray, method: ICMethod
) -> tuple[FloatArray, Int64Array, npt.NDArray[np.bool_]]:
    """Row-wise correlation of two NaN-padded matrices with the same NaN pattern.

    Returns (corr, counts, has_spread); corr is meaningless where not has_spread.
    """
    valid = ~np.isnan(X)
    counts = valid.sum(axis=1).astype(np.int64)
    X, spread_x = _dense_side(X, valid, counts, method)
    Y, spread_y = _dense_side(Y, valid, counts, method)
    return _row_corr(X, Y, valid), counts, spread_x & spread_y


def _average_ranks_sparse(x: FloatArray, codes: Int64Array, starts: Int64Array) -> FloatArray:
    """Same as the dense version via one global (group, value) sort; for ragged groups."""
    order = np.lexsort((x, codes))
    xs, cs = x[order], codes[order]
    new_run = np.ones(x.size, dtype=bool)
    new_run[1:] = (xs[1:] != xs[:-1]) | (cs[1:] != cs[:-1])
    run_id = np.cumsum(new_run) - 1
    first = np.flatnonzero(new_run)
    run_len = np.bincount(run_id)
    run_rank = first - starts[cs[first]] + (run_len - 1) / 2.0 + 1.0
    out = np.empty(x.size)
    out[order] = run_rank[run_id]
    return out


def _sparse_corr(
    x: FloatArray, y: FloatArray, codes: Int64Array, n_groups: int, method: ICMethod
) -> tuple[FloatArray, Int64Array, npt.NDArray[np.bool_]]:
    """Group-wise correlation of finite pairs grouped by code, with bincount sums."""
    counts = np.bincount(codes, minlength=n_groups).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    spread = np.zeros(n_groups, dtype=bool)
    nonempty = counts > 0
    if codes.size:
        first = starts[nonempty]
        spread[nonempty] = (np.maximum.reduceat(x, first) > np.minimum.reduceat(x, first)) & (
            np.maximum.reduceat(y, first) > np.minimum.reduceat(y, first)
        )
    if method == "rank":
        x = _average_ranks_sparse(x, codes, starts)
        y = _average_ranks_sparse(y, codes, starts)
    n = np.maximum(counts, 1)
    xc = x - (np.bincount(codes, weights=x, minlength=n_groups) / n)[codes]
    yc = y - (np.bincount(codes, weights=y, minlength=n_groups) / n)[codes]
    sxy = np.bincount(codes, weights=xc * yc, minlength=n_groups)
    sxx = np.bincount(codes, weights=xc * xc, minlength=n_groups)
    syy = np.bincount(codes, weights=yc * yc, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
    return corr, counts, spread


class _DenseLayout:
    """Rows sorted by group code laid out as the rows of a NaN-padded
    (groups x widest group) matrix: a free reshape for a rectangular panel."""

    def __init__(self, codes: Int64Array, n_groups: int, width: int) -> None:
        self.shape = (n_groups, width)
        self.flat: Int64Array | None = None
        if codes.size != n_groups * width:
            sizes = np.bincount(codes, minlength=n_groups)
            starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
            self.flat = codes * width + (np.arange(codes.size) - starts[codes])

    def __call__(self, values: FloatArray) -> FloatArray:
        """``values`` (rows, or copies x rows) in the padded layout (one more axis)."""
        lead = values.shape[:-1]
        if self.flat is None:
            return values.reshape(*lead, *self.shape)
        out = np.full((*lead, self.shape[0] * self.shape[1]), np.nan)
        out[..., self.flat] = values
        return out.reshape(*lead, *self.shape)


def _dense_layout(codes: Int64Array, n_groups: int) -> _DenseLayout | None:
    """The padded layout of sorted ``codes``, or None when the groups are so ragged
    that padding would be far larger than the data (then one global sort is used)."""
    width = int(np.bincount(codes, minlength=n_groups).max())
    if n_groups * width > 4 * codes.size + 4096:
        return None
    return _DenseLayout(codes, n_groups, width)


def _grouped_corr(
    x_in: npt.ArrayLike,
    y_in: npt.ArrayLike,
    groups: npt.ArrayLike,
    method: ICMethod,
    min_count: int,
) -> tuple[npt.NDArray[Any], FloatArray, Int64Array, int]:
    """Correlation of x and y within each group: (group values, corr, counts, n_skipped).

    Groups are laid out as rows of a NaN-padded (n_groups, max_size) matrix (a
    free reshape for a rectangular panel sorted by group) unless that would be
    far larger than the data; very ragged groups use one global sort instead.
    """
    if method not in ("rank", "pearson"):
        raise ValueError(f"method must be 'rank' or 'pearson', got {method!r}")
    x = np.asarray(x_in, dtype=np.float64).reshape(-1)
    y = np.asarray(y_in, dtype=np.float64).reshape(-1)
    codes, unique = timestamp_index(np.asarray(groups).reshape(-1))
    if not x.size == y.size == codes.size:
        raise ValueError(
            f"predictions ({x.size}), targets ({y.size}) and groups ({codes.size}) differ in length"
        )
    n_groups = unique.size
    if n_groups == 0:
        return unique, np.zeros(0), np.zeros(0, dtype=np.int64), 0
    if not bool(np.all(codes[1:] >= codes[:-1])):
        order = stable_group_order(codes, n_groups)
        x, y, codes = x[order], y[order], codes[order]
    valid = np.isfinite(x) & np.isfinite(y)
    layout = _dense_layout(codes, n_groups)
    if layout is not None:
        xv, yv = np.where(valid, x, np.nan), np.where(valid, y, np.nan)
        corr, counts, spread = _dense_corr(layout(xv), layout(yv), method)
    else:
        corr, counts, spread = _sparse_corr(x[valid], y[valid], codes[valid], n_groups, method)
    defined = spread & (counts >= max(min_count, 2))
    return unique[defined], corr[defined], counts[defined], int(n_groups - defined.sum())


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
    Y = layout(np.where(np.isfinite(y), y, np.nan))
    valid = ~np.isnan(Y)
    counts = valid.sum(axis=1).astype(np.int64)
    y_side, spread_y = _dense_side(Y, valid, counts, method)
    X = layout(np.where(np.isfinite(y), P, np.nan)).reshape(k * n_groups, -1)
    x_side, spread_x = _dense_side(X, np.tile(valid, (k, 1)), np.tile(counts, k), method)
    corr = _row_corr(x_side, np.tile(y_side, (k, 1)), np.tile(valid, (k, 1))).reshape(k, -1)
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
