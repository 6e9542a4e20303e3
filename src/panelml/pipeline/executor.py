"""Where independent tasks run: one small interface, three backends.

A stage with many independent pieces of work (one model set per target and
family, say) hands them to ``ctx.executor.map(fn, items, description=...)``
and gets the results back in input order. Whether they run one after another,
in local worker processes or on a Ray cluster is the run's choice
(``runtime.executor``, ``runtime.n_workers``, ``runtime.threads_per_worker``),
never the stage's. The contract every backend keeps:

- results come back in the order of ``items``, whatever the order of completion;
- ``fn`` gets nothing but its arguments, so a task's seed must travel in its
  item (or in ``shared``), never come from state of the calling process: then
  the outputs do not depend on the backend;
- ``shared=`` is data every task reads (the panel, prepared matrices, params):
  it is shipped once per map, not once per task, and ``fn`` is called as
  ``fn(shared, item)``. The serial backend passes the object itself; the
  process backend writes it once to a file whose numpy arrays every worker
  memory-maps read-only; Ray stores it once with ``ray.put`` (read-only,
  zero-copy numpy arrays on each node). A worker loads it once and keeps it
  for all the tasks it runs, so per-process caches on it (binned datasets)
  are built once per worker, not once per task. Tasks must not write into
  arrays of ``shared``.

For the process and Ray backends ``fn`` and the items must be picklable:
define ``fn`` at module level.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import signal
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar, overload

from panelml.pipeline.errors import ConfigError
from panelml.pipeline.hugepages import set_numpy_hugepages, wanted_hugepages
from panelml.pipeline.memory import release_free_memory
from panelml.pipeline.reporter import Reporter

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")

EXECUTORS = ("serial", "process", "ray")
_NO_SHARED: Any = object()


class Executor(ABC):
    """Runs ``fn`` over independent items and returns the results in input order.

    ``n_workers`` tasks run at once (0: as many as the backend admits), each
    with ``threads_per_worker`` library threads.
    """

    name: str = "executor"
    in_driver: bool = False
    """Whether tasks run in this process on the shared payload itself (no copy):
    then nothing is gained by computing shared data before a map rather than
    in the first task that needs it."""

    def __init__(
        self,
        n_workers: int = 1,
        reporter: Reporter | None = None,
        *,
        threads_per_worker: int = 1,
    ) -> None:
        self.n_workers = n_workers
        self.threads_per_worker = max(1, threads_per_worker)
        self.reporter = reporter or Reporter(quiet=True)
        # numpy's huge-page advice in the run's processes (None: numpy's own;
        # panelml.pipeline.hugepages): the driver sets it around the run, each
        # worker process before its tasks
        self.numpy_hugepages: bool | None = None

    @property
    def n_jobs(self) -> int:
        """Alias of :attr:`n_workers` (the name of the deprecated ``runtime.n_jobs``)."""
        return self.n_workers

    @overload
    def map(
        self, fn: Callable[[T], R], items: Iterable[T], *, description: str = ""
    ) -> list[R]: ...

    @overload
    def map(
        self, fn: Callable[[S, T], R], items: Iterable[T], *, description: str = "", shared: S
    ) -> list[R]: ...

    def map(
        self,
        fn: Callable[..., R],
        items: Iterable[Any],
        *,
        description: str = "",
        shared: Any = _NO_SHARED,
    ) -> list[R]:
        """``[fn(item) for item in items]`` (``fn(shared, item)`` with ``shared``),
        possibly in parallel, with a progress bar titled ``description``."""
        todo = list(items)
        if not todo:
            return []
        return self._map(fn, todo, shared, description)

    @abstractmethod
    def _map(self, fn: Callable[..., R], todo: list[Any], shared: Any, description: str) -> list[R]:
        """The backend's own map over a non-empty list (``shared`` may be ``_NO_SHARED``)."""

    def close(self) -> None:  # noqa: B027 - a no-op unless the backend started something
        """Release what the backend started (nothing for most)."""


def _call(fn: Callable[..., R], shared: Any, item: Any) -> R:
    """One task; then the heap memory it freed goes back to the system, as at
    the end of a stage (:func:`~panelml.pipeline.memory.release_free_memory`):
    measured at 200k rows, what tasks had freed but glibc kept was 3.6x the
    float32 panel by the end of target ranking, all of it counted in the peak."""
    try:
        return fn(item) if shared is _NO_SHARED else fn(shared, item)
    finally:
        release_free_memory()


