"""Training's pooled fits as one task per fold, then one per final model.

The split layout (``_tasks.fit_folds_then_finals``) must give bit for bit what
one task per (target, family) gives (``_tasks.fit_pairs``, which runs
``_fit.fit_unit`` as before): OOF predictions, best iterations, fold records,
final models and every result table, for an early-stopping family (LightGBM)
and a linear one, on a regression and a binary target, under purged K-fold and
CPCV (whose OOF value is a mean over paths filled split by split). Serial and
process (2 workers) executors must agree too, with a worker reusing its
prepared matrices across the fold and final maps.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

from panelml import api
from panelml.data.panel import Panel
from panelml.data.synthetic import TargetSpec, make_panel
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import Executor, ProcessExecutor, SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.stages.fitting import PreparedCache
from panelml.stages.training import TrainingParams, TrainingResult, TrainingStage, _tasks
from panelml.stages.training._fit import TargetFit

SPECS = (
    TargetSpec("fwd_ret_5", 5, 0.20, "linear", (1, 2, 3)),
    TargetSpec("y_up_5", 5, 0.15, "linear", (3, 0), kind="binary"),
)
FAMILIES = ["lightgbm", "ridge"]
FAST_LGB = {"n_estimators": 40, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def panel() -> Panel:
    synthetic = make_panel(
        n_symbols=30,
        n_timestamps=200,
        n_signal_features=4,
        n_noise_features=4,
        targets=SPECS,
        leaks=False,
        seed=5,
    )
    return synthetic.to_panel()


def context(panel: Panel, tmp_path: Path, executor: Executor, scheme: str) -> RunContext:
    validation: dict[str, Any] = {"scheme": scheme, "n_splits": 4}
    if scheme == "cpcv":
        validation["n_test_groups"] = 2
    config = {
        "experiment": {"name": "folds"},
        "data": {"path": "unused.parquet"},
        "validation": validation,
        "pipeline": {"stages": ["training"]},
        "runtime": {
            "output_dir": str(tmp_path / "runs"),
            "cache_dir": str(tmp_path / "cache"),
            "deterministic": True,
            "quiet": True,
        },
        "training": {"targets": [s.name for s in SPECS]},
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return RunContext(
        config=api.load_config(path),
        data=panel,
        data_fingerprint="x",
        run_dir=tmp_path / "run",
        run_id="r",
        experiment="e",
        events=EventBus(),
        executor=executor,
        reporter=Reporter(quiet=True),
        deterministic=True,
    )


def stage() -> TrainingStage:
    params = TrainingParams(
        targets=[s.name for s in SPECS],
        families=FAMILIES,
        family_params={"lightgbm": FAST_LGB},
    )
    return TrainingStage(params)


def work_of(st: TrainingStage, ctx: RunContext) -> tuple[_tasks.TrainingWork, list[Any]]:
    panel = st.panel(ctx)
    families = st.family_specs(ctx, FAMILIES, "training.families")
    work = _tasks.TrainingWork(
        st._fit_target,
        panel,
        families,
        st.validation(ctx),
        ctx.seeds(),
        st.demean,
        st.params.early_stopping_fraction,
        PreparedCache(panel),
    )
    todo = [(t, st.resolve_features(ctx, t)[0]) for t in st.targets(ctx)[0]]
    return work, todo


def assert_same_fit(a: TargetFit, b: TargetFit, X: np.ndarray[Any, Any]) -> None:
    assert a.n_rows == b.n_rows and a.n_paths == b.n_paths
    assert np.array_equal(a.fold_of_row, b.fold_of_row)
    assert np.array_equal(a.label, b.label, equal_nan=True)
    assert list(a.oof) == list(b.oof)
    for name in a.oof:
        assert np.array_equal(a.oof[name], b.oof[name], equal_nan=True)
    assert list(a.paths) == list(b.paths)
    for name in a.paths:
        assert np.array_equal(a.paths[name], b.paths[name], equal_nan=True)
    assert a.fold_n_train == b.fold_n_train
    assert a.best_iterations == b.best_iterations
    assert a.folds == b.folds and a.skipped == b.skipped
    assert len(a.trained_rows) == len(b.trained_rows)
    for x, y in zip(a.trained_rows, b.trained_rows, strict=True):
        assert np.array_equal(x, y)
    assert list(a.finals) == list(b.finals)
    for name, final in a.finals.items():
        other = b.finals[name]
        assert final.params == other.params and final.rounds == other.rounds
        assert final.n_train == other.n_train and final.tuning == other.tuning
        assert final.model is not None and other.model is not None
        assert np.array_equal(final.model.predict(X), other.model.predict(X))


@pytest.mark.parametrize("scheme", ["purged_kfold", "cpcv"])
def test_fold_tasks_equal_one_task_per_pair(panel: Panel, tmp_path: Path, scheme: str) -> None:
    st = stage()
    ctx = context(panel, tmp_path, SerialExecutor(), scheme)
    split_work, todo = work_of(st, ctx)
    split = _tasks.fit_folds_then_finals(ctx.executor, split_work, todo)
    pair_work, _ = work_of(st, ctx)
    pairs = _tasks.fit_pairs(ctx.executor, pair_work, todo)
    assert list(split) == list(pairs) == [s.name for s in SPECS]
    for target in split:
        fit = split[target]
        assert set(fit.best_iterations) == set(FAMILIES)
        assert any(b is not None for bs in fit.best_iterations["lightgbm"].values() for b in bs)
        assert fit.finals["lightgbm"].rounds[""] is not None  # the median of the folds'
        assert fit.finals["ridge"].rounds[""] is None
        assert_same_fit(split[target], pairs[target], panel.X)
    if scheme == "cpcv":
        assert all(fit.n_paths > 1 for fit in split.values())


def run_tables(
    panel: Panel, tmp_path: Path, executor: Executor, *, pairs: bool = False
) -> tuple[dict[str, pl.DataFrame], TrainingResult]:
    st = stage()
    ctx = context(panel, tmp_path, executor, "purged_kfold")
    if pairs:  # the former layout: one task per (target, family)

        def fit_all(
            ctx: RunContext, panel: Panel, todo: Any, families: Any, cache: Any, validation: Any
        ) -> dict[str, TargetFit]:
            work = _tasks.TrainingWork(
                st._fit_target,
                panel,
                families,
                validation,
                ctx.seeds(),
                st.demean,
                st.params.early_stopping_fraction,
                cache,
            )
            return _tasks.fit_pairs(ctx.executor, work, todo)

        st._fit_all = fit_all  # type: ignore[method-assign]
    result = st.run(ctx)
    return dict(result.tables), result


def assert_same_tables(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].equals(b[name], null_equal=True), name


def final_predictions(result: TrainingResult, X: np.ndarray[Any, Any]) -> list[Any]:
    models = [bundle.model for bundle in result._bundles]
    assert models and all(m is not None for m in models)
    return [m.predict(X) for m in models if m is not None]


def test_stage_tables_and_models_equal_the_pair_layout_and_across_executors(
    panel: Panel, tmp_path: Path
) -> None:
    tables, result = run_tables(panel, tmp_path / "split", SerialExecutor())
    assert {"metrics", "importances"} <= set(tables)
    old_tables, old = run_tables(panel, tmp_path / "pairs", SerialExecutor(), pairs=True)
    assert_same_tables(tables, old_tables)
    X = panel.X
    for new, former in zip(final_predictions(result, X), final_predictions(old, X), strict=True):
        assert np.array_equal(new, former)
    process = ProcessExecutor(n_workers=2, threads_per_worker=1)
    proc_tables, proc = run_tables(panel, tmp_path / "process", process)
    assert_same_tables(tables, proc_tables)
    for new, other in zip(final_predictions(result, X), final_predictions(proc, X), strict=True):
        assert np.array_equal(new, other)


def test_progress_names_the_fold_and_final_maps(panel: Panel, tmp_path: Path) -> None:
    calls: list[str] = []

    class Recording(SerialExecutor):
        def _map(self, fn: Any, todo: list[Any], shared: Any, description: str) -> list[Any]:
            calls.append(description)
            return super()._map(fn, todo, shared, description)

    st = stage()
    ctx = context(panel, tmp_path, Recording(), "purged_kfold")
    st.run(ctx)
    n_folds = 4 * len(SPECS) * len(FAMILIES)
    assert calls == [
        f"training: {n_folds} folds of {len(SPECS) * len(FAMILIES)} (target, family) fits",
        f"training: {len(SPECS) * len(FAMILIES)} final models",
    ]


def test_a_worker_keeps_its_prepared_matrices_across_the_maps_of_one_run(
    panel: Panel, tmp_path: Path
) -> None:
    st = stage()
    ctx = context(panel, tmp_path, SerialExecutor(), "purged_kfold")
    work, _ = work_of(st, ctx)
    first, second = (pickle.loads(pickle.dumps(work)) for _ in range(2))  # two maps' payloads
    assert first.cache is None and first.local is None  # the driver's cache stays here
    assert first.prepared_cache() is second.prepared_cache()
    assert first.prepared_cache() is not work.prepared_cache()
    later = _tasks.TrainingWork(
        st._fit_target, panel, work.families, work.validation, work.seeds, st.demean, 0.2
    )
    again = pickle.loads(pickle.dumps(later))  # a later training run in the same worker
    assert again.prepared_cache() is not first.prepared_cache()
    assert first.plan("fwd_ret_5") is first.plan("fwd_ret_5")
    _tasks._WORKER_LOCAL.clear()  # this process is no worker: leave no state behind
