"""Results are finalized once the manifest holds the run's final record."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from panelml.pipeline.context import RunContext
from panelml.pipeline.results import JsonResult
from panelml.pipeline.runner import MANIFEST, Pipeline
from panelml.pipeline.stage import Stage, StageParams


class RecordReader(JsonResult):
    """Copies the manifest's status and its own row's status at export and finalize."""

    def _read(self, run_dir: Path) -> str:
        manifest = json.loads((run_dir / MANIFEST).read_text())
        own = next(s["status"] for s in manifest["stages"] if s["name"] == "reader")
        return f"{manifest['status']}/{own}"

    def export(self, run_dir: Path) -> None:
        (run_dir / "seen_at_export.txt").write_text(self._read(run_dir))

    def finalize(self, run_dir: Path) -> None:
        (run_dir / "seen_at_finalize.txt").write_text(self._read(run_dir))


class Reader(Stage[StageParams]):
    name = "reader"
    result_type = RecordReader

    def run(self, ctx: RunContext) -> RecordReader:
        return RecordReader({"x": 1})


class Boom(Stage[StageParams]):
    name = "boom"
    result_type = JsonResult

    def run(self, ctx: RunContext) -> JsonResult:
        raise RuntimeError("boom")


def test_finalize_sees_the_final_manifest(make_context: Callable[..., RunContext]) -> None:
    ctx = make_context()
    Pipeline([Reader(StageParams())]).run(ctx)
    assert (ctx.run_dir / "seen_at_export.txt").read_text() == "running/pending"
    assert (ctx.run_dir / "seen_at_finalize.txt").read_text() == "finished/ran"


def test_finalize_runs_on_a_failed_run_too(make_context: Callable[..., RunContext]) -> None:
    ctx = make_context()
    with pytest.raises(RuntimeError, match="boom"):
        Pipeline([Reader(StageParams()), Boom(StageParams())]).run(ctx)
    assert (ctx.run_dir / "seen_at_finalize.txt").read_text() == "failed/ran"
