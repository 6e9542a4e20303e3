"""The default design's random streams: its features and its targets.

:func:`panelml.data.synthetic.generate.make_panel` (which documents the design)
draws every number of the default design here, from the random generators it
hands over, and keeps leak planting and the frame's layout for itself. Each
generator is consumed in a fixed order, so the same arguments give the same
bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from panelml.data.synthetic.design import (
    TargetSpec,
    calibrate,
    gaussian_binary_auc,
    gaussian_binary_rank_ic,
    gaussian_rank_ic,
    simulated_rank_ic,
    term_layout,
    validate_spec,
)
from panelml.data.synthetic.truth import PlantedTarget, PlantedTerm, term_values

_NAME_SEED = 7_919  # fixed: the role -> name shuffle does not depend on ``seed``
N_LEAK_SLOTS = 3
_NOISE_PHIS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.97)
_MARKET_PHI = 0.9
_GROUP_SIZE = 3
F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
Groups = list[tuple[list[int], list[int]]]


@dataclass(frozen=True)
class FeatureStreams:
    """The legitimate features of the default design, by role.

    ``latent`` is (time, symbol, feature) float32 with the signal features first
    (positions ``0 .. n_signal-1``) and the noise features after them; ``names``
    gives every position its neutral name and holds ``N_LEAK_SLOTS`` more names,
    reserved for leaks, after the legitimate ones.
    """

    latent: F32
    names: list[str]
    n_signal: int
    phi: F64
    phi_signal: F64
    groups: Groups
    market_cols: list[int]

    @property
    def n_legit(self) -> int:
        """How many legitimate (signal and noise) features there are."""
        return int(self.latent.shape[2])


@dataclass(frozen=True)
class TargetStream:
    """One planted target: its values, its per-bar innovations and their scales."""

    values: F64
    innovations: F64
    window_sd: float
    bar_sd: float
    planted: PlantedTarget


def _ar1_inplace(shocks: F32, phi: F32) -> None:
    """Turn iid N(0,1) shocks (time first) into stationary unit-variance AR(1) paths."""
    scale = np.sqrt(1.0 - phi.astype(np.float64) ** 2).astype(np.float32)
    for t in range(1, shocks.shape[0]):
        shocks[t] *= scale
        shocks[t] += phi * shocks[t - 1]


def _assign_groups(n_signal: int, n_noise: int, n_groups: int) -> Groups:
    groups: Groups = []
    next_noise = 0
    for k in range(n_groups):
        signal = [2 * k] if k < n_groups - 1 and 2 * k < n_signal else []
        take = min(_GROUP_SIZE - len(signal), n_noise - next_noise)
        noise = list(range(next_noise, next_noise + take))
        next_noise += take
        if len(signal) + len(noise) >= 2:
            groups.append((signal, noise))
    return groups


def windows(u: F64, horizon: int) -> F64:
    """y[t] = u[t+1] + ... + u[t+h] along axis 0, NaN where the window is incomplete."""
    cumulative = np.cumsum(u, axis=0)
    y = np.full_like(u, np.nan)
    y[: u.shape[0] - horizon] = cumulative[horizon:] - cumulative[:-horizon]
    return y


def feature_streams(
    *,
    shape: tuple[int, int],
    n_signal: int,
    n_noise: int,
    n_groups: int,
    group_correlation: float,
    persistence: tuple[float, float],
    market_loading: float,
    specs: Sequence[TargetSpec],
    rngs: tuple[np.random.Generator, np.random.Generator, np.random.Generator],
) -> FeatureStreams:
    """Draw the legitimate features for ``shape`` = (timestamps, symbols).

    ``rngs`` are the feature, group-factor and market generators. The target
    specs are checked against the feature groups before anything is drawn.
    """
    T, N = shape
    n_legit = n_signal + n_noise
    groups = _assign_groups(n_signal, n_noise, n_groups)
    group_of_signal = {i: g for g, (sig, _) in enumerate(groups) for i in sig}
    group_of_noise = {j: g for g, (_, noise) in enumerate(groups) for j in noise}
    for spec in specs:
        validate_spec(spec, n_signal, group_of_signal)

    # Role -> name: legitimate features are positions 0..n_legit-1 (signal first),
    # leak slots follow; the shuffle of names is fixed.
    n_slots = n_legit + N_LEAK_SLOTS
    width = max(2, len(str(n_slots - 1)))
    shuffle = np.random.default_rng(_NAME_SEED).permutation(n_slots)
    names = [f"feat_{int(k):0{width}d}" for k in shuffle]

    low, high = persistence
    phi_signal = np.round(np.linspace(low, high, n_signal), 6) if n_signal > 1 else np.array([high])
    group_phi = [float(phi_signal[sig[0]]) if sig else low for sig, _ in groups]
    phi = np.empty(n_legit, dtype=np.float64)
    phi[:n_signal] = phi_signal
    for j in range(n_noise):
        g = group_of_noise.get(j)
        phi[n_signal + j] = group_phi[g] if g is not None else _NOISE_PHIS[j % len(_NOISE_PHIS)]

    feature_rng, group_rng, market_rng = rngs
    latent = feature_rng.standard_normal((T, N, n_legit), dtype=np.float32)
    _ar1_inplace(latent, phi.astype(np.float32))
    if groups:
        factors = group_rng.standard_normal((T, N, len(groups)), dtype=np.float32)
        _ar1_inplace(factors, np.asarray(group_phi, dtype=np.float32))
        own, shared = math.sqrt(1.0 - group_correlation), math.sqrt(group_correlation)
        for g, (sig, noise) in enumerate(groups):
            for col in [*sig, *(n_signal + j for j in noise)]:
                latent[:, :, col] = own * latent[:, :, col] + shared * factors[:, :, g]
    market = market_rng.standard_normal(T)
    market_path = np.empty(T)
    market_path[0] = market[0]
    for t in range(1, T):
        market_path[t] = (
            _MARKET_PHI * market_path[t - 1] + math.sqrt(1 - _MARKET_PHI**2) * market[t]
        )
    ungrouped = [j for j in range(n_noise) if j not in group_of_noise]
    market_cols = [n_signal + j for k, j in enumerate(ungrouped) if k % 2 == 0]
    for col in market_cols:
        latent[:, :, col] += np.float32(market_loading) * market_path[:, None].astype(np.float32)
    return FeatureStreams(latent, names, n_signal, phi, phi_signal, groups, market_cols)


def target_stream(
    spec: TargetSpec,
    features: FeatureStreams,
    noise_scale: float,
    seed: np.random.SeedSequence,
) -> TargetStream:
    """Simulate one target from the signal features and record its planted truth."""
    latent, phi_signal = features.latent, features.phi_signal
    signal_names = features.names[: features.n_signal]
    T, N = int(latent.shape[0]), int(latent.shape[1])
    layout = term_layout(spec)
    rs, term_phis = [], []
    for form, positions, _ in layout:
        p = tuple(float(phi_signal[i]) for i in positions)
        term_phis.append(p)
        rs.append(p[0] if form == "linear" else p[0] ** 2 if form == "square" else p[0] * p[1])
    shares = tuple(share for _, _, share in layout)
    cal = calibrate(spec.strength, spec.horizon, shares, tuple(rs), noise_scale)
    rng = np.random.default_rng(seed)
    u = np.zeros((T, N))
    for (form, positions, _), a in zip(layout, cal.per_bar, strict=True):
        cols = [latent[:-1, :, i].astype(np.float64) for i in positions]
        u[1:] += a * term_values(form, cols)
    u[1:] += noise_scale * rng.standard_normal((T - 1, N))
    shock = noise_scale * rng.standard_normal(T)
    if spec.kind == "regression":
        u[1:] += shock[1:, None]
        y = windows(u, spec.horizon)
    else:
        latent_y = windows(u, spec.horizon)
        y = np.where(np.isnan(latent_y), np.nan, (latent_y > 0).astype(np.float64))

    forms = tuple(form for form, _, _ in layout)
    auc: float | None = None
    if spec.form == "none":
        rank_ic, auc = 0.0, (0.5 if spec.kind == "binary" else None)
    elif spec.form == "linear" and spec.kind == "regression":
        rank_ic = gaussian_rank_ic(spec.strength)
    elif spec.form == "linear":
        rank_ic, auc = (
            gaussian_binary_rank_ic(spec.strength),
            gaussian_binary_auc(spec.strength),
        )
    else:
        rank_ic, auc = simulated_rank_ic(
            forms,
            tuple(term_phis),
            cal.per_bar,
            cal.coefficients,
            spec.horizon,
            noise_scale,
            spec.kind == "binary",
        )
    terms = tuple(
        PlantedTerm(form, tuple(signal_names[i] for i in positions), a, coef, share)
        for (form, positions, share), a, coef in zip(
            layout, cal.per_bar, cal.coefficients, strict=True
        )
    )
    planted = PlantedTarget(
        name=spec.name,
        horizon=spec.horizon,
        kind=spec.kind,
        form=spec.form,
        strength=spec.strength,
        expected_rank_ic=round(rank_ic, 6),
        signal_features=tuple(signal_names[i] for i in spec.features),
        terms=terms,
        expected_auc=None if auc is None else round(auc, 6),
    )
    return TargetStream(y, u, cal.window_sd, cal.bar_sd, planted)
