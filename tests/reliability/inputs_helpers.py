"""Shared pieces of the bad-input suite: a small panel, a config writer, and the
one assertion every bad input must pass.

Every case writes its files into a fresh folder and returns the ``panelml``
arguments to run there. The promise checked for each (:func:`assert_one_error`):
exit code 2, exactly one line on stderr that starts with ``error:`` and names
what is wrong, no traceback, and no run folder marked ``finished``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml
from click.testing import Result

N_SYMBOLS = 12
N_TIMESTAMPS = 80

Setup = Callable[[Path], list[str]]


@lru_cache(maxsize=1)
def base_frame() -> pl.DataFrame:
    """12 symbols x 80 daily timestamps: four features, one 5-bar target that two
    features predict, in (timestamp, symbol) order."""
    rng = np.random.default_rng(7)
    rows = N_SYMBOLS * N_TIMESTAMPS
    X = rng.standard_normal((rows, 4))
    y = 0.3 * X[:, 0] - 0.2 * X[:, 1] + rng.standard_normal(rows)
    days = [datetime(2021, 1, 1) + timedelta(days=d) for d in range(N_TIMESTAMPS)]
    return pl.DataFrame(
        {
            "symbol": [f"S{i:02d}" for i in range(N_SYMBOLS)] * N_TIMESTAMPS,
            "timestamp": [d for d in days for _ in range(N_SYMBOLS)],
            **{f"feat_{j}": X[:, j] for j in range(4)},
            "fwd_ret_5": y,
        }
    )


def base_config(**sections: Any) -> dict[str, Any]:
    """A config reading ``panel.parquet`` beside it; ``sections`` are merged in
    (a ``None`` value removes the section)."""
    config: dict[str, Any] = {
        "experiment": {"name": "bad"},
        "data": {"path": "panel.parquet"},
        "runtime": {"output_dir": "runs", "cache_dir": "cache", "stability_snapshots": False},
    }
    for key, value in sections.items():
        if value is None:
            config.pop(key, None)
        elif isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def write_case(
    folder: Path,
    *,
    frame: pl.DataFrame | None = None,
    config: dict[str, Any] | None = None,
    data_name: str = "panel.parquet",
) -> Path:
    """Write the data (parquet, or CSV when ``data_name`` ends with .csv) and the
    config into ``folder``; return the config path."""
    frame = base_frame() if frame is None else frame
    data = folder / data_name
    if data_name.endswith(".csv"):
        frame.write_csv(data)
    else:
        frame.write_parquet(data)
    config = config if config is not None else base_config()
    if data_name != "panel.parquet" and config["data"].get("path") == "panel.parquet":
        config = {**config, "data": {**config["data"], "path": data_name}}
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def finished_runs(folder: Path) -> list[Path]:
    """Run folders under ``folder`` whose manifest says ``finished`` (or the old ``ok``)."""
    out = []
    for manifest in folder.rglob("manifest.json"):
        try:
            status = json.loads(manifest.read_text(encoding="utf-8")).get("status")
        except (OSError, ValueError):
            continue
        if status in ("finished", "ok"):
            out.append(manifest.parent)
    return out


def assert_one_error(result: Result, folder: Path, *fragments: str) -> str:
    """The promise of every bad input (module docstring); returns the error line."""
    stderr = result.stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, stderr, result.stdout)
    assert "Traceback" not in stderr and "Traceback" not in result.stdout, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not finished_runs(folder), finished_runs(folder)
    return lines[0]
