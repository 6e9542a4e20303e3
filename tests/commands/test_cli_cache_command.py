"""``panelml cache prune`` and ``panelml cache explain`` at the command line."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from panelml.cli import app
from panelml.pipeline.cache import StageCache
from panelml.pipeline.results import JsonResult

runner = CliRunner()


def test_prune_needs_a_criterion_and_a_cache_folder(tmp_path: Path) -> None:
    out = runner.invoke(app, ["cache", "prune", "--cache-dir", str(tmp_path)])
    assert out.exit_code == 2 and "--older-than DAYS or --keep-runs K" in out.output
    missing = runner.invoke(
        app, ["cache", "prune", "--cache-dir", str(tmp_path / "none"), "--keep-runs", "1"]
    )
    assert missing.exit_code == 2 and "is not a folder" in missing.output


def test_prune_dry_run_lists_then_prune_removes(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    result = JsonResult({"a": 1})
    for key in ("a" * 64, "b" * 64):
        cache.store("s", key, result, result.fingerprint())
    old = time.time() - 10 * 86400
    os.utime(cache.entry_path("s", "a" * 64) / "entry.json", (old, old))
    args = ["cache", "prune", "--cache-dir", str(tmp_path), "--older-than", "7"]
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0 and "would remove 1 of 2 entries" in dry.output
    assert cache.contains("s", "a" * 64)
    done = runner.invoke(app, args)
    assert done.exit_code == 0 and "removed 1 of 2 entries" in done.output
    assert [key for _, key, _ in cache.entries()] == ["b" * 64]


def test_explain_a_toy_pipeline(
    toy_stages: Any,
    toy_config: Any,
    toy_data: Any,
    write_config: Callable[..., Path],
    monkeypatch: Any,
) -> None:
    import panelml.data

    monkeypatch.setattr(panelml.data, "load_panel", lambda *a, **k: toy_data)
    config = write_config(toy_config())
    first = runner.invoke(app, ["cache", "explain", str(config)])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[0].startswith("alpha: miss [")
    assert "no entry for this stage in the cache" in first.output
    assert runner.invoke(app, ["run", str(config), "-q"]).exit_code == 0
    second = runner.invoke(app, ["cache", "explain", str(config), "--set", "gamma.add=3"])
    heads = [line for line in second.output.splitlines() if not line.startswith(" ")]
    assert heads[0].startswith("alpha: hit") and heads[1].startswith("beta: hit")
    assert heads[2].startswith("gamma: miss") and "params.add" in heads[2]
