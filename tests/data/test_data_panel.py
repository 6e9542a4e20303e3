"""Panel layout, methods and fingerprint."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime

import numpy as np
import polars as pl
import pytest

from panelml.data import DataConfig, DataError, Panel, make_panel, panel_from_frame
from panelml.data.timestamps import decode_timestamps


@pytest.fixture
def panel(frame: pl.DataFrame) -> Panel:
    return panel_from_frame(frame, DataConfig(path="<frame>"))


def test_layout(panel: Panel, frame: pl.DataFrame) -> None:
    assert panel.X.dtype == np.float32 and panel.X.flags["C_CONTIGUOUS"]
    assert panel.X.shape == (24, 2) and panel.feature_names == ("a", "b")
    assert panel.timestamps.dtype == np.int64 and panel.symbol_codes.dtype == np.int32
    assert all(v.dtype == np.float64 for v in panel.targets.values())
    assert panel.symbols == ("S0", "S1", "S2", "S3")
    # sorted by (timestamp, symbol)
    keys = list(zip(panel.timestamps.tolist(), panel.symbol_codes.tolist(), strict=True))
    assert keys == sorted(keys)
    # the values travel with their rows
    row = frame.filter((pl.col("symbol") == "S2") & (pl.col("timestamp") == datetime(2021, 1, 3)))
    at = np.flatnonzero(
        (panel.symbol_codes == 2)
        & (panel.timestamps == np.datetime64("2021-01-03", "ns").astype(np.int64))
    )
    assert at.size == 1
    assert panel.X[at[0], 0] == np.float32(row["a"][0])
    assert panel.target("fwd_ret_2")[at[0]] == row["fwd_ret_2"][0]
    assert panel.horizons == {"fwd_ret_2": 2, "y_up": 1}


def test_timestamp_index_and_uniques(panel: Panel) -> None:
    assert panel.n_timestamps == 6
    assert panel.timestamp_index.tolist() == [t for t in range(6) for _ in range(4)]
    np.testing.assert_array_equal(panel.unique_timestamps[panel.timestamp_index], panel.timestamps)


def test_feature_access(panel: Panel) -> None:
    assert panel.feature_indices(["b", "a"]).tolist() == [1, 0]
    sub = panel.feature_matrix(["b"])
    assert sub.flags["C_CONTIGUOUS"] and sub.dtype == np.float32
    np.testing.assert_array_equal(sub[:, 0], panel.X[:, 1])
    with pytest.raises(DataError, match=r"feature 'c' is not in the panel loaded from <frame>"):
        panel.feature_indices(["c"])
    with pytest.raises(DataError, match=r"target 'fwd_ret' .*did you mean 'fwd_ret_2'"):
        panel.target("fwd_ret")


def test_select_rows_keeps_order_and_symbols(panel: Panel) -> None:
    sub = panel.select_rows(np.array([20, 3, 3, 0]))
    assert sub.n_rows == 3
    np.testing.assert_array_equal(sub.timestamps, panel.timestamps[[0, 3, 20]])
    assert sub.symbols == panel.symbols
    assert sub.fingerprint != panel.fingerprint
    mask = panel.timestamp_index < 3
    first_half = panel.select_rows(mask)
    assert first_half.n_timestamps == 3 and first_half.n_rows == 12
    assert panel.select_rows(np.ones(panel.n_rows, dtype=bool)).fingerprint == panel.fingerprint


def test_to_frame_round_trip(panel: Panel, frame: pl.DataFrame) -> None:
    out = panel.to_frame()
    assert out.columns == ["symbol", "timestamp", "a", "b", "fwd_ret_2", "y_up"]
    assert out.schema["timestamp"] == pl.Datetime("us")
    again = panel_from_frame(out, DataConfig(path="<frame>"))
    assert again.fingerprint == panel.fingerprint
    expected = frame.sort("timestamp", "symbol")
    assert out["timestamp"].to_list() == expected["timestamp"].to_list()
    assert out["symbol"].to_list() == expected["symbol"].to_list()
    assert panel.to_frame(["y_up", "a"]).columns == ["symbol", "timestamp", "a", "y_up"]
    with pytest.raises(DataError, match="column 'zz' is neither a feature nor a target"):
        panel.to_frame(["zz"])


@pytest.mark.parametrize(
    ("series", "dtype"),
    [
        (pl.Series("t", [datetime(2020, 1, 1, 9, 30), datetime(2021, 6, 1)]), "datetime[us]"),
        (
            pl.Series("t", [datetime(2020, 1, 1)], dtype=pl.Datetime("ms", "Europe/Paris")),
            "datetime[ms, Europe/Paris]",
        ),
        (
            pl.Series("t", [datetime(2020, 1, 1, 0, 0, 0, 1)], dtype=pl.Datetime("ns")),
            "datetime[ns]",
        ),
        (pl.Series("t", [date(1999, 12, 31), date(2020, 2, 29)]), "date"),
        (pl.Series("t", [3, 1], dtype=pl.Int32), "int32"),
    ],
)
def test_timestamp_types_round_trip(series: pl.Series, dtype: str) -> None:
    symbols = [f"S{i}" for i in range(series.len())]
    frame = pl.DataFrame(
        {
            "symbol": symbols,
            "timestamp": series.alias("timestamp"),
            "x": 1.0,
            "y_1": [0.5, 1.5][: series.len()] if series.len() > 1 else [0.5],
        }
    )
    frame = pl.concat([frame, frame.with_columns(pl.col("symbol") + "b", pl.col("y_1") + 1)])
    panel = panel_from_frame(frame, DataConfig(path="<frame>", targets=["y_1"]))
    assert panel.timestamp_dtype == dtype
    back = panel.timestamps_as_series()
    assert back.dtype == series.dtype
    assert sorted(back.to_list()) == sorted(frame["timestamp"].to_list())
    assert decode_timestamps(panel.timestamps, dtype).dtype == series.dtype


def test_fingerprint_changes_with_one_value(panel: Panel) -> None:
    X = panel.X.copy()
    X[5, 1] = np.nextafter(X[5, 1], np.float32(np.inf))
    fields = {
        "feature_names": panel.feature_names,
        "targets": panel.targets,
        "horizons": panel.horizons,
        "target_kinds": panel.target_kinds,
        "timestamps": panel.timestamps,
        "symbol_codes": panel.symbol_codes,
        "symbols": panel.symbols,
        "timestamp_dtype": panel.timestamp_dtype,
    }
    same = Panel.build(X=panel.X.copy(), **fields)  # type: ignore[arg-type]
    assert same.fingerprint == panel.fingerprint
    assert Panel.build(X=X, **fields).fingerprint != panel.fingerprint  # type: ignore[arg-type]
    target = panel.targets["fwd_ret_2"].copy()
    target[0] += 1e-12
    changed = {**fields, "targets": {**panel.targets, "fwd_ret_2": target}}
    assert Panel.build(X=panel.X, **changed).fingerprint != panel.fingerprint  # type: ignore[arg-type]
    assert (
        Panel.build(X=panel.X, **{**fields, "horizons": {"fwd_ret_2": 3, "y_up": 1}}).fingerprint
        != panel.fingerprint
    )  # type: ignore[arg-type]
    renamed = {**fields, "feature_names": ("a", "c")}
    assert Panel.build(X=panel.X, **renamed).fingerprint != panel.fingerprint  # type: ignore[arg-type]


def test_fingerprint_stable_across_processes() -> None:
    code = (
        "from panelml.data import make_panel;"
        "print(make_panel(n_symbols=5, n_timestamps=40, seed=3).to_panel().fingerprint)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    here = make_panel(n_symbols=5, n_timestamps=40, seed=3).to_panel().fingerprint
    assert out == here and len(here) == 64


def test_fingerprint_of_large_matrix_uses_chunks_deterministically() -> None:
    rng = np.random.default_rng(1)
    n = 300_000  # 300k x 16 float32 = 19 MB: more than one 16 MiB chunk
    X = rng.standard_normal((n, 16), dtype=np.float32)
    args = {
        "feature_names": [f"f{i}" for i in range(16)],
        "targets": {"y": rng.standard_normal(n)},
        "horizons": {"y": 1},
        "target_kinds": {"y": "regression"},
        "timestamps": np.arange(n, dtype=np.int64),
        "symbol_codes": np.zeros(n, dtype=np.int32),
        "symbols": ["A"],
    }
    first = Panel.build(X=X, **args).fingerprint  # type: ignore[arg-type]
    assert Panel.build(X=X.copy(), **args).fingerprint == first  # type: ignore[arg-type]
    X[-1, -1] += 1
    assert Panel.build(X=X, **args).fingerprint != first  # type: ignore[arg-type]
