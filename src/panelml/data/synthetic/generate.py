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

* Sequence signal (``sequence_bars=k``, off by default): one more feature and the
  target ``path_ret_1`` whose signal is the sum of that feature over the k - 1
  bars before t, invisible to any one-bar model
  (:mod:`panelml.data.synthetic.sequence`; strength ``sequence_strength`` [0.3]).

This module is the public entry (:func:`make_panel`, its arguments and checks),
the leak planting and the frame layout, and the demo files;
:mod:`panelml.data.synthetic.streams` draws the default design's features and
targets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from panelml.data.frames import panel_from_frame
from panelml.data.panel import Panel
from panelml.data.spec import DataConfig
from panelml.data.synthetic.design import DEFAULT_TARGETS, TargetSpec
from panelml.data.synthetic.hard import make_hard_panel
from panelml.data.synthetic.sequence import sequence_signal
from panelml.data.synthetic.streams import (
    F32,
    F64,
    TargetStream,
    feature_streams,
    target_stream,
    windows,
)
from panelml.data.synthetic.truth import GroundTruth, LeakKind, PlantedLeak


@dataclass(frozen=True)
class SyntheticPanel:
    """A synthetic long-format frame and the truth planted in it."""

    frame: pl.DataFrame
    truth: GroundTruth

    def data_config(self, **overrides: Any) -> DataConfig:
        """A DataConfig that reads this frame as designed: daily bars, all targets, and
        each target's planted horizon (a name need not spell its horizon)."""
        settings: dict[str, Any] = {
            "path": "<synthetic>",
            "bar_interval": self.truth.bar_interval,
            "targets": list(self.truth.targets),
            "horizons": {name: t.horizon for name, t in self.truth.targets.items()},
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
    sequence_bars: int | None = None,
    sequence_strength: float = 0.3,
) -> SyntheticPanel:
    """A synthetic panel with planted targets, signal, noise and leaks (module docstring).

    ``hard_cases=True`` builds the hard-case design instead
    (:mod:`panelml.data.synthetic.hard`): only the sizes, ``leaks``,
    ``missing_rate`` [0.02 there, 0 here], ``ragged_share`` [0.2, hard-case only],
    ``noise_scale`` and ``seed`` apply to it. Deterministic for given arguments:
    the same call gives the same bytes.
    """
    if hard_cases:
        if sequence_bars is not None:
            raise ValueError("sequence_bars applies only to the default design")
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
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    feature_rng, group_rng, market_rng, leak_rng, missing_rng = streams
    features = feature_streams(
        shape=(T, N),
        n_signal=n_sig,
        n_noise=n_noise,
        n_groups=n_groups,
        group_correlation=group_correlation,
        persistence=persistence,
        market_loading=market_loading,
        specs=specs,
        rngs=(feature_rng, group_rng, market_rng),
    )
    target_seeds = np.random.SeedSequence([seed, 1]).spawn(len(specs))
    targets_drawn = {
        spec.name: target_stream(spec, features, noise_scale, target_seed)
        for spec, target_seed in zip(specs, target_seeds, strict=True)
    }

    names = features.names
    columns: dict[str, F32] = {names[i]: features.latent[:, :, i] for i in range(n_legit)}
    if missing_rate > 0:
        for name in list(columns):
            values = columns[name].copy()
            values[missing_rng.random(values.shape) < missing_rate] = np.nan
            columns[name] = values
    planted_leaks: list[PlantedLeak] = []
    if leaks:
        for slot, (kind, target) in enumerate(_choose_leak_targets(specs)):
            name = names[n_legit + slot]
            leak, bars = _leak_values(kind, targets_drawn[target], leak_rng)
            columns[name] = leak.astype(np.float32)
            planted_leaks.append(PlantedLeak(feature=name, target=target, kind=kind, bars=bars))
    target_values = {s.name: targets_drawn[s.name].values for s in specs}
    planted_targets = {name: drawn.planted for name, drawn in targets_drawn.items()}
    if sequence_bars is not None:
        width = len(names[0]) - len("feat_")
        path_name = f"feat_{len(names):0{width}d}"
        z, path_y, path_truth = sequence_signal(
            T, N, sequence_bars, sequence_strength, path_name, seed
        )
        columns[path_name] = z
        target_values[path_truth.name] = path_y
        planted_targets[path_truth.name] = path_truth
    frame = _frame(columns, target_values, T, N)
    used_signal = {f for t in planted_targets.values() for f in t.signal_features}
    noise_names = names[n_sig:n_legit]
    truth = GroundTruth(
        targets=planted_targets,
        leaks=tuple(planted_leaks),
        signal_features=tuple(sorted(used_signal)),
        noise_features=tuple(
            sorted([*noise_names, *(n for n in names[:n_sig] if n not in used_signal)])
        ),
        groups=tuple(
            tuple(sorted([*(names[i] for i in sig), *(names[n_sig + j] for j in noise)]))
            for sig, noise in features.groups
        ),
        market_features=tuple(sorted(names[c] for c in features.market_cols)),
        persistence={names[i]: float(features.phi[i]) for i in range(n_legit)},
        group_correlation=group_correlation,
        noise_scale=noise_scale,
        bar_interval="1d",
        seed=seed,
        n_symbols=N,
        n_timestamps=T,
    )
    return SyntheticPanel(frame=frame, truth=truth)


def _leak_values(kind: LeakKind, target: TargetStream, rng: np.random.Generator) -> tuple[F64, int]:
    """One planted leak's values for ``target`` and the bars of the window it reveals."""
    y, u = target.values, target.innovations
    T, N = y.shape
    if kind == "noisy_copy":
        return y + 0.2 * target.window_sd * rng.standard_normal((T, N)), 0
    if kind == "partial_window":
        bars = min(2, target.planted.horizon - 1)
        shocks = rng.standard_normal((T, N))
        return windows(u, bars) + 0.3 * math.sqrt(bars) * target.bar_sd * shocks, bars
    leak = np.full((T, N), np.nan)
    leak[:-1] = y[1:]
    return leak, 0


def _frame(features: dict[str, F32], targets: dict[str, F64], T: int, N: int) -> pl.DataFrame:
    """The long frame: symbol, timestamp (business days from 2015-01-01), the features
    in name order, then the targets in design order."""
    days = np.busday_offset(np.datetime64("2015-01-01", "D"), np.arange(T), roll="forward")
    sym_width = max(3, len(str(N - 1)))
    symbols = [f"S{i:0{sym_width}d}" for i in range(N)]
    data: list[pl.Series] = [
        pl.Series("symbol", np.tile(np.asarray(symbols), T), dtype=pl.String),
        pl.Series("timestamp", np.repeat(days.astype("datetime64[us]"), N)),
    ]
    data.extend(pl.Series(name, features[name].reshape(-1)) for name in sorted(features))
    data.extend(pl.Series(name, values.reshape(-1)) for name, values in targets.items())
    return pl.DataFrame(data)


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
