"""Timing evidence of the leakage screen: what a feature knows about nearby windows.

Two measurements, both on the mean per-timestamp rank IC (Qlib convention):

**Shifted copies** (:func:`shifted_copies`). A label lagged by l < h bars,
``y[t-l]``, covers (t-l, t-l+h] and so still reaches past t; ``y[t+l]`` for
0 < l < h covers bars the label's own window shares. A feature whose |IC| with
one of these shifted labels reaches the near-copy threshold is a copy of a
label that is not known at t.

**Calibrated window-edge timing** (:func:`timing_evidence`). Model of a genuine
feature x: each bar's return u[t+k] of the target depends on the state at its
start, ``cov(x[t], u[t+k]) = b * c(k-1)``, where ``c(j)`` is the
cross-sectional rank autocorrelation of x at lag j (measured, not assumed: an
AR(1) gives ``phi**j``, a persistent level plus noise a plateau). Summing over a
window of h bars, the IC of x with the window starting j bars after t is
proportional to ``sum_{k=j}^{j+h-1} c(k)`` (with ``c(-k) = c(k)``). So the
genuine model predicts the IC with the window just before the label's,
(t-h, t], and just after, (t+h, t+2h], from the IC with the label's own window::

    expected = ic_now * (W(1) + W(h)) / W(0),   W(j) = sum_{k=j}^{j+h-1} c(k)

A leak of (t, t+h] instead knows that window only: its IC with the windows
around it is the target's own autocorrelation, near zero for returns, while its
own persistence (a sum over h bars overlaps itself) promises much more. The
check flags a pair when the observed IC with the two neighbouring windows falls
short of the expectation by more than ``z`` standard errors *and* by more than
``min_shortfall`` of it. The standard error is that of the mean of the
per-timestamp differences ``ic_before + ic_after - ratio * ic_now`` with the
sample size divided by h (overlapping windows).

Residual ambiguity: when x is not persistent (c(k) ~ 0 for k >= 1) the genuine
model expects nothing from the neighbouring windows, exactly what a leak of the
next bar shows. A strong, non-persistent genuine predictor of the next bar
cannot be told apart from a leak of that bar by timing; only its magnitude
(``too_good``) can raise a suspicion, and magnitude is not proof.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from panelml.data.panel import Panel
from panelml.data.shift import shift_values
from panelml.stages.leakage._ranks import CrossSections
from panelml.validation.metrics import ICSeries
from panelml.validation.ranks import cross_sectional_ranks

__all__ = [
    "TimingEvidence",
    "WindowICs",
    "autocorrelations",
    "shifted_copies",
    "shifted_copy_candidates",
    "timing_evidence",
]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class WindowICs:
    """Rank-IC series of one feature with a target and its shifted windows."""

    now: ICSeries
    before: ICSeries
    after: ICSeries


@dataclass(frozen=True)
class TimingEvidence:
    """The calibrated timing test of one (feature, target) pair."""

    ic_now: float
    observed: float
    """IC with the windows just before and after, summed, aligned to ic_now's sign."""
    expected: float
    """What the genuine model expects for ``observed`` from the feature's persistence."""
    z: float
    """(observed - expected) / s.e.; very negative means the IC is tied to the label window."""
    lag1_autocorr: float

    @property
    def share(self) -> float:
        """observed / expected (1 = as a genuine feature, 0 = tied to the window)."""
        return self.observed / self.expected if self.expected > 0 else math.nan

    def describe(self) -> str:
        return (
            f"IC {self.ic_now:+.3f} with the label window, {self.observed:+.3f} with the "
            f"windows before+after vs {self.expected:+.3f} expected from the feature's "
            f"persistence (lag-1 autocorr {self.lag1_autocorr:.2f}), z={self.z:.1f}"
        )


def _mean(series: ICSeries) -> float:
    return float(series.values.mean()) if len(series) else 0.0


def _aligned(series: ICSeries, timestamps: npt.NDArray[Any]) -> F64:
    """Values of ``series`` at ``timestamps`` (0 where it has none)."""
    out = np.zeros(timestamps.size)
    pos = np.searchsorted(timestamps, series.timestamps)
    ok = (pos < timestamps.size) & (
        timestamps[np.minimum(pos, timestamps.size - 1)] == series.timestamps
    )
    out[pos[ok]] = series.values[ok]
    return out


def autocorrelations(
    panel: Panel,
    x: F64,
    max_lag: int,
    grid: npt.NDArray[np.int64],
    min_names: int,
    ranks: F64 | None = None,
) -> F64:
    """``c(0..max_lag)``: mean over t of the cross-sectional correlation of x[t] and x[t-k].

    Computed on the cross-sectional percentile ranks of x laid out on the dense
    (timestamp, symbol) grid: one vectorised Pearson per lag over the symbols
    present at both bars (ranks are not recomputed on that common set - a close
    approximation of Spearman, and all the expectation needs). ``ranks`` may pass
    those percentile ranks (``cross_sectional_ranks(x)``) when already known.
    """
    if ranks is None:
        ranks = cross_sectional_ranks(np.asarray(x, dtype=np.float64), panel.timestamps)
    dense = np.full(grid.shape, np.nan)
    present = grid >= 0
    dense[present] = ranks[grid[present]]
    out = np.ones(max_lag + 1)
    for k in range(1, max_lag + 1):
        out[k] = _lagged_corr(dense, k, min_names) if k < len(dense) else 0.0
    return out


