"""Shared price panels for the feature tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest


def random_walk_panel(
    n_bars: int = 260, symbols: str = "ABCD", seed: int = 0, ohlcv: bool = True
) -> pl.DataFrame:
    """A long-format random-walk panel; D starts late and B misses a few bars."""
    rng = np.random.default_rng(seed)
    start = datetime(2020, 1, 1)
    frames = []
    for j, sym in enumerate(symbols):
        first = 40 if sym == "D" else 0
        t = np.arange(first, n_bars)
        if sym == "B":
            t = np.setdiff1d(t, [100, 101, 180])
        close = 50.0 * (j + 1) * np.exp(np.cumsum(rng.normal(0.0, 0.02, t.size)))
        data: dict[str, object] = {
            "symbol": [sym] * t.size,
            "timestamp": [start + timedelta(days=int(i)) for i in t],
            "close": close,
        }
        if ohlcv:
            spread = np.exp(np.abs(rng.normal(0.0, 0.01, t.size)))
            data["open"] = close * np.exp(rng.normal(0.0, 0.005, t.size))
            data["high"] = np.maximum(close, data["open"]) * spread  # type: ignore[call-overload]
            data["low"] = np.minimum(close, data["open"]) / spread  # type: ignore[call-overload]
            data["volume"] = rng.integers(0, 10_000, t.size).astype(np.float64)
        frames.append(pl.DataFrame(data))
    # shuffle rows: the builder must not rely on the input order
    return pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=seed)


@pytest.fixture(scope="session")
def make_panel() -> Callable[..., pl.DataFrame]:
    return random_walk_panel


@pytest.fixture(scope="session")
def panel() -> pl.DataFrame:
    return random_walk_panel()
