"""The thread budget: how many tasks run at once and how many threads each may use.

Two settings split the cores a run may use (``runtime.n_workers`` tasks at once,
``runtime.threads_per_worker`` library threads in each: LightGBM, XGBoost,
OpenMP). Their product never exceeds the allowed cores unless the user sets
both explicitly. ``auto`` picks:

- ``serial``: one worker; every allowed core as threads only when that gives
  at least :data:`MIN_USEFUL_THREADS` of them, else one thread. A small or
  shared machine gains little from two model threads and can lose much: two
  LightGBM threads on a busy 2-core machine ran 4-9x slower than one;
- ``process``: one worker per allowed core (divided by ``threads_per_worker``
  when that is set), one thread each - independent fits scale better across
  processes than inside one model;
- ``ray``: tasks are admitted by Ray's own CPU accounting (each asks for
  ``threads_per_worker`` CPUs), so ``n_workers`` only caps the tasks in flight
  (``0``: no cap); one thread each by default.

``runtime.n_jobs`` (deprecated) is read as the total: ``serial`` gives its one
worker ``n_jobs`` threads (what ``n_jobs`` always meant), ``process`` and
``ray`` run ``n_jobs`` workers of one thread.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MIN_USEFUL_THREADS = 4
"""Fewest threads per model worth giving one serial worker (see the module docstring)."""

Auto = Literal["auto"]


@dataclass(frozen=True)
class ThreadBudget:
    """The resolved budget: tasks at once (0 = Ray decides) and threads per task."""

    n_workers: int
    threads_per_worker: int
    cores: int


def allowed_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def _cgroup_quota() -> float | None:
    """CPUs granted by a cgroup v2 ``cpu.max`` quota (``None`` when unlimited or unknown)."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except OSError:
        return None
    if len(text) != 2 or text[0] == "max":
        return None
    try:
        return int(text[0]) / int(text[1])
    except (ValueError, ZeroDivisionError):
        return None


def resolve_budget(
    executor: str,
    n_workers: int | Auto = "auto",
    threads_per_worker: int | Auto = "auto",
    n_jobs: int | None = None,
    *,
    cores: int | None = None,
) -> ThreadBudget:
    """The budget for ``executor`` from the runtime settings (module docstring).

    ``cores`` defaults to :func:`allowed_cores`. Explicit ``n_workers`` /
    ``threads_per_worker`` win over the deprecated ``n_jobs``.
    """
    cores = allowed_cores() if cores is None else max(1, cores)
    if n_jobs is not None:
        warnings.warn(
            "runtime.n_jobs is deprecated and will be removed; set runtime.n_workers and "
            "runtime.threads_per_worker instead (or leave both at auto)",
            FutureWarning,
            stacklevel=2,
        )
        total = cores if n_jobs < 1 else n_jobs
        legacy_workers, legacy_threads = (1, total) if executor == "serial" else (total, 1)
        if n_workers == "auto":
            n_workers = legacy_workers
        if threads_per_worker == "auto":
            threads_per_worker = legacy_threads
    workers: int | None = 1 if executor == "serial" else _explicit(n_workers)
    threads = _explicit(threads_per_worker)
    if threads is None:
        share = cores if executor == "serial" else (1 if workers is None else cores // workers)
        threads = share if share >= MIN_USEFUL_THREADS else 1
    if workers is None:
        workers = 0 if executor == "ray" else max(1, cores // threads)
    if executor != "ray" and workers * threads > cores:
        warnings.warn(
            f"runtime: {workers} workers x {threads} threads exceed the {cores} cores "
            "this run may use; expect contention (lower runtime.n_workers or "
            "runtime.threads_per_worker, or leave them at auto)",
            RuntimeWarning,
            stacklevel=2,
        )
    return ThreadBudget(n_workers=workers, threads_per_worker=threads, cores=cores)


def _explicit(value: int | Auto) -> int | None:
    return None if value == "auto" else int(value)
