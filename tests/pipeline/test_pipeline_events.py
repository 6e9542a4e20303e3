"""Events: the exact sequence of a run, events.jsonl, the bus."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from panelml.pipeline.context import RunContext
from panelml.pipeline.events import (
    Event,
    EventBus,
    PipelineFinished,
    PipelineStarted,
    StageCompleted,
    StageEnded,
    StageStarted,
    read_events,
)
from panelml.pipeline.results import JsonResult
from panelml.pipeline.runner import EVENTS_FILE, Pipeline


def _pipeline(toy_stages: Any) -> Pipeline:
    alpha, beta, gamma = toy_stages
    return Pipeline([alpha(alpha.Params()), beta(beta.Params()), gamma(gamma.Params())])


def test_three_stage_run_emits_the_exact_event_sequence(
    toy_stages: Any, make_context: Callable[..., RunContext]
) -> None:
    seen: list[Event] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    ctx = make_context(events=bus)

    _pipeline(toy_stages).run(ctx)

    assert [(type(e).__name__, getattr(e, "stage", None)) for e in seen] == [
        ("PipelineStarted", None),
        ("StageStarted", "alpha"),
        ("StageCompleted", "alpha"),
        ("StageStarted", "beta"),
        ("StageCompleted", "beta"),
        ("StageStarted", "gamma"),
        ("StageCompleted", "gamma"),
        ("PipelineFinished", None),
    ]
    assert all(e.run_id == "r1" for e in seen)
    assert isinstance(seen[0], PipelineStarted) and seen[0].stages == ("alpha", "beta", "gamma")
    finished = seen[-1]
    assert isinstance(finished, PipelineFinished) and finished.status == "finished"


def test_events_jsonl_has_one_typed_record_per_event_without_live_objects(
    toy_stages: Any, make_context: Callable[..., RunContext]
) -> None:
    ctx = make_context()
    _pipeline(toy_stages).run(ctx)

    records = read_events(ctx.run_dir / EVENTS_FILE)
    assert [r["event"] for r in records] == [
        "PipelineStarted",
        *["StageStarted", "StageCompleted"] * 3,
        "PipelineFinished",
    ]
    completed = records[2]
    assert completed["stage"] == "alpha" and completed["status"] == "ran"
    assert len(completed["cache_key"]) == 64 and len(completed["fingerprint"]) == 64
    assert completed["seconds"] >= 0
    assert "result" not in completed and "context" not in completed
    assert records[0]["stages"] == ["alpha", "beta", "gamma"]


def test_after_stage_event_gives_the_result_and_the_context(
    toy_stages: Any, make_context: Callable[..., RunContext]
) -> None:
    ended: list[StageEnded] = []
    bus = EventBus()
    bus.subscribe(ended.append, StageEnded)
    ctx = make_context(events=bus)
    _pipeline(toy_stages).run(ctx)

    beta = next(e for e in ended if e.stage == "beta")
    assert isinstance(beta, StageCompleted)
    assert isinstance(beta.result, JsonResult) and beta.result["value"] == 2
    assert beta.context is ctx and beta.context.results["beta"] is beta.result


def test_events_are_frozen() -> None:
    event = StageStarted(run_id="r", stage="s", cache_key="k")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.stage = "other"  # type: ignore[misc]


def test_bus_filters_by_type_including_subclasses_and_unsubscribes() -> None:
    bus = EventBus()
    started: list[Event] = []
    unsubscribe = bus.subscribe(started.append, StageStarted)
    bus.emit(StageStarted(run_id="r", stage="a", cache_key="k"))
    bus.emit(PipelineFinished(run_id="r", status="ok", seconds=0.0))
    unsubscribe()
    bus.emit(StageStarted(run_id="r", stage="b", cache_key="k"))
    assert [getattr(e, "stage", None) for e in started] == ["a"]
