"""Hooks: order, isolation, strict mode, registration-time validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import HookError, HookValidationError
from panelml.pipeline.events import (
    HookFailed,
    PipelineFinished,
    PipelineStarted,
    StageEnded,
    StageFailed,
    StageStarted,
    read_events,
)
from panelml.pipeline.hooks import HookManager, Hooks, hookimpl
from panelml.pipeline.results import JsonResult
from panelml.pipeline.runner import EVENTS_FILE, MANIFEST, Pipeline
from panelml.pipeline.stage import Stage, StageParams


class Recorder:
    """Records (plugin, hook, stage) triples into a shared list."""

    def __init__(self, name: str, log: list[tuple[str, str, str | None]], priority: int = 0):
        self.name = name
        self.log = log
        self.priority = priority

    def before_pipeline(self, event: PipelineStarted) -> None:
        self.log.append((self.name, "before_pipeline", None))

    def before_stage(self, event: StageStarted) -> None:
        self.log.append((self.name, "before_stage", event.stage))

    def after_stage(self, event: StageEnded) -> None:
        self.log.append((self.name, "after_stage", event.stage))

    def on_stage_error(self, event: StageFailed) -> None:
        self.log.append((self.name, "on_stage_error", event.stage))

    def after_pipeline(self, event: PipelineFinished) -> None:
        self.log.append((self.name, "after_pipeline", event.status))


class Broken(Hooks):
    name = "broken"

    def after_stage(self, event: StageEnded) -> None:
        raise ValueError(f"cannot handle {event.stage}")


def _pipeline(toy_stages: Any, hooks: HookManager) -> Pipeline:
    return Pipeline([cls(cls.Params()) for cls in toy_stages], hooks=hooks)


def test_hooks_run_by_priority_then_registration_order(
    toy_stages: Any, make_context: Callable[..., RunContext]
) -> None:
    log: list[tuple[str, str, str | None]] = []
    manager = HookManager()
    manager.register(Recorder("first", log))
    manager.register(Recorder("second", log))
    manager.register(Recorder("urgent", log, priority=10))
    _pipeline(toy_stages, manager).run(make_context())

    assert [name for name, hook, stage in log if hook == "before_stage" and stage == "alpha"] == [
        "urgent",
        "first",
        "second",
    ]
    assert [(h, s) for n, h, s in log if n == "first"] == [
        ("before_pipeline", None),
        ("before_stage", "alpha"),
        ("after_stage", "alpha"),
        ("before_stage", "beta"),
        ("after_stage", "beta"),
        ("before_stage", "gamma"),
        ("after_stage", "gamma"),
        ("after_pipeline", "finished"),
    ]


def test_describe_prints_the_order_table_and_hookimpl_overrides_priority() -> None:
    class Late:
        name = "late"
        priority = 5

        @hookimpl(priority=-1)
        def before_stage(self, event: StageStarted) -> None: ...

        def after_stage(self, event: StageEnded) -> None: ...

    log: list[Any] = []
    manager = HookManager()
    manager.register(Late())
    manager.register(Recorder("rec", log))
    assert [i.plugin_name for i in manager.order("before_stage")] == ["rec", "late"]
    assert [i.plugin_name for i in manager.order("after_stage")] == ["late", "rec"]
    lines = manager.describe().splitlines()
    assert lines[0].split() == ["hook", "#", "plugin", "priority"]
    assert ["before_stage", "1", "rec", "0"] in [line.split() for line in lines]
    assert ["before_stage", "2", "late", "-1"] in [line.split() for line in lines]
    assert HookManager().describe() == "no hook plugins registered"


def test_failing_hook_is_logged_recorded_and_the_run_goes_on(
    toy_stages: Any, make_context: Callable[..., RunContext], capsys: pytest.CaptureFixture[str]
) -> None:
    from panelml.pipeline.reporter import Reporter

    log: list[tuple[str, str, str | None]] = []
    manager = HookManager()
    manager.register(Broken())
    manager.register(Recorder("rec", log))
    ctx = make_context(reporter=Reporter(quiet=True))
    result = _pipeline(toy_stages, manager).run(ctx)

    assert result.manifest["status"] == "finished"
    assert [s for n, h, s in log if h == "after_stage"] == ["alpha", "beta", "gamma"]
    failures = [r for r in read_events(ctx.run_dir / EVENTS_FILE) if r["event"] == "HookFailed"]
    assert [(f["hook"], f["during"]) for f in failures] == [
        ("broken.after_stage", "StageCompleted")
    ] * 3
    assert "ValueError('cannot handle alpha')" in failures[0]["error"]
    assert "hook broken.after_stage failed" in capsys.readouterr().out


def test_strict_hooks_make_a_hook_failure_fatal_chained_to_the_original(
    toy_stages: Any, make_context: Callable[..., RunContext]
) -> None:
    manager = HookManager(strict=True)
    manager.register(Broken())
    ctx = make_context()
    with pytest.raises(HookError) as info:
        _pipeline(toy_stages, manager).run(ctx)
    assert isinstance(info.value.__cause__, ValueError)
    assert "broken.after_stage" in str(info.value)
    import json

    manifest = json.loads((ctx.run_dir / MANIFEST).read_text())
    assert manifest["status"] == "failed"
    # the one failure path: the stage whose event the hook failed on is recorded failed
    first = manifest["stages"][0]
    assert (first["name"], first["status"]) == ("alpha", "failed")
    assert first["error"] == "a hook failed (strict_hooks)"
    assert [s["status"] for s in manifest["stages"][1:]] == ["pending", "pending"]


class Exploding(Stage[StageParams]):
    name = "alpha"
    result_type = JsonResult
    error = KeyError("the stage's own error")

    def run(self, ctx: RunContext) -> JsonResult:
        raise self.error


class BrokenErrorHook:
    name = "broken_error_hook"

    def on_stage_error(self, event: StageFailed) -> None:
        raise RuntimeError("hook bug")

    def after_pipeline(self, event: PipelineFinished) -> None:
        raise RuntimeError("another hook bug")


@pytest.mark.parametrize("strict", [False, True])
def test_a_hook_never_replaces_the_stages_own_exception(
    make_context: Callable[..., RunContext], strict: bool
) -> None:
    seen: list[StageFailed] = []

    class Watcher:
        def on_stage_error(self, event: StageFailed) -> None:
            seen.append(event)

    manager = HookManager(strict=strict)
    manager.register(BrokenErrorHook())
    manager.register(Watcher())
    with pytest.raises(KeyError) as info:
        Pipeline([Exploding(StageParams())], hooks=manager).run(make_context())
    assert info.value is Exploding.error
    if not strict:
        assert seen and seen[0].exception is Exploding.error


def test_misnamed_hook_method_is_rejected_at_registration_with_did_you_mean() -> None:
    class Typo:
        name = "typo"

        def before_stag(self, event: Any) -> None: ...

    with pytest.raises(HookValidationError) as info:
        HookManager().register(Typo())
    message = str(info.value)
    assert "'typo'" in message and "'before_stag'" in message
    assert "did you mean 'before_stage'" in message


def test_hook_with_wrong_signature_is_rejected_at_registration() -> None:
    class TwoArgs:
        name = "two_args"

        def after_stage(self, event: Any, extra: Any) -> None: ...

    with pytest.raises(HookValidationError, match=r"'two_args'.*'after_stage'.*exactly one"):
        HookManager().register(TwoArgs())

    class NoArgs:
        def after_pipeline(self) -> None: ...

    with pytest.raises(HookValidationError, match=r"'NoArgs'.*'after_pipeline'"):
        HookManager().register(NoArgs())


def test_plugin_without_hooks_is_rejected() -> None:
    class Nothing:
        def helper(self) -> None: ...

    with pytest.raises(HookValidationError, match="defines none of the hooks"):
        HookManager().register(Nothing())


def test_hook_failed_event_is_emitted_on_the_bus(make_context: Callable[..., RunContext]) -> None:
    ctx = make_context()
    failed: list[HookFailed] = []
    ctx.events.subscribe(failed.append, HookFailed)
    manager = HookManager()
    manager.register(BrokenErrorHook())
    with pytest.raises(KeyError):
        Pipeline([Exploding(StageParams())], hooks=manager).run(ctx)
    assert [f.hook for f in failed] == [
        "broken_error_hook.on_stage_error",
        "broken_error_hook.after_pipeline",
    ]
    assert isinstance(failed[0].exception, RuntimeError)
