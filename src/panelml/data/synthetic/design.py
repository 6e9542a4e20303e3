"""The design of synthetic targets: specs, feature groups, and calibration.

Calibration is analytic. Every feature is a stationary AR(1) with unit variance
(``x[t] = phi * x[t-1] + sqrt(1 - phi**2) * e[t]``; members of a correlated
group share ``phi``), and the features a target uses are independent of each
other (different groups). A target's per-bar innovation is
``u[t] = sum_k a_k * g_k(x[t-1]) + sigma * eps[t]`` and its value at t is
``y[t] = u[t+1] + ... + u[t+h]``. Each standardised term g_k has
autocorrelation ``r_k ** lag`` (r = phi for linear, phi**2 for square, phi1*phi2
for product) and the terms are uncorrelated with each other, so

* optimal forecast ``f[t] = sum_k a_k * S1(r_k, h) * g_k(x[t])``,
  with ``S1(r, h) = sum_{j<h} r**j``;
* ``Var f = sum_k a_k**2 * S1_k**2`` and
  ``Var y = sum_k a_k**2 * S2(r_k, h) + h * sigma**2``,
  with ``S2(r, h) = sum_{i,j<h} r**|i-j|``;
* strength ``s = sqrt(Var f / Var y)``, solved for the scale of the ``a_k``.

The market shock common to all symbols adds nothing cross-sectionally, so
these are also the per-timestamp (cross-sectional) quantities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from panelml.data.synthetic.truth import TargetForm, TermForm

_MC_SEED = 20_240_611
_MC_SIZE = 200_000


@dataclass(frozen=True)
class TargetSpec:
    """One synthetic target to plant.

    ``features`` are positions in the signal-feature pool (0 .. n_signal-1);
    they must lie in different correlated groups. Forms:

    * ``linear``: one linear term per feature, equal shares of the forecast variance;
    * ``nonlinear``: ``(x0**2 - 1)/sqrt(2)`` with share 0.7 (1.0 alone) plus linear
      terms on the other features sharing 0.3 - invisible to a linear model
      except for the linear part;
    * ``interaction``: ``x0 * x1`` with share 0.7 (1.0 alone) plus linear terms on
      the other features sharing 0.3;
    * ``none``: pure noise (strength must be 0).

    A binary target is 1 when its continuous latent target (without the market
    shock) is positive.
    """

    name: str
    horizon: int
    strength: float
    form: TargetForm = "linear"
    features: tuple[int, ...] = ()
    kind: Literal["regression", "binary"] = "regression"


DEFAULT_TARGETS: tuple[TargetSpec, ...] = (
    TargetSpec("fwd_ret_1", 1, 0.10, "linear", (0, 1)),
    TargetSpec("fwd_ret_5", 5, 0.20, "linear", (2, 3, 4)),
    TargetSpec("fwd_ret_10", 10, 0.15, "nonlinear", (5, 1)),
    TargetSpec("fwd_vol_5", 5, 0.25, "interaction", (6, 7, 2)),
    TargetSpec("fwd_ret_20", 20, 0.0, "none"),
    TargetSpec("fwd_noise_3", 3, 0.0, "none"),
    TargetSpec("y_up_5", 5, 0.15, "linear", (3, 0), kind="binary"),
)


def term_layout(spec: TargetSpec) -> list[tuple[TermForm, tuple[int, ...], float]]:
    """The (term form, signal positions, share of forecast variance) of a spec."""
    f = spec.features
    if spec.form == "none":
        return []
    if spec.form == "linear":
        return [("linear", (i,), 1.0 / len(f)) for i in f]
    head: tuple[TermForm, tuple[int, ...]]
    head = ("square", f[:1]) if spec.form == "nonlinear" else ("product", f[:2])
    rest = f[len(head[1]) :]
    if not rest:
        return [(head[0], head[1], 1.0)]
    return [(head[0], head[1], 0.7)] + [("linear", (i,), 0.3 / len(rest)) for i in rest]


def validate_spec(spec: TargetSpec, n_signal: int, group_of: dict[int, int]) -> None:
    """Raise ValueError when a spec cannot be planted as documented."""
    where = f"synthetic target {spec.name!r}"
    if spec.horizon < 1:
        raise ValueError(f"{where}: horizon must be at least 1, got {spec.horizon}")
    if (spec.form == "none") != (spec.strength == 0.0):
        raise ValueError(f"{where}: strength must be 0 exactly when form is 'none'")
    if not 0.0 <= spec.strength < 0.95:
        raise ValueError(f"{where}: strength must lie in [0, 0.95), got {spec.strength}")
    need = {"none": 0, "linear": 1, "nonlinear": 1, "interaction": 2}[spec.form]
    if len(spec.features) < need or (spec.form == "none" and spec.features):
        raise ValueError(f"{where}: form {spec.form!r} needs {need}+ features, got {spec.features}")
    if len(spec.features) > 4:
        raise ValueError(f"{where}: use at most 4 signal features")
    if any(not 0 <= i < n_signal for i in spec.features):
        raise ValueError(
            f"{where}: feature positions must lie in [0, {n_signal}) (n_signal_features)"
        )
    groups = [group_of.get(i, -1 - i) for i in spec.features]
    if len(set(groups)) != len(groups):
        raise ValueError(f"{where}: its features must be distinct and in different groups")


def s1(r: float, h: int) -> float:
    return float(sum(r**j for j in range(h)))


def s2(r: float, h: int) -> float:
    return float(h + 2.0 * sum((h - k) * r**k for k in range(1, h)))


@dataclass(frozen=True)
class Calibration:
    """Solved scales of one target: per-bar term weights and forecast coefficients."""

    per_bar: tuple[float, ...]
    coefficients: tuple[float, ...]
    window_sd: float  # cross-sectional sd of the (latent) target
    bar_sd: float  # cross-sectional sd of one bar's idiosyncratic innovation


def calibrate(
    strength: float, horizon: int, shares: tuple[float, ...], rs: tuple[float, ...], sigma: float
) -> Calibration:
    """Solve the term weights so the target has ``strength`` (module docstring)."""
    if not shares:
        sd = math.sqrt(horizon) * sigma
        return Calibration((), (), sd, sigma)
    q = sum(p * s2(r, horizon) / s1(r, horizon) ** 2 for p, r in zip(shares, rs, strict=True))
    denominator = 1.0 - strength**2 * q
    if denominator <= 0:
        raise ValueError(f"strength {strength} is not reachable with this persistence")
    c = math.sqrt(strength**2 * horizon * sigma**2 / denominator)
    per_bar = tuple(c * math.sqrt(p) / s1(r, horizon) for p, r in zip(shares, rs, strict=True))
    coefficients = tuple(c * math.sqrt(p) for p in shares)
    var_y = sum(a**2 * s2(r, horizon) for a, r in zip(per_bar, rs, strict=True))
    var_y += horizon * sigma**2
    bar_sd = math.sqrt(sum(a**2 for a in per_bar) + sigma**2)
    return Calibration(per_bar, coefficients, math.sqrt(var_y), bar_sd)


def gaussian_rank_ic(strength: float) -> float:
    """Spearman of a bivariate normal with Pearson ``strength``."""
    return 6.0 / math.pi * math.asin(strength / 2.0)


def gaussian_binary_rank_ic(strength: float) -> float:
    """Spearman between a normal forecast and 1{latent > 0} (Pearson ``strength``)."""
    return math.asin(strength / math.sqrt(2.0)) * math.sqrt(48.0) / (2.0 * math.pi)


def gaussian_binary_auc(strength: float) -> float:
    """AUC of a normal forecast for 1{latent > 0} (Pearson ``strength``)."""
    return 0.5 + 2.0 * math.asin(strength / math.sqrt(2.0)) / math.pi


def _ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Ranks 1..n of continuous values (ties have probability zero here)."""
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[np.argsort(values, kind="stable")] = np.arange(1, values.size + 1)
    return ranks


