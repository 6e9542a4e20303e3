"""TableResult and JsonResult: save/load round trips and stable fingerprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from panelml.pipeline.results import JsonResult, TableResult, frame_digest


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "feature": ["a", "b", None],
            "score": [0.5, float("nan"), None],
            "rank": [1, 2, 3],
            "selected": [True, False, None],
        }
    )


class Ranking(TableResult):
    def __init__(self, frame: pl.DataFrame) -> None:
        super().__init__({"ranking": frame}, {"n": frame.height})

    @property
    def ranking(self) -> pl.DataFrame:
        return self.tables["ranking"]


def test_table_result_round_trip_keeps_content_type_and_fingerprint(tmp_path: Path) -> None:
    result = Ranking(_frame())
    result.save(tmp_path)
    assert (tmp_path / "ranking.parquet").is_file()
    loaded = Ranking.load(tmp_path)
    assert type(loaded) is Ranking
    assert loaded.ranking.equals(_frame()) and loaded.meta == {"n": 3}
    assert loaded.fingerprint() == result.fingerprint()


def test_fingerprint_is_content_based() -> None:
    frame = _frame()
    base = TableResult({"a": frame, "b": frame.head(1)}, {"k": 1})
    assert (
        base.fingerprint() == TableResult({"b": frame.head(1), "a": frame}, {"k": 1}).fingerprint()
    )
    different = [
        TableResult({"a": frame.reverse(), "b": frame.head(1)}, {"k": 1}),  # row order
        TableResult(
            {"a": frame.with_columns(pl.col("rank").cast(pl.Int32)), "b": frame.head(1)}, {"k": 1}
        ),
        TableResult({"a": frame, "b": frame.head(1)}, {"k": 2}),
        TableResult({"a": frame.rename({"rank": "r"}), "b": frame.head(1)}, {"k": 1}),
        TableResult(
            {"a": frame.with_columns(pl.lit(0.25).alias("score")), "b": frame.head(1)}, {"k": 1}
        ),
    ]
    prints = {r.fingerprint() for r in different}
    assert base.fingerprint() not in prints and len(prints) == len(different)


def test_frame_digest_separates_null_from_zero_and_ignores_chunking() -> None:
    with_null = pl.DataFrame({"x": [1, None]})
    with_zero = pl.DataFrame({"x": [1, 0]})
    assert frame_digest(with_null) != frame_digest(with_zero)
    chunked = pl.concat(
        [pl.DataFrame({"x": [1]}), pl.DataFrame({"x": [None]}, schema={"x": pl.Int64})],
        rechunk=False,
    )
    assert frame_digest(chunked) == frame_digest(with_null)


def test_frame_digest_is_pinned_so_encoding_changes_are_noticed() -> None:
    # These values must not change with polars/pyarrow versions: cache keys depend on them.
    assert frame_digest(pl.DataFrame({"x": [1, None]})) == (
        "e9bc0325e3b08087c284717e2089f03d1970c8e64ef6eb4e2db3969175c64f77"
    )
    mixed = pl.DataFrame({"s": ["a", None], "f": [0.5, float("nan")], "b": [True, None]})
    assert frame_digest(mixed) == (
        "cdbab1d5b0ad2d998fa48e611797eb723c818272e1a5732ffac832fcb9e4dade"
    )


def test_table_names_must_be_file_names() -> None:
    with pytest.raises(ValueError, match="cannot be used as a file name"):
        TableResult({"../escape": pl.DataFrame()})


def test_json_result_round_trip_and_numpy_values(tmp_path: Path) -> None:
    result = JsonResult({"n": np.int64(3), "scores": np.array([0.5, 1.0]), "nan": float("nan")})
    assert result.data == {"n": 3, "scores": [0.5, 1.0], "nan": None}
    result.save(tmp_path)
    loaded = JsonResult.load(tmp_path)
    assert loaded == result and loaded.fingerprint() == result.fingerprint()
    assert JsonResult({"a": 1, "b": 2}).fingerprint() == JsonResult({"b": 2, "a": 1}).fingerprint()
