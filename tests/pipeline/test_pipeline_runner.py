"""The runner: order checks, skips, failures, the manifest and the run folder."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import PipelineOrderError, UserError
from panelml.pipeline.events import Event, EventBus, StageSkipped
from panelml.pipeline.results import JsonResult
from panelml.pipeline.runner import (
    CONFIG_FILE,
    MANIFEST,
    Pipeline,
    PlannedStage,
    new_run_id,
)
from panelml.pipeline.stage import Stage, StageParams


def _stages(toy_stages: Any, **params: dict[str, Any]) -> list[Stage[Any]]:
    return [cls(cls.Params(**params.get(cls.name, {}))) for cls in toy_stages]


def test_stage_running_before_its_input_is_rejected_with_the_fix(toy_stages: Any) -> None:
    alpha, beta, gamma = _stages(toy_stages)
    with pytest.raises(PipelineOrderError) as info:
        Pipeline([alpha, gamma, beta])
    assert str(info.value) == (
        "stage 'gamma' requires 'beta', which runs after it; move 'beta' before 'gamma'"
    )


def test_missing_input_stage_is_rejected_with_the_fix(toy_stages: Any) -> None:
    alpha, _, gamma = _stages(toy_stages)
    with pytest.raises(PipelineOrderError) as info:
        Pipeline([alpha, gamma])
    assert str(info.value) == (
        "stage 'gamma' requires 'beta', which is not in the pipeline; add 'beta' before 'gamma'"
    )
    assert isinstance(info.value, UserError)


def test_duplicate_stage_is_rejected(toy_stages: Any) -> None:
    alpha, _, _ = _stages(toy_stages)
    with pytest.raises(PipelineOrderError, match="'alpha' appears twice"):
        Pipeline([alpha, alpha])


def test_run_writes_manifest_config_and_stage_folders(
    toy_stages: Any, make_context: Callable[..., RunContext]
) -> None:
    ctx = make_context(run_id="20250101-000000-abcdef")
    snapshot = {"experiment": {"name": "toy"}, "runtime": {"seed": 42}}
    result = Pipeline(_stages(toy_stages)).run(ctx, config_snapshot=snapshot)

    assert result.run_dir == ctx.run_dir
    manifest = json.loads((ctx.run_dir / MANIFEST).read_text())
    assert manifest == result.manifest
    assert manifest["status"] == "finished"
    assert manifest["run_id"] == "20250101-000000-abcdef"
    assert manifest["seed"] == 42 and manifest["data_fingerprint"] == "data-v1"
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["config_hash"])
    assert manifest["started"] <= manifest["finished"]
    assert {"python", "panelml", "numpy", "polars"} <= set(manifest["versions"])
    assert [(s["name"], s["status"]) for s in manifest["stages"]] == [
        ("alpha", "ran"),
        ("beta", "ran"),
        ("gamma", "ran"),
    ]
    assert all(s["seconds"] >= 0 and len(s["cache_key"]) == 64 for s in manifest["stages"])
    assert yaml.safe_load((ctx.run_dir / CONFIG_FILE).read_text()) == snapshot
    saved = json.loads((ctx.run_dir / "gamma" / "result.json").read_text())
    assert saved == {"value": 2}
    assert result.results["gamma"] == JsonResult({"value": 2})


def test_skip_reason_is_recorded_and_dependants_are_skipped(
    toy_stages: Any, make_context: Callable[..., RunContext], calls: Counter[str]
) -> None:
    skipped: list[StageSkipped] = []
    bus = EventBus()
    bus.subscribe(skipped.append, StageSkipped)
    ctx = make_context(events=bus)
    alpha, beta, gamma = _stages(toy_stages, gamma={"skip_me": True})
    result = Pipeline([alpha, PlannedStage(beta, enabled=True), gamma]).run(ctx)

    assert calls["gamma"] == 0 and "gamma" not in result.results
    assert [(e.stage, e.reason) for e in skipped] == [("gamma", "skip_me is set")]
    row = result.manifest["stages"][2]
    assert row["status"] == "skipped" and row["reason"] == "skip_me is set"
    assert not (ctx.run_dir / "gamma").exists()


def test_disabled_stage_is_skipped_and_so_are_stages_needing_it(
    toy_stages: Any, make_context: Callable[..., RunContext], calls: Counter[str]
) -> None:
    alpha, beta, gamma = _stages(toy_stages)
    result = Pipeline([alpha, PlannedStage(beta, enabled=False), gamma]).run(make_context())
    statuses = {s["name"]: (s["status"], s["reason"]) for s in result.manifest["stages"]}
    assert statuses == {
        "alpha": ("ran", None),
        "beta": ("skipped", "disabled in the config"),
        "gamma": ("skipped", "requires 'beta', which was skipped"),
    }
    assert calls == Counter({"alpha": 1})


class BoomError(RuntimeError):
    pass


class FailingStage(Stage[StageParams]):
    name = "beta"
    requires = ("alpha",)
    result_type = JsonResult
    error = BoomError("stage exploded")

    def run(self, ctx: RunContext) -> JsonResult:
        raise self.error


def test_failing_stage_exception_reaches_caller_unchanged_and_manifest_says_failed(
    toy_stages: Any, make_context: Callable[..., RunContext], calls: Counter[str]
) -> None:
    seen: list[Event] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    ctx = make_context(events=bus)
    alpha, _, gamma = _stages(toy_stages)
    with pytest.raises(BoomError) as info:
        Pipeline([alpha, FailingStage(StageParams()), gamma]).run(ctx)

    assert info.value is FailingStage.error
    manifest = json.loads((ctx.run_dir / MANIFEST).read_text())
    assert manifest["status"] == "failed"
    assert [s["status"] for s in manifest["stages"]] == ["ran", "failed", "pending"]
    assert "stage exploded" in manifest["stages"][1]["error"]
    assert calls["gamma"] == 0
    assert [type(e).__name__ for e in seen][-2:] == ["StageFailed", "PipelineFinished"]


class ExportingResult(JsonResult):
    def export(self, run_dir: Path) -> None:
        (run_dir / "report.html").write_text(f"<p>{self.data['value']}</p>")


class ExportingStage(Stage[StageParams]):
    name = "report"
    result_type = ExportingResult

    def run(self, ctx: RunContext) -> ExportingResult:
        return ExportingResult({"value": 7})


def test_export_runs_for_fresh_and_for_cached_results(
    make_context: Callable[..., RunContext], tmp_path: Path
) -> None:
    from panelml.pipeline.cache import StageCache

    pipeline = Pipeline([ExportingStage(StageParams())], cache=StageCache(tmp_path / "cache"))
    first = pipeline.run(make_context(run_id="a"))
    second = pipeline.run(make_context(run_id="b"))
    assert first.manifest["stages"][0]["status"] == "ran"
    assert second.manifest["stages"][0]["status"] == "cached"
    for run in (first, second):
        assert (run.run_dir / "report.html").read_text() == "<p>7</p>"
        assert json.loads((run.run_dir / "report" / "result.json").read_text()) == {"value": 7}
    assert isinstance(second.results["report"], ExportingResult)


class SummarisedResult(JsonResult):
    def manifest_summary(self) -> dict[str, Any]:
        return {"value": self.data["value"], "note": "kept"}


class SummarisedStage(Stage[StageParams]):
    name = "summarised"
    result_type = SummarisedResult

    def run(self, ctx: RunContext) -> SummarisedResult:
        return SummarisedResult({"value": 3})


def test_manifest_records_each_result_summary_fresh_and_cached(
    make_context: Callable[..., RunContext], toy_stages: Any, tmp_path: Path
) -> None:
    from panelml.pipeline.cache import StageCache

    alpha = _stages(toy_stages)[0]
    pipeline = Pipeline([alpha, SummarisedStage(StageParams())], cache=StageCache(tmp_path / "c"))
    for run_id, status in (("a", "ran"), ("b", "cached")):
        manifest = pipeline.run(make_context(run_id=run_id)).manifest
        on_disk = json.loads((tmp_path / "runs" / "toy" / run_id / MANIFEST).read_text())
        stages = {s["name"]: s for s in on_disk["stages"]}
        assert manifest["stages"] == on_disk["stages"]
        assert stages["summarised"]["status"] == status
        assert stages["summarised"]["summary"] == {"value": 3, "note": "kept"}
        assert stages["alpha"]["summary"] is None  # results without one record nothing


def test_new_run_ids_are_utc_timestamps_with_unique_suffix() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", i) for i in ids)


def test_forcing_an_unknown_stage_is_an_error(
    toy_stages: Any, make_context: Callable[..., RunContext]
) -> None:
    with pytest.raises(PipelineOrderError, match="cannot force 'delta'"):
        Pipeline(_stages(toy_stages)).run(make_context(), force=["delta"])
