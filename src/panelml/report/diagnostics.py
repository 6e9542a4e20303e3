"""Factor diagnostics of out-of-fold predictions: pure numbers, no HTML.

The report's diagnostics section draws what these functions compute from one
target's out-of-fold (OOF) table: arrays of predictions, outcomes, per-row
timestamps (physical integers) and symbols. Nothing here reads files or knows
about the page, so every number can be checked by hand in a unit test.

- :func:`quantile_returns`: the mean forward target of each prediction bucket
  (buckets formed per timestamp, then averaged over timestamps with equal
  weight, as alphalens does) and the per-timestamp top-minus-bottom spread,
  whose mean is tested with :func:`panelml.validation.significance.ic_significance`
  (a mean of a per-timestamp OOF series with overlapping labels: the same
  variance and fold factor as the IC);
- :func:`rank_autocorrelation`: prediction turnover, the cross-sectional rank
  correlation of each symbol's prediction with its prediction at the previous
  timestamp (1 = the ranking never changes, 0 = a new ranking every period);
- :func:`histogram`, :func:`period_grid`: the distribution of per-timestamp IC
  and its mean per calendar month (or per block of bars);
- :func:`calibration`: observed frequency of a binary outcome per bin of a
  predicted probability (or predicted percentile rank).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast, get_args

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.validation.metrics import ic_series
from panelml.validation.ranks import cross_sectional_ranks
from panelml.validation.significance import ICSignificance, Scheme, ic_significance
from panelml.validation.timestamps import timestamp_index

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MANY_NAMES = 100
"""Median names per timestamp from which predictions are cut into 10 buckets
(10 names per bucket) rather than 5."""


def bucket_count(names_per_timestamp: npt.ArrayLike) -> int:
    """10 buckets when the median cross-section has :data:`MANY_NAMES` names, else 5."""
    counts = np.asarray(names_per_timestamp, dtype=np.float64)
    if counts.size and float(np.median(counts)) >= MANY_NAMES:
        return 10
    return 5


def names_per_timestamp(pred: npt.ArrayLike, y: npt.ArrayLike, ts: npt.ArrayLike) -> IntArray:
    """How many rows with a finite prediction and outcome each timestamp has."""
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(p) & np.isfinite(t)
    if not keep.any():
        return np.zeros(0, dtype=np.int64)
    codes, _ = timestamp_index(np.asarray(ts)[keep])
    return np.bincount(codes).astype(np.int64)


@dataclass(frozen=True)
class QuantileReturns:
    """Mean forward target by prediction bucket, and the top-minus-bottom spread.

    ``means[k]`` is the mean over timestamps of bucket k's mean outcome (bucket 0
    holds the lowest predictions); ``timestamps`` are those where every bucket
    had a name, ``spread`` the top bucket's mean minus the bottom one's there.
    ``skipped`` counts timestamps with fewer names than buckets.
    """

    n_buckets: int
    means: FloatArray
    timestamps: IntArray
    spread: FloatArray
    skipped: int


def quantile_returns(
    pred: npt.ArrayLike, y: npt.ArrayLike, ts: npt.ArrayLike, n_buckets: int
) -> QuantileReturns:
    """Bucket predictions per timestamp by percentile rank and average the outcomes.

    A row's bucket is ``floor(q * (r - 0.5) / n)`` with r its average rank among
    the n rows of its timestamp (ties share a bucket); rows with a missing
    prediction or outcome are dropped first.
    """
    if n_buckets < 2:
        raise ValueError(f"n_buckets must be at least 2, got {n_buckets}")
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(p) & np.isfinite(t)
    p, t, stamps = p[keep], t[keep], np.asarray(ts, dtype=np.int64)[keep]
    empty = QuantileReturns(
        n_buckets, np.full(n_buckets, math.nan), np.zeros(0, np.int64), np.zeros(0), 0
    )
    if p.size == 0:
        return empty
    codes, unique = timestamp_index(stamps)
    pct = cross_sectional_ranks(p, codes)
    bucket = np.minimum(np.floor(pct * n_buckets).astype(np.int64), n_buckets - 1)
    cell = codes * n_buckets + bucket
    size = unique.size * n_buckets
    count = np.bincount(cell, minlength=size).reshape(unique.size, n_buckets)
    total = np.bincount(cell, weights=t, minlength=size).reshape(unique.size, n_buckets)
    full = (count > 0).all(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cell_mean = total[full] / count[full]
    if not full.any():
        return QuantileReturns(
            n_buckets, empty.means, empty.timestamps, empty.spread, int(unique.size)
        )
    return QuantileReturns(
        n_buckets=n_buckets,
        means=cell_mean.mean(axis=0),
        timestamps=np.asarray(unique[full], dtype=np.int64),
        spread=cell_mean[:, -1] - cell_mean[:, 0],
        skipped=int((~full).sum()),
    )


def spread_significance(
    spread: npt.ArrayLike, horizon: int, scheme: str, families: Sequence[str]
) -> ICSignificance | None:
    """The test of the mean spread that the IC gets (``ic_significance``), or ``None``
    when ``scheme`` has no fold factor (the test would not be calibrated)."""
    try:
        return ic_significance(spread, horizon, scheme=_scheme(scheme), families=families)
    except ValueError:
        return None


def _scheme(name: str) -> Scheme:
    """``name`` as a scheme the test knows (any it lists, so new schemes pass through)."""
    if name in get_args(Scheme):
        return cast(Scheme, name)
    raise ValueError(f"no fold factor for validation scheme {name!r}")


@dataclass(frozen=True)
class Turnover:
    """Rank autocorrelation of predictions between consecutive timestamps.

    ``timestamps[i]`` is the later timestamp of pair i; ``values[i]`` the rank
    correlation, over the symbols predicted at both, of their predictions.
    """

    timestamps: IntArray
    values: FloatArray

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values.size else math.nan


def rank_autocorrelation(
    pred: npt.ArrayLike, symbols: npt.ArrayLike, ts: npt.ArrayLike, *, min_names: int = 5
) -> Turnover:
    """Spearman correlation of each symbol's prediction at t with its prediction at
    the previous timestamp that has predictions, per t (pairs of at least
    ``min_names`` symbols with a varying ranking on both sides)."""
    p = np.asarray(pred, dtype=np.float64)
    keep = np.isfinite(p)
    if not keep.any():
        return Turnover(np.zeros(0, np.int64), np.zeros(0))
    t_codes, unique = timestamp_index(np.asarray(ts, dtype=np.int64)[keep])
    s_codes, _ = timestamp_index(np.asarray(symbols)[keep])
    p = p[keep]
    order = np.lexsort((t_codes, s_codes))
    sc, tc, pv = s_codes[order], t_codes[order], p[order]
    pair = (sc[1:] == sc[:-1]) & (tc[1:] == tc[:-1] + 1)
    later = tc[1:][pair]
    series = ic_series(pv[:-1][pair], pv[1:][pair], later, method="rank", min_names=min_names)
    codes = np.asarray(series.timestamps, dtype=np.int64)
    return Turnover(np.asarray(unique[codes], dtype=np.int64), series.values)


@dataclass(frozen=True)
class Histogram:
    """Counts of values in equal-width bins: ``edges`` has one more entry than ``counts``."""

    edges: FloatArray
    counts: IntArray


def histogram(values: npt.ArrayLike, n_bins: int = 24) -> Histogram:
    """Equal-width bins symmetric around zero, wide enough for the largest |value|
    (rounded up to 0.05), so zero is always a bin edge."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    reach = max(0.05, math.ceil(float(np.max(np.abs(x))) / 0.05 - 1e-9) * 0.05) if x.size else 0.05
    half = max(1, n_bins // 2)
    edges = np.linspace(-reach, reach, 2 * half + 1)
    counts, _ = np.histogram(x, bins=edges)
    return Histogram(edges, counts.astype(np.int64))


@dataclass(frozen=True)
class PeriodGrid:
    """Mean of a per-timestamp series per period, laid out as rows x columns.

    ``values[i, j]`` is NaN where the cell has no value; ``counts`` the number
    of timestamps per cell; ``title`` says what a cell is.
    """

    rows: list[str]
    columns: list[str]
    values: FloatArray
    counts: IntArray
    title: str


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def period_grid(
    timestamps: npt.ArrayLike, values: npt.ArrayLike, dtype: pl.DataType, *, columns: int = 12
) -> PeriodGrid:
    """Calendar months (years as rows) for date and datetime timestamps; for
    integer timestamps, blocks of equal numbers of periods, ``columns`` per row."""
    ts = np.asarray(timestamps, dtype=np.int64)
    x = np.asarray(values, dtype=np.float64)
    if dtype.is_temporal() and ts.size:
        dates = pl.Series(ts).cast(dtype)
        years = dates.dt.year().to_numpy().astype(np.int64)
        months = dates.dt.month().to_numpy().astype(np.int64) - 1
        first = int(years.min())
        labels = [str(y) for y in range(first, int(years.max()) + 1)]
        return _grid(years - first, months, x, labels, list(MONTHS), "month")
    n = int(np.unique(ts).size)
    block = max(1, math.ceil(n / (columns * 6)))
    codes, _ = timestamp_index(ts) if ts.size else (np.zeros(0, np.int64), None)
    blocks = codes // block
    n_rows = max(1, math.ceil((int(blocks.max()) + 1 if blocks.size else 1) / columns))
    row_labels = [
        f"periods {r * columns * block + 1}-{min(n, (r + 1) * columns * block)}"
        for r in range(n_rows)
    ]
    col_labels = [str(c + 1) for c in range(columns)]
    title = "period" if block == 1 else f"block of {block} periods"
    return _grid(blocks // columns, blocks % columns, x, row_labels, col_labels, title)


def _grid(
    row: IntArray, col: IntArray, x: FloatArray, rows: list[str], cols: list[str], title: str
) -> PeriodGrid:
    finite = np.isfinite(x)
    cell = (row * len(cols) + col)[finite]
    size = len(rows) * len(cols)
    counts = np.bincount(cell, minlength=size)
    sums = np.bincount(cell, weights=x[finite], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), math.nan)
    shape = (len(rows), len(cols))
    return PeriodGrid(
        rows, cols, means.reshape(shape), counts.reshape(shape).astype(np.int64), title
    )


@dataclass(frozen=True)
class Calibration:
    """Per non-empty bin: mean prediction, observed frequency of y = 1, row count."""

    predicted: FloatArray
    observed: FloatArray
    counts: IntArray
    base_rate: float


def calibration(pred: npt.ArrayLike, y: npt.ArrayLike, n_bins: int = 10) -> Calibration:
    """Equal-count bins of a prediction (a probability or a percentile rank): the rows
    sorted by prediction and cut into ``n_bins`` groups of (almost) equal size, so
    every point rests on the same number of rows wherever the predictions cluster."""
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(p) & np.isfinite(t)
    p, t = p[keep], t[keep]
    bins = np.empty(p.size, dtype=np.int64)
    bins[np.argsort(p, kind="stable")] = (np.arange(p.size) * n_bins) // max(p.size, 1)
    counts = np.bincount(bins, minlength=n_bins)
    pred_sum = np.bincount(bins, weights=p, minlength=n_bins)
    hits = np.bincount(bins, weights=t, minlength=n_bins)
    used = counts > 0
    n = counts[used]
    return Calibration(
        predicted=pred_sum[used] / n,
        observed=hits[used] / n,
        counts=n.astype(np.int64),
        base_rate=float(t.mean()) if t.size else math.nan,
    )
