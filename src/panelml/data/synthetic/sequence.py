"""The planted sequence signal of ``make_panel(sequence_bars=k)``.

One extra feature ``z`` (i.i.d. N(0, 1) per symbol and bar, no persistence) and
one extra horizon-1 regression target ``path_ret_1`` whose signal is the path of
``z`` over the ``k - 1`` bars before the current one:

    s[t] = (z[t-1] + ... + z[t-k+1]) / sqrt(k - 1)
    y[t] = strength * s[t] + sqrt(1 - strength**2) * eps[t]

Everything in ``s[t]`` is known at t, but none of it is in any single bar's
features: ``z[t]`` and every other feature at t are independent of ``y[t]``, so a
model that reads one bar (``mlp``, trees) has a population IC of 0, while a
model that reads the symbol's last ``k`` bars (``gru`` with ``lookback >= k``)
can reach ``strength``. The first ``k - 1`` bars of each symbol and its last bar
have no target. The truth records the feature, the lags (1 .. k-1) and the
strength (form ``sequence``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from panelml.data.synthetic.truth import PlantedTarget

TARGET = "path_ret_1"


def sequence_signal(
    T: int, N: int, bars: int, strength: float, feature: str, seed: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], PlantedTarget]:
    """(feature values (T, N) float32, target values (T, N) float64, its truth)."""
    if bars < 2 or bars >= T - 1:
        raise ValueError("sequence_bars must be at least 2 and below n_timestamps - 1")
    if not 0.0 < strength < 1.0:
        raise ValueError("sequence_strength must lie in (0, 1)")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    z = rng.standard_normal((T, N))
    eps = rng.standard_normal((T, N))
    s = np.full((T, N), np.nan)
    lagged = np.zeros((T - bars + 1, N))
    for lag in range(1, bars):
        lagged += z[bars - 1 - lag : T - lag]
    s[bars - 1 :] = lagged / math.sqrt(bars - 1)
    y = strength * s + math.sqrt(1.0 - strength**2) * eps
    y[-1] = np.nan
    rank_ic = 6.0 / math.pi * math.asin(strength / 2.0)
    truth = PlantedTarget(
        name=TARGET,
        horizon=1,
        kind="regression",
        form="sequence",
        strength=strength,
        expected_rank_ic=rank_ic,
        signal_features=(feature,),
        feature_rank_ic={feature: 0.0},
        lags=tuple(range(1, bars)),
    )
    return z.astype(np.float32), y, truth
