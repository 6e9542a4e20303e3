"""Where independent tasks run: one small interface, several backends.

A stage with many independent pieces of work (one model per target and fold,
say) hands them to ``ctx.executor.map(fn, items, description=...)`` and gets the
results back in input order. Whether they run one after another, in worker
processes, or (later) on a Ray cluster is the run's choice
(``runtime.executor`` / ``runtime.n_jobs``), not the stage's.

For process-based executors ``fn`` and the items must be picklable (define
``fn`` at module level).
"""

from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from panelml.pipeline.errors import ConfigError
from panelml.pipeline.reporter import Reporter

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("serial", "process", "ray")


class Executor(ABC):
    """Runs ``fn`` over independent items and returns the results in input order."""

    name: str = "executor"

    def __init__(self, n_jobs: int = 1, reporter: Reporter | None = None) -> None:
        self.n_jobs = n_jobs
        self.reporter = reporter or Reporter(quiet=True)

    @abstractmethod
    def map(self, fn: Callable[[T], R], items: Iterable[T], *, description: str = "") -> list[R]:
        """``[fn(item) for item in items]``, possibly in parallel, with a progress bar."""


class SerialExecutor(Executor):
    """Runs tasks one after another in this process (the default; easiest to debug)."""

    name = "serial"

    def __init__(self, n_jobs: int = 1, reporter: Reporter | None = None) -> None:
        super().__init__(1, reporter)

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, description: str = "") -> list[R]:
        todo = list(items)
        return [fn(item) for item in self.reporter.progress(todo, description, total=len(todo))]


class ProcessExecutor(Executor):
    """Runs tasks in ``n_jobs`` worker processes (joblib's loky backend).

    ``n_jobs=-1`` uses every CPU. Results come back in input order whatever the
    order of completion.
    """

    name = "process"

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, description: str = "") -> list[R]:
        from joblib import Parallel, delayed

        todo = list(items)
        if self.n_jobs == 1 or len(todo) <= 1:
            return SerialExecutor(reporter=self.reporter).map(fn, todo, description=description)
        parallel = Parallel(n_jobs=self.n_jobs, backend="loky", return_as="generator")
        results = parallel(delayed(fn)(item) for item in todo)
        return list(self.reporter.progress(results, description, total=len(todo)))


class RayExecutor(Executor):
    """Runs tasks as Ray remote functions (needs the optional ``ray`` package)."""

    name = "ray"

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, description: str = "") -> list[R]:
        ray: Any = importlib.import_module("ray")
        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, log_to_driver=False)
        remote = ray.remote(fn)
        refs = [remote.remote(item) for item in items]
        out: list[R] = []
        for ref in self.reporter.progress(refs, description, total=len(refs)):
            out.append(ray.get(ref))
        return out


def make_executor(name: str, n_jobs: int = 1, reporter: Reporter | None = None) -> Executor:
    """The executor called ``name`` (``serial``, ``process`` or ``ray``)."""
    if name == "serial":
        return SerialExecutor(n_jobs, reporter)
    if name == "process":
        return ProcessExecutor(n_jobs, reporter)
    if name == "ray":
        if importlib.util.find_spec("ray") is None:
            raise ConfigError(
                "runtime.executor: 'ray' needs the ray package, which is not installed; "
                "install it with pip install 'panelml[ray]' or use 'serial' / 'process'"
            )
        return RayExecutor(n_jobs, reporter)
    raise ConfigError(
        f"runtime.executor: unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}"
    )
