"""`panelml features build`: writes a panel that the data loader accepts; bad input exits 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from panelml.cli import app
from panelml.data import DataConfig, load_panel


@pytest.fixture()
def prices(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    start = pl.date(2021, 1, 1)
    frames = []
    for s in range(4):
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, 260)))
        dates = pl.date_range(start, start + pl.duration(days=259), eager=True)
        frames.append(pl.DataFrame({"symbol": f"S{s}", "timestamp": dates, "close": close}))
    path = tmp_path / "prices.parquet"
    pl.concat(frames).write_parquet(path)
    return path


def test_build_writes_a_loadable_panel(prices: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    result = CliRunner().invoke(app, ["features", "build", str(prices), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 1040 rows" in result.output
    panel = load_panel(DataConfig(path=str(out), targets=["fwd_*", "y_*"]))
    assert {"fwd_ret_1", "fwd_ret_5", "fwd_ret_20", "fwd_vol_5", "y_up_20"} <= set(
        panel.target_names
    )
    assert panel.horizons["fwd_ret_20"] == 20 and panel.horizons["y_up_5"] == 5
    assert panel.target_kinds["y_up_5"] == "binary"
    assert not any(name.startswith(("fwd_", "y_")) for name in panel.feature_names)


def test_unknown_spec_key_is_one_clear_error(prices: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("features:\n  return_lagz: [1, 2]\n")
    out = tmp_path / "features.parquet"
    result = CliRunner().invoke(
        app, ["features", "build", str(prices), "--out", str(out), "--config", str(spec)]
    )
    assert result.exit_code == 2
    assert "features.return_lagz" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_missing_input_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["features", "build", str(tmp_path / "nope.parquet"), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output
