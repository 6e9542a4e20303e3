"""The design of the hard-case panel (``make_panel(hard_cases=True)``).

Two independent blocks of per-symbol dynamics, plus noise and leaks:

* **Volatility block.** Symbol i has a log-volatility ``a_i + v[t]`` with a
  fixed effect ``a_i ~ N(0, VOL_LEVEL_SD)`` and an AR(1) ``v`` (persistence
  ``VOL_PHI``, stationary sd ``VOL_STATE_SD``); its return is
  ``r[t] = VOL_BASE * exp(a_i + v[t]) * z[t]`` with Student-t3 shocks ``z``
  scaled to unit variance. Features are trailing realised volatilities
  ``sqrt(mean(r[t-w+1..t]**2))`` (known at t) for ``VOL_WINDOWS``; targets are
  forward realised volatilities ``sqrt(mean(r[t+1..t+h]**2))``.
* **Return block.** Gaussian AR(1) features with unit variance; a target's
  per-bar innovation is ``u[t] = sum_k a_k g_k(x[t-1]) + sigma * e[t]`` with
  Student-t3 noise ``e`` (unit variance) and ``y[t] = u[t+1] + ... + u[t+h]``,
  calibrated analytically for its planted strength
  (:func:`panelml.data.synthetic.design.calibrate`, which only needs variances).

The rank ICs and persistences that cannot be written in closed form (heavy
tails, realised volatility) are measured once by Monte Carlo with a fixed
internal seed (:func:`return_target_rank_ics`, :func:`vol_block_stats`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from panelml.data.synthetic.truth import LeakKind, TargetForm, TermForm, term_values

F64 = npt.NDArray[np.float64]

VOL_BASE = 0.02
VOL_LEVEL_SD = 0.5
VOL_STATE_SD = 0.35
VOL_PHI = 0.98
VOL_WINDOWS = (1, 5, 20, 60)
VOL_HORIZONS = (5, 20)
BURN_IN = max(VOL_WINDOWS)
T_DF = 3

_MC_SEED = 20_261_201
_MC_DRAWS = 200_000
_MC_SYMBOLS, _MC_BARS = 1_500, 400


@dataclass(frozen=True)
class HardTarget:
    """A return-block target: terms are (form, signal positions, share of the
    forecast variance); shares sum to 1, or there are no terms (noise target)."""

    name: str
    horizon: int
    strength: float
    terms: tuple[tuple[TermForm, tuple[int, ...], float], ...] = ()

    @property
    def form(self) -> TargetForm:
        forms = {form for form, _, _ in self.terms}
        if not forms:
            return "none"
        if "product" in forms:
            return "interaction"
        return "nonlinear" if "square" in forms else "linear"


# Persistence of each return-block signal feature (positions 0..).
SIGNAL_PHIS: tuple[float, ...] = (
    0.10, 0.25, 0.90, 0.95, 0.50, 0.85, 0.97, 0.93, 0.0, 0.90, 0.80, 0.60,
)  # fmt: skip

RETURN_TARGETS: tuple[HardTarget, ...] = (
    # one dominant non-persistent feature
    HardTarget("fwd_ret_1", 1, 0.20, (("linear", (0,), 1.0),)),
    # a strong non-persistent feature with a weak persistent helper
    HardTarget("fwd_ret_2", 2, 0.25, (("linear", (1,), 0.8), ("linear", (2,), 0.2))),
    HardTarget(
        "fwd_ret_5",
        5,
        0.20,
        (("linear", (3,), 1 / 3), ("linear", (4,), 1 / 3), ("linear", (5,), 1 / 3)),
    ),
    # one dominant strong persistent feature
    HardTarget("fwd_ret_10", 10, 0.30, (("linear", (6,), 1.0),)),
    HardTarget("fwd_sq_5", 5, 0.22, (("square", (7,), 0.7), ("linear", (8,), 0.3))),
    # a product (no marginal effect of either factor) plus a linear helper
    HardTarget("fwd_int_10", 10, 0.22, (("product", (9, 10), 0.7), ("linear", (11,), 0.3))),
    HardTarget("fwd_noise_5", 5, 0.0),
    HardTarget("fwd_noise_20", 20, 0.0),
)

# Noise features: persistence and whether their innovations are Student-t3.
NOISE_PHIS: tuple[float, ...] = (0.0, 0.3, 0.6, 0.9, 0.95, 0.99) * 2
NOISE_HEAVY: tuple[bool, ...] = (False,) * 6 + (True,) * 6
N_NOISE_VOL = 2  # trailing 20-bar realised vol of an unrelated return stream

# Leaks: (kind, target, parameter). Parameter: lag for lagged_label, number of
# bars for partial_window, noise share for noisy_copy / full_window.
LEAK_PLAN: tuple[tuple[LeakKind, str, float], ...] = (
    ("noisy_copy", "fwd_noise_20", 0.15),
    ("lagged_label", "fwd_ret_5", 2),
    ("partial_window", "fwd_sq_5", 2),
    ("full_window", "fwd_int_10", 0.85),
    ("mixed", "fwd_ret_10", 3),
)


def t_shocks(rng: np.random.Generator, shape: tuple[int, ...]) -> F64:
    """Student-t3 draws scaled to unit variance (time-major, so a shorter panel
    draws a prefix of the same numbers)."""
    return rng.standard_t(T_DF, shape) / math.sqrt(T_DF / (T_DF - 2))


def ar1(shocks: F64, phi: float | F64) -> F64:
    """Stationary unit-variance AR(1) paths (time first) from unit-variance shocks."""
    out = np.array(shocks, dtype=np.float64)
    scale = np.sqrt(1.0 - np.asarray(phi, dtype=np.float64) ** 2)
    for t in range(1, out.shape[0]):
        out[t] = phi * out[t - 1] + scale * out[t]
    return out


def vol_block(seed: np.random.SeedSequence, n_bars: int, n_symbols: int) -> tuple[F64, F64]:
    """Returns of the volatility block and its latent log-volatility, both
    ``(n_bars, n_symbols)``. Each draw has its own stream and is time-major, so a
    shorter panel draws a prefix of the same numbers."""
    level_rng, state_rng, shock_rng = (np.random.default_rng(s) for s in seed.spawn(3))
    level = VOL_LEVEL_SD * level_rng.standard_normal(n_symbols)
    state = VOL_STATE_SD * ar1(state_rng.standard_normal((n_bars, n_symbols)), VOL_PHI)
    log_vol = level[None, :] + state
    return VOL_BASE * np.exp(log_vol) * t_shocks(shock_rng, (n_bars, n_symbols)), log_vol


def _window_sums(values: F64, window: int) -> F64:
    """Sum of values[t-w+1..t] along axis 0; NaN when any is NaN or t < w-1."""
    missing = np.isnan(values)
    zero = np.zeros((1, values.shape[1]))
    csum = np.vstack([zero, np.cumsum(np.where(missing, 0.0, values), axis=0)])
    cmiss = np.vstack([zero, np.cumsum(missing, axis=0)])
    out = np.full(values.shape, np.nan)
    sums = csum[window:] - csum[:-window]
    out[window - 1 :] = np.where(cmiss[window:] - cmiss[:-window] > 0, np.nan, sums)
    return out


def trailing_vol(returns: F64, window: int) -> F64:
    """sqrt(mean(r[t-w+1..t]**2)); NaN until w bars are seen or when any is NaN."""
    out: F64 = np.sqrt(_window_sums(returns**2, window) / window)
    return out


def forward_sums(values: F64, horizon: int) -> F64:
    """values[t+1] + ... + values[t+h]; NaN where the window is incomplete."""
    out = np.full(values.shape, np.nan)
    out[: values.shape[0] - horizon] = _window_sums(values, horizon)[horizon:]
    return out


def forward_vol(returns: F64, horizon: int) -> F64:
    """sqrt(mean(r[t+1..t+h]**2)); NaN where the window is incomplete."""
    out = np.full_like(returns, np.nan)
    out[: returns.shape[0] - horizon] = trailing_vol(returns, horizon)[horizon:]
    return out


def _centred_ranks(grid: F64) -> F64:
    ranks = np.argsort(np.argsort(grid, axis=1), axis=1).astype(np.float64)
    ranks -= ranks.mean(axis=1, keepdims=True)
    out: F64 = ranks / np.sqrt((ranks**2).sum(axis=1, keepdims=True))
    return out


def cross_sectional_rank_ic(x: F64, y: F64) -> float:
    """Mean over rows (timestamps) of the Spearman correlation across columns,
    on rows with no NaN in either (continuous data: ties have probability 0)."""
    ok = ~(np.isnan(x).any(axis=1) | np.isnan(y).any(axis=1))
    if not ok.any():
        return float("nan")
    return float(np.mean((_centred_ranks(x[ok]) * _centred_ranks(y[ok])).sum(axis=1)))


@dataclass(frozen=True)
class VolStats:
    """Monte-Carlo facts of the volatility block (large panel, fixed seed)."""

    feature_rank_ic: dict[tuple[int, int], float]  # (window, horizon) -> rank IC
    persistence: dict[int, float]  # window -> lag-1 cross-sectional rank autocorrelation
    oracle_rank_ic: dict[int, float]  # horizon -> rank IC of the latent log-vol


@lru_cache(maxsize=1)
def vol_block_stats() -> VolStats:
    """Rank ICs and persistences of the volatility block, measured on a
    1500-symbol x 400-bar panel with a fixed seed (about a second)."""
    returns, log_vol = vol_block(np.random.SeedSequence(_MC_SEED), _MC_BARS + BURN_IN, _MC_SYMBOLS)
    keep = slice(BURN_IN, None)
    latent = log_vol[keep]
    targets = {h: forward_vol(returns, h)[keep] for h in VOL_HORIZONS}
    feature_ic: dict[tuple[int, int], float] = {}
    persistence: dict[int, float] = {}
    for w in VOL_WINDOWS:
        feature = trailing_vol(returns, w)[keep]
        persistence[w] = round(cross_sectional_rank_ic(feature[1:], feature[:-1]), 4)
        for h, target in targets.items():
            feature_ic[(w, h)] = round(cross_sectional_rank_ic(feature, target), 4)
    oracle = {h: round(cross_sectional_rank_ic(latent, t), 4) for h, t in targets.items()}
    return VolStats(feature_ic, persistence, oracle)


@lru_cache(maxsize=64)
def return_target_rank_ics(
    forms: tuple[TermForm, ...],
    phis: tuple[tuple[float, ...], ...],
    per_bar: tuple[float, ...],
    coefficients: tuple[float, ...],
    horizon: int,
    sigma: float,
) -> tuple[float, tuple[tuple[float, ...], ...]]:
    """Monte-Carlo rank IC of the optimal forecast and of each raw feature of each
    term with a return-block target (t3 noise; fixed seed, 200k draws)."""
    rng = np.random.default_rng(_MC_SEED + 1)
    n = _MC_DRAWS
    states = [[rng.standard_normal(n) for _ in p] for p in phis]
    start = [[s.copy() for s in term] for term in states]
    forecast = np.zeros(n)
    target = np.zeros(n)
    for j in range(horizon):
        if j:
            for state, term_phis in zip(states, phis, strict=True):
                for i, phi in enumerate(term_phis):
                    state[i] = phi * state[i] + math.sqrt(1 - phi**2) * rng.standard_normal(n)
        for k, form in enumerate(forms):
            g = term_values(form, states[k])
            target += per_bar[k] * g
            if j == 0:
                forecast += coefficients[k] * g
    target += sigma * t_shocks(rng, (horizon, n)).sum(axis=0)

    def spearman(x: F64) -> float:
        return cross_sectional_rank_ic(x[None, :], target[None, :])

    per_feature = tuple(tuple(round(spearman(x), 4) for x in term) for term in start)
    return round(spearman(forecast), 4), per_feature
