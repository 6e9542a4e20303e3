"""The thread budget: auto never oversubscribes; the deprecated n_jobs keeps its meaning."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

import panelml
from panelml.config.schema import RuntimeConfig
from panelml.data.synthetic import make_panel
from panelml.pipeline.budget import MIN_USEFUL_THREADS, allowed_cores, resolve_budget
from panelml.pipeline.runner import Pipeline


@pytest.mark.parametrize("cores", [1, 2, 3, 4, 8, 64])
@pytest.mark.parametrize("executor", ["serial", "process"])
def test_auto_never_gives_more_threads_than_cores(executor: str, cores: int) -> None:
    budget = resolve_budget(executor, cores=cores)
    assert budget.n_workers * budget.threads_per_worker <= cores
    assert budget.n_workers >= 1 and budget.threads_per_worker >= 1


def test_auto_on_a_two_core_machine_gives_one_thread_per_worker() -> None:
    """Two LightGBM threads on a busy 2-core machine ran 4-9x slower than one."""
    assert resolve_budget("serial", cores=2).threads_per_worker == 1
    process = resolve_budget("process", cores=2)
    assert (process.n_workers, process.threads_per_worker) == (2, 1)
    ray = resolve_budget("ray", cores=2)
    assert (ray.n_workers, ray.threads_per_worker) == (0, 1)  # Ray admits tasks by CPUs


def test_auto_serial_on_a_big_machine_threads_the_model() -> None:
    assert resolve_budget("serial", cores=16).threads_per_worker == 16
    assert resolve_budget("serial", cores=MIN_USEFUL_THREADS - 1).threads_per_worker == 1
    # explicit threads per worker: process fills the cores with workers of that size
    budget = resolve_budget("process", threads_per_worker=4, cores=16)
    assert (budget.n_workers, budget.threads_per_worker) == (4, 4)
    budget = resolve_budget("process", n_workers=2, cores=16)
    assert (budget.n_workers, budget.threads_per_worker) == (2, 8)


def test_deprecated_n_jobs_maps_to_the_same_total() -> None:
    with pytest.warns(FutureWarning, match="runtime.n_jobs is deprecated"):
        serial = resolve_budget("serial", n_jobs=2, cores=8)
    assert (serial.n_workers, serial.threads_per_worker) == (1, 2)  # as before: model threads
    with pytest.warns(FutureWarning):
        process = resolve_budget("process", n_jobs=-1, cores=8)
    assert (process.n_workers, process.threads_per_worker) == (8, 1)
    with pytest.warns(FutureWarning):
        mixed = resolve_budget("process", n_workers=2, n_jobs=6, cores=8)
    assert (mixed.n_workers, mixed.threads_per_worker) == (2, 1)  # explicit keys win


def test_explicit_oversubscription_is_allowed_with_a_warning() -> None:
    with pytest.warns(RuntimeWarning, match="exceed the 2 cores"):
        budget = resolve_budget("process", n_workers=2, threads_per_worker=2, cores=2)
    assert (budget.n_workers, budget.threads_per_worker) == (2, 2)


def test_runtime_section_accepts_the_settings() -> None:
    runtime = RuntimeConfig.model_validate(
        {"executor": "ray", "n_workers": 4, "threads_per_worker": "auto", "ray_address": "auto"}
    )
    assert (runtime.n_workers, runtime.threads_per_worker, runtime.n_jobs) == (4, "auto", None)
    with pytest.raises(ValueError, match="n_workers"):
        RuntimeConfig.model_validate({"n_workers": 0})
    assert allowed_cores() >= 1


@pytest.mark.parametrize("threads", [1, 2])
def test_a_run_holds_blas_to_the_budgets_threads(
    threads: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy's BLAS in the run's own process uses ``threads_per_worker`` threads,
    not every core: unlimited, it broke the budget, and float32 products (rank
    blocks) differed between a run in a 2-thread process and the same config
    run from the CLI (1e-8 in feature selection's scores). Checked for 1 and
    2 threads, so a run that left BLAS at its default fails one of them."""
    seen: list[int] = []
    before = _blas_threads()

    def record(self: Pipeline, ctx: object, **_: object) -> None:
        seen.extend(_blas_threads())
        raise _StopRunError

    monkeypatch.setattr(Pipeline, "run", record)
    synthetic = make_panel(n_symbols=12, n_timestamps=120, leaks=False, seed=0)
    config = {
        "experiment": {"name": "threads"},
        "data": {"targets": ["fwd_*"]},
        "runtime": {
            "output_dir": str(tmp_path / "runs"),
            "cache_dir": str(tmp_path / "cache"),
            "threads_per_worker": threads,
        },
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 2 threads may exceed the cores
        with pytest.raises(_StopRunError):
            panelml.run(config, data=synthetic.frame, quiet=True)
    assert seen and set(seen) == {threads}
    assert _blas_threads() == before  # the process's own setting comes back after the run


def _blas_threads() -> list[int]:
    return [int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]


class _StopRunError(Exception):
    """Ends the run at its start (the test reads the thread limits only)."""
