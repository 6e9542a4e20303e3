"""The built-in stability_snapshots hook: registered like a plugin, writes one part per stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from panelml.config import build_hooks, validate_config
from panelml.pipeline.cache import StageCache
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus, HookFailed
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.hooks import HookManager
from panelml.pipeline.registry import hook_plugins
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.results import TableResult
from panelml.pipeline.runner import Pipeline
from panelml.pipeline.stage import Stage, StageParams
from panelml.stability.hooks import HOOK_NAME, StabilitySnapshots
from panelml.stability.snapshots import SnapshotStore


class SelParams(StageParams):
    selected: tuple[int, ...] = (1, 1, 0, 0)


class FakeSelection(Stage[SelParams]):
    """Looks like the built-in feature_selection result."""

    name = "feature_selection"
    Params = SelParams
    result_type = TableResult

    def run(self, ctx: RunContext) -> TableResult:
        n = len(self.params.selected)
        table = pl.DataFrame(
            {
                "feature": [f"f{j}" for j in range(n)],
                "consensus_score": [float(n - j) for j in range(n)],
                "rank": list(range(1, n + 1)),
                "selected": [bool(s) for s in self.params.selected],
            }
        )
        return TableResult({"y": table}, {"stability": {"y": {"phi": 0.9}}})


class FakeTraining(Stage[StageParams]):
    """Looks like the built-in training result."""

    name = "training"
    requires = ("feature_selection",)
    result_type = TableResult

    def run(self, ctx: RunContext) -> TableResult:
        importances = pl.DataFrame(
            {
                "target": ["y", "y"],
                "family": ["lightgbm", "lightgbm"],
                "feature": ["f0", "f1"],
                "importance": [2.0, 1.0],
                "rank": [1, 2],
            }
        )
        return TableResult({"importances": importances})


def _context(tmp_path: Path, run_id: str, reporter: Reporter | None = None) -> RunContext:
    return RunContext(
        config=None,
        data=None,
        data_fingerprint="data-v1",
        run_dir=tmp_path / "runs" / "exp" / run_id,
        run_id=run_id,
        experiment="exp",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=reporter or Reporter(quiet=True),
    )


def _run(
    tmp_path: Path,
    run_id: str,
    *,
    selected: tuple[int, ...] = (1, 1, 0, 0),
    cache: StageCache | None = None,
    hook: Any = None,
    strict: bool = True,
    events: list[Any] | None = None,
) -> None:
    manager = HookManager(strict=strict)
    manager.register(hook if hook is not None else StabilitySnapshots())
    ctx = _context(tmp_path, run_id)
    if events is not None:
        ctx.events.subscribe(events.append)
    stages = [FakeSelection(SelParams(selected=selected)), FakeTraining(StageParams())]
    Pipeline(stages, hooks=manager, cache=cache).run(ctx)


def test_the_hook_is_registered_by_name_like_a_third_party_plugin() -> None:
    assert hook_plugins.get(HOOK_NAME) is StabilitySnapshots
    manager = HookManager()
    manager.register(StabilitySnapshots())
    assert [(hook, plugin) for hook, _, plugin, _ in manager.rows()] == [("after_stage", HOOK_NAME)]


def test_each_run_appends_one_part_per_watched_stage(tmp_path: Path) -> None:
    _run(tmp_path, "r1")
    _run(tmp_path, "r2", selected=(1, 0, 1, 0))
    store = SnapshotStore.for_experiment(tmp_path / "runs" / "exp")
    assert len(store.parts()) == 4
    frame = store.read()
    assert store.run_ids() == ["r1", "r2"]
    consensus = frame.filter(pl.col("method") == "consensus")
    chosen = {
        run: consensus.filter((pl.col("run_id") == run) & pl.col("selected"))["feature"].to_list()
        for run in ("r1", "r2")
    }
    assert chosen == {"r1": ["f0", "f1"], "r2": ["f0", "f2"]}
    training = frame.filter(pl.col("stage") == "training")
    assert set(training["method"].to_list()) == {"lightgbm"}
    assert training.height == 4 and training["selected"].all()
    assert set(frame["experiment"].to_list()) == {"exp"}


def test_results_taken_from_the_cache_are_snapshotted_too(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    events: list[Any] = []
    _run(tmp_path, "r1", cache=cache)
    _run(tmp_path, "r2", cache=cache, events=events)
    assert {e.status for e in events if getattr(e, "stage", None) == "feature_selection"} == {
        "cached"
    }
    assert SnapshotStore.for_experiment(tmp_path / "runs" / "exp").run_ids() == ["r1", "r2"]


def test_only_the_listed_stages_are_snapshotted(tmp_path: Path) -> None:
    _run(tmp_path, "r1", hook=StabilitySnapshots(stages=["training"]))
    frame = SnapshotStore.for_experiment(tmp_path / "runs" / "exp").read()
    assert set(frame["stage"].to_list()) == {"training"}


def test_a_store_that_cannot_be_written_is_a_warning_and_the_run_goes_on(tmp_path: Path) -> None:
    blocked = tmp_path / "runs" / "exp" / "stability" / "snapshots.parquet"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file in the way")
    events: list[Any] = []
    _run(tmp_path, "r1", strict=False, events=events)
    failures = [e for e in events if isinstance(e, HookFailed)]
    assert len(failures) == 2 and failures[0].plugin == HOOK_NAME
    assert (tmp_path / "runs" / "exp" / "r1" / "training").is_dir()


def test_listed_in_the_config_hooks_with_params(tmp_path: Path) -> None:
    config = validate_config(
        {
            "experiment": {"name": "exp"},
            "data": {"path": "panel.parquet"},
            "hooks": [{"name": HOOK_NAME, "params": {"stages": ["feature_selection"]}}],
        },
        base_dir=tmp_path,
    )
    manager = build_hooks(config)
    [(label, plugin)] = manager.plugins
    assert label == HOOK_NAME
    assert isinstance(plugin, StabilitySnapshots) and plugin.stages == ("feature_selection",)


def test_bad_params_in_the_config_are_a_config_error(tmp_path: Path) -> None:
    from panelml.pipeline.errors import ConfigError

    config = validate_config(
        {
            "experiment": {"name": "exp"},
            "data": {"path": "panel.parquet"},
            "hooks": [{"name": HOOK_NAME, "params": {"stage": ["training"]}}],
        },
        base_dir=tmp_path,
    )
    with pytest.raises(ConfigError, match="cannot create hook plugin 'stability_snapshots'"):
        build_hooks(config)
