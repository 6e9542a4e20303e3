"""Every data check fails (or warns) with a message naming what, where and the fix."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
import pytest

from panelml.data import DataConfig, DataError, panel_from_frame


def _cfg(**kwargs: object) -> DataConfig:
    return DataConfig(path="x.parquet", **kwargs)  # type: ignore[arg-type]


def test_missing_symbol_column_lists_columns_and_suggests(frame: pl.DataFrame) -> None:
    renamed = frame.rename({"symbol": "Symbol"})
    with pytest.raises(DataError) as info:
        panel_from_frame(renamed, _cfg(), source="prices.parquet")
    message = str(info.value)
    assert "symbol column 'symbol' (data.symbol_column) is not in prices.parquet" in message
    assert "did you mean 'Symbol'?" in message
    assert "available columns: Symbol, timestamp, a" in message
    assert "set data.symbol_column" in message


def test_missing_timestamp_column(frame: pl.DataFrame) -> None:
    with pytest.raises(DataError, match=r"timestamp column 'time' \(data.timestamp_column\)"):
        panel_from_frame(frame, _cfg(timestamp_column="time"))


def test_duplicate_rows_counted_with_an_example(frame: pl.DataFrame) -> None:
    doubled = pl.concat([frame, frame.head(3)])
    with pytest.raises(DataError) as info:
        panel_from_frame(doubled, _cfg(), source="p.csv")
    message = str(info.value)
    assert "p.csv has 3 duplicate (symbol, timestamp) row(s)" in message
    assert "for example symbol 'S" in message and "2021-01-0" in message
    assert "keep one row per symbol and timestamp" in message


def test_null_keys_are_counted(frame: pl.DataFrame) -> None:
    broken = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 2).then(None).otherwise(pl.col("symbol")).alias("symbol")
    )
    with pytest.raises(DataError, match=r"column 'symbol' in <frame> has 2 missing value\(s\)"):
        panel_from_frame(broken, _cfg())
    no_time = frame.with_columns(pl.lit(None, dtype=pl.Datetime).alias("timestamp"))
    with pytest.raises(DataError, match=r"'timestamp' in <frame> has 24 missing"):
        panel_from_frame(no_time, _cfg())


def test_no_target_matched_shows_patterns_and_columns(frame: pl.DataFrame) -> None:
    with pytest.raises(DataError) as info:
        panel_from_frame(frame, _cfg(targets=["label_*"]))
    message = str(info.value)
    assert "no column of <frame> matches data.targets ['label_*']" in message
    assert "available columns: a, b, sector, fwd_ret_2, y_up" in message


def test_explicit_target_that_does_not_exist(frame: pl.DataFrame) -> None:
    with pytest.raises(DataError, match=r"target 'fwd_ret2' named in data.targets.*'fwd_ret_2'"):
        panel_from_frame(frame, _cfg(targets=["fwd_ret2"]))


def test_non_numeric_target(frame: pl.DataFrame) -> None:
    with pytest.raises(DataError, match=r"target column 'sector' in <frame> has type String"):
        panel_from_frame(frame, _cfg(targets=["sector", "fwd_*"]))


def test_no_features_left(frame: pl.DataFrame) -> None:
    with pytest.raises(DataError) as info:
        panel_from_frame(frame, _cfg(exclude=["a", "b"]))
    assert "no feature columns are left in <frame>" in str(info.value)
    assert "data.exclude" in str(info.value)


def test_explicit_non_numeric_feature(frame: pl.DataFrame) -> None:
    with pytest.raises(DataError, match=r"feature 'sector' named in data.features has type String"):
        panel_from_frame(frame, _cfg(features=["a", "sector"]))


def test_explicit_missing_feature_suggests(frame: pl.DataFrame) -> None:
    with pytest.raises(DataError, match=r"feature 'aa' named in data.features.*did you mean 'a'"):
        panel_from_frame(frame, _cfg(features=["aa"]))


def test_explicit_feature_that_is_a_target(frame: pl.DataFrame) -> None:
    with pytest.raises(DataError, match=r"feature 'fwd_ret_2' .* is a target"):
        panel_from_frame(frame, _cfg(features=["a", "fwd_ret_2"]))


def test_glob_features_skip_non_numeric_with_a_warning(frame: pl.DataFrame) -> None:
    panel = panel_from_frame(frame, _cfg(features=["*"]))
    assert panel.feature_names == ("a", "b")
    assert any("'sector' matches data.features" in w for w in panel.report.warnings)


def test_constant_and_empty_targets_are_dropped_with_warnings(frame: pl.DataFrame) -> None:
    data = frame.with_columns(
        pl.lit(0.5).alias("fwd_const_1"), pl.lit(None, dtype=pl.Float64).alias("fwd_empty_1")
    )
    panel = panel_from_frame(data, _cfg())
    assert set(panel.targets) == {"fwd_ret_2", "y_up"}
    assert panel.report.dropped_targets == {
        "fwd_const_1": "constant (every value is 0.5)",
        "fwd_empty_1": "every value is missing",
    }
    assert "target 'fwd_const_1' dropped: constant (every value is 0.5)" in panel.report.warnings
    with pytest.raises(DataError, match=r"dropped while loading: every value is missing"):
        panel.target("fwd_empty_1")


def test_all_targets_dropped_is_an_error(frame: pl.DataFrame) -> None:
    data = frame.with_columns(pl.lit(1.0).alias("fwd_ret_2"), pl.lit(0).alias("y_up"))
    with pytest.raises(DataError) as info:
        panel_from_frame(data, _cfg())
    assert "every target in <frame> was dropped" in str(info.value)
    assert "fwd_ret_2: constant (every value is 1)" in str(info.value)


def test_infinite_values_become_missing_and_are_counted(frame: pl.DataFrame) -> None:
    data = frame.with_columns(
        pl.when(pl.col("symbol") == "S0").then(np.inf).otherwise(pl.col("a")).alias("a"),
        pl.when(pl.col("symbol") == "S1")
        .then(-np.inf)
        .otherwise(pl.col("fwd_ret_2"))
        .alias("fwd_ret_2"),
    )
    panel = panel_from_frame(data, _cfg())
    assert panel.report.infinite_values == {"a": 6, "fwd_ret_2": 6}
    assert np.isnan(panel.X[:, 0]).sum() == 6 and np.isfinite(panel.X[:, 1]).all()
    assert np.isnan(panel.target("fwd_ret_2")).sum() == 6
    assert "6 infinite value(s) in 'a' treated as missing" in panel.report.warnings


def test_binary_detection_and_explicit_binary_targets(frame: pl.DataFrame) -> None:
    panel = panel_from_frame(frame, _cfg())
    assert panel.target_kinds == {"fwd_ret_2": "regression", "y_up": "binary"}
    explicit = panel_from_frame(frame, _cfg(binary_targets=["fwd_*"], targets=["y_up"]))
    assert explicit.target_kinds == {"y_up": "regression"}  # not listed -> regression
    with pytest.raises(DataError, match=r"'fwd_ret_2' in <frame> matches data.binary_targets"):
        panel_from_frame(frame, _cfg(binary_targets=["fwd_*"]))


def test_bad_timestamp_type(frame: pl.DataFrame) -> None:
    data = frame.with_columns(pl.col("timestamp").cast(pl.String))
    with pytest.raises(DataError, match=r"timestamp column 'timestamp' in <frame> has type String"):
        panel_from_frame(data, _cfg())


def test_empty_frame(frame: pl.DataFrame) -> None:
    with pytest.raises(DataError, match="<frame> has no rows"):
        panel_from_frame(frame.head(0), _cfg())


def test_horizon_error_names_the_target() -> None:
    data = pl.DataFrame(
        {
            "symbol": ["A", "B"],
            "timestamp": [datetime(2020, 1, 1)] * 2,
            "x": [1.0, 2.0],
            "fwd_ret_7m": [0.1, 0.2],
        }
    )
    with pytest.raises(DataError, match="target 'fwd_ret_7m' has a horizon of 7m"):
        panel_from_frame(data, _cfg(bar_interval="5m"))
    panel = panel_from_frame(data, _cfg(bar_interval="1m"))
    assert panel.horizons == {"fwd_ret_7m": 7}


def test_data_error_is_a_user_error() -> None:
    from panelml.pipeline.errors import UserError

    assert issubclass(DataError, UserError) and issubclass(DataError, ValueError)
