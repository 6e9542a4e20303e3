"""Bad data that can still be used is loud: each data warning is printed once on
stderr, recorded in ``manifest.json`` (``data_warnings``) and shown at the top
of the report, also when the report is re-rendered from the run folder.

Before: these warnings were collected in ``Panel.report.warnings`` and read by
nothing; a 1e300 feature became all-NaN, mixed UTC offsets turned 80 timestamps
into 160 and a text column was skipped, all without a word.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from inputs_helpers import base_config, base_frame, write_case
from typer.testing import CliRunner

from panelml.cli import app

runner = CliRunner()


def _overflow(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(1e300).otherwise(pl.col("feat_0")).alias("feat_0")
    )


def _infinite(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns(
        pl.when(pl.int_range(pl.len()) < 2)
        .then(float("inf"))
        .otherwise(pl.col("feat_1"))
        .alias("feat_1")
    )


def _text_column(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns(pl.lit("tech").alias("sector"))


def _constant_second_target(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns(pl.lit(1.0).alias("fwd_vol_3"))


def _unnamed_horizon(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns(pl.col("fwd_ret_5").alias("fwd_alpha"))


def _empty_feature(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns(pl.lit(None, dtype=pl.Float64).alias("feat_3"))


def _mostly_missing(f: pl.DataFrame) -> pl.DataFrame:
    keep = pl.int_range(pl.len()) % 4 == 0
    return f.with_columns(pl.when(keep).then(pl.col("feat_2")).otherwise(None).alias("feat_2"))


def _mixed_offsets(f: pl.DataFrame) -> pl.DataFrame:
    """Half the symbols written with +00:00, half with +01:00, same wall-clock time."""
    offset = pl.when(pl.col("symbol") < "S06").then(pl.lit("+00:00")).otherwise(pl.lit("+01:00"))
    stamp = pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S") + offset
    return f.with_columns(stamp.alias("timestamp"))


WARNINGS: dict[str, tuple[Callable[[pl.DataFrame], pl.DataFrame], str, str]] = {
    "float32-overflow": (_overflow, "panel.parquet", "exceed float32's range"),
    "infinite-values": (_infinite, "panel.parquet", "2 infinite value(s) in 'feat_1'"),
    "text-column-skipped": (_text_column, "panel.parquet", "'sector' (String)"),
    "constant-target-dropped": (_constant_second_target, "panel.parquet", "'fwd_vol_3' dropped"),
    "default-horizon": (_unnamed_horizon, "panel.parquet", "'fwd_alpha' has no horizon"),
    "empty-feature-dropped": (_empty_feature, "panel.parquet", "missing in every row"),
    "mixed-utc-offsets": (_mixed_offsets, "panel.csv", "2 different UTC offsets"),
    "mostly-missing-feature": (_mostly_missing, "panel.parquet", "feat_2 (75%)"),
}


def _run(tmp_path: Path, frame: pl.DataFrame, data_name: str) -> tuple[str, Path]:
    config = write_case(
        tmp_path,
        frame=frame,
        config=base_config(pipeline={"stages": ["report"]}),
        data_name=data_name,
    )
    result = runner.invoke(app, ["run", str(config), "-q", "--run-id", "r1"])
    assert result.exit_code == 0, result.output
    return result.stderr, tmp_path / "runs" / "bad" / "r1"


@pytest.mark.parametrize("case", sorted(WARNINGS))
def test_a_data_warning_is_printed_recorded_and_reported(case: str, tmp_path: Path) -> None:
    change, data_name, fragment = WARNINGS[case]
    stderr, run = _run(tmp_path, change(base_frame()), data_name)
    lines = [line for line in stderr.splitlines() if line.startswith("warning: data: ")]
    assert len(lines) == 1, stderr
    assert fragment in lines[0], lines[0]
    recorded = json.loads((run / "manifest.json").read_text())["data_warnings"]
    assert recorded == [lines[0].removeprefix("warning: data: ")]
    page = (run / "report.html").read_text()
    assert html.escape(recorded[0], quote=False) in page or html.escape(recorded[0]) in page
    assert page.index("Data warnings") < page.index('id="summary"')


def test_mixed_offsets_are_converted_to_utc_and_counted(tmp_path: Path) -> None:
    """The documented policy: UTC instants, with a warning naming both counts."""
    stderr, _ = _run(tmp_path, _mixed_offsets(base_frame()), "panel.csv")
    assert "giving 160 distinct timestamps from 80 distinct wall-clock times" in stderr


def test_a_clean_panel_has_no_data_warnings(tmp_path: Path) -> None:
    stderr, run = _run(tmp_path, base_frame(), "panel.parquet")
    assert "warning: data:" not in stderr
    assert json.loads((run / "manifest.json").read_text())["data_warnings"] == []
    assert "Data warnings" not in (run / "report.html").read_text()


def test_rerendered_report_keeps_the_warnings(tmp_path: Path) -> None:
    _, run = _run(tmp_path, _overflow(base_frame()), "panel.parquet")
    out = tmp_path / "again.html"
    result = runner.invoke(app, ["report", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "exceed float32" in out.read_text()