class SerialExecutor(Executor):
    """Runs tasks one after another in this process (the default; easiest to debug)."""

    name = "serial"
    in_driver = True

    def __init__(
        self,
        n_workers: int = 1,
        reporter: Reporter | None = None,
        *,
        threads_per_worker: int = 1,
    ) -> None:
        super().__init__(1, reporter, threads_per_worker=threads_per_worker)

    def _map(self, fn: Callable[..., R], todo: list[Any], shared: Any, description: str) -> list[R]:
        steps = self.reporter.progress(todo, description, total=len(todo))
        return [_call(fn, shared, item) for item in steps]


# -- local processes -----------------------------------------------------------------

_WORKER_SHARED: dict[str, Any] = {}
"""In a worker process: the shared payload of the current map, by file (one kept)."""


def _process_task(
    fn: Callable[..., R], path: str | None, item: Any, hugepages: bool | None = None
) -> R:
    set_numpy_hugepages(hugepages)
    if path is None:
        return _call(fn, _NO_SHARED, item)
    shared = _WORKER_SHARED.get(path)
    if shared is None:
        from joblib import load

        _WORKER_SHARED.clear()  # drop an earlier map's payload before loading this one
        shared = _WORKER_SHARED[path] = load(path, mmap_mode="r")
    return _call(fn, shared, item)


class ProcessExecutor(Executor):
    """Runs tasks in ``n_workers`` local worker processes (joblib's loky backend).

    The workers are reused across maps. ``shared`` is written once per map with
    ``joblib.dump`` into a temporary folder; each worker loads it once with its
    numpy arrays memory-mapped read-only, so every worker reads the same pages
    of the page cache instead of holding its own copy.
    """

    name = "process"

    def _map(self, fn: Callable[..., R], todo: list[Any], shared: Any, description: str) -> list[R]:
        if self.n_workers <= 1 or len(todo) <= 1:
            serial = SerialExecutor(reporter=self.reporter)
            return serial._map(fn, todo, shared, description)
        from joblib import Parallel, delayed, dump, parallel_config

        folder = Path(tempfile.mkdtemp(prefix="panelml-shared-"))
        try:
            path: str | None = None
            if shared is not _NO_SHARED:
                path = str(folder / "shared.pkl")
                dump(shared, path)
            workers = min(self.n_workers, len(todo))
            with parallel_config(backend="loky", inner_max_num_threads=self.threads_per_worker):
                # one task per dispatch: tasks are coarse (fits), and batching them
                # leaves one worker idle behind the other's last batch
                parallel = Parallel(n_jobs=workers, return_as="generator", batch_size=1)
                hugepages = self.numpy_hugepages
                tasks = (delayed(_process_task)(fn, path, item, hugepages) for item in todo)
                results = parallel(tasks)
                return list(self.reporter.progress(results, description, total=len(todo)))
        finally:
            shutil.rmtree(folder, ignore_errors=True)


# -- Ray -----------------------------------------------------------------------------

_RAY_SHARED: dict[str, Any] = {}
"""In a Ray worker: the shared payload of the current map, by object id (one kept)."""


def _ray_task(
    fn: Callable[..., R], boxed: list[Any] | None, item: Any, hugepages: bool | None = None
) -> R:
    """Runs in a Ray worker; ``boxed`` holds the payload's ObjectRef (a list keeps
    Ray from resolving it per task, so the worker can keep one copy)."""
    set_numpy_hugepages(hugepages)
    if boxed is None:
        return _call(fn, _NO_SHARED, item)
    ref = boxed[0]
    key = ref.hex()
    shared = _RAY_SHARED.get(key)
    if shared is None:
        ray: Any = importlib.import_module("ray")
        _RAY_SHARED.clear()
        shared = _RAY_SHARED[key] = ray.get(ref)
    return _call(fn, shared, item)


