"""An independent panel generator for the leak-handling tests (not ``make_panel``).

The statistical claims of the leakage screen, the ranking and feature selection
must hold on data whose design differs from the package's own generator. This
one differs on purpose: per-bar returns carry a stochastic volatility (a
persistent per-symbol level plus an AR(1) log-vol), the noise is Student-t(3)
scaled by that volatility, the genuine signals enter through ``tanh`` and
products as well as linearly, volatility targets are built from absolute
returns, symbols enter late and leave early, and a few feature values are
missing.

Features (all known at the close of bar t):

* ``sig_p00 .. sig_p99``: genuine AR(1) drivers of the return targets with
  persistence 0, 0.3, 0.6, 0.9, 0.97, 0.99;
* ``vol_20`` / ``vol_60``: trailing mean absolute return (strong, persistent,
  genuine predictors of the volatility target);
* ``noise_*``: AR(1) noise with persistence 0 .. 0.99;
* leaks of five kinds (see :data:`LEAK_KINDS`), named ``aux_*`` so no name rule
  catches them.

Targets: ``ret_1`` (strong non-persistent driver), ``ret_5`` (persistent and
non-persistent drivers), ``ret_10`` (nonlinear: ``tanh`` and a product),
``vol_5`` (log mean absolute return over the window), ``noise_3`` (pure
noise). Every target ``y[t]`` covers the bars (t, t+h].
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from panelml.data.panel import Panel

F64 = npt.NDArray[np.float64]

PERSISTENCE = {
    "sig_p00": 0.0,
    "sig_p30": 0.3,
    "sig_p60": 0.6,
    "sig_p90": 0.9,
    "sig_p97": 0.97,
    "sig_p99": 0.99,
}
NOISE_PERSISTENCE = (0.0, 0.2, 0.5, 0.8, 0.95, 0.99)
HORIZONS = {"ret_1": 1, "ret_5": 5, "ret_10": 10, "vol_5": 5, "noise_3": 3}
DRIVERS = {
    "ret_1": ("sig_p00", "sig_p60"),
    "ret_5": ("sig_p30", "sig_p90", "sig_p99"),
    "ret_10": ("sig_p97", "sig_p90", "sig_p60"),
    # vol_5 averages |m1 + vol * noise| over its window, so the drivers of m1
    # (sig_p00, sig_p60) move it too, through an even function of their sum
    "vol_5": ("vol_20", "vol_60", "sig_p00", "sig_p60"),
    "noise_3": (),
}
"""Features that carry each target's signal (the truth for selection recall)."""
STRENGTH = {"ret_1": 4.0, "ret_5": 3.0, "ret_10": 2.0, "vol_5": 5.0, "noise_3": 0.0}
"""Planted strength order of the targets (vol > ret_1 > ret_5 > ret_10 > noise)."""
LEAK_KINDS = ("noisy_copy", "lagged_label", "partial_window", "full_window", "mixed")


@dataclass(frozen=True)
class Leak:
    """A planted leak: its feature, the target it leaks and its kind."""

    feature: str
    target: str
    kind: str


@dataclass
class LeakPanel:
    """A panel with its truth: the leaks and each target's genuine drivers."""

    panel: Panel
    leaks: list[Leak]
    drivers: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DRIVERS))

    @property
    def leak_features(self) -> set[str]:
        return {leak.feature for leak in self.leaks}


def _ar1(rng: np.random.Generator, phi: float, shape: tuple[int, int]) -> F64:
    """Unit-variance AR(1) along axis 0 (time), started in its stationary law."""
    e = rng.standard_normal(shape)
    out = np.empty(shape)
    out[0] = e[0]
    scale = np.sqrt(1.0 - phi**2)
    for t in range(1, shape[0]):
        out[t] = phi * out[t - 1] + scale * e[t]
    return out


def _window_sum(bars: F64, h: int) -> F64:
    """``out[t] = bars[t+1] + ... + bars[t+h]`` (NaN where the window runs out)."""
    n = bars.shape[0]
    csum = np.vstack([np.zeros((1, bars.shape[1])), np.cumsum(bars, axis=0)])
    out = np.full(bars.shape, np.nan)
    out[: n - h] = csum[h + 1 : n + 1] - csum[1 : n - h + 1]
    return out


def _trailing_mean(bars: F64, k: int) -> F64:
    """Mean of ``bars[t-k+1 .. t]`` (NaN for the first k-1 bars)."""
    csum = np.vstack([np.zeros((1, bars.shape[1])), np.cumsum(bars, axis=0)])
    out = np.full(bars.shape, np.nan)
    out[k - 1 :] = (csum[k:] - csum[:-k]) / k
    return out


def _z(a: F64) -> F64:
    """Standardise per timestamp (row), ignoring NaN."""
    with warnings.catch_warnings():  # rows past the end of the window are all NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmean(a, axis=1, keepdims=True)
        sd = np.nanstd(a, axis=1, keepdims=True)
    return np.asarray((a - mu) / np.where(sd > 0, sd, 1.0), dtype=np.float64)


