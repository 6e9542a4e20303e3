"""Integrity of the stage cache: a damaged entry is a miss, never a wrong answer;
an entry made by other code or other libraries is never reused.

The damage cases come from real entries (a small real pipeline, leakage screen
and target ranking), so parquet, JSON and model files are all covered.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from engine_helpers import write_project

import panelml
from panelml.pipeline import codeid
from panelml.pipeline.cache import RESULT_DIR, CacheMiss, StageCache
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.results import JsonResult
from panelml.pipeline.runner import Pipeline
from panelml.pipeline.stage import Stage, StageParams

STAGES = ["leakage_screen", "target_ranking"]


class Recorder(Reporter):
    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("integrity")
    config = write_project(root, stages=STAGES)
    panelml.run(config, run_id="base")
    yield config


def _cache(config: Path) -> StageCache:
    return StageCache(config.parent / ".panelml" / "cache")


def test_every_flipped_byte_in_every_entry_is_detected(project: Path, tmp_path: Path) -> None:
    """Property: flip 1-3 random bytes in a random file of a random entry; the entry
    must fail its check every time (300 trials over every file of both stages;
    the file is restored after each trial). Before checksums, a flip that left
    the file readable (most flips in parquet data pages) was served as a hit."""
    cache = StageCache(tmp_path / "cache")
    shutil.copytree(_cache(project).root, cache.root)
    entries = cache.entries()
    rng = random.Random(13)
    for trial in range(300):
        stage, key, entry = rng.choice(entries)
        victim = rng.choice(sorted(p for p in (entry / RESULT_DIR).rglob("*") if p.is_file()))
        original = victim.read_bytes()
        data = bytearray(original)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= rng.randint(1, 255)
        victim.write_bytes(bytes(data))
        try:
            assert cache.check(stage, key) is not None, (trial, victim)
            assert isinstance(cache.lookup(stage, key, JsonResult), CacheMiss)
        finally:
            victim.write_bytes(original)
        assert cache.check(stage, key) is None


@pytest.mark.parametrize("damage", ["flip", "truncate", "rewrite"])
def test_damaged_ranking_entry_is_recomputed_and_the_run_is_right(
    project: Path, damage: str
) -> None:
    """The issue's cases: flipped bytes in a parquet file, a truncated file, a
    ranking rewritten with every status 'selected' (valid parquet, wrong
    content). Each is a miss with one warning;
    the stage recomputes and the run folder holds the right ranking."""
    cache = _cache(project)
    clean_dir = project.parent / "runs" / "rel" / "base"
    entry = next(e for s, _, e in cache.entries() if s == "target_ranking")
    ranking = entry / RESULT_DIR / "ranking.parquet"
    if damage == "flip":
        data = bytearray(ranking.read_bytes())
        data[len(data) // 2] ^= 0xFF
        ranking.write_bytes(bytes(data))
    elif damage == "truncate":
        ranking.write_bytes(ranking.read_bytes()[:100])
    else:
        frame = pl.read_parquet(ranking).with_columns(pl.lit("selected").alias("status"))
        frame.write_parquet(ranking)
    reporter = Recorder()
    result = panelml.run(project, run_id=f"damaged-{damage}", reporter=reporter)
    statuses = {s["name"]: s["status"] for s in result.manifest["stages"]}
    assert statuses == {"leakage_screen": "cached", "target_ranking": "ran"}
    assert len([w for w in reporter.warnings if "damaged" in w]) == 1, reporter.warnings
    fresh = result.run_dir / "target_ranking" / "ranking.parquet"
    assert fresh.read_bytes() == (clean_dir / "target_ranking" / "ranking.parquet").read_bytes()
    assert cache.check("target_ranking", entry.name) is None  # the store replaced it


@pytest.mark.parametrize("damage", ["delete", "add", "entry.json"])
def test_missing_extra_or_unreadable_files_are_damage(
    project: Path, tmp_path: Path, damage: str
) -> None:
    cache = StageCache(tmp_path / "cache")
    shutil.copytree(_cache(project).root, cache.root)
    stage, key, entry = cache.entries()[0]
    if damage == "delete":
        next(p for p in (entry / RESULT_DIR).rglob("*") if p.is_file()).unlink()
    elif damage == "add":
        (entry / RESULT_DIR / "extra.parquet").write_bytes(b"x")
    else:
        (entry / "entry.json").write_text("{")
    found = cache.lookup(stage, key, JsonResult)
    assert isinstance(found, CacheMiss) and found.damaged


# -- code identity -------------------------------------------------------------------
PLUGIN = """
from panelml.pipeline.results import JsonResult
from panelml.pipeline.stage import Stage, StageParams