class RayExecutor(Executor):
    """Runs tasks as Ray tasks (needs the optional ``ray`` package).

    ``address``: ``None`` starts a local Ray on this machine's allowed cores
    (and shuts it down on :meth:`close`); ``"auto"`` or ``"ray://host:port"``
    joins an existing cluster. A Ray already initialised in this process is
    used as it is. Every task asks Ray for ``threads_per_worker`` CPUs, so Ray
    never runs more of them at once than the cluster has cores; ``n_workers``
    > 0 also caps the tasks in flight.
    """

    name = "ray"

    def __init__(
        self,
        n_workers: int = 0,
        reporter: Reporter | None = None,
        *,
        threads_per_worker: int = 1,
        address: str | None = None,
        local_cpus: int | None = None,
    ) -> None:
        super().__init__(n_workers, reporter, threads_per_worker=threads_per_worker)
        self.address = address
        self.local_cpus = local_cpus
        self._started = False

    def _ray(self) -> Any:
        ray: Any = importlib.import_module("ray")
        if not ray.is_initialized():
            # ray.init installs its own SIGTERM handler in the driver; the run's own
            # handler (which marks the run interrupted) must stay in charge.
            handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
            try:
                if self.address is None:
                    ray.init(
                        num_cpus=self.local_cpus,
                        include_dashboard=False,
                        log_to_driver=False,
                        configure_logging=False,
                    )
                else:
                    ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            finally:
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)
            self._started = True
        return ray

    def _map(self, fn: Callable[..., R], todo: list[Any], shared: Any, description: str) -> list[R]:
        ray = self._ray()
        remote = ray.remote(_ray_task).options(num_cpus=self.threads_per_worker, max_retries=0)
        boxed = None if shared is _NO_SHARED else [ray.put(shared)]
        results: list[Any] = [None] * len(todo)
        steps = self.reporter.progress(
            self._completed(ray, remote, fn, boxed, todo, results), description, total=len(todo)
        )
        for _ in steps:
            pass
        return results

    def _completed(
        self,
        ray: Any,
        remote: Any,
        fn: Callable[..., Any],
        boxed: list[Any] | None,
        todo: list[Any],
        results: list[Any],
    ) -> Iterator[int]:
        """Submits at most ``n_workers`` tasks at a time (all when 0); yields the index
        of each finished task, having stored its result at that index."""
        cap = self.n_workers if self.n_workers > 0 else len(todo)
        pending: dict[Any, int] = {}
        submitted = 0
        while submitted < len(todo) or pending:
            while submitted < len(todo) and len(pending) < cap:
                pending[remote.remote(fn, boxed, todo[submitted], self.numpy_hugepages)] = submitted
                submitted += 1
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                results[index] = _ray_result(ray, ref)
                yield index

    def close(self) -> None:
        """Shut down the local Ray this executor started (a joined cluster stays up)."""
        if self._started:
            ray: Any = importlib.import_module("ray")
            ray.shutdown()
            self._started = False


def _ray_result(ray: Any, ref: Any) -> Any:
    """``ray.get(ref)``, re-raising a task's own exception (a user error stays one)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise


def make_executor(
    name: str,
    n_workers: int = 1,
    reporter: Reporter | None = None,
    *,
    threads_per_worker: int = 1,
    ray_address: str | None = None,
    local_cpus: int | None = None,
) -> Executor:
    """The executor called ``name`` (``serial``, ``process`` or ``ray``).

    ``local_cpus``: the CPUs a local Ray started by the executor may use.
    """
    if name == "serial":
        return SerialExecutor(n_workers, reporter, threads_per_worker=threads_per_worker)
    if name == "process":
        return ProcessExecutor(n_workers, reporter, threads_per_worker=threads_per_worker)
    if name == "ray":
        if importlib.util.find_spec("ray") is None:
            raise ConfigError(
                "runtime.executor: 'ray' needs the ray package, which is not installed; "
                "install it with pip install 'panelml[ray]' or use 'serial' / 'process'"
            )
        return RayExecutor(
            n_workers,
            reporter,
            threads_per_worker=threads_per_worker,
            address=ray_address,
            local_cpus=local_cpus,
        )
    raise ConfigError(
        f"runtime.executor: unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}"
    )


def executor_for_runtime(runtime: Any, reporter: Reporter | None = None) -> tuple[Executor, int]:
    """The executor of a ``runtime:`` section and the threads each task may use.

    Resolves ``n_workers`` / ``threads_per_worker`` (and the deprecated
    ``n_jobs``) with :func:`panelml.pipeline.budget.resolve_budget`.
    """
    from panelml.pipeline.budget import resolve_budget

    budget = resolve_budget(
        runtime.executor, runtime.n_workers, runtime.threads_per_worker, runtime.n_jobs
    )
    executor = make_executor(
        runtime.executor,
        budget.n_workers,
        reporter,
        threads_per_worker=budget.threads_per_worker,
        ray_address=runtime.ray_address,
        local_cpus=budget.cores,
    )
    executor.numpy_hugepages = wanted_hugepages(runtime.numpy_hugepages)
    return executor, budget.threads_per_worker
