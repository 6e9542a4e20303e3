"""load_panel from every kind of source, and file errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from panelml.data import DataConfig, DataError, Panel, load_panel, panel_from_frame


def assert_same_panel(panel: Panel, reference: Panel) -> None:
    """Same content, hence the same fingerprint."""
    assert panel.feature_names == reference.feature_names
    assert panel.symbols == reference.symbols
    assert panel.target_names == reference.target_names
    np.testing.assert_array_equal(panel.timestamps, reference.timestamps)
    np.testing.assert_array_equal(panel.symbol_codes, reference.symbol_codes)
    np.testing.assert_array_equal(panel.X, reference.X)
    for name in reference.targets:
        np.testing.assert_array_equal(panel.target(name), reference.target(name))
    assert panel.fingerprint == reference.fingerprint


@pytest.fixture
def reference(frame: pl.DataFrame) -> Panel:
    return panel_from_frame(frame, DataConfig(path="<frame>"))


def test_one_parquet_file(tmp_path: Path, frame: pl.DataFrame, reference: Panel) -> None:
    frame.write_parquet(tmp_path / "panel.parquet")
    panel = load_panel(DataConfig(path="panel.parquet"), base_dir=tmp_path)
    assert_same_panel(panel, reference)
    assert panel.source == str(tmp_path / "panel.parquet")
    assert panel.timestamp_dtype == "datetime[us]"


def test_folder_of_parquet_files(tmp_path: Path, frame: pl.DataFrame, reference: Panel) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.head(10).write_parquet(folder / "a.parquet")
    frame.slice(10).write_parquet(folder / "b.parquet")
    (folder / "_SUCCESS").write_text("")
    panel = load_panel(DataConfig(path=str(folder)))
    assert_same_panel(panel, reference)


def test_hive_partitions_nested(tmp_path: Path, frame: pl.DataFrame, reference: Panel) -> None:
    for (symbol,), part in frame.group_by("symbol"):
        where = tmp_path / "data" / "interval=1d" / f"symbol={symbol}"
        where.mkdir(parents=True)
        part.drop("symbol").write_parquet(where / "0.parquet")
    panel = load_panel(DataConfig(path="data"), base_dir=tmp_path)
    assert_same_panel(panel, reference)
    # the partition column 'interval' is read but is never a default feature
    assert "interval" not in panel.feature_names


def test_numeric_hive_partition_is_not_a_default_feature(
    tmp_path: Path, frame: pl.DataFrame
) -> None:
    for (symbol,), part in frame.group_by("symbol"):
        where = tmp_path / "year=2021" / f"symbol={symbol}"
        where.mkdir(parents=True)
        part.drop("symbol").write_parquet(where / "0.parquet")
    panel = load_panel(DataConfig(path=str(tmp_path)))
    assert panel.feature_names == ("a", "b")
    explicit = load_panel(DataConfig(path=str(tmp_path), features=["a", "year"]))
    assert explicit.feature_names == ("a", "year")
    assert np.all(explicit.feature_matrix(["year"]) == 2021)


def test_glob(tmp_path: Path, frame: pl.DataFrame, reference: Panel) -> None:
    for i, part in enumerate(frame.iter_slices(7)):
        part.write_parquet(tmp_path / f"chunk_{i}.parquet")
    (tmp_path / "notes.txt").write_text("not data")
    panel = load_panel(DataConfig(path="chunk_*.parquet"), base_dir=tmp_path)
    assert_same_panel(panel, reference)


def test_glob_over_hive_folders(tmp_path: Path, frame: pl.DataFrame, reference: Panel) -> None:
    for (symbol,), part in frame.group_by("symbol"):
        where = tmp_path / f"symbol={symbol}"
        where.mkdir()
        part.drop("symbol").write_parquet(where / "0.parquet")
    panel = load_panel(DataConfig(path=str(tmp_path / "*" / "*.parquet")))
    assert_same_panel(panel, reference)


def test_csv(tmp_path: Path, frame: pl.DataFrame, reference: Panel) -> None:
    frame.write_csv(tmp_path / "panel.csv")
    panel = load_panel(DataConfig(path="panel.csv"), base_dir=tmp_path)
    assert panel.timestamp_dtype.startswith("datetime[")
    np.testing.assert_array_equal(panel.timestamps, reference.timestamps)
    np.testing.assert_allclose(panel.X, reference.X, rtol=1e-6)
    np.testing.assert_allclose(panel.target("fwd_ret_2"), reference.target("fwd_ret_2"))
    assert panel.target_kinds == reference.target_kinds


def test_csv_dates_and_int_symbols(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text(
        "symbol,date,x,fwd_ret_1\n10,2020-01-02,1.0,0.5\n2,2020-01-02,2.0,0.1\n"
        "10,2020-01-01,3.0,0.2\n2,2020-01-01,inf,0.3\n"
    )
    panel = load_panel(DataConfig(path=str(tmp_path / "p.csv"), timestamp_column="date"))
    assert panel.timestamp_dtype == "date"
    assert panel.symbols == ("10", "2")
    assert panel.report.infinite_values == {"x": 1}
    out = panel.to_frame()
    assert out["date"].dtype == pl.Date
    assert out["symbol"].to_list() == ["10", "2", "10", "2"]
    assert out["x"][1] is None or np.isnan(out["x"][1])


def test_folder_of_csv_files(tmp_path: Path, frame: pl.DataFrame, reference: Panel) -> None:
    frame.head(12).write_csv(tmp_path / "a.csv")
    frame.slice(12).write_csv(tmp_path / "b.csv")
    panel = load_panel(DataConfig(path=str(tmp_path)))
    np.testing.assert_array_equal(panel.symbol_codes, reference.symbol_codes)
    np.testing.assert_allclose(panel.X, reference.X, rtol=1e-6)


def test_reads_only_needed_columns(tmp_path: Path, frame: pl.DataFrame) -> None:
    frame.write_parquet(tmp_path / "p.parquet")
    panel = load_panel(DataConfig(path=str(tmp_path / "p.parquet"), features=["b"]))
    assert panel.feature_names == ("b",)
    assert panel.to_frame().columns == ["symbol", "timestamp", "b", "fwd_ret_2", "y_up"]


def test_missing_file_names_resolved_path(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_panel(DataConfig(path="nope/panel.parquet"), base_dir=tmp_path)
    message = str(info.value)
    assert f"the data file {tmp_path / 'nope' / 'panel.parquet'} does not exist" in message
    assert f"resolved against {tmp_path}" in message


def test_glob_that_matches_nothing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no files match the glob .*\*.parquet"):
        load_panel(DataConfig(path=str(tmp_path / "*.parquet")))


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"the folder .* holds no parquet or CSV files"):
        load_panel(DataConfig(path=str(tmp_path)))


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_text("this is not parquet")
    with pytest.raises(DataError) as info:
        load_panel(DataConfig(path=str(tmp_path / "bad.parquet")))
    message = str(info.value)
    assert f"cannot read {tmp_path / 'bad.parquet'} as parquet" in message
    assert "set data.format to 'csv'" in message


def test_schema_error_names_file(tmp_path: Path, frame: pl.DataFrame) -> None:
    frame.write_parquet(tmp_path / "p.parquet")
    with pytest.raises(DataError, match=r"symbol column 'ticker' .* is not in .*p.parquet"):
        load_panel(DataConfig(path=str(tmp_path / "p.parquet"), symbol_column="ticker"))