@lru_cache(maxsize=256)
def simulated_rank_ic(
    forms: tuple[TermForm, ...],
    phis: tuple[tuple[float, ...], ...],
    per_bar: tuple[float, ...],
    coefficients: tuple[float, ...],
    horizon: int,
    sigma: float,
    binary: bool,
) -> tuple[float, float | None]:
    """Monte-Carlo (fixed internal seed, 200k draws) rank IC and, for binary, AUC.

    Used for forms whose (forecast, target) pair is not bivariate normal.
    """
    rng = np.random.default_rng(_MC_SEED)
    n = _MC_SIZE
    states = [[rng.standard_normal(n) for _ in p] for p in phis]
    forecast = np.zeros(n)
    target = np.zeros(n)
    for j in range(horizon):
        if j:
            for state, term_phis in zip(states, phis, strict=True):
                for i, phi in enumerate(term_phis):
                    state[i] = phi * state[i] + math.sqrt(1 - phi**2) * rng.standard_normal(n)
        for k, form in enumerate(forms):
            x = states[k]
            if form == "linear":
                g = x[0]
            elif form == "square":
                g = (x[0] ** 2 - 1.0) / math.sqrt(2.0)
            else:
                g = x[0] * x[1]
            target += per_bar[k] * g
            if j == 0:
                forecast += coefficients[k] * g
    target += sigma * math.sqrt(horizon) * rng.standard_normal(n)
    ranks = _ranks(forecast)
    if not binary:
        return float(np.corrcoef(ranks, _ranks(target))[0, 1]), None
    # Spearman with a 0/1 label is Pearson with the label itself (its ranks are affine in it).
    label = (target > 0).astype(np.float64)
    n_pos = float(label.sum())
    n_neg = n - n_pos
    auc = (float(ranks[label == 1].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(np.corrcoef(ranks, label)[0, 1]), auc
