"""Loading a group of columns at a time gives exactly the Panel of a plain
read-sort-convert of the whole frame, whatever the group size and the source."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from panelml.data import DataConfig, DataError, Panel, frames, load_panel, loaders, panel_from_frame
from panelml.data.columns import plan_columns
from panelml.data.frames import FrameColumns, build_panel, column_groups, group_count

TARGETS = ("fwd_ret_1", "fwd_ret_5", "fwd_vol_5", "y_up_1")


def messy_frame(n_symbols: int = 7, n_times: int = 23, seed: int = 3) -> pl.DataFrame:
    """Unsorted rows, nulls, NaNs and infinities in features and targets, a float64
    value beyond float32's range, integer, boolean and float32 features, a mostly
    missing feature and several targets (one binary integer)."""
    rng = np.random.default_rng(seed)
    rows = n_symbols * n_times
    start = datetime(2020, 1, 1)

    def with_gaps(values: npt.NDArray[np.float64], share: float) -> list[float | None]:
        gaps = rng.random(rows) < share
        return [None if gap else float(v) for gap, v in zip(gaps, values, strict=True)]

    f64 = rng.standard_normal(rows)
    f64[[3, 40]] = np.inf
    f64[7] = -np.inf
    f64[11] = np.nan
    f64[60] = 1e39  # beyond float32: set to missing and reported
    f32 = rng.standard_normal(rows).astype(np.float32)
    f32[[5, 90]] = -np.inf
    ret1 = rng.standard_normal(rows)
    ret1[[2, 8]] = np.inf
    data = {
        "symbol": [f"S{i:02d}" for i in np.repeat(np.arange(n_symbols)[::-1], n_times)],
        "timestamp": [
            start + timedelta(hours=int(h)) for h in np.tile(np.arange(n_times), n_symbols)
        ],
        "f_wide": f64,
        "f_narrow": f32,
        "f_gappy": with_gaps(rng.standard_normal(rows), 0.2),
        "f_sparse": with_gaps(rng.standard_normal(rows), 0.8),
        "f_int": [
            None if i % 9 == 0 else int(v) for i, v in enumerate(rng.integers(-50, 50, rows))
        ],
        "f_flag": rng.random(rows) < 0.3,
        "label": np.repeat(["a", "b", "c"], rows // 3 + 1)[:rows],
        "fwd_ret_1": ret1,
        "fwd_ret_5": with_gaps(rng.standard_normal(rows), 0.1),
        "fwd_vol_5": np.abs(rng.standard_normal(rows)),
        "y_up_1": rng.integers(0, 2, rows),
    }
    for j in range(6):
        data[f"f_{j}"] = rng.standard_normal(rows).astype(np.float32)
    schema_overrides = {"f_narrow": pl.Float32, "f_int": pl.Int64}
    frame = pl.DataFrame(data, schema_overrides=schema_overrides)
    # the extra features sit between the others so groups mix column types
    order = ["symbol", "timestamp", "f_0", "f_wide", "f_1", "f_narrow", "f_gappy", "f_2"]
    order += ["f_sparse", "f_3", "f_int", "f_4", "f_flag", "f_5", "label", *TARGETS]
    return frame.select(order).sample(fraction=1.0, shuffle=True, seed=seed)


def _config(**kwargs: object) -> DataConfig:
    return DataConfig(path="<frame>", targets=["fwd_*", "y_up_*"], **kwargs)  # type: ignore[arg-type]


def reference_panel(frame: pl.DataFrame, loaded: Panel) -> Panel:
    """The Panel by the plain route: sort the whole frame, convert it in one go,
    infinities to NaN. Kinds and horizons are metadata, taken from ``loaded``."""
    ordered = frame.sort(["timestamp", "symbol"])
    features = list(loaded.feature_names)
    X = ordered.select(pl.col(n).cast(pl.Float32) for n in features).to_numpy(order="c")
    X = np.array(X, dtype=np.float32, order="C", copy=True)
    X[np.isinf(X)] = np.nan
    targets = {}
    for name in loaded.targets:
        values = np.array(ordered[name].cast(pl.Float64).to_numpy(), dtype=np.float64)
        values[np.isinf(values)] = np.nan
        targets[name] = values
    symbols = sorted(set(frame["symbol"].to_list()))
    codes = np.searchsorted(np.array(symbols), ordered["symbol"].to_numpy()).astype(np.int32)
    stamps = ordered["timestamp"].dt.cast_time_unit("ns").to_physical().to_numpy()
    return Panel.build(
        X=X,
        feature_names=features,
        targets=targets,
        horizons=loaded.horizons,
        target_kinds=loaded.target_kinds,
        timestamps=stamps,
        symbol_codes=codes,
        symbols=symbols,
        timestamp_dtype=loaded.timestamp_dtype,
    )


def assert_identical(panel: Panel, other: Panel) -> None:
    """Same arrays bit for bit (NaN payloads included), names, report and fingerprint."""
    assert panel.feature_names == other.feature_names
    assert panel.symbols == other.symbols
    assert panel.target_names == other.target_names
    assert panel.X.dtype == np.float32 and panel.X.flags.c_contiguous
    assert panel.X.tobytes() == other.X.tobytes()
    assert panel.timestamps.tobytes() == other.timestamps.tobytes()
    assert panel.symbol_codes.tobytes() == other.symbol_codes.tobytes()
    for name in other.targets:
        assert panel.targets[name].tobytes() == other.targets[name].tobytes()
    assert panel.fingerprint == other.fingerprint


def _force_groups(monkeypatch: pytest.MonkeyPatch, columns_per_group: int | None) -> None:
    """``None``: the defaults (a small panel is one group); else groups of about
    ``columns_per_group`` float32 columns of the messy frame."""
    if columns_per_group is None:
        return
    monkeypatch.setattr(frames, "MIN_GROUP_BYTES", columns_per_group * 161 * 4)
    monkeypatch.setattr(frames, "GROUPS", 10_000)


GROUPINGS = [None, 1, 2, 5]


@pytest.mark.parametrize("columns_per_group", GROUPINGS)
def test_frame_matches_the_plain_route(
    monkeypatch: pytest.MonkeyPatch, columns_per_group: int | None
) -> None:
    frame = messy_frame()
    _force_groups(monkeypatch, columns_per_group)
    panel = panel_from_frame(frame, _config())
    assert panel.feature_names == (
        "f_0", "f_wide", "f_1", "f_narrow", "f_gappy", "f_2", "f_sparse", "f_3", "f_int",
        "f_4", "f_flag", "f_5",
    )  # fmt: skip
    assert panel.target_names == TARGETS
    assert_identical(panel, reference_panel(frame, panel))
    report = panel.report
    assert report.n_rows_read == frame.height
    assert report.infinite_values == {"f_wide": 3, "f_narrow": 2, "fwd_ret_1": 2}
    assert list(report.infinite_values) == ["f_wide", "f_narrow", "fwd_ret_1"]
    assert any("'f_wide' exceed float32's range" in w for w in report.warnings)
    assert any("f_sparse" in w and "more than half" in w for w in report.warnings)
    assert panel.target_kinds["y_up_1"] == "binary"


@pytest.mark.parametrize("columns_per_group", [1, 3])
def test_report_is_the_same_for_every_grouping(
    monkeypatch: pytest.MonkeyPatch, columns_per_group: int
) -> None:
    frame = messy_frame().with_columns(
        pl.lit(None, dtype=pl.Float64).alias("f_2"),  # all missing: dropped
        pl.lit(2.0).alias("fwd_vol_5"),  # constant: dropped
    )
    whole = panel_from_frame(frame, _config())
    _force_groups(monkeypatch, columns_per_group)
    grouped = panel_from_frame(frame, _config())
    assert "f_2" not in grouped.feature_names
    assert grouped.report == whole.report
    assert_identical(grouped, whole)
    assert_identical(grouped, reference_panel(frame, grouped))


@pytest.mark.parametrize("columns_per_group", [None, 2])
@pytest.mark.parametrize("layout", ["file", "folder", "hive", "csv"])
def test_files_match_the_plain_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str, columns_per_group: int | None
) -> None:
    frame = messy_frame()
    if layout == "file":
        frame.write_parquet(tmp_path / "panel.parquet")
    elif layout == "folder":
        for i, part in enumerate(frame.iter_slices(50)):
            part.write_parquet(tmp_path / f"part_{i}.parquet")
    elif layout == "hive":
        for (symbol,), part in frame.group_by("symbol", maintain_order=True):
            where = tmp_path / f"symbol={symbol}"
            where.mkdir()
            part.drop("symbol").write_parquet(where / "0.parquet")
    else:
        frame.drop("label").write_csv(tmp_path / "panel.csv")
    _force_groups(monkeypatch, columns_per_group)
    panel = load_panel(DataConfig(path=str(tmp_path), targets=["fwd_*", "y_up_*"]))
    if layout == "csv":
        # CSV text has no float32 or int64-with-nulls types: compare with the same
        # columns as CSV reads them, by the plain route
        frame = pl.read_csv(tmp_path / "panel.csv", try_parse_dates=True)
    assert_identical(panel, reference_panel(frame, panel))
    assert panel.report.infinite_values["f_wide"] == 3


def test_rows_already_sorted_are_kept_as_they_are() -> None:
    frame = messy_frame().sort(["timestamp", "symbol"])
    panel = panel_from_frame(frame, _config())
    assert_identical(panel, reference_panel(frame, panel))
    np.testing.assert_array_equal(
        panel.X[:, 0], frame["f_0"].cast(pl.Float32).to_numpy()
    )  # row i of the frame is row i of the panel


def test_column_groups_on_both_sides_of_the_minimum() -> None:
    names = [f"c{i}" for i in range(10)]
    # under MIN_GROUP_BYTES in total: one group
    assert column_groups(names, 1_000, 4, 40_000, frames.GROUPS) == [tuple(names)]
    # groups of MIN_GROUP_BYTES when 1/GROUPS of the total is less
    rows = frames.MIN_GROUP_BYTES // 12
    assert column_groups(names, rows, 4, 10 * rows * 4, frames.GROUPS) == [
        ("c0", "c1", "c2"), ("c3", "c4", "c5"), ("c6", "c7", "c8"), ("c9",),
    ]  # fmt: skip
    # one column per group when a column alone is over the budget
    rows = frames.MIN_GROUP_BYTES
    assert column_groups(names, rows, 4, 10 * rows * 4, frames.GROUPS) == [(n,) for n in names]
    # 1/GROUPS of the total when that is more than MIN_GROUP_BYTES
    many = [f"c{i}" for i in range(10 * frames.GROUPS)]
    rows = frames.MIN_GROUP_BYTES // 4
    groups = column_groups(many, rows, 4, len(many) * rows * 4, frames.GROUPS)
    assert len(groups) == frames.GROUPS and {len(g) for g in groups} == {10}
    assert [n for g in groups for n in g] == many
    assert column_groups([], 5, 4, 0, frames.GROUPS) == []


def test_data_in_many_files_is_read_in_fewer_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert group_count(0) == group_count(1) == frames.GROUPS
    assert group_count(frames.FILE_READS // 4) == min(4, frames.GROUPS)
    assert group_count(10 * frames.FILE_READS) == 1
    frame = messy_frame()
    for i, part in enumerate(frame.iter_slices(20)):
        part.write_parquet(tmp_path / f"part_{i}.parquet")
    asked: list[int | None] = []

    def recording(*args: Any, **kwargs: Any) -> Panel:
        asked.append(kwargs["groups"])
        return build_panel(*args, **kwargs)

    monkeypatch.setattr(loaders, "build_panel", recording)
    _force_groups(monkeypatch, 1)
    monkeypatch.setattr(frames, "FILE_READS", 9 * 3)  # 9 files: 3 groups at most
    panel = load_panel(DataConfig(path=str(tmp_path), targets=["fwd_*", "y_up_*"]))
    assert asked == [3]
    assert_identical(panel, reference_panel(frame, panel))


def test_consuming_reader_releases_what_it_gave() -> None:
    frame = messy_frame()
    reader = FrameColumns(frame, consume=True)
    keys = reader(("symbol", "timestamp"))
    assert keys.columns == ["symbol", "timestamp"]
    assert frame.width == 19  # the caller's frame is untouched
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        reader(("symbol",))
    kept = FrameColumns(frame)
    assert kept(("symbol",)).columns == kept(("symbol",)).columns == ["symbol"]


def test_a_group_with_another_row_count_is_an_error() -> None:
    frame = messy_frame()

    def read(names: Sequence[str]) -> pl.DataFrame:
        part = frame.select(names)
        return part if "symbol" in names else part.head(10)

    plan = plan_columns(frame.schema, _config(), source="changing.parquet")
    with pytest.raises(DataError, match=r"changing.parquet gave 10 rows for some columns"):
        build_panel(read, plan, _config(), source="changing.parquet")