def _shift(a: F64, k: int, fill: float = np.nan) -> F64:
    """``out[t] = a[t + k]`` (``fill`` outside)."""
    out = np.full(a.shape, fill)
    if k >= 0:
        out[: a.shape[0] - k] = a[k:]
    else:
        out[-k:] = a[:k]
    return out


def make_leak_panel(
    seed: int, *, n_symbols: int = 60, n_timestamps: int = 320, leaks: bool = True
) -> LeakPanel:
    """The panel of the module docstring (``leaks=False``: without the ``aux_*`` leaks)."""
    rng = np.random.default_rng(seed)
    burn = 80
    n = n_timestamps + burn
    shape = (n, n_symbols)
    sig = {name: _ar1(rng, phi, shape) for name, phi in PERSISTENCE.items()}
    level = rng.normal(0.0, 0.7, size=n_symbols)
    log_vol = level + 0.35 * _ar1(rng, 0.97, shape)
    vol = np.exp(log_vol)
    noise = rng.standard_t(3, size=shape) / np.sqrt(3.0)
    # per-bar returns r[t+1] driven by state at t (a return bar is "bar t+1")
    m1 = 0.4 * sig["sig_p00"] + 0.3 * sig["sig_p60"]
    m5 = 0.25 * sig["sig_p30"] + 0.12 * np.tanh(1.5 * sig["sig_p90"]) + 0.1 * sig["sig_p99"]
    m10 = 0.08 * np.tanh(2.0 * sig["sig_p97"]) + 0.06 * sig["sig_p90"] * sig["sig_p60"]
    bar_a = _shift(m1 + vol * noise, -1, 0.0)  # bar_a[t] is the return of bar t (state at t-1)
    noise_b = rng.standard_t(3, size=shape) / np.sqrt(3.0)
    bar_b = _shift(m5 + vol * noise_b, -1, 0.0)
    noise_c = rng.standard_t(3, size=shape) / np.sqrt(3.0)
    bar_c = _shift(m10 + vol * noise_c, -1, 0.0)
    abs_a = np.abs(bar_a)
    targets = {
        "ret_1": _window_sum(bar_a, 1),
        "ret_5": _window_sum(bar_b, 5),
        "ret_10": _window_sum(bar_c, 10),
        "vol_5": np.log(_window_sum(abs_a, 5) / 5.0 + 1e-12),
        "noise_3": _window_sum(rng.standard_t(3, size=shape), 3),
    }
    feats: dict[str, F64] = dict(sig)
    feats["vol_20"] = np.log(_trailing_mean(abs_a, 20) + 1e-12)
    feats["vol_60"] = np.log(_trailing_mean(abs_a, 60) + 1e-12)
    for phi in NOISE_PERSISTENCE:
        feats[f"noise_p{round(phi * 100):02d}"] = _ar1(rng, phi, shape)
    planted: list[Leak] = []
    if leaks:
        y5, y10 = targets["ret_5"], targets["ret_10"]
        planted_values = {
            ("aux_a", "ret_5", "noisy_copy"): _z(y5) + 0.9 * rng.standard_normal(shape),
            ("aux_b", "ret_10", "lagged_label"): _shift(y10, -4),
            ("aux_c", "ret_10", "partial_window"): _window_sum(bar_c, 4),
            ("aux_d", "vol_5", "full_window"): _window_sum(abs_a, 5)
            + 0.01 * rng.standard_normal(shape),
            ("aux_e", "ret_5", "mixed"): 0.5 * _z(y5) + 0.5 * _z(sig["sig_p99"]),
        }
        for (name, target, kind), values in planted_values.items():
            feats[name] = values
            planted.append(Leak(name, target, kind))
    return LeakPanel(_to_panel(rng, feats, targets, burn), planted)


def _to_panel(
    rng: np.random.Generator, feats: dict[str, F64], targets: dict[str, F64], burn: int
) -> Panel:
    """Rows of the kept bars, with ragged symbol lives and a few missing values."""
    n, n_symbols = next(iter(feats.values())).shape
    keep = np.zeros((n, n_symbols), dtype=bool)
    kept_bars = n - burn
    for s in range(n_symbols):
        start = burn + (int(rng.integers(0, kept_bars // 4)) if s % 4 == 0 else 0)
        stop = n - (int(rng.integers(0, kept_bars // 4)) if s % 5 == 1 else 0)
        keep[start:stop, s] = True
    t_idx, s_idx = np.nonzero(keep)  # row-major: sorted by (timestamp, symbol)
    names = list(feats)
    X = np.column_stack([feats[f][t_idx, s_idx] for f in names]).astype(np.float32)
    missing = rng.random(X.shape) < 0.02
    X[missing] = np.nan
    return Panel.build(
        X=X,
        feature_names=names,
        targets={k: v[t_idx, s_idx] for k, v in targets.items()},
        horizons=dict(HORIZONS),
        target_kinds=dict.fromkeys(targets, "regression"),
        timestamps=(t_idx - burn).astype(np.int64),
        symbol_codes=s_idx.astype(np.int32),
        symbols=[f"S{i:03d}" for i in range(n_symbols)],
    )
