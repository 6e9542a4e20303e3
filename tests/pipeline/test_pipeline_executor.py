"""Executors: the same ``map`` contract on every backend (order, shared data, errors,
progress), and the Ray backend run for real on a local 2-CPU Ray."""

from __future__ import annotations

import importlib.util
import os
import signal
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pytest

from panelml.pipeline.errors import ConfigError, UserError
from panelml.pipeline.executor import (
    Executor,
    ProcessExecutor,
    RayExecutor,
    SerialExecutor,
    make_executor,
)
from panelml.pipeline.reporter import Reporter

T = TypeVar("T")
HAS_RAY = importlib.util.find_spec("ray") is not None


def square(x: int) -> int:
    return x * x


def weighted_sum(shared: dict[str, Any], item: int) -> float:
    """A task reading the shared payload: row ``item`` of its matrix, weighted."""
    matrix: npt.NDArray[np.float64] = shared["matrix"]
    return float(matrix[item] @ shared["weights"])


def where_am_i(shared: dict[str, Any], item: int) -> tuple[int, int, bool]:
    """(process id, id of the payload object, whether its array is writeable)."""
    return os.getpid(), id(shared), bool(shared["matrix"].flags.writeable)


def fail_on_three(item: int) -> int:
    if item == 3:
        raise UserError("item 3 is wrong; use another item")
    return item


class RecordingReporter(Reporter):
    """Records each progress call: (description, total, items seen)."""

    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.calls: list[tuple[str, int | None, int]] = []

    def progress(
        self, items: Iterable[T], description: str, total: int | None = None
    ) -> Iterator[T]:
        seen = 0
        for item in items:
            seen += 1
            yield item
        self.calls.append((description, total, seen))


def payload() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {"matrix": rng.normal(size=(40, 7)), "weights": rng.normal(size=7)}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray (2 CPUs) for every Ray test of this module (start-up costs seconds)."""
    if not HAS_RAY:
        pytest.skip("ray is not installed")
    import sys

    import ray
    from ray import cloudpickle

    # Ray workers cannot import a test module: ship its task functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()
        for sig, handler in handlers.items():  # ray.init installs its own SIGTERM handler
            signal.signal(sig, handler)


def backends(request: pytest.FixtureRequest) -> Sequence[Executor]:
    out: list[Executor] = [SerialExecutor(), ProcessExecutor(n_workers=2)]
    if HAS_RAY:
        request.getfixturevalue("local_ray")
        out.append(RayExecutor(n_workers=0))
    return out


def test_every_backend_returns_results_in_input_order(request: pytest.FixtureRequest) -> None:
    items = list(range(12))
    shared = payload()
    expected = [float(shared["matrix"][i] @ shared["weights"]) for i in items]
    for executor in backends(request):
        assert executor.map(square, items, description="squares") == [x * x for x in items]
        got = executor.map(weighted_sum, items, description="sums", shared=shared)
        assert got == expected, executor.name  # bit-identical floats, whatever ran them
        assert executor.map(square, [], description="nothing") == []


def test_shared_payload_is_loaded_once_per_worker_and_read_only(
    request: pytest.FixtureRequest,
) -> None:
    """Per worker process one payload object serves every task (so caches built on it,
    such as binned datasets, are built once per worker); outside the serial backend it
    is a read-only view (memory-mapped or in Ray's object store), not a private copy."""
    shared = payload()
    for executor in backends(request):
        seen = executor.map(where_am_i, range(16), description="where", shared=shared)
        by_pid: dict[int, set[int]] = {}
        for pid, obj, _ in seen:
            by_pid.setdefault(pid, set()).add(obj)
        assert all(len(objs) == 1 for objs in by_pid.values()), executor.name
        writeable = {w for _, _, w in seen}
        assert writeable == ({True} if executor.name == "serial" else {False}), executor.name


def test_a_task_error_reaches_the_caller_with_its_type(request: pytest.FixtureRequest) -> None:
    for executor in backends(request):
        with pytest.raises(UserError, match="item 3 is wrong"):
            executor.map(fail_on_three, range(6), description="fails")


def test_progress_is_reported_once_per_map_with_its_total(request: pytest.FixtureRequest) -> None:
    for executor in backends(request):
        reporter = RecordingReporter()
        executor.reporter = reporter
        executor.map(square, range(5), description="stage: 5 tasks")
        assert reporter.calls == [("stage: 5 tasks", 5, 5)], executor.name


def test_make_executor_by_name() -> None:
    assert isinstance(make_executor("serial"), SerialExecutor)
    executor = make_executor("process", 3, threads_per_worker=2)
    assert isinstance(executor, ProcessExecutor)
    assert (executor.n_workers, executor.n_jobs, executor.threads_per_worker) == (3, 3, 2)
    with pytest.raises(ConfigError, match="unknown executor 'threads'"):
        make_executor("threads")
    if HAS_RAY:
        ray_executor = make_executor("ray", 0, ray_address="auto")
        assert isinstance(ray_executor, RayExecutor) and ray_executor.address == "auto"


def test_ray_executor_without_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(  # the dev install has ray: make it look absent
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "ray" else real_find_spec(name, *args),
    )
    with pytest.raises(ConfigError, match=r"pip install 'panelml\[ray\]'"):
        make_executor("ray")