class PluginStage(Stage[StageParams]):
    name = "plugin_stage"
    Params = StageParams
    result_type = JsonResult

    def run(self, ctx):
        return JsonResult({"value": VALUE})
"""


def _plugin(tmp_path: Path, value: int, name: str) -> type[Stage[Any]]:
    """Write the plugin stage's module (a file outside panelml) and import it."""
    import importlib.util

    path = tmp_path / "plugins" / "engine_plugin_stage.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(PLUGIN.replace("VALUE", str(value)), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PluginStage  # type: ignore[no-any-return]


def _context(tmp_path: Path, run_id: str) -> RunContext:
    return RunContext(
        config=None,
        data=None,
        data_fingerprint="d",
        run_dir=tmp_path / "runs" / "x" / run_id,
        run_id=run_id,
        experiment="x",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
    )


def _status(tmp_path: Path, stage: Stage[Any], run_id: str) -> tuple[str, Any]:
    cache = StageCache(tmp_path / "cache")
    result = Pipeline([stage], cache=cache).run(_context(tmp_path, run_id))
    return result.manifest["stages"][0]["status"], result.results[stage.name]


def test_changing_a_stage_source_is_a_miss(tmp_path: Path) -> None:
    """Same stage name, version, params, inputs and data: only the stage's source
    changed (it now returns 2). Before code identity, the cache served 1."""
    first = _plugin(tmp_path, 1, "engine_plugin_v1")
    assert _status(tmp_path, first(StageParams()), "r1")[0] == "ran"
    assert _status(tmp_path, first(StageParams()), "r2")[0] == "cached"
    second = _plugin(tmp_path, 2, "engine_plugin_v2")
    status, result = _status(tmp_path, second(StageParams()), "r3")
    assert status == "ran" and result["value"] == 2


@pytest.mark.parametrize("change", ["package", "library"])
def test_other_panelml_source_or_library_versions_are_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    stage = _plugin(tmp_path, 1, f"engine_plugin_{change}")(StageParams())
    assert _status(tmp_path, stage, "r1")[0] == "ran"
    assert _status(tmp_path, stage, "r2")[0] == "cached"
    if change == "package":
        monkeypatch.setattr(codeid, "package_digest", lambda: "0" * 64)
    else:
        versions = dict(codeid.library_key_versions(), numpy="0.0.1")
        monkeypatch.setattr(codeid, "library_key_versions", lambda: tuple(versions.items()))
    assert _status(tmp_path, stage, "r3")[0] == "ran"


def test_package_digest_follows_every_source_file(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    shutil.copytree(codeid.PACKAGE_ROOT, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = codeid.source_digest(package)
    assert codeid.source_digest(package) == before
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "x.pyc").write_bytes(b"compiled")  # not source
    assert codeid.source_digest(package) == before
    ranking = package / "stages" / "ranking" / "stage.py"
    ranking.write_text(ranking.read_text() + "\n# changed\n")
    assert codeid.source_digest(package) != before


def test_cache_explain_names_what_changed(project: Path) -> None:
    from typer.testing import CliRunner

    from panelml.cli import app

    out = CliRunner().invoke(
        app, ["cache", "explain", str(project), "--set", "target_ranking.top_n=2"]
    )
    assert out.exit_code == 0, out.output
    lines = [line for line in out.output.splitlines() if not line.startswith(" ")]
    assert lines[0].startswith("leakage_screen: hit")
    assert lines[1].startswith("target_ranking: miss")
    assert "params.top_n" in lines[1]
    assert "code: panelml source" in out.output


def test_entry_records_checksums_and_key_inputs(project: Path) -> None:
    cache = _cache(project)
    entry = cache.entries()[0][2]
    meta = json.loads((entry / "entry.json").read_text())
    assert set(meta["files"]) == {
        p.relative_to(entry / RESULT_DIR).as_posix()
        for p in (entry / RESULT_DIR).rglob("*")
        if p.is_file()
    }
    assert meta["key_inputs"]["code"]["panelml_source"] == codeid.package_digest()
