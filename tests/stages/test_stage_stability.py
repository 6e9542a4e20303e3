"""The stability stage: this run against earlier runs in the snapshot store."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest

from panelml import contracts
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.results import TableResult
from panelml.pipeline.runner import Pipeline
from panelml.pipeline.stage import Stage, StageParams
from panelml.stability.history import FREQUENCY_SCHEMA, REPORT_SCHEMA, history_stability
from panelml.stability.snapshots import SnapshotStore, selection_snapshots
from panelml.stages.stability import StabilityParams, StabilityResult, StabilityStage

T0 = datetime(2025, 1, 1, tzinfo=UTC)
REFERENCE = [[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0]]


class Recorder(Reporter):
    """A quiet reporter that keeps the warnings."""

    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _table(selected: list[int], order: list[int] | None = None) -> pl.DataFrame:
    """A selection table; ``order`` lists feature indices from most to least important."""
    n = len(selected)
    order = order if order is not None else list(range(n))
    rank = {j: r for r, j in enumerate(order, start=1)}
    return pl.DataFrame(
        {
            "feature": [f"f{j}" for j in range(n)],
            "consensus_score": [float(n - rank[j]) for j in range(n)],
            "rank": [rank[j] for j in range(n)],
            "selected": [bool(s) for s in selected],
        }
    )


class SelectionTables(TableResult):
    """A third-party-like ``FeatureChoice``: per-target tables only."""

    provides: ClassVar[tuple[str, ...]] = (contracts.FEATURE_CHOICE,)


class ModelTables(TableResult):
    """A third-party-like ``TrainedModels``: the ``importances`` table only."""

    provides: ClassVar[tuple[str, ...]] = (contracts.TRAINED_MODELS,)


def _selection_result(
    tables: dict[str, pl.DataFrame], fold: dict[str, Any] | None = None
) -> TableResult:
    return SelectionTables(tables, {"stability": fold or {}})


def _store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore.for_experiment(tmp_path / "runs" / "exp")


def _write_earlier(tmp_path: Path, runs: list[dict[str, pl.DataFrame]]) -> None:
    store = _store(tmp_path)
    for i, tables in enumerate(runs):
        run_id = f"r{i:03d}"
        frame = selection_snapshots(
            tables, run_id=run_id, experiment="exp", created=T0 + timedelta(minutes=i)
        )
        store.write(frame, run_id=run_id, stage="feature_selection")


def _context(tmp_path: Path, results: dict[str, Any], reporter: Reporter | None = None) -> Any:
    return RunContext(
        config=None,
        data=None,
        data_fingerprint="d",
        run_dir=tmp_path / "runs" / "exp" / "now",
        run_id="now",
        experiment="exp",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=reporter or Reporter(quiet=True),
        results=results,
    )


def _run_stage(
    tmp_path: Path,
    current: dict[str, pl.DataFrame],
    *,
    fold: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
    **params: Any,
) -> StabilityResult:
    ctx = _context(tmp_path, {"feature_selection": _selection_result(current, fold)}, reporter)
    return StabilityStage(StabilityParams(**params)).run(ctx)


def test_reference_value_through_the_store(tmp_path: Path) -> None:
    _write_earlier(tmp_path, [{"y": _table(z)} for z in REFERENCE[:3]])
    result = _run_stage(tmp_path, {"y": _table(REFERENCE[3])})
    [row] = result.report.iter_rows(named=True)
    assert row["target"] == "y" and row["method"] == "consensus" and row["n_runs"] == 4
    assert row["nogueira"] == pytest.approx(0.30556, abs=1e-5)
    assert row["nogueira_ci_low"] < row["nogueira"] < row["nogueira_ci_high"]
    assert row["status"] == "warn" and "unstable" in row["message"]
    assert result.report.schema == pl.Schema(REPORT_SCHEMA)
    assert result.meta["n_earlier_runs"] == 3


def test_random_selections_over_a_hundred_runs_score_about_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)

    def random_pick() -> list[int]:
        z = [0] * 10
        for j in rng.choice(10, size=4, replace=False):
            z[int(j)] = 1
        return z

    _write_earlier(tmp_path, [{"y": _table(random_pick())} for _ in range(99)])
    result = _run_stage(tmp_path, {"y": _table(random_pick())})
    [row] = result.report.iter_rows(named=True)
    assert row["n_runs"] == 100
    assert abs(row["nogueira"]) < 0.05
    assert row["nogueira_ci_low"] < 0 < row["nogueira_ci_high"]


def test_identical_runs_are_perfectly_stable_and_quiet(tmp_path: Path) -> None:
    same = {"y": _table([1, 1, 0, 0])}
    _write_earlier(tmp_path, [same, same])
    reporter = Recorder()
    result = _run_stage(tmp_path, same, fold={"y": {"phi": 0.9}}, reporter=reporter)
    [row] = result.report.iter_rows(named=True)
    assert row["nogueira"] == pytest.approx(1.0)
    assert row["jaccard_prev"] == row["jaccard_mean"] == 1.0
    assert row["kendall_prev"] == pytest.approx(1.0)
    assert row["status"] == "ok" and row["message"] == ""
    assert reporter.warnings == []
    frequency = result.frequency
    assert frequency.schema == pl.Schema(FREQUENCY_SCHEMA)
    assert frequency.filter(pl.col("selection_frequency") == 1.0)["feature"].to_list() == [
        "f0",
        "f1",
    ]
    assert set(frequency["n_runs"].to_list()) == {3}


def test_the_first_run_reports_fold_stability_and_warns_when_low(tmp_path: Path) -> None:
    reporter = Recorder()
    fold = {"y": {"phi": 0.2, "variance": 0.01, "ci_low": 0.0, "ci_high": 0.4}}
    result = _run_stage(tmp_path, {"y": _table([1, 0, 1])}, fold=fold, reporter=reporter)
    [row] = result.report.iter_rows(named=True)
    assert row["n_runs"] == 1 and math.isnan(row["nogueira"]) and math.isnan(row["jaccard_prev"])
    assert (row["fold_phi"], row["fold_phi_ci_low"], row["fold_phi_ci_high"]) == (0.2, 0.0, 0.4)
    assert row["status"] == "warn"
    assert len(reporter.warnings) == 1 and "across folds" in reporter.warnings[0]


def test_previous_run_measures_use_the_most_recent_earlier_run(tmp_path: Path) -> None:
    # r000 ranks f0..f5 in order; r001 (the previous run) reverses it; this run keeps it.
    forward, backward = list(range(6)), list(reversed(range(6)))
    _write_earlier(
        tmp_path,
        [{"y": _table([1] * 3 + [0] * 3, forward)}, {"y": _table([0] * 3 + [1] * 3, backward)}],
    )
    result = _run_stage(tmp_path, {"y": _table([1] * 3 + [0] * 3, forward)}, top_k=3)
    [row] = result.report.iter_rows(named=True)
    assert row["jaccard_prev"] == 0.0
    assert row["kendall_prev"] == pytest.approx(-1.0)
    assert row["jaccard_mean"] == pytest.approx(1 / 3)
    assert "top-k feature sets overlap little" in row["message"]
    assert "ranks disagree" in row["message"]


def test_this_runs_own_rows_in_the_store_are_not_counted_twice(tmp_path: Path) -> None:
    _write_earlier(tmp_path, [{"y": _table(z)} for z in REFERENCE[:3]])
    current = {"y": _table(REFERENCE[3])}
    own = selection_snapshots(current, run_id="now", experiment="exp", created=T0)
    _store(tmp_path).write(own, run_id="now", stage="feature_selection")
    result = _run_stage(tmp_path, current)
    assert result.report["n_runs"].to_list() == [4]
    assert result.report["nogueira"][0] == pytest.approx(0.30556, abs=1e-5)


def test_max_runs_keeps_only_the_most_recent_earlier_runs(tmp_path: Path) -> None:
    _write_earlier(tmp_path, [{"y": _table(z)} for z in REFERENCE[:3]])
    result = _run_stage(tmp_path, {"y": _table(REFERENCE[3])}, max_runs=1)
    assert result.report["n_runs"].to_list() == [2]
    assert result.meta["earlier_runs"] == ["r002"]


def test_training_importances_are_compared_per_family(tmp_path: Path) -> None:
    importances = pl.DataFrame(
        {
            "target": ["y", "y", "y"],
            "family": ["lightgbm", "lightgbm", "ridge"],
            "feature": ["f0", "f1", "f0"],
            "importance": [2.0, 1.0, 0.5],
            "rank": [1, 2, 1],
        }
    )
    ctx = _context(
        tmp_path,
        {
            "feature_selection": _selection_result({"y": _table([1, 1, 0])}),
            "training": ModelTables({"importances": importances}),
        },
    )
    result = StabilityStage(StabilityParams()).run(ctx)
    assert result.report["method"].to_list() == ["consensus", "lightgbm", "ridge"]
    assert math.isnan(result.report.filter(pl.col("method") == "ridge")["fold_phi"][0])


def test_no_selection_or_training_results_gives_empty_tables(tmp_path: Path) -> None:
    result = StabilityStage(StabilityParams()).run(_context(tmp_path, {}))
    assert result.report.height == 0 and result.frequency.height == 0


def test_history_summary_without_a_current_run_covers_every_target(tmp_path: Path) -> None:
    _write_earlier(tmp_path, [{"y": _table(z), "z": _table([1, 0, 0, 0, 0])} for z in REFERENCE])
    report, _ = history_stability(_store(tmp_path).read(), current_run=None, k=2)
    assert report["target"].to_list() == ["y", "z"]
    assert report["nogueira"][0] == pytest.approx(0.30556, abs=1e-5)
    assert report["most_stable"][1] == "f0" and report["least_stable"][1] == ""


class _Selection(Stage[StageParams]):
    name = "feature_selection"
    result_type = SelectionTables

    def run(self, ctx: RunContext) -> TableResult:
        return _selection_result({"y": _table([1, 1, 0, 0])})


def test_the_stage_is_never_cached_and_sees_runs_made_before_it(tmp_path: Path) -> None:
    from panelml.pipeline.cache import StageCache
    from panelml.pipeline.hooks import HookManager
    from panelml.stability.hooks import StabilitySnapshots

    assert StabilityStage.cacheable is False
    assert {i.kind for i in StabilityStage(StabilityParams()).inputs() if i.optional} == {
        contracts.FEATURE_CHOICE,
        contracts.TRAINED_MODELS,
    }
    cache = StageCache(tmp_path / "cache")
    statuses = []
    for run_id in ("a", "b"):
        hooks = HookManager(strict=True)
        hooks.register(StabilitySnapshots())
        ctx = _context(tmp_path, {})
        ctx.run_id, ctx.run_dir = run_id, tmp_path / "runs" / "exp" / run_id
        out = Pipeline(
            [_Selection(StageParams()), StabilityStage(StabilityParams())],
            hooks=hooks,
            cache=cache,
        ).run(ctx)
        statuses.append({s["name"]: s["status"] for s in out.manifest["stages"]})
        report = pl.read_parquet(ctx.run_dir / "stability" / "report.parquet")
        assert report["n_runs"].to_list() == [1 if run_id == "a" else 2]
    assert statuses[1] == {"feature_selection": "cached", "stability": "ran"}
