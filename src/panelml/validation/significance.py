"""Significance of a mean out-of-fold IC: the one test every stage uses.

:func:`ic_significance` answers "is the mean per-timestamp IC of out-of-fold
(OOF) predictions above zero by more than chance?" with a one-sided p-value.
Target ranking (each family and the consensus) and training's summary row call
it, so the same IC series gets the same t and p everywhere;
:func:`ic_significance_many` is the same test for many series at once (feature
selection's conditional step tests hundreds), and :func:`long_run_variance` its
variance estimate alone: all three run one implementation.

Two things make the plain t test wrong for OOF ICs, and the test corrects both.

**Overlapping labels (horizon h > 1).** A label at t sums the next h bar
returns, so labels h - 1 bars apart share returns and, under the null of no
skill, the IC series is (given the predictions) a moving average of order
h - 1. Its long-run variance is estimated with the truncated uniform kernel
of lag h - 1 (Hansen & Hodrick 1980), which is unbiased for any MA(h - 1),
instead of Newey-West's (1987) Bartlett weights, which shrink the very
autocovariances overlapping labels create and bias the variance down (0.6x of
the true spread at h = 5, measured). Demeaning the series biases any kernel
estimate down in short series; the bias is removed exactly under the reference
null model (autocorrelation 1 - l/h at lag l < h: the correlation of two
h-bar windows l bars apart, reached when predictions are persistent):

    V = d'Wd * (1'R1) / (T^2 tr(W M R M)),    d = x - mean(x),  M = I - 11'/T,

with W the kernel matrix (W_st = 1 when |s - t| < h) and R the reference
correlation. The t statistic is referred to Student's t with Satterthwaite's
(1946) degrees of freedom of that quadratic form, df = tr(AR)^2 / tr(ARAR)
with A = MWM, taken as the smaller of its values under R and under white
noise (predictions that do not persist leave the IC series nearly white even
with overlapping labels, and the kernel estimate is then noisier): about
T / (2h) for h > 2, exactly T - 1 for h = 1, where the whole test is the
ordinary one-sample t test. The truncated kernel can give a negative variance
(never seen on null series, possible on strongly mean-reverting ones); the test
then uses Bartlett weights with the same lag and the same correction (a
positive semi-definite kernel) and says so in ``method``. Lags count positions
in the series, i.e. periods with an IC.

**K-fold scores are correlated across folds** (Bengio & Grandvalet 2004: no
unbiased estimator of the variance of K-fold CV exists). Fold k's model was fit
on fold j's labels and fold j's model on fold k's. For a linear learner in the
small-signal regime the fitted coefficients are A * sum_j X_j'y_j, so the OOF
score sum is sum_{k != j} u_k'A u_j (u_k = X_k'y_k): each pair of folds
appears twice, and its variance 4 sum_{k<j} tr(A S_k A S_j) is twice what the
within-fold (per-timestamp) variance estimates, for any K. More generally, to
first order in the labels fold k's predictions are G_kj y_j, and by
Cauchy-Schwarz the cross-fold term is at most the within term, with equality
for symmetric smoothers (ridge): 2 is the bound for purged K-fold
(:data:`FOLD_VARIANCE_FACTOR`). Trees refit their structure per fold, so their
G_kj and G_jk' differ and the factor is smaller; lightgbm alone uses a measured
value (:data:`KFOLD_MEASURED_FACTOR`), everything else the bound. Under
walk-forward folds a model never saw a later fold's labels, the fold scores
form a martingale-difference sequence and the factor is 1. This is a fixed
correction in the spirit of Nadeau & Bengio (2003), derived for the scheme
rather than for random splits, and checked by simulation. Under ``cpcv``
(combinatorial purged CV) a row's out-of-fold prediction is the mean of its
predictions on the backtest paths, each from a model fitted on other groups
only. For the linear learner that prediction is sum_j G_gj y_j with G_gj the
average of A over the splits that test group g and train on group j; there are
C(N-2, k-1) such splits for (g, j) and as many for (j, g), so the cross-group
term is symmetric exactly as under K-fold and the same bound 2 holds (and
Cauchy-Schwarz bounds it for other learners, as above). So ``cpcv`` gets the
K-fold factors, including the measured lightgbm one; this is a derivation, not
yet a calibration run of its own.

Measured (``bench/calibration.py``; ``bench/results/calibration.json``) on null
panels of 20-200 symbols x 250-2,000 bars, persistent and non-persistent AR(1)
features with a common factor, Gaussian and t3 shocks, missing values, with the
default ranking families (lightgbm + ridge) and their consensus, 480 null
targets per horizon and scheme (400-600 under walk-forward): the consensus'
share of p < 0.05 is 0.031-0.035 (purged K-fold) and 0.042-0.065
(walk-forward) for h = 1-20, p < 0.01 at most 0.013, KS p against uniform at
least 0.020. The test before this
one gave 0.085 at h = 1 and 0.015-0.021 at h >= 5 (K-fold). Tables, power and
the per-family numbers: README, "What p and q mean".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy import stats

__all__ = [
    "FOLD_VARIANCE_FACTOR",
    "KFOLD_MEASURED_FACTOR",
    "ICSignificance",
    "ICSignificanceMany",
    "Scheme",
    "fold_variance_factor",
    "ic_significance",
    "ic_significance_many",
    "long_run_variance",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Scheme = Literal["purged_kfold", "walk_forward", "cpcv", "single_split"]

FOLD_VARIANCE_FACTOR: dict[str, float] = {
    "purged_kfold": 2.0,
    "cpcv": 2.0,
    "walk_forward": 1.0,
    "single_split": 1.0,
}
"""Variance multiplier for the correlation of OOF scores across folds, per scheme
(derivation in the module docstring): for K-fold the linear learner's exact value,
the bound for any learner. ``single_split``: the test rows of one fold, scored
by a model that never saw their labels (training's per-fold rows)."""

KFOLD_MEASURED_FACTOR: dict[frozenset[str], float] = {
    frozenset({"lightgbm"}): 1.5,
}
"""K-fold factors measured for family sets whose OOF predictions are less than
linear in the other folds' labels (module docstring), keyed by the family set
(one family, or the families of a rank-average consensus). Measured as the
variance of the null z-score without a factor: lightgbm with the ranking's
early-stopped defaults 1.24 on the 60 null panels of ``bench/calibration.py``
(1.17-1.28 by horizon) and 1.51 on 64 ``make_panel`` noise targets (60 symbols
x 300 bars, h = 20); the larger, rounded, is used. The lightgbm + ridge
consensus measured 1.62 on the benchmark's panels (1.54-1.69) but about 2 on
``make_panel`` panels at h = 20 (160 targets through the stage), so it keeps the
bound; ridge measured 1.79 and keeps the derived 2. Every set not listed gets
the bound :data:`FOLD_VARIANCE_FACTOR`."""


def fold_variance_factor(scheme: str, families: Sequence[str] = ()) -> float:
    """The variance factor for OOF ICs of ``families`` (one, or a consensus) under ``scheme``.

    1 for walk-forward and single splits; for purged K-fold and CPCV the measured
    factor of the family set when :data:`KFOLD_MEASURED_FACTOR` has it, else the
    bound 2.
    """
    if scheme not in FOLD_VARIANCE_FACTOR:
        raise ValueError(f"scheme must be one of {sorted(FOLD_VARIANCE_FACTOR)}, got {scheme!r}")
    bound = FOLD_VARIANCE_FACTOR[scheme]
    if bound == 1.0:
        return bound
    return KFOLD_MEASURED_FACTOR.get(frozenset(families), bound)


@dataclass(frozen=True)
class ICSignificance:
    """A mean IC with its standard error, t, one-sided p-value (H1: mean > 0) and df.

    ``icir`` is mean / std (ddof=1, per period, not annualised); ``n_periods``
    counts the finite IC values; ``method`` names the variance estimator used.
    Undefined quantities (fewer than two periods, a constant series) are NaN.
    """

    mean: float
    se: float
    t_stat: float
    p_value: float
    df: float
    n_periods: int
    icir: float
    method: str


@dataclass(frozen=True)
class ICSignificanceMany:
    """:class:`ICSignificance` of many series at once, one entry per series.

    ``long_run_variance`` is T * V (:func:`long_run_variance`: no fold factor);
    ``bartlett`` marks the tested series whose truncated-kernel variance was
    not positive, so Bartlett weights were used (module docstring; ``method``
    of :class:`ICSignificance`). Undefined entries are NaN as in
    :class:`ICSignificance`: a series without values has no mean, one value
    gives its mean only, a constant series has no se, t, p or df.
    """

    mean: FloatArray
    se: FloatArray
    t_stat: FloatArray
    p_value: FloatArray
    df: FloatArray
    n_periods: IntArray
    long_run_variance: FloatArray
    bartlett: BoolArray


def ic_significance(
    values: npt.ArrayLike,
    horizon: int = 1,
    *,
    scheme: Scheme = "purged_kfold",
    families: Sequence[str] = (),
) -> ICSignificance:
    """One-sided test that the mean of an OOF IC series is above zero.

    ``values``: the per-timestamp IC series in time order (NaN dropped);
    ``horizon``: the label horizon in periods of the series (bars, or bars /
    stride when timestamps were thinned); ``scheme``: the validation scheme that
    produced the OOF predictions; ``families``: the model families behind the
    predictions (one, or those of a rank-average consensus; empty: unknown).
    se^2 = factor * V with factor = :func:`fold_variance_factor`, t = mean / se
    and p = P(t_df > t), with V and df as in the module docstring.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    factor = fold_variance_factor(scheme, families)
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    n = int(x.size)
    nan = math.nan
    if n < 2 or float(np.ptp(x)) == 0.0:
        mean = float(x.mean()) if n else nan
        return ICSignificance(mean, nan, nan, nan, nan, n, nan, "undefined")
    test = _test_columns(x[:, None], horizon, factor)
    mean, df = float(test.mean[0]), float(test.df[0])
    kernel = "bartlett" if test.bartlett[0] else "uniform"
    method = f"{kernel} lag {min(horizon, n) - 1}, fold factor {factor:g} ({scheme}), t df {df:.1f}"
    icir = mean / float(x.std(ddof=1))
    return ICSignificance(
        mean, float(test.se[0]), float(test.t_stat[0]), float(test.p_value[0]), df, n, icir, method
    )


def ic_significance_many(
    values: npt.ArrayLike,
    horizon: int = 1,
    *,
    scheme: Scheme = "purged_kfold",
    families: Sequence[str] = (),
) -> ICSignificanceMany:
    """:func:`ic_significance` of every column of ``values`` (periods x series).

    Each column is one IC series in time order and drops its own NaN, so the
    columns may miss different periods; the arguments are those of
    :func:`ic_significance`, whose numbers every column gets (the same code:
    :func:`ic_significance` is this test on one column). Why: a stage that tests
    hundreds of series (feature selection's conditional step) takes them in one
    vectorised pass per pattern of missing periods instead of one call each.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    factor = fold_variance_factor(scheme, families)
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"values must be periods x series (2-D), got shape {x.shape}")
    m = x.shape[1]
    mean, se, t, p, df, spread = (np.full(m, np.nan) for _ in range(6))
    out = ICSignificanceMany(
        mean, se, t, p, df, np.zeros(m, dtype=np.int64), spread, np.zeros(m, dtype=np.bool_)
    )
    if m == 0 or x.shape[0] == 0:
        return out
    finite = np.isfinite(x)
    # series grouped by their pattern of missing periods, found on the patterns
    # packed 8 periods to a byte (unique rows of a bool matrix sort whole rows)
    packed = np.packbits(finite.T, axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    patterns, inverse = finite.T[first], inverse.reshape(-1)
    for g, pattern in enumerate(patterns):
        members = np.flatnonzero(inverse == g)
        part = _test_columns(x[np.ix_(np.flatnonzero(pattern), members)], horizon, factor)
        for field in fields(ICSignificanceMany):
            getattr(out, field.name)[members] = getattr(part, field.name)
    return out


def long_run_variance(values: npt.ArrayLike, horizon: int = 1) -> float:
    """T * V: the bias-corrected long-run variance of an IC series (no fold factor).

    ``V`` estimates the variance of the mean (module docstring); NaN values are
    dropped; NaN for fewer than two values.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    return float(_test_columns(x[:, None], horizon, 1.0).long_run_variance[0])


def _test_columns(x: FloatArray, horizon: int, factor: float) -> ICSignificanceMany:
    """The test of every column of ``x`` (periods x series, all finite): the one
    implementation behind :func:`ic_significance`, :func:`ic_significance_many`
    and :func:`long_run_variance`. Each series is summed on its own, in one
    order, so its numbers do not depend on the other columns of the call."""
    n, m = x.shape
    counts = np.full(m, n, dtype=np.int64)
    rows = np.ascontiguousarray(x.T)  # one series per row
    mean = rows.mean(axis=1) if n else np.full(m, np.nan)
    if n < 2:
        nan = np.full(m, np.nan)
        return ICSignificanceMany(
            mean, nan, nan, nan, nan, counts, nan.copy(), np.zeros(m, dtype=np.bool_)
        )
    varying = np.ptp(rows, axis=1) != 0.0
    variance, df, bartlett = _mean_variance(rows - mean[:, None], min(horizon, n) - 1)
    defined = varying & (variance > 0.0)
    se = np.where(defined, np.sqrt(factor * np.where(defined, variance, 1.0)), np.nan)
    t = np.where(defined, mean / np.where(defined, se, 1.0), np.nan)
    with np.errstate(invalid="ignore"):
        sf = stats.t.sf(np.where(defined, t, 0.0), np.where(defined, df, 1.0))
    p = np.where(defined, sf, np.nan)
    return ICSignificanceMany(
        mean, se, t, p, np.where(varying, df, np.nan), counts, variance * n, bartlett & varying
    )


def _mean_variance(d: FloatArray, lag: int) -> tuple[FloatArray, FloatArray, BoolArray]:
    """(variance of the mean, df, Bartlett weights used) of every row of the
    demeaned series ``d`` (series x periods): the truncated kernel, else Bartlett
    weights; variance 0 and df NaN where neither is positive. The autocovariance
    sums are one dot product per series and lag: where the horizon reaches the
    series' length the truncated kernel's sum is (sum d)^2, zero up to rounding,
    so that kernel is skipped there (it has no reference moments): which kernel
    is used must not depend on the sign of a rounding error."""
    m, n = d.shape
    gammas = np.array([[float(r[k:] @ r[: n - k]) for k in range(lag + 1)] for r in d])
    variance, df = np.zeros(m), np.full(m, np.nan)
    uniform, done = np.zeros(m, dtype=np.bool_), np.zeros(m, dtype=np.bool_)
    for kernel in ("uniform", "bartlett"):
        weights = _weights(kernel, lag)[1:]
        quad = np.array([float(g[0] + 2.0 * (weights @ g[1:])) for g in gammas])
        scale, dof = _reference_moments(n, lag, kernel)
        if not (math.isfinite(scale) and math.isfinite(dof)):
            # the truncated kernel at lag n - 1 weighs every pair alike: d'Wd is
            # (sum d)^2, identically 0 for a demeaned series (its sign is
            # rounding, which differs between numpy builds), so it has no
            # reference moments and Bartlett's weights are used
            continue
        use = ~done & (quad > 0.0)
        variance[use], df[use] = quad[use] * scale, dof
        if kernel == "uniform":
            uniform = use
        done |= use
        if done.all():
            break
    return variance, df, ~uniform


def _weights(kernel: str, lag: int) -> FloatArray:
    lags = np.arange(lag + 1, dtype=np.float64)
    if kernel == "uniform":
        return np.ones(lag + 1)
    return 1.0 - lags / (lag + 1.0)


def _reference_moments(n: int, lag: int, kernel: str) -> tuple[float, float]:
    """(scale, df) of the kernel quadratic form d'Wd: the scale that makes it unbiased
    under the overlapping-window reference, and the smaller Satterthwaite df of the
    two references (overlapping windows, white noise: predictions that do not
    persist make the IC series nearly white even with overlapping labels, and the
    kernel estimate is then noisier, so the smaller df keeps the test valid)."""
    scale, df_overlap = _moments(n, lag, kernel, overlap=True)
    _, df_white = _moments(n, lag, kernel, overlap=False)
    return scale, min(df_overlap, df_white)


@lru_cache(maxsize=256)
def _moments(n: int, lag: int, kernel: str, *, overlap: bool) -> tuple[float, float]:
    """(scale, df) of d'Wd under the reference correlation R.

    R has autocorrelation 1 - l/h at lag l < h (``overlap``) or is the identity.
    scale = 1'R1 / (T^2 tr(W M R M)) makes scale * d'Wd unbiased for the
    variance of the mean; df = tr(AR)^2 / tr(ARAR), A = MWM (Satterthwaite).
    Computed with banded matrices and the rank-two part of M R M in O(T * lag^2).
    """
    h = lag + 1
    offsets = list(range(-lag, lag + 1))
    w = _weights(kernel, lag)
    rho = 1.0 - np.arange(h, dtype=np.float64) / h if overlap else np.eye(1, h).ravel()
    W = sp.diags([np.full(n - abs(k), w[abs(k)]) for k in offsets], offsets, format="csr")
    R = sp.diags([np.full(n - abs(k), rho[abs(k)]) for k in offsets], offsets, format="csr")
    one = np.ones(n)
    a = R @ one  # R1
    c = float(one @ a)  # 1'R1
    # M R M = R + L with L = sum_i alpha_i u_i v_i'
    low_rank = [(-1.0 / n, a, one), (-1.0 / n, one, a), (c / n**2, one, one)]
    WR = (W @ R).tocsr()
    trace_wr = float(W.multiply(R).sum())  # tr(WR), both symmetric
    trace_wl = sum(alpha * float(v @ (W @ u)) for alpha, u, v in low_rank)
    expected = trace_wr + trace_wl  # tr(W M R M) = tr(A R)
    trace_wrwr = float(WR.multiply(WR.T).sum())
    cross = 0.0  # tr(W R W L)
    for alpha, u, v in low_rank:
        cross += alpha * float(v @ (WR @ (W @ u)))
    wl = 0.0  # tr(W L W L)
    for alpha_i, u_i, v_i in low_rank:
        for alpha_j, u_j, v_j in low_rank:
            wl += alpha_i * alpha_j * float(v_i @ (W @ u_j)) * float(v_j @ (W @ u_i))
    second = trace_wrwr + 2.0 * cross + wl  # tr(A R A R)
    if expected <= 0.0 or second <= 0.0:
        return math.nan, math.nan
    return c / (n**2 * expected), expected**2 / second