def _lagged_corr(dense: F64, k: int, min_names: int) -> float:
    a, b = dense[k:], dense[:-k]
    both = np.isfinite(a) & np.isfinite(b)
    n = both.sum(axis=1)
    a0, b0 = np.where(both, a, 0.0), np.where(both, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = a0.sum(axis=1) / n
        mb = b0.sum(axis=1) / n
        da = np.where(both, a0 - ma[:, None], 0.0)
        db = np.where(both, b0 - mb[:, None], 0.0)
        corr = (da * db).sum(axis=1) / np.sqrt((da**2).sum(axis=1) * (db**2).sum(axis=1))
    ok = (n >= min_names) & np.isfinite(corr)
    return float(corr[ok].mean()) if ok.any() else 0.0


def timing_evidence(windows: WindowICs, autocorr: F64, horizon: int) -> TimingEvidence:
    """The calibrated window-edge test (module docstring) from measured ICs."""
    h = int(horizon)
    c = np.clip(autocorr, -1.0, 1.0)

    def w(j: int) -> float:
        return float(sum(c[abs(k)] for k in range(j, j + h)))

    ratio = max((w(1) + w(h)) / w(0), 0.0) if w(0) > 0 else 0.0
    ic_now = _mean(windows.now)
    sign = 1.0 if ic_now >= 0 else -1.0
    observed = sign * (_mean(windows.before) + _mean(windows.after))
    expected = ratio * abs(ic_now)
    ts = windows.now.timestamps
    diff = sign * (
        _aligned(windows.before, ts) + _aligned(windows.after, ts) - ratio * windows.now.values
    )
    n_eff = max(diff.size / h, 2.0)
    se = float(diff.std(ddof=1)) / math.sqrt(n_eff) if diff.size > 1 else math.inf
    z = (observed - expected) / se if se > 0 else 0.0
    return TimingEvidence(abs(ic_now), observed, expected, z, float(c[1]) if c.size > 1 else 1.0)


def shifted_copy_candidates(
    sections: CrossSections,
    panel: Panel,
    y: F64,
    horizon: int,
    grid: Any,
    cutoff: float,
) -> dict[int, list[int]]:
    """feature index -> the lags 0 < |l| < h whose shifted label it may copy.

    A fast prefilter: the pooled correlation of centred cross-sectional ranks
    (:meth:`CrossSections.pooled_rank_corr`, batched matrix products over all
    features and all lags at once) approximates the mean per-timestamp rank IC;
    lags where it reaches ``cutoff`` are checked exactly. ``sections`` holds every
    row of the panel (the features zeroed outside the screened rows). Lags are
    listed per feature in the order -1, +1, -2, +2, ...
    """
    lags = [signed for lag in range(1, int(horizon)) for signed in (-lag, lag)]
    out: dict[int, list[int]] = {}
    if not lags:
        return out
    approx = np.zeros((int(panel.n_features), len(lags)))
    step = 8  # labels per batch: bounds the stacked label ranks
    for lo in range(0, len(lags), step):
        shifted = _Shifted(panel, y, lags[lo : lo + step], grid)
        approx[:, lo : lo + len(shifted)] = sections.pooled_rank_corr(shifted)
    hits = np.nan_to_num(approx) >= cutoff
    for k, signed in enumerate(lags):
        for j in np.flatnonzero(hits[:, k]):
            out.setdefault(int(j), []).append(signed)
    return out


class _Shifted(Sequence[F64]):
    """``y`` shifted by each of ``lags``, computed when read.

    The prefilter reads its labels one at a time, so only one shifted copy of
    the label is alive at once instead of a whole batch of them.
    """

    def __init__(self, panel: Panel, y: F64, lags: Sequence[int], grid: Any) -> None:
        self.panel, self.y, self.lags, self.grid = panel, y, list(lags), grid

    def __len__(self) -> int:
        return len(self.lags)

    @overload
    def __getitem__(self, index: int) -> F64: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[F64]: ...

    def __getitem__(self, index: int | slice) -> F64 | Sequence[F64]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return shift_values(self.panel, self.y, self.lags[index], self.grid)


def shifted_copies(
    sections: CrossSections,
    panel: Panel,
    y: F64,
    candidates: dict[int, list[int]],
    grid: Any,
) -> dict[int, tuple[int, float]]:
    """feature -> (lag, |IC|) of the shifted label among its candidate lags it copies best.

    Negative lag: ``y[t-l]`` (a lagged label whose window still reaches past t);
    positive: ``y[t+l]``. One batched IC call per lag over the features that
    list it; ties go to the lag listed first, (0, 0.0) when no IC is defined.
    """
    by_lag: dict[int, list[int]] = {}
    for j, lags in candidates.items():
        for signed in lags:
            by_lag.setdefault(signed, []).append(j)
    value: dict[tuple[int, int], float] = {}
    for signed, features in by_lag.items():
        found = sections.many(features, shift_values(panel, y, signed, grid))
        value.update(((j, signed), abs(_mean(series))) for j, series in found.items())
    out: dict[int, tuple[int, float]] = {}
    for j, lags in candidates.items():
        best = (0, 0.0)
        for signed in lags:
            if value[(j, signed)] > best[1]:
                best = (signed, value[(j, signed)])
        out[j] = best
    return out
