"""The hard-case panel: strong genuine predictors next to leaks of five kinds.

Built by ``make_panel(hard_cases=True)`` (or :func:`make_hard_panel`). It exists
so that the leakage screen, the ranking and feature selection are tested on the
cases that tell an honest method from a flattering one. The design is in
:mod:`panelml.data.synthetic.hard_design`; in short (default 60 symbols x 400
business days, 35 features ``feat_NN``, 10 targets):

* volatility block: 4 trailing realised volatilities (windows 1, 5, 20, 60; the
  20 and 60 windows have rank IC about 0.6-0.7 with ``fwd_vol_5`` /
  ``fwd_vol_20`` and persistence >= 0.98; the 1-bar one, ``|r[t]|``, is a strong
  non-persistent genuine predictor) and the targets ``fwd_vol_5``, ``fwd_vol_20``.
  The 5- and 20-bar trailing vols *are* ``fwd_vol_5`` / ``fwd_vol_20`` lagged by
  exactly h bars (``GroundTruth.past_labels``): labels whose window has closed,
  known at t, as on real prices, where a shifted-copy check must stop at lag h-1;
* return block: 12 Gaussian AR(1) signal features (persistence 0 .. 0.97) and
  targets ``fwd_ret_1`` (one dominant non-persistent feature), ``fwd_ret_2``
  (a strong non-persistent feature, IC about 0.28), ``fwd_ret_5`` (three
  features), ``fwd_ret_10`` (one dominant persistent feature), ``fwd_sq_5``
  (a square term), ``fwd_int_10`` (a product plus a linear term), and two
  noise targets
  ``fwd_noise_5``, ``fwd_noise_20``; noise in every target is Student-t3;
* 12 AR(1) noise features (half with t3 innovations) and 2 trailing volatilities
  of an unrelated return stream (persistent, vol-like, unrelated to every target);
* missing values (``missing_rate``, default 0.02 of legitimate feature values);
* ragged symbols (``ragged_share``, default 0.2): half of them start late (their
  trailing windows fill up from their first bar), half end early (their last
  targets are NaN where the window passes the end); their rows outside the life
  are absent;
* leaks (``leaks=True``): ``noisy_copy`` of ``fwd_noise_20``, ``lagged_label``
  y[t-2] of ``fwd_ret_5``, ``partial_window`` (first 2 bars) of ``fwd_sq_5``,
  ``full_window`` of ``fwd_int_10``, ``mixed`` (50/50 with the persistent genuine
  feature) of ``fwd_ret_10``; see :class:`~panelml.data.synthetic.truth.PlantedLeak`.

Every genuine feature at t is a function of shocks up to t only. Every random
draw is time-major from its own stream, so with ``ragged_share=0`` a shorter
panel of the same seed has exactly the same feature values on its bars.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.data.synthetic import hard_design as hd
from panelml.data.synthetic.design import calibrate
from panelml.data.synthetic.truth import (
    GroundTruth,
    LeakKind,
    PlantedLeak,
    PlantedTarget,
    PlantedTerm,
    measured_rank_ic,
    term_values,
)

F64 = npt.NDArray[np.float64]
_NAME_SEED = 104_729
_STREAM_KEY = 11
_N_VOL = len(hd.VOL_WINDOWS)
_N_SIG = len(hd.SIGNAL_PHIS)
_N_NOISE = len(hd.NOISE_PHIS)
_N_LEGIT = _N_VOL + _N_SIG + _N_NOISE + hd.N_NOISE_VOL
_N_SLOTS = _N_LEGIT + len(hd.LEAK_PLAN)


def _names() -> list[str]:
    """Role position -> neutral name (a fixed, seed-independent shuffle)."""
    shuffle = np.random.default_rng(_NAME_SEED).permutation(_N_SLOTS)
    return [f"feat_{int(k):02d}" for k in shuffle]


def _lives(
    rng: np.random.Generator, n_bars: int, n_symbols: int, share: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """First bar and one-past-last bar of each symbol (ragged ones differ)."""
    order = rng.permutation(n_symbols)
    start_at = rng.uniform(0.1, 1 / 3, n_symbols)
    end_at = rng.uniform(2 / 3, 0.9, n_symbols)
    n_ragged = round(share * n_symbols)
    late, early = order[: (n_ragged + 1) // 2], order[(n_ragged + 1) // 2 : n_ragged]
    start = np.zeros(n_symbols, dtype=np.int64)
    end = np.full(n_symbols, n_bars, dtype=np.int64)
    start[late] = (start_at[late] * n_bars).astype(np.int64)
    end[early] = (end_at[early] * n_bars).astype(np.int64)
    return start, end


def make_hard_panel(
    *,
    n_symbols: int = 60,
    n_timestamps: int = 400,
    leaks: bool = True,
    missing_rate: float = 0.02,
    ragged_share: float = 0.2,
    noise_scale: float = 0.01,
    seed: int = 0,
) -> tuple[pl.DataFrame, GroundTruth]:
    """The hard-case frame and its truth (module docstring). Deterministic."""
    if n_symbols < 10 or n_timestamps < 100:
        raise ValueError("the hard-case panel needs at least 10 symbols and 100 timestamps")
    if not 0.0 <= missing_rate < 1.0 or not 0.0 <= ragged_share <= 0.5:
        raise ValueError("missing_rate must lie in [0, 1) and ragged_share in [0, 0.5]")
    T, N, B = n_timestamps, n_symbols, hd.BURN_IN
    names = _names()
    vol_names = names[:_N_VOL]
    sig_names = names[_N_VOL : _N_VOL + _N_SIG]
    noise_names = names[_N_VOL + _N_SIG : _N_LEGIT]
    leak_names = names[_N_LEGIT:]

    seq = np.random.SeedSequence([seed, _STREAM_KEY])
    (
        vol_seq,
        noise_vol_seq,
        sig_seq,
        noise_seq,
        heavy_seq,
        target_seq,
        leak_seq,
        miss_seq,
        life_seq,
    ) = seq.spawn(9)
    start, end = _lives(np.random.default_rng(life_seq), T, N, ragged_share)
    bar = np.arange(T)[:, None]
    alive = (bar >= start[None, :]) & (bar < end[None, :])
    # bars before a symbol's first bar do not exist: mask them (burn-in included)
    alive_b = np.vstack([np.broadcast_to(start[None, :] == 0, (B, N)), alive])

    columns: dict[str, F64] = {}
    returns, _ = hd.vol_block(vol_seq, T + B, N)
    returns = np.where(alive_b, returns, np.nan)
    for name, window in zip(vol_names, hd.VOL_WINDOWS, strict=True):
        columns[name] = hd.trailing_vol(returns, window)[B:]
    for k, nseq in enumerate(noise_vol_seq.spawn(hd.N_NOISE_VOL)):
        other, _ = hd.vol_block(nseq, T + B, N)
        columns[names[_N_VOL + _N_SIG + _N_NOISE + k]] = hd.trailing_vol(
            np.where(alive_b, other, np.nan), 20
        )[B:]
    signal = hd.ar1(
        np.random.default_rng(sig_seq).standard_normal((T, N, _N_SIG)), np.asarray(hd.SIGNAL_PHIS)
    )
    for i, name in enumerate(sig_names):
        columns[name] = signal[:, :, i]
    gauss = np.random.default_rng(noise_seq).standard_normal((T, N, _N_NOISE))
    heavy = hd.t_shocks(np.random.default_rng(heavy_seq), (T, N, _N_NOISE))
    shocks = np.where(np.asarray(hd.NOISE_HEAVY)[None, None, :], heavy, gauss)
    noise = hd.ar1(shocks, np.asarray(hd.NOISE_PHIS))
    for j in range(_N_NOISE):
        columns[noise_names[j]] = noise[:, :, j]
    if missing_rate > 0:
        holes = np.random.default_rng(miss_seq).random((T, N, _N_LEGIT)) < missing_rate
        for k, name in enumerate(names[:_N_LEGIT]):
            columns[name] = np.where(holes[:, :, k], np.nan, columns[name])

    stats = hd.vol_block_stats()
    targets: dict[str, F64] = {}
    planted: dict[str, PlantedTarget] = {}
    for h in hd.VOL_HORIZONS:
        name = f"fwd_vol_{h}"
        targets[name] = hd.forward_vol(returns, h)[B:]
        ic = stats.oracle_rank_ic[h]
        planted[name] = PlantedTarget(
            name=name,
            horizon=h,
            kind="regression",
            form="volatility",
            strength=ic,
            expected_rank_ic=ic,
            signal_features=tuple(vol_names),
            feature_rank_ic={
                f: stats.feature_rank_ic[(w, h)]
                for f, w in zip(vol_names, hd.VOL_WINDOWS, strict=True)
            },
        )

    innovations: dict[str, F64] = {}
    idiosyncratic: dict[str, F64] = {}
    scales: dict[str, tuple[float, float]] = {}
    target_rngs = [np.random.default_rng(s) for s in target_seq.spawn(len(hd.RETURN_TARGETS))]
    for spec, rng in zip(hd.RETURN_TARGETS, target_rngs, strict=True):
        phis = [tuple(hd.SIGNAL_PHIS[i] for i in pos) for _, pos, _ in spec.terms]
        rs = tuple(
            p[0] if f == "linear" else p[0] ** 2 if f == "square" else p[0] * p[1]
            for (f, _, _), p in zip(spec.terms, phis, strict=True)
        )
        shares = tuple(share for _, _, share in spec.terms)
        cal = calibrate(spec.strength, spec.horizon, shares, rs, noise_scale)
        u = np.zeros((T, N))
        for (form, pos, _), a in zip(spec.terms, cal.per_bar, strict=True):
            u[1:] += a * term_values(form, [signal[:-1, :, i] for i in pos])
        market = rng.standard_normal(T)  # a shock common to all symbols
        eps = noise_scale * hd.t_shocks(rng, (T, N))
        u += eps + noise_scale * market[:, None]
        u[0] = 0.0
        u = np.where(bar < end[None, :], u, np.nan)
        y = np.where(bar >= start[None, :], hd.forward_sums(u, spec.horizon), np.nan)
        targets[spec.name], innovations[spec.name] = y, u
        idiosyncratic[spec.name] = eps
        scales[spec.name] = (cal.window_sd, cal.bar_sd)
        if spec.terms:
            forms = tuple(f for f, _, _ in spec.terms)
            ic, per_feature = hd.return_target_rank_ics(
                forms, tuple(phis), cal.per_bar, cal.coefficients, spec.horizon, noise_scale
            )
        else:
            ic, per_feature = 0.0, ()
        feature_ic = {
            sig_names[i]: (v if form == "linear" else 0.0)
            for (form, pos, _), values in zip(spec.terms, per_feature, strict=True)
            for i, v in zip(pos, values, strict=True)
        }
        planted[spec.name] = PlantedTarget(
            name=spec.name,
            horizon=spec.horizon,
            kind="regression",
            form=spec.form,
            strength=spec.strength,
            expected_rank_ic=ic,
            signal_features=tuple(sig_names[i] for _, pos, _ in spec.terms for i in pos),
            terms=tuple(
                PlantedTerm(form, tuple(sig_names[i] for i in pos), a, c, share)
                for (form, pos, share), a, c in zip(
                    spec.terms, cal.per_bar, cal.coefficients, strict=True
                )
            ),
            feature_rank_ic=feature_ic,
        )

    planted_leaks: list[PlantedLeak] = []
    if leaks:
        leak_rngs = [np.random.default_rng(s) for s in leak_seq.spawn(len(hd.LEAK_PLAN))]
        for slot, ((kind, target, param), rng) in enumerate(
            zip(hd.LEAK_PLAN, leak_rngs, strict=True)
        ):
            spec = next(s for s in hd.RETURN_TARGETS if s.name == target)
            values, lag, bars = _leak_values(
                kind,
                param,
                spec,
                targets[target],
                innovations[target],
                idiosyncratic[target],
                signal,
                scales[target],
                noise_scale,
                rng,
            )
            columns[leak_names[slot]] = np.where(alive, values, np.nan)
            planted_leaks.append(
                PlantedLeak(
                    leak_names[slot],
                    target,
                    kind,
                    lag=lag,
                    bars=bars,
                    proof=kind in ("noisy_copy", "lagged_label"),
                )
            )

    frame = _long_frame(columns, targets, alive, T, N)
    persistence = {
        names[i]: float(hd.SIGNAL_PHIS[i - _N_VOL]) for i in range(_N_VOL, _N_VOL + _N_SIG)
    }
    persistence.update(
        {n: stats.persistence[w] for n, w in zip(vol_names, hd.VOL_WINDOWS, strict=True)}
    )
    persistence.update({n: float(p) for n, p in zip(noise_names, hd.NOISE_PHIS, strict=False)})
    persistence.update(dict.fromkeys(noise_names[_N_NOISE:], stats.persistence[20]))
    leaks_measured = tuple(
        PlantedLeak(
            **{
                **leak.__dict__,
                "rank_ic": round(measured_rank_ic(frame, leak.feature, leak.target), 4),
            }
        )
        for leak in planted_leaks
    )
    for leak in leaks_measured:
        persistence[leak.feature] = round(_ic_lag1(columns[leak.feature]), 4)
    used = {f for t in planted.values() if t.predictable for f in t.signal_features}
    symbols = _symbols(N)
    truth = GroundTruth(
        targets=planted,
        leaks=leaks_measured,
        signal_features=tuple(sorted(used)),
        noise_features=tuple(sorted(n for n in names[:_N_LEGIT] if n not in used)),
        persistence=dict(sorted(persistence.items())),
        noise_scale=noise_scale,
        bar_interval="1d",
        seed=seed,
        n_symbols=N,
        n_timestamps=T,
        design="hard",
        past_labels=tuple(
            (vol_names[hd.VOL_WINDOWS.index(h)], f"fwd_vol_{h}", h)
            for h in hd.VOL_HORIZONS
            if h in hd.VOL_WINDOWS
        ),
        entry_exit={
            symbols[i]: (int(start[i]), int(end[i])) for i in range(N) if start[i] > 0 or end[i] < T
        },
    )
    return frame, truth


def _leak_values(
    kind: LeakKind,
    param: float,
    spec: hd.HardTarget,
    y: F64,
    u: F64,
    eps: F64,
    signal: F64,
    scales: tuple[float, float],
    noise_scale: float,
    rng: np.random.Generator,
) -> tuple[F64, int, int]:
    """The values of one leak and its (lag, bars) (kinds: PlantedLeak docstring)."""
    T, N = y.shape
    window_sd, bar_sd = scales
    noise = rng.standard_normal((T, N))
    out = np.full((T, N), np.nan)
    if kind == "noisy_copy":
        return y + param * window_sd * noise, 0, 0
    if kind == "lagged_label":
        lag = int(param)
        out[lag:] = y[:-lag]
        return out, lag, 0
    if kind == "partial_window":
        bars = int(param)
        partial = hd.forward_sums(u, bars)
        return partial + 0.3 * math.sqrt(bars) * bar_sd * noise, 0, bars
    if kind == "full_window":
        shocks = hd.forward_sums(np.where(np.isnan(u), np.nan, eps), spec.horizon)
        base = math.sqrt(spec.horizon) * noise_scale / window_sd  # corr(shocks, y)
        extra = math.sqrt(max((base / param) ** 2 - 1.0, 0.0))
        return shocks + extra * math.sqrt(spec.horizon) * noise_scale * noise, 0, spec.horizon
    bars = int(param)  # mixed: a persistent genuine feature of the target + its window
    genuine = signal[:, :, spec.terms[0][1][0]]
    partial = hd.forward_sums(u, bars) / (math.sqrt(bars) * bar_sd)
    return (genuine + partial) / math.sqrt(2.0), 0, bars


def _symbols(n: int) -> list[str]:
    width = max(3, len(str(n - 1)))
    return [f"S{i:0{width}d}" for i in range(n)]


def _long_frame(
    columns: dict[str, F64], targets: dict[str, F64], alive: npt.NDArray[np.bool_], T: int, N: int
) -> pl.DataFrame:
    """Long frame (time-major, symbols sorted) of the rows where a symbol is alive."""
    keep = alive.reshape(-1)
    days = np.busday_offset(np.datetime64("2015-01-01", "D"), np.arange(T), roll="forward")
    data = [
        pl.Series("symbol", np.tile(np.asarray(_symbols(N)), T)[keep], dtype=pl.String),
        pl.Series("timestamp", np.repeat(days.astype("datetime64[us]"), N)[keep]),
    ]
    data.extend(
        pl.Series(name, columns[name].astype(np.float32).reshape(-1)[keep])
        for name in sorted(columns)
    )
    data.extend(pl.Series(name, values.reshape(-1)[keep]) for name, values in targets.items())
    return pl.DataFrame(data)


def _ic_lag1(grid: F64) -> float:
    """Lag-1 cross-sectional rank autocorrelation of a (time, symbol) grid, using
    the symbols observed at both bars."""
    values = []
    for t in range(1, grid.shape[0]):
        ok = ~(np.isnan(grid[t]) | np.isnan(grid[t - 1]))
        if ok.sum() >= 5:
            values.append(hd.cross_sectional_rank_ic(grid[t][ok][None], grid[t - 1][ok][None]))
    return float(np.mean(values)) if values else float("nan")
