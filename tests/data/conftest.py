"""Small panels shared by the data tests."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from panelml.data import DataConfig


def small_frame(n_symbols: int = 4, n_times: int = 6, seed: int = 0) -> pl.DataFrame:
    """A long-format frame with two features, two targets and a string column,
    in shuffled row order (loading must sort it)."""
    rng = np.random.default_rng(seed)
    rows = n_symbols * n_times
    frame = pl.DataFrame(
        {
            "symbol": np.repeat([f"S{i}" for i in range(n_symbols)], n_times),
            "timestamp": [
                datetime(2021, 1, 1) + timedelta(days=int(d))
                for d in np.tile(np.arange(n_times), n_symbols)
            ],
            "a": rng.standard_normal(rows),
            "b": rng.standard_normal(rows).astype(np.float32),
            "sector": np.repeat(["tech", "energy"], rows // 2),
            "fwd_ret_2": rng.standard_normal(rows),
            "y_up": rng.integers(0, 2, rows).astype(np.int64),
        }
    )
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


@pytest.fixture
def frame() -> pl.DataFrame:
    return small_frame()


@pytest.fixture
def cfg() -> DataConfig:
    return DataConfig(path="data.parquet")
