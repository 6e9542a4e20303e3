"""make_panel: a synthetic long-format panel with planted, documented ground truth.

The design (defaults in brackets; :data:`DEFAULT_TARGETS` lists the targets):

* ``n_symbols`` [60] symbols ``S000..`` observed on ``n_timestamps`` [400]
  business days from 2015-01-01 (``timestamp``: polars Datetime, bar 1d).
* Features, all named neutrally ``feat_NN`` (a fixed, seed-independent shuffle
  of the roles, so names say nothing about roles; leak names are reserved even
  with ``leaks=False``):

  - ``n_signal_features`` [8] signal features, AR(1) per symbol with persistence
    spread evenly over ``persistence`` [0.90 .. 0.97];
  - ``n_noise_features`` [12] noise features with persistence cycling over
    0, 0.5, 0.8, 0.9, 0.95, 0.97;
  - ``n_groups`` [3] correlated groups of 3 features sharing a group factor
    (pairwise correlation ``group_correlation`` [0.5]): all but the last group
    hold one signal feature (signal positions 0, 2, ...) and two noise features,
    the last group holds three noise features;
  - a persistent market factor common to all symbols (AR(1), phi 0.9) loaded
    with ``market_loading`` [0.5] on every other ungrouped noise feature: it moves
    those features over time but carries no cross-sectional information;
  - every feature has unit variance apart from the market part; with
    ``missing_rate`` > 0 that share of legitimate feature values is set missing.

* Targets (float64): per symbol, ``u[t] = sum_k a_k * g_k(x[t-1]) + sigma * eps[t]
  + m[t]`` where ``m[t]`` is a white-noise market shock (sd ``sigma`` [0.01]) shared
  by all symbols, and ``y[t] = u[t+1] + ... + u[t+h]``: windows overlap when
  h > 1, so purging matters. The last h timestamps of each symbol have no target
  (NaN). The weights are solved analytically for the planted strength
  (:mod:`panelml.data.synthetic.design`). Binary targets are
  ``1{latent > 0}`` with the latent excluding the market shock.

* Leaks (``leaks=True``), one of each kind, tied to targets in the truth:
  ``noisy_copy`` = y + noise of 0.2 sd (to the noise target with the longest
  horizon; default ``fwd_ret_20``); ``partial_window`` = u[t+1] + u[t+2] + noise
  of 0.3 * sqrt(2) bar sd, the first two bars of the window (one bar when h = 2;
  to the first linear predictable target with h > 1; default ``fwd_ret_5``: rank
  IC about 0.5, lag-1 persistence about 0.5, so its IC with the windows just
  before and after the label's is far below what that persistence implies - a
  timing finding - and together with its magnitude the screen has corroborated
  proof; a next-bar-only leak would be the documented ambiguity, a strong
  non-persistent predictor, and only a suspicion); ``short_shift`` = y[t+1] (to
  the next unused target with h > 1; default ``fwd_ret_10``). With few targets one target may carry
  several leaks; leaks needing h > 1 are not planted when no target has it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.data.frames import panel_from_frame
from panelml.data.panel import Panel
from panelml.data.spec import DataConfig
from panelml.data.synthetic.design import (
    DEFAULT_TARGETS,
    TargetSpec,
    calibrate,
    gaussian_binary_auc,
    gaussian_binary_rank_ic,
    gaussian_rank_ic,
    simulated_rank_ic,
    term_layout,
    validate_spec,
)
from panelml.data.synthetic.hard import make_hard_panel
from panelml.data.synthetic.truth import (
    GroundTruth,
    LeakKind,
    PlantedLeak,
    PlantedTarget,
    PlantedTerm,
    term_values,
)

_NAME_SEED = 7_919  # fixed: the role -> name shuffle does not depend on ``seed``
_N_LEAK_SLOTS = 3
_NOISE_PHIS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.97)
_MARKET_PHI = 0.9
_GROUP_SIZE = 3
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SyntheticPanel:
    """A synthetic long-format frame and the truth planted in it."""

    frame: pl.DataFrame
    truth: GroundTruth

    def data_config(self, **overrides: Any) -> DataConfig:
        """A DataConfig that reads this frame as designed (daily bars, all targets)."""
        settings: dict[str, Any] = {
            "path": "<synthetic>",
            "bar_interval": self.truth.bar_interval,
            "targets": list(self.truth.targets),
        }
        settings.update(overrides)
        return DataConfig(**settings)

    def to_panel(self, cfg: DataConfig | None = None) -> Panel:
        """The frame as a Panel (through the same checks as loaded data)."""
        return panel_from_frame(
            self.frame,
            cfg or self.data_config(),
            source=f"<synthetic seed={self.truth.seed}>",
        )


def _ar1_inplace(shocks: npt.NDArray[np.float32], phi: npt.NDArray[np.float32]) -> None:
    """Turn iid N(0,1) shocks (time first) into stationary unit-variance AR(1) paths."""
    scale = np.sqrt(1.0 - phi.astype(np.float64) ** 2).astype(np.float32)
    for t in range(1, shocks.shape[0]):
        shocks[t] *= scale
        shocks[t] += phi * shocks[t - 1]


def _assign_groups(n_signal: int, n_noise: int, n_groups: int) -> list[tuple[list[int], list[int]]]:
    groups: list[tuple[list[int], list[int]]] = []
    next_noise = 0
    for k in range(n_groups):
        signal = [2 * k] if k < n_groups - 1 and 2 * k < n_signal else []
        take = min(_GROUP_SIZE - len(signal), n_noise - next_noise)
        noise = list(range(next_noise, next_noise + take))
        next_noise += take
        if len(signal) + len(noise) >= 2:
            groups.append((signal, noise))
    return groups


def _choose_leak_targets(specs: Sequence[TargetSpec]) -> list[tuple[LeakKind, str]]:
    """Which regression target each leak kind is tied to (rules in the module docstring);
    a target is reused only when no unused one with horizon > 1 is left."""
    regression = [s for s in specs if s.kind == "regression"]
    if not regression:
        return []
    noise = [s for s in regression if s.form == "none"]
    first = max(noise or regression, key=lambda s: s.horizon)
    chosen: list[tuple[LeakKind, str]] = [("noisy_copy", first.name)]
    used = {first.name}
    long = [s for s in regression if s.horizon > 1]
    for kind in ("partial_window", "short_shift"):
        fresh = [s for s in long if s.name not in used]
        if kind == "partial_window":
            fresh = [s for s in fresh if s.form == "linear"] or fresh
        pick = fresh[0] if fresh else (long[0] if long else None)
        if pick is not None:
            chosen.append((kind, pick.name))
            used.add(pick.name)
    return chosen


def _windows(u: F64, horizon: int) -> F64:
    """y[t] = u[t+1] + ... + u[t+h] along axis 0, NaN where the window is incomplete."""
    cumulative = np.cumsum(u, axis=0)
    y = np.full_like(u, np.nan)
    y[: u.shape[0] - horizon] = cumulative[horizon:] - cumulative[:-horizon]
    return y


def make_panel(
    *,
    n_symbols: int = 60,
    n_timestamps: int = 400,
    n_signal_features: int = 8,
    n_noise_features: int = 12,
    n_groups: int = 3,
    group_correlation: float = 0.5,
    persistence: tuple[float, float] = (0.90, 0.97),
    targets: Sequence[TargetSpec] | None = None,
    leaks: bool = True,
    market_loading: float = 0.5,
    missing_rate: float | None = None,
    noise_scale: float = 0.01,
    seed: int = 0,
    hard_cases: bool = False,
    ragged_share: float | None = None,
) -> SyntheticPanel:
    """A synthetic panel with planted targets, signal, noise and leaks (module docstring).

    ``hard_cases=True`` builds the hard-case design instead
    (:mod:`panelml.data.synthetic.hard`): only the sizes, ``leaks``,
    ``missing_rate`` [0.02 there, 0 here], ``ragged_share`` [0.2, hard-case only],
    ``noise_scale`` and ``seed`` apply to it. Deterministic for given arguments:
    the same call gives the same bytes.
    """
    if hard_cases:
        if targets is not None or (n_signal_features, n_noise_features, n_groups) != (8, 12, 3):
            raise ValueError(
                "hard_cases=True has its own features and targets: drop those arguments"
            )
        frame, truth = make_hard_panel(
            n_symbols=n_symbols,
            n_timestamps=n_timestamps,
            leaks=leaks,
            missing_rate=0.02 if missing_rate is None else missing_rate,
            ragged_share=0.2 if ragged_share is None else ragged_share,
            noise_scale=noise_scale,
            seed=seed,
        )
        return SyntheticPanel(frame=frame, truth=truth)
    if ragged_share is not None:
        raise ValueError("ragged_share applies only with hard_cases=True")
    missing_rate = missing_rate or 0.0
    specs = tuple(DEFAULT_TARGETS if targets is None else targets)
    n_sig, n_noise = n_signal_features, n_noise_features
    n_legit = n_sig + n_noise
    if n_symbols < 2 or n_sig < 1 or n_noise < 0 or not specs:
        raise ValueError("need at least 2 symbols, 1 signal feature and 1 target")
    if n_timestamps <= max(s.horizon for s in specs) + 2:
        raise ValueError("n_timestamps must exceed the longest target horizon by more than 2")
    if not 0.0 <= group_correlation < 1.0 or not 0.0 <= missing_rate < 1.0:
        raise ValueError("group_correlation and missing_rate must lie in [0, 1)")
    if len({s.name for s in specs}) != len(specs):
        raise ValueError("synthetic target names must be unique")
    T, N = n_timestamps, n_symbols

    groups = _assign_groups(n_sig, n_noise, n_groups)
    group_of_signal = {i: g for g, (sig, _) in enumerate(groups) for i in sig}
    group_of_noise = {j: g for g, (_, noise) in enumerate(groups) for j in noise}
    for spec in specs:
        validate_spec(spec, n_sig, group_of_signal)

    # Role -> name: legitimate features are positions 0..n_legit-1 (signal first),
    # leak slots follow; the shuffle of names is fixed.
    n_slots = n_legit + _N_LEAK_SLOTS
    width = max(2, len(str(n_slots - 1)))
    shuffle = np.random.default_rng(_NAME_SEED).permutation(n_slots)
    names = [f"feat_{int(k):0{width}d}" for k in shuffle]
    signal_names = names[:n_sig]
    noise_names = names[n_sig:n_legit]

    low, high = persistence
    phi_signal = np.round(np.linspace(low, high, n_sig), 6) if n_sig > 1 else np.array([high])
    group_phi = [float(phi_signal[sig[0]]) if sig else low for sig, _ in groups]
    phi = np.empty(n_legit, dtype=np.float64)
    phi[:n_sig] = phi_signal
    for j in range(n_noise):
        g = group_of_noise.get(j)
        phi[n_sig + j] = group_phi[g] if g is not None else _NOISE_PHIS[j % len(_NOISE_PHIS)]

    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    feature_rng, group_rng, market_rng, leak_rng, missing_rng = streams
    target_seeds = np.random.SeedSequence([seed, 1]).spawn(len(specs))

    latent = feature_rng.standard_normal((T, N, n_legit), dtype=np.float32)
    _ar1_inplace(latent, phi.astype(np.float32))
    if groups:
        factors = group_rng.standard_normal((T, N, len(groups)), dtype=np.float32)
        _ar1_inplace(factors, np.asarray(group_phi, dtype=np.float32))
        own, shared = math.sqrt(1.0 - group_correlation), math.sqrt(group_correlation)
        for g, (sig, noise) in enumerate(groups):
            for col in [*sig, *(n_sig + j for j in noise)]:
                latent[:, :, col] = own * latent[:, :, col] + shared * factors[:, :, g]
    market = market_rng.standard_normal(T)
    market_path = np.empty(T)
    market_path[0] = market[0]
    for t in range(1, T):
        market_path[t] = (
            _MARKET_PHI * market_path[t - 1] + math.sqrt(1 - _MARKET_PHI**2) * market[t]
        )
    ungrouped = [j for j in range(n_noise) if j not in group_of_noise]
    market_cols = [n_sig + j for k, j in enumerate(ungrouped) if k % 2 == 0]
    for col in market_cols:
        latent[:, :, col] += np.float32(market_loading) * market_path[:, None].astype(np.float32)

    planted: dict[str, PlantedTarget] = {}
    target_values: dict[str, F64] = {}
    innovations: dict[str, F64] = {}
    window_sd: dict[str, float] = {}
    bar_sd: dict[str, float] = {}
    for spec, target_seed in zip(specs, target_seeds, strict=True):
        layout = term_layout(spec)
        rs, term_phis = [], []
        for form, positions, _ in layout:
            p = tuple(float(phi_signal[i]) for i in positions)
            term_phis.append(p)
            rs.append(p[0] if form == "linear" else p[0] ** 2 if form == "square" else p[0] * p[1])
        shares = tuple(share for _, _, share in layout)
        cal = calibrate(spec.strength, spec.horizon, shares, tuple(rs), noise_scale)
        rng = np.random.default_rng(target_seed)
        u = np.zeros((T, N))
        for (form, positions, _), a in zip(layout, cal.per_bar, strict=True):
            cols = [latent[:-1, :, i].astype(np.float64) for i in positions]
            u[1:] += a * term_values(form, cols)
        u[1:] += noise_scale * rng.standard_normal((T - 1, N))
        shock = noise_scale * rng.standard_normal(T)
        if spec.kind == "regression":
            u[1:] += shock[1:, None]
            y = _windows(u, spec.horizon)
        else:
            latent_y = _windows(u, spec.horizon)
            y = np.where(np.isnan(latent_y), np.nan, (latent_y > 0).astype(np.float64))
        target_values[spec.name], innovations[spec.name] = y, u
        window_sd[spec.name], bar_sd[spec.name] = cal.window_sd, cal.bar_sd

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
        planted[spec.name] = PlantedTarget(
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

    columns: dict[str, npt.NDArray[np.float32]] = {
        names[i]: latent[:, :, i] for i in range(n_legit)
    }
    if missing_rate > 0:
        for name in list(columns):
            values = columns[name].copy()
            values[missing_rng.random(values.shape) < missing_rate] = np.nan
            columns[name] = values
    planted_leaks: list[PlantedLeak] = []
    if leaks:
        horizon_of = {s.name: s.horizon for s in specs}
        for slot, (kind, target) in enumerate(_choose_leak_targets(specs)):
            y, u = target_values[target], innovations[target]
            bars = 0
            leak = np.full((T, N), np.nan)
            if kind == "noisy_copy":
                leak = y + 0.2 * window_sd[target] * leak_rng.standard_normal((T, N))
            elif kind == "partial_window":
                bars = min(2, horizon_of[target] - 1)
                shocks = leak_rng.standard_normal((T, N))
                leak = _windows(u, bars) + 0.3 * math.sqrt(bars) * bar_sd[target] * shocks
            else:
                leak[:-1] = y[1:]
            name = names[n_legit + slot]
            columns[name] = leak.astype(np.float32)
            planted_leaks.append(PlantedLeak(feature=name, target=target, kind=kind, bars=bars))

    days = np.busday_offset(np.datetime64("2015-01-01", "D"), np.arange(T), roll="forward")
    sym_width = max(3, len(str(N - 1)))
    symbols = [f"S{i:0{sym_width}d}" for i in range(N)]
    data: list[pl.Series] = [
        pl.Series("symbol", np.tile(np.asarray(symbols), T), dtype=pl.String),
        pl.Series("timestamp", np.repeat(days.astype("datetime64[us]"), N)),
    ]
    data.extend(pl.Series(name, columns[name].reshape(-1)) for name in sorted(columns))
    data.extend(pl.Series(s.name, target_values[s.name].reshape(-1)) for s in specs)
    frame = pl.DataFrame(data)

    groups_named = tuple(
        tuple(sorted([*(names[i] for i in sig), *(names[n_sig + j] for j in noise)]))
        for sig, noise in groups
    )
    used_signal = {f for t in planted.values() for f in t.signal_features}
    truth = GroundTruth(
        targets=planted,
        leaks=tuple(planted_leaks),
        signal_features=tuple(sorted(used_signal)),
        noise_features=tuple(
            sorted([*noise_names, *(n for n in signal_names if n not in used_signal)])
        ),
        groups=groups_named,
        market_features=tuple(sorted(names[c] for c in market_cols)),
        persistence={names[i]: float(phi[i]) for i in range(n_legit)},
        group_correlation=group_correlation,
        noise_scale=noise_scale,
        bar_interval="1d",
        seed=seed,
        n_symbols=N,
        n_timestamps=T,
    )
    return SyntheticPanel(frame=frame, truth=truth)


def write_demo_data(directory: Path, **kwargs: Any) -> Path:
    """Write ``make_panel(**kwargs)`` as ``directory/panel.parquet`` and its truth as
    ``directory/truth.json``; returns the parquet path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    synthetic = make_panel(**kwargs)
    path = directory / "panel.parquet"
    synthetic.frame.write_parquet(path)
    truth_path = directory / "truth.json"
    truth_path.write_text(json.dumps(synthetic.truth.to_dict(), indent=2, sort_keys=True) + "\n")
    return path
